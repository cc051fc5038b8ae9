"""Observation terms: the vocabulary agent groups build their observation vectors from.

Each term is a factory ``(env, group, params) -> (size, fn)`` where ``fn(state) -> [B, A, size]``.
Index tensors are precomputed at build time, so a term is one gather and a subtraction, for every
agent of every world at once. Entities that are dead contribute zeros, so a fixed-size observation
never leaks stale positions.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from engine.world.env import BuildEnv, GroupPlan
from engine.world.validation import fld

MAX_NEAREST = 4096


@dataclass(kw_only=True)
class NoParams:
    """This term takes no parameters."""


@dataclass(kw_only=True)
class OfTypes:
    """Which entities a term looks at."""

    of: list[str] = fld(min_items=1, doc="Entity types, in order; their slots are concatenated.")
    exclude_self: bool = fld(True, doc="Leave the observing agent itself out (when its type is listed).")
    within: float | None = fld(None, gt=0, doc="Perception radius: entities farther away read as zeros.")
    nearest: int | None = fld(None, ge=1, le=MAX_NEAREST, doc="Keep the k nearest entities, closest first (dead "
                                                               "or unseen ones last, as zeros): a fixed-size "
                                                               "view that does not depend on entity order.")
    hidden_in: list[str] | None = fld(None, doc="Zone types (forests): an entity inside a zone is seen only from "
                                                "inside the same zone, and one inside a zone sees only its zone's "
                                                "entities (MPE world_comm); outside all zones, all is seen.")


@dataclass(kw_only=True)
class ComponentOf(OfTypes):
    """A component of the listed entities (see ``component``)."""

    name: str = fld(doc="Component name: built-in (pos, vel, radius, color …) or declared under components:.")


FIELDS_SCHEMA = {"type": "array", "minItems": 1, "items": {"anyOf": [
    {"type": "string"},
    {"type": "object", "required": ["one_hot"], "additionalProperties": False, "properties": {"one_hot": {
        "type": "object", "required": ["name", "n"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "n": {"type": "integer", "minimum": 1}}}}}]}}
FIELDS_DOC = ("What each entity contributes, in order: relative_pos, a component name (pos, vel, radius, color, "
              "your own), or {one_hot: {name: C, n: K}} (an int component as K flags; -1 and values outside "
              "0..K-1 read as zeros).")


@dataclass(kw_only=True)
class EntitiesOf(OfTypes):
    """Per-entity records of the listed entities (see ``entities``)."""

    fields: list[Any] = fld(schema=FIELDS_SCHEMA, doc=FIELDS_DOC)


@dataclass(kw_only=True)
class OwnFields:
    """The agent's own record (see ``own``)."""

    fields: list[Any] = fld(schema=FIELDS_SCHEMA, doc=FIELDS_DOC)


@dataclass(kw_only=True)
class PartnerOf:
    """Which pairing a term reads (see ``pairings:``)."""

    pairing: str = fld(doc="Name of a pairing whose `of` types include the group's entity type.")


@dataclass(kw_only=True)
class PartnerComponent(PartnerOf):
    """A component of the agent's partner (see ``partner_component``)."""

    name: str = fld(doc="Component name: built-in (color, radius …) or declared under components:.")


@dataclass(kw_only=True)
class VariableOf:
    """A world or team variable (see ``variable``)."""

    name: str = fld(doc="Name of a variable declared under variables:.")
    teams: Literal["own", "all"] = fld("own", doc="Team variables: own: the agent's team's value; all: its own "
                                                  "team's first, then the other teams' in agents: order.")


@dataclass(kw_only=True)
class InZone:
    """Whether the agent is inside each zone (see ``in_zone``)."""

    of: list[str] = fld(factory=list, doc="Zone entity types (forests, bases), one value per zone entity.")
    zones: list[str] = fld(factory=list, doc="Static zones (zones:), one value per zone: its centre lies in it.")
    inside: float = fld(1.0, doc="Value when the agent overlaps the zone.")
    outside: float = fld(-1.0, doc="Value otherwise (MPE world_comm: -1).")


@dataclass(kw_only=True)
class Lidar:
    """Rays from the agent (see ``lidar``)."""

    rays: int = fld(16, ge=1, le=1024, doc="Number of rays, evenly spread over the full circle.")
    range: float = fld(1.0, gt=0, doc="Longest distance a ray reads; nothing hit reads this value.")
    of: list[str] = fld(factory=list, doc="Entity types the rays hit (disks; dead ones are not hit).")
    walls: bool = fld(True, doc="The world's walls (segments, boxes, map cells) stop the rays too.")
    per_type: bool = fld(False, doc="One channel per listed type (then walls) instead of the nearest hit of "
                                    "any: rays × (types + walls) values.")
    angle: float = fld(0.0, doc="Direction of the first ray, in degrees (0: +x; counter-clockwise).")
    exclude_self: bool = fld(True, doc="The agent's own disk does not stop its rays.")


@dataclass(kw_only=True)
class CustomTerm:
    """A user term: ``fn(state, group) -> [B, A, size]`` found by dotted path."""

    fn: str = fld(doc="Dotted path of the function, e.g. mypkg.obs.energy.")
    size: int | None = fld(None, ge=1, le=1 << 20,
                           doc="Features it returns per agent (checked at load; optional when the function "
                               "declares it with @engine.extend.observation(size=...)).")


def _others(env: BuildEnv, group: GroupPlan, types: list[str], exclude_self: bool) -> torch.Tensor | None:
    """``[A, K]`` entity indices each agent looks at, or None when it is the same slice for all."""
    idx = env.layout.indices(types)
    own = torch.arange(group.slice.start, group.slice.stop)
    if not exclude_self or group.slice.name not in types:
        return None
    keep = idx.unsqueeze(0) != own.unsqueeze(1)  # [A, K]
    return idx.unsqueeze(0).expand(len(own), -1)[keep].view(len(own), len(idx) - 1)


def _gather(x: torch.Tensor, idx: torch.Tensor | None, lo: int, hi: int) -> torch.Tensor:
    """x ``[B, N, ...]`` → ``[B, A or 1, K, ...]``: the entities each agent looks at."""
    if idx is None:
        return x[:, lo:hi].unsqueeze(1)
    return x[:, idx]


def _contiguous_span(env: BuildEnv, types: list[str]) -> tuple[int, int] | None:
    idx = env.layout.indices(types)
    if len(idx) and bool((idx == torch.arange(int(idx[0]), int(idx[0]) + len(idx))).all()):
        return int(idx[0]), int(idx[0]) + len(idx)
    return None


def _reserve(env: BuildEnv, group: GroupPlan, types: list[str], path: tuple, floats: int, what: str) -> None:
    """Count a term's ``[A, K]`` index table and its per-tick ``[B, A, K, ...]`` temporaries in the budget."""
    k = sum(env.layout.types[t].capacity for t in types)
    env.reserve(group.size * k * (floats * env.float_size + 8), f"the {what} term ({group.size:,} agents × "
                f"{k:,} entities)", path, "observe fewer entities (a shorter of: list, lower counts/capacities)")


def _fields(env: BuildEnv, group: GroupPlan, fields: list, path: tuple) -> list[tuple[int, Callable]]:
    """``[(size, fn(state, gather) → [B, A|1, K, size])]`` for each field of a per-entity record; ``gather``
    takes a ``[B, N, ...]`` tensor to the entities the agents look at."""
    from engine.world.validation import describe, named_entry

    comps = env.layout.components
    a0, a1 = group.slice.start, group.slice.stop
    out: list[tuple[int, Callable]] = []
    for i, f in enumerate(fields):
        at = path + (i,)
        if f == "relative_pos":
            out.append((2, lambda state, gather: gather(state["pos"]) - state["pos"][:, a0:a1].unsqueeze(2)))
            continue
        if isinstance(f, str):
            _check_component(env, f, at)
            per = math.prod(comps[f].shape)
            out.append((per, lambda state, gather, f=f, per=per: _flat(gather(state[f]), per, state)))
            continue
        name, p = named_entry(env.ctx, f, at, "a field: relative_pos, a component name, or {one_hot: {name, n}}")
        if name != "one_hot" or not isinstance(p, dict) or set(p) != {"name", "n"}:
            raise env.ctx.error(at, f"expected relative_pos, a component name or {{one_hot: {{name: C, n: K}}}}, "
                                    f"got {describe(f)}")
        _check_component(env, p["name"], at + ("one_hot", "name"))
        c = comps[p["name"]]
        if c.dtype.startswith("float") or c.dtype == "bool" or c.shape:
            raise env.ctx.error(at + ("one_hot", "name"), f"one_hot reads a single int component; {p['name']!r} is "
                                                          f"{c.dtype} of shape {list(c.shape)}")
        n = p["n"]
        if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 4096):
            raise env.ctx.error(at + ("one_hot", "n"), f"expected a whole number of classes in 1..4096, got "
                                                       f"{describe(n)}")
        ks = torch.arange(n, device=env.device)
        out.append((n, lambda state, gather, c=p["name"], ks=ks:
                    (gather(state[c]).unsqueeze(-1) == ks).to(state["pos"].dtype)))
    return out


def _flat(x: torch.Tensor, per: int, state: dict) -> torch.Tensor:
    return x.reshape(x.shape[:3] + (per,)).to(state["pos"].dtype)


def _entity_term(env: BuildEnv, group: GroupPlan, p: OfTypes, path: tuple, fields: list[tuple[int, Callable]],
                 what: str) -> tuple[int, Callable]:
    """Each agent's view of the listed entities: per entity the ``fields`` side by side (dead or unseen ones
    as zeros), optionally only the ``nearest`` k, closest first."""
    env.check_types(p.of, path + ("of",))
    per = sum(size for size, _ in fields)  # values per entity
    _reserve(env, group, p.of, path, 3 * per, what)
    idx = _others(env, group, p.of, p.exclude_self)
    span = _contiguous_span(env, p.of) if idx is None else None
    if idx is None and span is None:
        # non-contiguous type list: a gather with the same indices for every agent
        idx = env.layout.indices(p.of).unsqueeze(0).expand(group.size, -1).contiguous()
    lo, hi = span if span else (0, 0)
    idx = idx.to(env.device) if idx is not None else None
    k = (idx.shape[1] if idx is not None else hi - lo)
    mortal = any(t in env.mortal_types for t in p.of)
    a0, a1 = group.slice.start, group.slice.stop
    sees = _perception(env, p, path, idx, lo, hi, a0, a1)
    nearest = None if p.nearest is None else min(p.nearest, k)

    def gather(x: torch.Tensor) -> torch.Tensor:
        return _gather(x, idx, lo, hi)  # [B, A|1, K, ...]

    def term(state: dict) -> torch.Tensor:
        parts = [fn(state, gather) for _, fn in fields]
        x = parts[0] if len(parts) == 1 else torch.cat(
            [q.expand(q.shape[0], a1 - a0, q.shape[2], q.shape[3]) for q in parts], -1)
        x = x.expand(-1, a1 - a0, -1, -1)
        shown = None
        if mortal:
            shown = _gather(state["alive"], idx, lo, hi).expand(-1, a1 - a0, -1)
        if sees is not None:
            shown = sees(state) if shown is None else shown & sees(state)
        if shown is not None:
            x = x * shown.unsqueeze(-1).to(x.dtype)
        if nearest is not None:
            x = _keep_nearest(state, x, shown, idx, lo, hi, a0, a1, nearest)
        return x.reshape(x.shape[0], a1 - a0, -1)

    return per * (nearest or k), term


def _keep_nearest(state: dict, x: torch.Tensor, shown: torch.Tensor | None, idx, lo: int, hi: int, a0: int,
                  a1: int, k: int) -> torch.Tensor:
    """The ``k`` entities nearest each agent, closest first; those not shown (dead, unseen) go last (a stable
    sort: ties keep entity order)."""
    there = _gather(state["pos"], idx, lo, hi)  # [B, A|1, K, 2]
    d2 = (there - state["pos"][:, a0:a1].unsqueeze(2)).square().sum(-1)  # [B, A, K]
    if shown is not None:
        d2 = torch.where(shown, d2, torch.full_like(d2, float("inf")))
    order = torch.sort(d2, dim=-1, stable=True).indices[..., :k]  # [B, A, k]
    return torch.gather(x, 2, order.unsqueeze(-1).expand(-1, -1, -1, x.shape[-1]))


def _perception(env: BuildEnv, p: OfTypes, path: tuple, idx, lo: int, hi: int, a0: int, a1: int):
    """``fn(state) → [B, A, K]`` bool: what each agent perceives (``within``, ``hidden_in``), or None."""
    if p.within is None and not p.hidden_in:
        return None
    zones = None
    if p.hidden_in:
        env.check_types(p.hidden_in, path + ("hidden_in",), "zone type")
        zones = env.layout.indices(p.hidden_in).to(env.device)
        if len(zones) > 62:
            raise env.ctx.error(path + ("hidden_in",), f"expected at most 62 zone entities (a bit each), got "
                                                       f"{len(zones)}; use fewer zones")
    r2 = None if p.within is None else float(p.within) ** 2

    def sees(state: dict) -> torch.Tensor:
        me = state["pos"][:, a0:a1].unsqueeze(2)  # [B, A, 1, 2]
        ok = None
        if r2 is not None:
            them = _gather(state["pos"], idx, lo, hi)  # [B, A|1, K, 2]
            ok = (them - me).square().sum(-1) < r2
        if zones is not None:
            # in which living zones every entity is (MPE: overlapping the forest), as a bit mask per entity
            # [B, N] (x and y apart, no reduction over tiny axes: this runs for every observing group)
            px, py, rad = state["pos"][..., 0], state["pos"][..., 1], state["radius"]
            zx, zy, zr, za = px[:, zones], py[:, zones], rad[:, zones], state["alive"][:, zones]
            mask = torch.zeros_like(px, dtype=torch.int64)
            for z in range(len(zones)):
                dx, dy = px - zx[:, z:z + 1], py - zy[:, z:z + 1]
                reach = rad + zr[:, z:z + 1]
                inside = (dx * dx + dy * dy < reach * reach) & za[:, z:z + 1]
                mask = mask | (inside.to(torch.int64) << z)
            mine = mask[:, a0:a1].unsqueeze(2)  # [B, A, 1]
            theirs = _gather(mask, idx, lo, hi)  # [B, A|1, K]
            vis = ((mine & theirs) != 0) | ((mine == 0) & (theirs == 0))
            ok = vis if ok is None else ok & vis
        return ok.expand(-1, a1 - a0, -1)
    return sees


def relative_pos(env: BuildEnv, group: GroupPlan, p: OfTypes, path: tuple):
    """Positions of entities of the given types relative to the agent (MPE: landmark/other positions)."""
    return _entity_term(env, group, p, path, _fields(env, group, ["relative_pos"], path), "relative_pos")


def vel(env: BuildEnv, group: GroupPlan, p: OfTypes, path: tuple):
    """Absolute velocities of entities of the given types (MPE: other agents' velocities)."""
    return _entity_term(env, group, p, path, _fields(env, group, ["vel"], path), "vel")


def entities(env: BuildEnv, group: GroupPlan, p: EntitiesOf, path: tuple):
    """A record per entity — its ``fields`` side by side — for the listed entities (MPE collect_treasure:
    every other agent's relative position, velocity and type flags, nearest first)."""
    return _entity_term(env, group, p, path, _fields(env, group, p.fields, path + ("fields",)), "entities")


def own(env: BuildEnv, group: GroupPlan, p: OwnFields, path: tuple):
    """The agent's own record (the same ``fields`` as ``entities``): e.g. a one-hot of what it holds."""
    fields = _fields(env, group, p.fields, path + ("fields",))
    a0, a1 = group.slice.start, group.slice.stop

    def gather(x: torch.Tensor) -> torch.Tensor:
        return x[:, a0:a1].unsqueeze(2)  # [B, A, 1, ...]

    def term(state: dict) -> torch.Tensor:
        x = torch.cat([fn(state, gather) for _, fn in fields], -1)
        return x.reshape(x.shape[0], a1 - a0, -1)

    return sum(size for size, _ in fields), term


def component(env: BuildEnv, group: GroupPlan, p: ComponentOf, path: tuple):
    """Any per-entity component of the listed entities, flattened (MPE: other agents' channel ``c``).

    Built-in (``radius``, ``color`` …) or declared under ``components:``; booleans and integers are
    observed as 0/1 and numbers. Dead entities of mortal types read as zeros, as in the other terms.
    """
    _check_component(env, p.name, path + ("name",))
    return _entity_term(env, group, p, path, _fields(env, group, [p.name], path + ("name",)), p.name)


def _check_component(env: BuildEnv, name: str, path: tuple) -> None:
    comps = env.layout.components
    if not isinstance(name, str):
        from engine.world.validation import describe

        raise env.ctx.error(path, f"expected a component name, got {describe(name)}")
    if name not in comps:
        import difflib

        close = difflib.get_close_matches(name, list(comps), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise env.ctx.error(path, f"unknown component {name!r}{hint}; expected one of: "
                                  f"{', '.join(comps)} (declare your own under components:)")


def partner_pos(env: BuildEnv, group: GroupPlan, p: PartnerOf, path: tuple):
    """The position of the agent's own partner (a pairing) relative to the agent (MPE: the goal)."""
    from engine.pairings import partner_columns

    cols = partner_columns(env, p.pairing, [group.slice.name], path + ("pairing",))
    key, columns = cols.key, cols.columns
    a0, a1 = group.slice.start, group.slice.stop

    def term(state: dict) -> torch.Tensor:
        pos = state["pos"]
        partner = state[key][:, columns]  # [B, A] entity indices
        there = torch.gather(pos, 1, partner.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))
        return there - pos[:, a0:a1]

    return 2, term


def partner_component(env: BuildEnv, group: GroupPlan, p: PartnerComponent, path: tuple):
    """A component of the agent's own partner (MPE speaker_listener: the colour of the goal landmark)."""
    from engine.pairings import partner_columns

    _check_component(env, p.name, path + ("name",))
    comps = env.layout.components
    cols = partner_columns(env, p.pairing, [group.slice.name], path + ("pairing",))
    key, columns, name = cols.key, cols.columns, p.name
    per = math.prod(comps[name].shape)

    def term(state: dict) -> torch.Tensor:
        x = state[name]
        x = x.reshape(x.shape[:2] + (per,)).to(state["pos"].dtype)  # [B, N, per]
        partner = state[key][:, columns]  # [B, A]
        return torch.gather(x, 1, partner.unsqueeze(-1).expand(-1, -1, per))

    return per, term


def alive(env: BuildEnv, group: GroupPlan, p: OfTypes, path: tuple):
    """1.0 for each listed entity that is alive, 0.0 otherwise."""
    env.check_types(p.of, path + ("of",))
    _reserve(env, group, p.of, path, 2, "alive")
    idx = _others(env, group, p.of, p.exclude_self)
    if idx is None:
        idx = env.layout.indices(p.of).unsqueeze(0).expand(group.size, -1).contiguous()
    idx = idx.to(env.device)

    def term(state: dict) -> torch.Tensor:
        return state["alive"][:, idx].to(state["pos"].dtype)

    return idx.shape[1], term


def _self_term(field_name: str):
    def factory(env: BuildEnv, group: GroupPlan, p: NoParams, path: tuple):
        a0, a1 = group.slice.start, group.slice.stop

        def term(state: dict) -> torch.Tensor:
            return state[field_name][:, a0:a1]

        return 2, term

    factory.__doc__ = f"The agent's own {field_name}."
    return factory


def variable(env: BuildEnv, group: GroupPlan, p: VariableOf, path: tuple):
    """A variable of the world or of the agent's team (a score, a timer), as seen by every agent of the group."""
    from engine.rules.context import var_key

    spec = env.loaded.spec.variables.get(p.name)
    if spec is None:
        close = difflib.get_close_matches(p.name, list(env.loaded.spec.variables), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise env.ctx.error(path + ("name",), f"unknown variable {p.name!r}{hint}; declared: "
                                              f"{', '.join(env.loaded.spec.variables) or 'none'} (variables:)")
    key, A = var_key(p.name), group.size
    if spec.scope == "world":
        return 1, lambda state: state[key].to(state["pos"].dtype).view(-1, 1, 1).expand(-1, A, 1)
    teams = list(env.groups)
    me = teams.index(group.name)
    order = [me] + [t for t in range(len(teams)) if t != me] if p.teams == "all" else [me]
    cols = torch.tensor(order, dtype=torch.int64, device=env.device)

    def term(state: dict) -> torch.Tensor:
        return state[key][:, cols].to(state["pos"].dtype).unsqueeze(1).expand(-1, A, -1)

    return len(order), term


def in_zone(env: BuildEnv, group: GroupPlan, p: InZone, path: tuple):
    """Per zone entity: ``inside`` when the agent overlaps it (distance < r_agent + r_zone), else ``outside``
    (MPE world_comm's in_forest flags); then per static zone (``zones:``): whether the agent's centre is in it."""
    from engine.world.zones import build_zones

    if not p.of and not p.zones:
        raise env.ctx.error(path, "expected zone entity types (of: [...]) or static zones (zones: [...])")
    env.check_types(p.of, path + ("of",)) if p.of else None
    zones = env.layout.indices(p.of).to(env.device)
    static = build_zones(env, p.zones, path + ("zones",))
    a0, a1, yes, no = group.slice.start, group.slice.stop, p.inside, p.outside

    def term(state: dict) -> torch.Tensor:
        pos, rad = state["pos"], state["radius"]
        parts = []
        if len(zones):
            d = (pos[:, a0:a1].unsqueeze(2) - pos[:, zones].unsqueeze(1)).square().sum(-1).sqrt()  # [B, A, Z]
            parts.append((d < rad[:, a0:a1].unsqueeze(2) + rad[:, zones].unsqueeze(1))
                         & state["alive"][:, zones].unsqueeze(1))
        parts += [z.inside(pos[:, a0:a1]).unsqueeze(-1) for z in static]
        hit = parts[0] if len(parts) == 1 else torch.cat(parts, -1)
        return torch.where(hit, yes, no).to(pos.dtype)

    return len(zones) + len(static), term


def lidar(env: BuildEnv, group: GroupPlan, p: Lidar, path: tuple):
    """Distances along ``rays`` rays from the agent's centre to the first disk of the listed types or wall,
    ``range`` when nothing is hit (VMAS's lidar): ``rays`` values, or ``rays × (types + walls)`` with
    ``per_type``. An agent inside a listed disk reads 0 on every ray."""
    from engine.terms.lidar import disk_hits, segment_hits

    env.check_types(p.of, path + ("of",)) if p.of else None
    segments = env.loaded.spec.walls.segment_list() if p.walls else []
    if not p.of and not segments:
        raise env.ctx.error(path, "expected something for the rays to hit: of: [entity types], or walls in the "
                                  "world's walls: section")
    theta = torch.deg2rad(torch.tensor(p.angle, dtype=torch.float64)) + torch.arange(p.rays, dtype=torch.float64) \
        * (2 * math.pi / p.rays)
    u = torch.stack((theta.cos(), theta.sin()), -1).to(env.dtype).to(env.device)  # [R, 2]
    seg = torch.tensor(segments, dtype=env.dtype, device=env.device) if segments else None
    per_type = [(env.layout.indices([t]).to(env.device)) for t in p.of] if p.per_type else \
        ([env.layout.indices(p.of).to(env.device)] if p.of else [])
    a0, a1, rng, skip_self = group.slice.start, group.slice.stop, float(p.range), p.exclude_self
    me = torch.arange(a0, a1, device=env.device)
    k = sum(len(i) for i in per_type)
    env.reserve(group.size * max(k, 1) * p.rays * 6 * env.float_size, f"the lidar ({group.size:,} agents × {k:,} "
                f"disks × {p.rays} rays)", path, "use fewer rays or list fewer entity types")

    def term(state: dict) -> torch.Tensor:
        o = state["pos"][:, a0:a1]  # [B, A, 2]
        channels = []
        for idx in per_type:
            hide = (~state["alive"][:, idx]).unsqueeze(1)  # [B, 1, K]
            if skip_self:
                hide = hide | (idx.view(1, 1, -1) == me.view(1, -1, 1))
            channels.append(disk_hits(o, u, state["pos"][:, idx], state["radius"][:, idx], hide, rng))
        if seg is not None:
            channels.append(segment_hits(o, u, seg, rng))
        if not p.per_type:
            channels = [torch.stack(channels, -1).amin(-1)] if len(channels) > 1 else channels
        return torch.cat(channels, -1)  # [B, A, R × channels]

    return p.rays * ((len(p.of) + (seg is not None)) if p.per_type else 1), term


def custom(env: BuildEnv, group: GroupPlan, p: CustomTerm, path: tuple):
    """A user-written term ``fn(state, group) -> [B, A, size]``, by dotted path (under the trust policy).

    Its ``size`` is checked against what it returns when the world loads (a dry run on the first state).
    """
    from engine.terms.user import user_observation

    return user_observation(env, group, p.fn, p.size, path)


#: name → (params class, factory)
OBSERVATION_TERMS: dict[str, tuple[type, Callable]] = {
    "self_pos": (NoParams, _self_term("pos")),
    "self_vel": (NoParams, _self_term("vel")),
    "relative_pos": (OfTypes, relative_pos),
    "vel": (OfTypes, vel),
    "alive": (OfTypes, alive),
    "entities": (EntitiesOf, entities),
    "own": (OwnFields, own),
    "lidar": (Lidar, lidar),
    "component": (ComponentOf, component),
    "partner_pos": (PartnerOf, partner_pos),
    "partner_component": (PartnerComponent, partner_component),
    "variable": (VariableOf, variable),
    "in_zone": (InZone, in_zone),
    "custom": (CustomTerm, custom),
}
