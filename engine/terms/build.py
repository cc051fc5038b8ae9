"""An agent group's observation and reward terms, built from the kinds registered on the App."""

from __future__ import annotations

from engine.core.app import App
from engine.core.state import StateDecl
from engine.world.env import GroupPlan
from engine.world.validation import named_entry, parse_dataclass


def _gated(app: App, g: GroupPlan, fn, conditions, path: tuple):
    """A reward term paid only to agents for which the rules' ``conditions`` hold (``when: [...]``, self only):
    draw the carrier home, the others to the flag."""
    if conditions is None:
        return fn
    from engine.rules.conditions import build_condition
    from engine.rules.context import RuleContext
    from engine.rules.system import extra_refs

    if not isinstance(conditions, list) or not conditions:
        raise app.ctx.error(path + ("when",), "expected a list of conditions on the agent (self), e.g. "
                                              "[{carries: [flag]}]")
    rc = RuleContext(app, [g.slice.name], None, path + ("when",), extra_refs(app.loaded.spec))
    conds = [build_condition(rc, c, path + ("when", i)) for i, c in enumerate(conditions)]

    def gated(state: dict, alive_before):
        ok = conds[0](state, {})
        for c in conds[1:]:
            ok = ok & c(state, {})
        r = fn(state, alive_before)
        return r * ok.reshape(ok.shape[0], -1).expand_as(r).to(r.dtype)
    return gated


def build_reward(app: App, g: GroupPlan, entry, path: tuple):
    """One reward term of group ``g`` from its world-file entry (``name`` or ``{name: {params, when}}``):
    ``fn(state, alive_before) -> [B, A]``. Planners build their objective's extra terms with it too."""
    ctx = app.ctx
    name, params = named_entry(ctx, entry, path, "a term name or {name: {params}}")
    if name not in app.reward_kinds:
        raise ctx.error(path, app.lookup(app.reward_kinds, name, "reward term"))
    kind = app.reward_kinds[name]
    ppath = path if isinstance(entry, str) else path + (name,)
    gate = None
    if isinstance(params, dict) and "when" in params:
        params = dict(params)
        gate = params.pop("when")
    p = parse_dataclass(kind.params, params, ctx, ppath) if kind.params is not None else params
    return _gated(app, g, kind.factory(app, g, p, ppath), gate, ppath)


def build_terms(app: App, g: GroupPlan) -> None:
    """Fill ``g.obs_fns`` / ``g.reward_fns`` and declare the group's observation buffer ``obs.<group>``."""
    ctx, kinds = app.ctx, app.observation_kinds
    for i, entry in enumerate(g.spec.observation):
        path = ("agents", g.name, "observation", i)
        name, params = named_entry(ctx, entry, path, "a term name or {name: {params}}")
        if name not in kinds:
            raise ctx.error(path, app.lookup(kinds, name, "observation term"))
        kind = kinds[name]
        ppath = path if isinstance(entry, str) else path + (name,)
        p = parse_dataclass(kind.params, params, ctx, ppath) if kind.params is not None else params
        size, fn = kind.factory(app, g, p, ppath)
        if fn is None:  # a term served outside the flat vector (pixels)
            continue
        g.obs_fns.append(fn)
        g.obs_names.append((name, size))
        g.obs_size += size
    for i, entry in enumerate(g.spec.reward):
        g.reward_fns.append(build_reward(app, g, entry, ("agents", g.name, "reward", i)))
    app.reserve(g.size * g.obs_size * app.float_size, f"the observations of group {g.name!r} ({g.size:,} agents × "
                f"{g.obs_size:,} features)", ("agents", g.name, "observation"),
                "observe fewer entities or lower the counts/capacities", work=False)
    app.add_state(StateDecl(g.obs_key, "agent", (g.obs_size,), "float", 0, reset="derived", group=g.name,
                            owner=f"agents.{g.name}.observation", doc="the observation vector of each agent"))
