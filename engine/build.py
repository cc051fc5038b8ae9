"""Build a validated world into a ``WorldPlan``: layout, declared state, a frozen schedule.

This is where the layers meet: the world spec (``engine.world``) is resolved against the core
(``engine.core``) by the extensions that register kinds and declare state — the built-ins
(``engine.builtins``) first, then the world file's own ``extensions:``. Everything that spans
sections (agent groups naming entity types, component values of the right shape, term and system
parameters, dotted paths) is checked here with the same ``file:line:col`` messages as the schema.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.core.app import App
from engine.core.resolver import TrustPolicy
from engine.core.state import StateTable
from engine.core.system import SystemDecl
from engine.storage import BUILTIN_COMPONENTS, DTYPES, Component, EntitySlice, Layout
from engine.world.budget import check_components
from engine.world.env import GroupPlan
from engine.world.loader import LoadedWorld
from engine.world.values import check_spawn_range, check_value


@dataclass
class SpawnPlan:
    """Per-entity spawn rule of one component: kind 0 keep, 1 constant, 2 uniform(a, b), 3 normal(a, b),
    4 ring (``rings``: at a distance from another entity's fresh value, drawn after the others), 5 a whole
    number in [a, b)."""

    component: str
    kind: torch.Tensor  # [N] int8
    a: torch.Tensor  # [N, *shape]
    b: torch.Tensor
    rings: list = field(default_factory=list)  # (slots [K], centre index, radius, rotate step (rad) or 0, arena)


@dataclass
class WorldPlan:
    """Everything a Sim needs, resolved, on its device, and frozen: the App holds the declarations."""

    loaded: LoadedWorld
    app: App
    initial: dict[str, torch.Tensor]  # component → [N, *shape]
    alive0: torch.Tensor  # [N] bool
    spawn: list[SpawnPlan]
    systems: list[SystemDecl] = field(default_factory=list)
    plugins: dict = field(default_factory=dict)

    @property
    def spec(self):
        return self.loaded.spec

    @property
    def env(self) -> App:
        return self.app

    @property
    def layout(self) -> Layout:
        return self.app.layout

    @property
    def groups(self) -> dict[str, GroupPlan]:
        return self.app.groups

    @property
    def state(self) -> StateTable:
        return self.app.state


def _component_table(loaded: LoadedWorld) -> dict[str, Component]:
    spec, ctx = loaded.spec, loaded.ctx
    table = dict(BUILTIN_COMPONENTS)
    for name, decl in spec.components.items():
        if name in table:
            raise ctx.error(("components", name), f"duplicate component name {name!r}: it is a built-in "
                                                  f"component ({table[name].doc}); expected a new name",
                            key=True)
        default = False if decl.dtype == "bool" and decl.default == 0 and decl.default is not True else decl.default
        check_value(ctx, ("components", name, "default"), default, tuple(decl.shape), decl.dtype)
        table[name] = Component(name, tuple(decl.shape), decl.dtype, default, decl.doc)
    return table


def _allows_inf(c: Component) -> bool:
    """A component whose default is +inf (``max_speed``: no limit) may be set to +inf."""
    return isinstance(c.default, float) and c.default == float("inf")


def _layout(loaded: LoadedWorld, comps: dict[str, Component]) -> Layout:
    spec, ctx = loaded.spec, loaded.ctx
    types, start = {}, 0
    for name, et in spec.entities.items():
        types[name] = EntitySlice(name, start, et.slots, et.count)
        start += et.slots
    layout = Layout(types, comps, DTYPES[spec.world.dtype])
    if layout.n == 0:
        raise ctx.error(("entities",), "expected at least one entity slot, got capacity 0 in all")
    return layout


def per_slot(ctx, path: tuple, value: Any, c: Component, slots: int, dtype: torch.dtype, allow_inf: bool = False
             ) -> torch.Tensor:
    """``{each: [v0, v1, …]}``: one value per slot of an entity type (landmarks of different colours,
    walls at given places), each checked like a single value; ``[slots, *shape]``."""
    if set(value) != {"each"} or not isinstance(value["each"], list):
        raise ctx.error(path, f"expected a value, or {{each: [one value per slot]}}, got keys {sorted(value)}")
    items = value["each"]
    if len(items) != slots:
        raise ctx.error(path + ("each",), f"expected one value per slot of the type ({slots}), got {len(items)}; "
                                          "list them all (a changed count needs a new list)")
    for i, v in enumerate(items):
        check_value(ctx, path + ("each", i), v, c.shape, c.dtype, allow_inf=allow_inf)
    return torch.stack([torch.as_tensor(v, dtype=dtype).expand(c.shape) for v in items]) if items else \
        torch.zeros((0,) + tuple(c.shape), dtype=dtype)


def _initial_values(loaded: LoadedWorld, layout: Layout) -> dict[str, torch.Tensor]:
    """Per-entity starting value ``[N, *shape]`` of every component, from defaults and entity types."""
    spec, ctx, comps, n = loaded.spec, loaded.ctx, layout.components, layout.n
    initial: dict[str, torch.Tensor] = {}
    for c in comps.values():
        initial[c.name] = torch.empty((n,) + c.shape, dtype=layout.torch_dtype(c))
        initial[c.name][:] = torch.as_tensor(c.default, dtype=layout.torch_dtype(c))
    for tname, et in spec.entities.items():
        sl = layout.types[tname].sl
        for cname, value in et.components.items():
            path = ("entities", tname, "components", cname)
            if cname not in comps:
                close = difflib.get_close_matches(cname, list(comps), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ctx.error(path, f"unknown component {cname!r}{hint}; declare it under components: "
                                      f"or use a built-in ({', '.join(BUILTIN_COMPONENTS)})", key=True)
            c = comps[cname]
            if isinstance(value, dict):  # {each: [...]}: one value per slot
                initial[cname][sl] = per_slot(ctx, path, value, c, layout.types[tname].capacity,
                                              layout.torch_dtype(c), allow_inf=_allows_inf(c))
                continue
            check_value(ctx, path, value, c.shape, c.dtype, allow_inf=_allows_inf(c))
            if c.name == "max_speed" and value is None:
                continue
            initial[cname][sl] = torch.as_tensor(value, dtype=layout.torch_dtype(c))
        for cname in et.spawn:
            if cname not in comps:
                raise ctx.error(("entities", tname, "spawn", cname), f"unknown component {cname!r}", key=True)
    if bool((initial["mass"] <= 0).any()):
        raise ctx.error(("entities",), "expected every entity's mass > 0")
    return initial


def _spawn_plans(loaded: LoadedWorld, layout: Layout, initial: dict[str, torch.Tensor],
                 device: torch.device) -> list[SpawnPlan]:
    spec, ctx, comps, n = loaded.spec, loaded.ctx, layout.components, layout.n
    spawn: list[SpawnPlan] = []
    for cname in sorted({c for et in spec.entities.values() for c in et.spawn}):
        rings: list = []
        c = comps[cname]
        kind = torch.zeros(n, dtype=torch.int8)
        a = initial[cname].clone()
        b = torch.zeros_like(a)
        for tname, et in spec.entities.items():
            rule = et.spawn.get(cname)
            if rule is None:
                continue
            sl, path = layout.types[tname].sl, ("entities", tname, "spawn", cname)
            whole = rule.constant is not None or rule.each is not None or rule.integers is not None
            if not c.dtype.startswith("float") and not whole:
                raise ctx.error(path, f"{cname!r} holds {c.dtype} values: spawn it with constant, each or integers "
                                      "(uniform, normal and ring draw floats)")
            if rule.integers is not None:
                if c.shape:
                    raise ctx.error(path + ("integers",), f"integers draws one number; {cname!r} has shape "
                                                          f"{list(c.shape)}")
                for i, v in enumerate(rule.integers):
                    check_value(ctx, path + ("integers", i), v if i == 0 else v - 1, c.shape, c.dtype)
                kind[sl] = 5
                a[sl], b[sl] = rule.integers[0], rule.integers[1]
            elif rule.constant is not None:
                check_value(ctx, path + ("constant",), rule.constant, c.shape, c.dtype)
                kind[sl], a[sl] = 1, torch.as_tensor(rule.constant, dtype=a.dtype)
            elif rule.each is not None:
                kind[sl] = 1
                a[sl] = per_slot(ctx, path, {"each": rule.each}, c, layout.types[tname].capacity, a.dtype)
            elif rule.ring is not None:
                rings.append(_ring(loaded, layout, tname, rule.ring, cname, path + ("ring",)))
                kind[sl] = 4
            else:
                key = "uniform" if rule.uniform is not None else "normal"
                lo_hi = rule.uniform if rule.uniform is not None else rule.normal
                for i, v in enumerate(lo_hi):
                    check_value(ctx, path + (key, i), v, c.shape, c.dtype)
                check_spawn_range(ctx, path + (key,), key, lo_hi[0], lo_hi[1], c.dtype)
                kind[sl] = 2 if key == "uniform" else 3
                a[sl] = torch.as_tensor(lo_hi[0], dtype=a.dtype)
                b[sl] = torch.as_tensor(lo_hi[1], dtype=a.dtype)
        spawn.append(SpawnPlan(cname, kind.to(device), a.to(device), b.to(device),
                               [(sl.to(device), i, r, st, tuple(spec.world.arena)) for sl, i, r, st in rings]))
    return spawn


def _ring(loaded: LoadedWorld, layout: Layout, tname: str, ring, cname: str, path: tuple) -> tuple:
    import math

    ctx = loaded.ctx
    if cname != "pos":
        raise ctx.error(path, f"a ring spawn places positions; {cname!r} is not pos")
    centre = layout.types.get(ring.around)
    if centre is None or centre.capacity == 0:
        raise ctx.error(path + ("around",), f"expected an entity type with at least one slot to spawn around, got "
                                            f"{ring.around!r} (types: {', '.join(layout.types)})")
    if centre.start >= layout.types[tname].start:
        raise ctx.error(path + ("around",), f"{ring.around!r} comes after (or is) {tname!r} on the entity axis; the "
                                            "centre must be an earlier type, so it is placed first")
    slots = torch.arange(layout.types[tname].start, layout.types[tname].stop)
    step = math.radians(ring.step_degrees) if ring.outside == "rotate" else 0.0
    return slots, centre.start, float(ring.radius), step


def _groups(loaded: LoadedWorld, layout: Layout) -> dict[str, GroupPlan]:
    spec, ctx, types = loaded.spec, loaded.ctx, layout.types
    groups: dict[str, GroupPlan] = {}
    for gname, g in spec.agents.items():
        if g.entity not in types:
            close = difflib.get_close_matches(g.entity, list(types), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ctx.error(("agents", gname, "entity"),
                            f"unknown entity type {g.entity!r}{hint}; expected one of: {', '.join(types)}")
        for other in groups.values():
            if other.slice.name == g.entity:
                raise ctx.error(("agents", gname, "entity"), f"entity type {g.entity!r} already belongs to "
                                                             f"agent group {other.name!r}; expected one group "
                                                             "per entity type")
        if types[g.entity].capacity == 0:
            raise ctx.error(("agents", gname, "entity"), f"entity type {g.entity!r} has no slots (count 0)")
        groups[gname] = GroupPlan(gname, g, types[g.entity], g.action.type)
        prefix = g.agent_name or gname
        clash = next((o for o in groups.values() if o.name != gname and (o.spec.agent_name or o.name) == prefix), None)
        if clash is not None:
            raise ctx.error(("agents", gname, "agent_name" if g.agent_name else "entity"),
                            f"agents of group {gname!r} would be named {prefix}_0 …, as those of group "
                            f"{clash.name!r}; expected distinct names (set agent_name on one of them)")
    return groups


def _despawned_by_rules(spec) -> set[str]:
    """Entity types a rule can remove (``despawn`` of self or other): they are mortal (their observations
    read as zeros while they are gone)."""
    out: set[str] = set()
    for r in spec.rules:
        for e in r.do:
            p = e.get("despawn") if isinstance(e, dict) and len(e) == 1 else None
            if p is None:
                continue
            side = p.get("of", "self") if isinstance(p, dict) else p
            out |= {t for t in (r.of if side == "self" else (r.with_ or [])) if isinstance(t, str)}
    return out


def build_world(loaded: LoadedWorld, device: str | torch.device = "cpu", plugins: bool = True,
                trust: TrustPolicy | None = None) -> WorldPlan:
    """Resolve a validated world on ``device``; raises ``WorldError`` for cross-section mistakes.

    ``trust`` is the policy for the code the world names (default: the package's own code and
    ``WORLDLOOM_TRUST``). ``plugins=False`` skips
    the ONNX plugins (the world runs with its hand-coded systems).
    """
    from engine.builtins import install_extensions

    spec = loaded.spec
    device = torch.device(device)
    layout = _layout(loaded, _component_table(loaded))
    initial = _initial_values(loaded, layout)
    spawn = _spawn_plans(loaded, layout, initial, device)
    alive0 = torch.zeros(layout.n, dtype=torch.bool)
    for t in layout.types.values():
        alive0[t.start:t.start + t.count] = True
    groups = _groups(loaded, layout)
    mortal = {t for t, et in spec.entities.items() if et.lifecycle and et.lifecycle.despawn_on_contact}
    mortal |= {t for t, s in layout.types.items() if s.count < s.capacity}
    mortal |= _despawned_by_rules(spec)
    table = StateTable(layout.n, {g.name: g.size for g in groups.values()}, layout.float_dtype, device)
    app = App(loaded, layout, groups, device, loaded.ctx, mortal, budget=check_components(spec, loaded.ctx),
              state=table, trust=trust if trust is not None else TrustPolicy.from_args())
    app.spawn_plans = spawn
    plan = WorldPlan(loaded, app, {k: v.to(device) for k, v in initial.items()}, alive0.to(device), spawn)
    install_extensions(app, plan, plugins=plugins)
    _check_declared_access(app)
    app.freeze()
    plan.systems = app.schedule()
    return plan


def _check_declared_access(app: App) -> None:
    """Every state key a system declares it reads or writes must be declared state."""
    known = set(app.state.names())
    for s in app.schedule():
        for what, keys in (("reads", s.reads), ("writes", s.writes)):
            for i, k in enumerate(keys or ()):
                if k not in known:
                    close = difflib.get_close_matches(k, sorted(known), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise app.ctx.error(s.path + ((what, i) if s.user_file else ()),
                                        f"system {s.name!r} {what} state {k!r}, which nothing declares{hint}; "
                                        "declare it (components:, a system's state:, app.add_state) or fix the name")

