"""Build a validated world into a ``WorldPlan``: layout, initial values, spawn rules, groups, systems.

This is the second half of validation: everything that spans sections (agent groups naming entity
types, component values of the right shape, term and system parameters, dotted paths that import)
is checked here, with the same ``file:line:col`` messages as the schema checks.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.storage import BUILTIN_COMPONENTS, DTYPES, Component, EntitySlice, Layout
from engine.terms.observations import OBSERVATION_TERMS
from engine.terms.rewards import REWARD_TERMS
from engine.world.env import BuildEnv, GroupPlan
from engine.world.loader import LoadedWorld
from engine.world.spec import describe, parse_dataclass


@dataclass
class SpawnPlan:
    """Per-entity spawn rule of one component: kind 0 keep, 1 constant, 2 uniform(a, b), 3 normal(a, b)."""

    component: str
    kind: torch.Tensor  # [N] int8
    a: torch.Tensor  # [N, *shape]
    b: torch.Tensor


@dataclass
class WorldPlan:
    """Everything a Sim needs, resolved and on its device."""

    loaded: LoadedWorld
    layout: Layout
    env: BuildEnv
    initial: dict[str, torch.Tensor]  # component → [N, *shape]
    alive0: torch.Tensor  # [N] bool
    spawn: list[SpawnPlan]
    groups: dict[str, GroupPlan]
    systems: list = field(default_factory=list)
    plugins: dict = field(default_factory=dict)

    @property
    def spec(self):
        return self.loaded.spec


def _component_table(loaded: LoadedWorld) -> dict[str, Component]:
    spec, ctx = loaded.spec, loaded.ctx
    table = dict(BUILTIN_COMPONENTS)
    for name, decl in spec.components.items():
        if name in table:
            raise ctx.error(("components", name), f"duplicate component name {name!r}: it is a built-in "
                                                  f"component ({table[name].doc}); expected a new name",
                            key=True)
        _check_value(ctx, ("components", name, "default"), decl.default, tuple(decl.shape), decl.dtype)
        table[name] = Component(name, tuple(decl.shape), decl.dtype, decl.default, decl.doc)
    return table


def _shape_of(value: Any) -> tuple[int, ...] | None:
    if isinstance(value, list):
        inner = {_shape_of(v) for v in value}
        if len(inner) != 1 or None in inner:
            return None if value else (0,)
        return (len(value),) + inner.pop()
    return ()


def _check_value(ctx, path: tuple, value: Any, shape: tuple, dtype: str) -> None:
    """A component value must be a scalar (broadcast) or a nested list of exactly ``shape``."""
    import math

    flat = []

    def walk(v):
        if isinstance(v, list):
            for x in v:
                walk(x)
        else:
            flat.append(v)

    walk(value)
    for v in flat:
        if dtype == "bool":
            if not isinstance(v, bool):
                raise ctx.error(path, f"expected true/false values, got {describe(v)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ctx.error(path, f"expected numbers, got {describe(v)}")
        elif isinstance(v, float) and math.isnan(v):
            raise ctx.error(path, "expected a number, got NaN")
    got = _shape_of(value)
    if got != () and got != shape:
        want = f"shape {list(shape)}" if shape else "a single value"
        raise ctx.error(path, f"expected {want} (or a single value broadcast to it), got "
                              f"{'a ragged list' if got is None else 'shape ' + str(list(got))}")


def build_world(loaded: LoadedWorld, device: str | torch.device = "cpu", plugins: bool = True,
                num_worlds: int = 1) -> WorldPlan:
    """Resolve a validated world on ``device``; raises ``WorldError`` for cross-section mistakes.

    ``num_worlds`` only sizes defaults that depend on the batch (ONNX Runtime threads of plugins).
    """
    spec, ctx = loaded.spec, loaded.ctx
    device = torch.device(device)
    float_dtype = DTYPES[spec.world.dtype]
    comps = _component_table(loaded)

    types, start = {}, 0
    for name, et in spec.entities.items():
        types[name] = EntitySlice(name, start, et.slots, et.count)
        start += et.slots
    layout = Layout(types, comps, float_dtype)
    n = layout.n
    if n == 0:
        raise ctx.error(("entities",), "expected at least one entity slot, got capacity 0 in all")

    initial: dict[str, torch.Tensor] = {}
    for c in comps.values():
        initial[c.name] = torch.empty((n,) + c.shape, dtype=layout.torch_dtype(c))
        initial[c.name][:] = torch.as_tensor(c.default, dtype=layout.torch_dtype(c))
    spawn_a = {}
    for tname, et in spec.entities.items():
        sl = types[tname].sl
        for cname, value in et.components.items():
            path = ("entities", tname, "components", cname)
            if cname not in comps:
                close = difflib.get_close_matches(cname, list(comps), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ctx.error(path, f"unknown component {cname!r}{hint}; declare it under components: "
                                      f"or use a built-in ({', '.join(BUILTIN_COMPONENTS)})", key=True)
            c = comps[cname]
            _check_value(ctx, path, value, c.shape, c.dtype)
            if c.name == "max_speed" and value is None:
                continue
            initial[cname][sl] = torch.as_tensor(value, dtype=layout.torch_dtype(c))
        for cname in et.spawn:
            if cname not in comps:
                raise ctx.error(("entities", tname, "spawn", cname), f"unknown component {cname!r}", key=True)
        spawn_a.setdefault(tname, et.spawn)
    for cname in ("mass",):
        if bool((initial[cname] <= 0).any()):
            raise ctx.error(("entities",), "expected every entity's mass > 0")

    spawn: list[SpawnPlan] = []
    spawned = sorted({c for et in spec.entities.values() for c in et.spawn})
    for cname in spawned:
        c = comps[cname]
        if c.dtype not in ("float",) and not c.dtype.startswith("float"):
            raise ctx.error(("components", cname), f"spawn rules need a float component; {cname!r} is {c.dtype}")
        kind = torch.zeros(n, dtype=torch.int8)
        a = initial[cname].clone()
        b = torch.zeros_like(a)
        for tname, et in spec.entities.items():
            rule = et.spawn.get(cname)
            if rule is None:
                continue
            sl, path = types[tname].sl, ("entities", tname, "spawn", cname)
            if rule.constant is not None:
                _check_value(ctx, path + ("constant",), rule.constant, c.shape, "float")
                kind[sl], a[sl] = 1, torch.as_tensor(rule.constant, dtype=a.dtype)
            else:
                lo_hi = rule.uniform if rule.uniform is not None else rule.normal
                key = "uniform" if rule.uniform is not None else "normal"
                for i, v in enumerate(lo_hi):
                    _check_value(ctx, path + (key, i), v, c.shape, "float")
                kind[sl] = 2 if key == "uniform" else 3
                a[sl] = torch.as_tensor(lo_hi[0], dtype=a.dtype)
                b[sl] = torch.as_tensor(lo_hi[1], dtype=a.dtype)
        spawn.append(SpawnPlan(cname, kind.to(device), a.to(device), b.to(device)))

    alive0 = torch.zeros(n, dtype=torch.bool)
    for t in types.values():
        alive0[t.start:t.start + t.count] = True

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

    mortal = {t for t, et in spec.entities.items() if et.lifecycle and et.lifecycle.despawn_on_contact}
    mortal |= {t for t, s in types.items() if s.count < s.capacity}
    env = BuildEnv(loaded, layout, groups, device, ctx, mortal, num_worlds)
    for _k in ("initial",):
        pass
    initial = {k: v.to(device) for k, v in initial.items()}

    for gp in groups.values():
        _build_terms(env, gp)

    plan = WorldPlan(loaded, layout, env, initial, alive0.to(device), spawn, groups)
    from engine.systems import build_system
    from engine.systems.lifecycle import make_lifecycle

    systems = []
    for i, entry in enumerate(spec.systems):
        systems.append(build_system(env, entry, ("systems", i)))
    lc = make_lifecycle(env, [s.component for s in spawn])
    if lc is not None:
        from engine.systems import System

        systems.append(System("lifecycle", lc, (), True, ("entities",)))
    plan.systems = systems
    if plugins and spec.plugins:
        from engine.learned.bind import build_plugins

        build_plugins(plan)
    return plan


def _term_entry(ctx, entry: Any, path: tuple) -> tuple[str, Any]:
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        name, params = next(iter(entry.items()))
        return name, ({} if params is None else params)
    raise ctx.error(path, f"expected a term name or {{name: {{params}}}}, got {describe(entry)}")


def _build_terms(env: BuildEnv, gp: GroupPlan) -> None:
    ctx = env.ctx
    for section, registry in (("observation", OBSERVATION_TERMS), ("reward", REWARD_TERMS)):
        for i, entry in enumerate(getattr(gp.spec, section)):
            path = ("agents", gp.name, section, i)
            name, params = _term_entry(ctx, entry, path)
            if name == "pixels" and section == "observation":
                # pixels are not part of the flat vector: they are rendered after the tick into
                # obs["<group>/pixels"] [B, A, H, W, 3] uint8 (engine.terms.pixels)
                from engine.terms.pixels import PixelParams

                if gp.pixels is not None:
                    raise ctx.error(path, "expected at most one pixels term per agent group")
                gp.pixels = parse_dataclass(PixelParams, params, ctx, path if isinstance(entry, str)
                                            else path + (name,))
                continue
            if name not in registry:
                close = difflib.get_close_matches(str(name), list(registry), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ctx.error(path, f"unknown {section} term {name!r}{hint}; expected one of: "
                                      f"{', '.join(registry)}")
            params_cls, factory = registry[name]
            ppath = path if isinstance(entry, str) else path + (name,)
            p = parse_dataclass(params_cls, params, ctx, ppath)
            if section == "observation":
                size, fn = factory(env, gp, p, ppath)
                gp.obs_fns.append(fn)
                gp.obs_names.append((name, size))
                gp.obs_size += size
            else:
                gp.reward_fns.append(factory(env, gp, p, ppath))
