"""An agent group's observation and reward terms, built from the kinds registered on the App."""

from __future__ import annotations

from engine.core.app import App
from engine.core.state import StateDecl
from engine.world.env import GroupPlan
from engine.world.validation import named_entry, parse_dataclass


def build_terms(app: App, g: GroupPlan) -> None:
    """Fill ``g.obs_fns`` / ``g.reward_fns`` and declare the group's observation buffer ``obs.<group>``."""
    ctx = app.ctx
    for section, kinds in (("observation", app.observation_kinds), ("reward", app.reward_kinds)):
        for i, entry in enumerate(getattr(g.spec, section)):
            path = ("agents", g.name, section, i)
            name, params = named_entry(ctx, entry, path, "a term name or {name: {params}}")
            if name not in kinds:
                raise ctx.error(path, app.lookup(kinds, name, f"{section} term"))
            kind = kinds[name]
            ppath = path if isinstance(entry, str) else path + (name,)
            p = parse_dataclass(kind.params, params, ctx, ppath) if kind.params is not None else params
            if section == "reward":
                g.reward_fns.append(kind.factory(app, g, p, ppath))
                continue
            size, fn = kind.factory(app, g, p, ppath)
            if fn is None:  # a term served outside the flat vector (pixels)
                continue
            g.obs_fns.append(fn)
            g.obs_names.append((name, size))
            g.obs_size += size
    app.reserve(g.size * g.obs_size * app.float_size, f"the observations of group {g.name!r} ({g.size:,} agents × "
                f"{g.obs_size:,} features)", ("agents", g.name, "observation"),
                "observe fewer entities or lower the counts/capacities", work=False)
    app.add_state(StateDecl(g.obs_key, "agent", (g.obs_size,), "float", 0, reset="derived", group=g.name,
                            owner=f"agents.{g.name}.observation", doc="the observation vector of each agent"))
