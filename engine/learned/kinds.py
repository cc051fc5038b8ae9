"""The plugin kinds ``policy``, ``dynamics``, ``renderer`` and ``planner``, registered through ``build(app)``.

Each kind binds one ``plugins:`` entry: it loads and contract-checks the ONNX model
(``PluginHost``), declares the state it owns (per-world metrics; a dynamics plugin's shadow twin)
and puts its system into the schedule — in place of the hand-coded system it ``replaces``, or,
for a policy with nothing to replace, in the ``controllers`` stage. A new kind is one more
``PluginKind`` registered the same way.
"""

from __future__ import annotations

from engine.core.app import App
from engine.core.kinds import PluginKind
from engine.core.state import StateDecl
from engine.core.system import SystemDecl

DYNAMICS_METRICS = ("nonfinite",)
SHADOW_METRICS = ("drift_pos", "drift_pos_max", "drift_vel", "one_step_pos")


def _host(app: App, name: str, spec, path: tuple):
    from engine.learned.bind import PluginHost

    if spec.shadow and spec.kind != "dynamics":
        raise app.ctx.error(path + ("shadow",), "shadow mode is for dynamics plugins")
    return PluginHost(name, spec, app, path)


def _system(host, path: tuple) -> SystemDecl:
    from engine.learned.systems import make_plugin_system

    controls = (host.spec.agents,) if host.kind == "policy" else ()
    return SystemDecl(host.name, make_plugin_system(host), controls=controls, compilable=False, path=path,
                      replaces=host.spec.replaces, meta={"plugin": host})


def _replacing(host, old: SystemDecl, path: tuple) -> SystemDecl:
    host.replaced = old
    return _system(host, path)


def _metric(app: App, plugin: str, metric: str) -> None:
    app.add_state(StateDecl(f"metric.{plugin}.{metric}", "world", (), "float", 0, reset="keep", owner=plugin,
                            metric=f"{plugin}.{metric}", doc=f"plugin {plugin}: {metric} of the last tick"))


def policy(app: App, name: str, spec, path: tuple):
    host = _host(app, name, spec, path)
    _metric(app, name, "nonfinite")  # counted in every on_nan mode: never silent
    if spec.replaces:
        app.replace_system(spec.replaces, lambda old: _replacing(host, old, path), path + ("replaces",))
    elif spec.enabled:
        app.add_system(SystemDecl(**{**_system(host, path).__dict__, "stage": "controllers"}))
    # disabled in the world file and nothing to fall back to: the group stays external
    return host


def dynamics(app: App, name: str, spec, path: tuple):
    host = _host(app, name, spec, path)
    if not spec.replaces:
        raise app.ctx.error(path + ("replaces",), f"plugin {name!r}: a dynamics plugin needs `replaces:` naming the "
                                                  "system it takes the place of (e.g. physics)")
    metrics = list(DYNAMICS_METRICS)
    if spec.shadow:
        for comp in ("pos", "vel"):
            app.add_state(StateDecl(f"shadow.{name}.{comp}", "entity", (2,), "float", 0, reset=f"copy:{comp}",
                                    owner=name, doc=f"open-loop twin's {comp}, advanced by {spec.replaces}"))
        metrics += SHADOW_METRICS
        if spec.resync_above is not None:
            metrics.append("resync")
    for m in metrics:
        _metric(app, name, m)
    app.replace_system(spec.replaces, lambda old: _replacing(host, old, path), path + ("replaces",))
    return host


def renderer(app: App, name: str, spec, path: tuple):
    return _host(app, name, spec, path)  # not part of the tick: Sim.render_learned runs it


def planner(app: App, name: str, spec, path: tuple):
    from engine.learned.planner import planner_kind

    return planner_kind(app, name, spec, path)


def build(app: App) -> None:
    app.register_plugin_kind(PluginKind("policy", policy, "observation → actions of an agent group"))
    app.register_plugin_kind(PluginKind("dynamics", dynamics, "state, action → next state (replaces a system)"))
    app.register_plugin_kind(PluginKind("renderer", renderer, "state → image"))
    app.register_plugin_kind(PluginKind("planner", planner, "model-predictive control of an agent group (CEM/MPPI "
                                                            "over a dynamics model)"))
