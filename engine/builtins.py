"""The built-in extension: what every world gets, registered the way a user's extension would be.

``build(app)`` registers the built-in system kinds (physics, bounds, scripted controllers,
lifecycle), observation and reward terms and plugin kinds. ``install_extensions`` then builds a
world: it declares the state every world has (components, ``alive``, the tick counter, the random
key…), runs the world file's own ``extensions:``, builds each agent group's terms and state, the
``systems:`` list, lifecycle and plugins, and the fixed start and end of the tick.
"""

from __future__ import annotations

import importlib
from typing import Any

from engine.core.app import App
from engine.core.kinds import ObservationKind, RewardKind
from engine.core.random import COUNTER, KEY
from engine.core.state import StateDecl

#: Extensions every world loads, by module name (each has ``build(app)``); the world's own follow.
DEFAULT_EXTENSIONS = ("engine.builtins", "engine.learned.kinds", "engine.views.pixels", "engine.grid.world")


def build(app: App) -> None:
    """Register the built-in system kinds and observation/reward terms."""
    from engine.systems import builtin_system_kinds
    from engine.terms.observations import OBSERVATION_TERMS
    from engine.terms.rewards import REWARD_TERMS

    for kind in builtin_system_kinds():
        app.register_system(kind)
    for name, (params, factory) in OBSERVATION_TERMS.items():
        app.register_observation(ObservationKind(name, factory, params, (factory.__doc__ or "").strip()))
    for name, (params, factory) in REWARD_TERMS.items():
        app.register_reward(RewardKind(name, factory, params, (factory.__doc__ or "").strip()))


def _declare_world_state(app: App, plan) -> None:
    """Components, ``alive``, the tick counter, episode flags and the random key/counter."""
    for c in app.layout.components.values():
        app.add_state(StateDecl(c.name, "entity", c.shape, app.layout.torch_dtype(c), plan.initial[c.name],
                                owner="components", record=True, doc=c.doc))
    app.add_state(StateDecl("alive", "entity", (), "bool", plan.alive0, owner="entities", record=True,
                            doc="the slot holds a living entity"))
    app.add_state(StateDecl("alive_before", "entity", (), "bool", plan.alive0, reset="copy:alive",
                            owner="tick", doc="alive at the start of the tick (rewards for dying)"))
    app.add_state(StateDecl("tick", "world", (), "int64", 0, owner="tick", doc="ticks since the episode began"))
    app.add_state(StateDecl("done", "world", (), "bool", False, owner="tick", doc="the episode ended this tick"))
    app.add_state(StateDecl("any_done", "global", (), "bool", False, owner="tick",
                            doc="some world's episode ended this tick (one flag: no host sync per world)"))
    app.add_state(StateDecl(KEY, "world", (), "int64", 0, reset="keep", owner="random",
                            doc="per-world random key (engine.core.random), set from the seed"))
    app.add_state(StateDecl(COUNTER, "world", (), "int64", 0, reset="keep", owner="random",
                            doc="per-world draw counter, advanced every tick"))
    if plan.spawn:
        from engine.systems.spawn import draw_spawn

        spawn = plan.spawn

        def spawn_hook(fresh: dict, B: int, generator) -> None:
            fresh.update(draw_spawn(spawn, B, generator))

        app.add_reset_hook(spawn_hook)
    from engine.systems.placement import check_fits, make_placement

    place = make_placement(app, plan.spawn)
    if place is not None:
        app.add_reset_hook(place)
        check_fits(app, place, plan.spawn)


def _declare_group_state(app: App) -> None:
    """Per agent group: actions, rewards, returns, termination flags."""
    fdt = app.layout.float_dtype
    for g in app.groups.values():
        space = g.action_space
        app.add_state(StateDecl(g.action_key, "agent", space.per_agent_shape, space.dtype(fdt), 0, reset="keep",
                                group=g.name, owner=f"agents.{g.name}", doc=f"actions: {space.describe()}"))
        for key, dtype, doc in ((g.reward_key, "float", "reward of the last tick"),
                                (g.return_key, "float", "sum of rewards since the episode began"),
                                (g.terminated_key, "bool", "the agent's episode ended (death or world end)"),
                                (g.truncated_key, "bool", "the episode hit episode.max_steps")):
            app.add_state(StateDecl(key, "agent", (), dtype, 0, group=g.name, owner=f"agents.{g.name}", doc=doc))


def _load_world_extensions(app: App) -> None:
    """The world file's ``extensions:``: dotted paths to objects with ``build(app)``, under the trust policy."""
    for i, dotted in enumerate(app.loaded.spec.extensions):
        path = ("extensions", i)
        obj = app.resolve(dotted, path, module_ok=True)
        build_fn = getattr(obj, "build", None)
        if not callable(build_fn):
            raise app.ctx.error(path, f"{dotted!r} has no build(app) method; expected an extension: an object or "
                                      "module with build(app) that registers kinds and declares state")
        app.call_user(f"extension {dotted!r}", path, build_fn, app)


def install_extensions(app: App, plan, plugins: bool = True) -> None:
    """Build the world into ``app`` (see the module docstring); the caller freezes it afterwards."""
    from engine.pairings import install_pairings
    from engine.systems import build_systems
    from engine.systems.actions import install_action_check
    from engine.systems.comm import install_communication
    from engine.systems.episode import install_episode
    from engine.terms.build import build_terms

    for name in DEFAULT_EXTENSIONS:
        importlib.import_module(name).build(app)
    _declare_world_state(app, plan)
    install_pairings(app)
    _declare_group_state(app)
    install_action_check(app)
    _load_world_extensions(app)
    for g in app.groups.values():
        build_terms(app, g)
    build_systems(app, plan)
    install_communication(app)
    from engine.views.colors import check_render

    check_render(app)
    if plugins:
        for name, ps in app.loaded.spec.plugins.items():
            kind = app.plugin_kinds.get(ps.kind)
            if kind is None:
                raise app.ctx.error(("plugins", name, "kind"), app.lookup(app.plugin_kinds, ps.kind, "plugin kind"))
            host = kind.factory(app, name, ps, ("plugins", name))
            if host is not None:
                plan.plugins[name] = host
    install_episode(app, plan)


def describe_state(app: App) -> list[dict[str, Any]]:
    """One row per declared state entry (for ``validate --state`` and the docs)."""
    out = []
    for name, d in app.state.decls.items():
        out.append({"name": name, "scope": d.scope + (f"({d.group})" if d.group else ""), "shape": list(d.shape),
                    "dtype": str(d.dtype).replace("torch.", ""), "reset": d.reset, "owner": d.owner, "doc": d.doc})
    return out
