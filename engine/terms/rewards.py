"""Reward terms: per-agent rewards ``[B, A]`` built from a small vocabulary, summed per group.

Each factory returns ``fn(state, alive_before) -> [B, A]``; ``alive_before [B, N]`` is the alive
mask at the start of the tick, so an agent that dies this tick still gets its death penalty, and
agents that were already dead get nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from engine.terms.assignment import FormationReward, formation
from engine.world.env import BuildEnv, GroupPlan
from engine.world.validation import fld


@dataclass(kw_only=True)
class ContactReward:
    """``value`` for each entity of the listed types touching the agent (distance < r_a + r_b)."""

    with_: list[str] = fld(min_items=1, alias="with", doc="Entity types whose contact counts.")
    value: float = fld(1.0, doc="Reward per contact.")
    shared: bool = fld(False, doc="Sum over the group's agents and give every agent the total (team reward).")
    of: list[str] | None = fld(None, doc="Count the contacts of these entities instead and give every agent the "
                                         "total (a team spread over groups: MPE world_comm's leader and "
                                         "adversaries).")


@dataclass(kw_only=True)
class BoundsPenalty:
    """MPE simple_tag's penalty for leaving the arena, per axis: 0 below ``inner``, linear to
    ``outer``, then exp(2x - 2) capped at ``cap``."""

    inner: float = fld(0.9, ge=0, doc="|x| below which there is no penalty.")
    outer: float = fld(1.0, ge=0, doc="|x| where the linear part ends.")
    slope: float = fld(10.0, doc="Penalty per unit between inner and outer.")
    cap: float = fld(10.0, doc="Largest penalty per axis.")
    scale: float = fld(1.0, doc="Multiplies the penalty (MPE world_comm: 2).")


@dataclass(kw_only=True)
class DistanceReward:
    """``scale`` × distance to the nearest (or all) entities of the listed types: a shaping term."""

    to: list[str] = fld(min_items=1, doc="Entity types to measure the distance to.")
    scale: float = fld(-0.1, doc="Reward per unit of distance (negative: closer is better).")
    reduce: str = fld("min", doc="min: nearest entity; sum: all of them.")
    squared: bool = fld(False, doc="Use the squared distance (MPE simple: reward −distance²).")
    where: list[Any] | None = fld(None, schema={"type": "array", "items": {}},
                                  doc="Conditions on the pair (self: the agent, other: the entity), as in rules: "
                                      "only entities for which they hold count, e.g. [{compare: [other.accepts, "
                                      "==, self.holding]}].")
    otherwise: Literal["zero", "centroid"] = fld("zero", doc="When no entity counts (all dead, or none passes "
                                                            "`where`): zero, or the distance to the centroid "
                                                            "of all living entities of `to` (MPE collect_treasure's "
                                                            "deposits).")


@dataclass(kw_only=True)
class CoverageReward:
    """MPE simple_spread's global reward: for each entity of ``of``, the distance to the nearest entity
    of ``by``, summed, times ``scale``; the same value for every agent of the group (a team term)."""

    of: list[str] = fld(min_items=1, doc="Entity types to cover (landmarks).")
    by: list[str] = fld(min_items=1, doc="Entity types that cover them (the agents).")
    scale: float = fld(-1.0, doc="Reward per unit of summed distance (negative: covered is better).")


@dataclass(kw_only=True)
class PartnerDistanceReward:
    """``scale`` × the distance between entities and their partners (a pairing): the agent's own, or
    — with ``of`` — the min, sum or mean over the entities of those types, the same for every agent."""

    pairing: str = fld(doc="Name of a pairing (see pairings:).")
    of: list[str] | None = fld(None, doc="Entity types whose distances count (default: the agent's own).")
    from_: list[str] | None = fld(None, alias="from",
                                  doc="Measure from these entities instead (the i-th of them to the partner of "
                                      "the i-th `of` entity; same counts): MPE speaker_listener's listener to "
                                      "the speaker's goal.")
    from_partner: str | None = fld(None, doc="Measure from the entities' partner in this other pairing "
                                             "instead (MPE reference: my goal_a agent to my goal_b landmark).")
    reduce: str = fld("min", doc="With `of`: min (the closest one), sum or mean.")
    scale: float = fld(-1.0, doc="Reward per unit of distance.")
    squared: bool = fld(False, doc="Use the squared distance.")


@dataclass(kw_only=True)
class ComponentDistanceReward:
    """``scale`` × Σ over the entities of ``of`` of the squared distance between their component ``name``
    and their partner's component ``partner_name``, the same for every agent (MPE crypto: a listener's
    channel against the goal's code)."""

    of: list[str] = fld(min_items=1, doc="Entity types whose component is compared with their partner's.")
    name: str = fld(doc="Their component (e.g. comm).")
    pairing: str = fld(doc="The pairing that gives each its partner (e.g. the goal).")
    partner_name: str | None = fld(None, doc="The partner's component (default: the same name).")
    skip_zero: bool = fld(False, doc="Entities whose component is all zeros count 0 (MPE: a channel that has "
                                     "said nothing yet, at reset).")
    scale: float = fld(-1.0, doc="Reward per unit of squared distance.")


@dataclass(kw_only=True)
class CollectReward:
    """``value`` for each entity of the listed types this agent removed by contact this tick."""

    of: list[str] = fld(min_items=1, doc="Entity types that are collected (they need despawn_on_contact).")
    value: float = fld(1.0, doc="Reward per collected entity.")
    shared: bool = fld(False, doc="Sum over the group's agents and give every agent the total.")


@dataclass(kw_only=True)
class DeathReward:
    """``value`` on the tick the agent dies."""

    value: float = fld(-1.0, doc="Reward when the agent is removed.")


@dataclass(kw_only=True)
class CustomReward:
    """A user term: ``fn(state, group) -> [B, A]`` found by dotted path."""

    fn: str = fld(doc="Dotted path of the function.")


def _reserve(env: BuildEnv, group: GroupPlan, types: list[str], path: tuple, floats: int, what: str) -> None:
    """Count a term's per-tick ``[B, A, K]`` temporaries (agents × listed entities) in the memory budget."""
    k = sum(env.layout.types[t].capacity for t in types)
    env.reserve(group.size * k * (floats * env.float_size + 4), f"the {what} reward ({group.size:,} agents × "
                f"{k:,} entities)", path, "list fewer entity types or lower their counts/capacities")


def _share(r: torch.Tensor, shared: bool) -> torch.Tensor:
    return r.sum(1, keepdim=True).expand_as(r) if shared else r


def contact(env: BuildEnv, group: GroupPlan, p: ContactReward, path: tuple):
    env.check_types(p.with_, path + ("with",))
    _reserve(env, group, p.with_, path, 4, "contact")
    idx = env.layout.indices(p.with_).to(env.device)
    if p.of is not None:
        return _team_contact(env, group, p, path, idx)
    own = torch.arange(group.slice.start, group.slice.stop, device=env.device)
    not_self = (idx.unsqueeze(0) != own.unsqueeze(1))  # [A, K]
    a0, a1 = group.slice.start, group.slice.stop
    value, shared = p.value, p.shared

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos, rad, alive = state["pos"], state["radius"], state["alive"]
        d = (pos[:, a0:a1].unsqueeze(2) - pos[:, idx].unsqueeze(1)).square().sum(-1).sqrt()  # [B, A, K]
        touching = d < rad[:, a0:a1].unsqueeze(2) + rad[:, idx].unsqueeze(1)
        touching = touching & not_self & alive[:, idx].unsqueeze(1) & alive[:, a0:a1].unsqueeze(2)
        r = touching.sum(-1).to(pos.dtype) * value
        return _share(r, shared)

    return term


def _team_contact(env: BuildEnv, group: GroupPlan, p: ContactReward, path: tuple, idx: torch.Tensor):
    """``contact`` with ``of``: the contacts of the listed entities, the same total for every agent."""
    env.check_types(p.of, path + ("of",))
    rows = env.layout.indices(p.of).to(env.device)
    distinct = rows.unsqueeze(1) != idx.unsqueeze(0)
    value, A = p.value, group.size

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos, rad, alive = state["pos"], state["radius"], state["alive"]
        d = (pos[:, rows].unsqueeze(2) - pos[:, idx].unsqueeze(1)).square().sum(-1).sqrt()  # [B, R, K]
        touching = (d < rad[:, rows].unsqueeze(2) + rad[:, idx].unsqueeze(1)) & distinct
        touching = touching & alive[:, idx].unsqueeze(1) & alive[:, rows].unsqueeze(2)
        return (touching.flatten(1).sum(-1).to(pos.dtype) * value).unsqueeze(1).expand(-1, A)

    return term


def bounds_penalty(env: BuildEnv, group: GroupPlan, p: BoundsPenalty, path: tuple):
    a0, a1 = group.slice.start, group.slice.stop

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        x = state["pos"][:, a0:a1].abs()
        pen = torch.where(x < p.inner, torch.zeros_like(x),
                          torch.where(x < p.outer, (x - p.inner) * p.slope,
                                      torch.exp(2 * x - 2).clamp_max(p.cap)))
        return -p.scale * pen.sum(-1)

    return term


def _pair_filter(env: BuildEnv, group: GroupPlan, types: list[str], conditions: list, path: tuple):
    """``fn(state) → [B, A, K]`` bool: the rules' conditions over (agent, entity) pairs; ``[K]`` entity indices."""
    from engine.rules.conditions import build_condition
    from engine.rules.context import RuleContext
    from engine.rules.system import extra_refs

    if not conditions:
        raise env.ctx.error(path, "expected a list of conditions on the pair, e.g. [{compare: [other.kind, ==, "
                                  "self.kind]}]")
    rc = RuleContext(env, [group.slice.name], types, path, extra_refs(env.loaded.spec))
    conds = [build_condition(rc, c, path + (i,)) for i, c in enumerate(conditions)]
    A, K = group.size, len(rc.O)

    def holds(state: dict) -> torch.Tensor:
        cache: dict = {}
        ok = conds[0](state, cache)
        for c in conds[1:]:
            ok = ok & c(state, cache)
        return ok.expand(ok.shape[0], A, K)
    return holds, rc.O


def distance(env: BuildEnv, group: GroupPlan, p: DistanceReward, path: tuple):
    env.check_types(p.to, path + ("to",))
    if p.reduce not in ("min", "sum"):
        raise env.ctx.error(path + ("reduce",), f"expected 'min' or 'sum', got {p.reduce!r}")
    _reserve(env, group, p.to, path, 4, "distance")
    idx = env.layout.indices(p.to).to(env.device)
    where = None
    if p.where is not None:
        where, idx = _pair_filter(env, group, p.to, p.where, path + ("where",))
    a0, a1 = group.slice.start, group.slice.stop
    squared, centroid = p.squared, p.otherwise == "centroid"

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos = state["pos"]
        if len(idx) == 0:  # the listed types have no slots (count 0): nothing to be near, as when all are dead
            return pos.new_zeros(pos.shape[0], a1 - a0)
        d = (pos[:, a0:a1].unsqueeze(2) - pos[:, idx].unsqueeze(1)).square().sum(-1)
        d = d if squared else d.sqrt()
        live = state["alive"][:, idx].unsqueeze(1)
        counts = live if where is None else live & where(state)
        d = torch.where(counts, d, torch.full_like(d, float("inf")))
        if p.reduce == "min":
            r = d.min(-1).values
        else:
            r = torch.where(torch.isinf(d), torch.zeros_like(d), d).sum(-1)
        none = ~counts.any(-1)  # [B, A]
        fallback = torch.zeros_like(r)
        if centroid:
            w = live.squeeze(1).to(pos.dtype)  # [B, K]
            c = (pos[:, idx] * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True).clamp_min(1)  # [B, 2]
            dc = (c.unsqueeze(1) - pos[:, a0:a1]).square().sum(-1)
            fallback = torch.where(live.any(-1), dc if squared else dc.sqrt(), fallback)
        return torch.where(none, fallback, r) * p.scale

    return term


def coverage(env: BuildEnv, group: GroupPlan, p: CoverageReward, path: tuple):
    env.check_types(p.of, path + ("of",))
    env.check_types(p.by, path + ("by",))
    k_of = sum(env.layout.types[t].capacity for t in p.of)
    k_by = sum(env.layout.types[t].capacity for t in p.by)
    env.reserve(k_of * k_by * (4 * env.float_size + 4), f"the coverage reward ({k_of:,} × {k_by:,} entities)",
                path, "list fewer entity types or lower their counts/capacities")
    of = env.layout.indices(p.of).to(env.device)
    by = env.layout.indices(p.by).to(env.device)
    A, scale = group.size, p.scale

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos, alive = state["pos"], state["alive"]
        if len(of) == 0 or len(by) == 0:
            return pos.new_zeros(pos.shape[0], A)
        d = (pos[:, of].unsqueeze(2) - pos[:, by].unsqueeze(1)).square().sum(-1).sqrt()  # [B, K_of, K_by]
        d = torch.where(alive[:, by].unsqueeze(1), d, torch.full_like(d, float("inf")))
        nearest = d.min(-1).values  # [B, K_of]: inf where no coverer is alive
        covered = torch.where(alive[:, of] & ~torch.isinf(nearest), nearest, torch.zeros_like(nearest))
        return (covered.sum(-1) * scale).unsqueeze(1).expand(-1, A)

    return term


def partner_distance(env: BuildEnv, group: GroupPlan, p: PartnerDistanceReward, path: tuple):
    from engine.pairings import partner_columns

    if p.reduce not in ("min", "sum", "mean"):
        raise env.ctx.error(path + ("reduce",), f"expected 'min', 'sum' or 'mean', got {p.reduce!r}")
    types = [group.slice.name] if p.of is None else env.check_types(p.of, path + ("of",))
    cols = partner_columns(env, p.pairing, types, path + ("of" if p.of is not None else "pairing",))
    via = None if p.from_partner is None else partner_columns(env, p.from_partner, types, path + ("from_partner",))
    if via is not None and p.from_ is not None:
        raise env.ctx.error(path + ("from_partner",), "expected one of `from` and `from_partner`, got both")
    key, columns = cols.key, cols.columns
    who = env.layout.indices(types).to(env.device)  # [K] the entities whose distance counts
    if p.from_ is not None:
        env.check_types(p.from_, path + ("from",))
        measured = env.layout.indices(p.from_).to(env.device)
        if len(measured) != len(who):
            raise env.ctx.error(path + ("from",), f"expected as many entities in `from` as in `of` ({len(who)}: "
                                                  f"the i-th is measured to the i-th's partner), got {len(measured)}")
        who = measured
    own, reduce, scale, squared, A = p.of is None, p.reduce, p.scale, p.squared, group.size

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos = state["pos"]
        partner = state[key][:, columns]  # [B, K]
        there = torch.gather(pos, 1, partner.unsqueeze(-1).expand(-1, -1, pos.shape[-1]))
        if via is None:
            here = pos[:, who]
        else:
            here = torch.gather(pos, 1, state[via.key][:, via.columns].unsqueeze(-1).expand(-1, -1, pos.shape[-1]))
        d = (here - there).square().sum(-1)
        d = d if squared else d.sqrt()  # [B, K]
        if own:
            return d * scale
        live = state["alive"][:, who]
        if d.shape[-1] == 0:  # the types have no slots: nothing to measure
            return pos.new_zeros(pos.shape[0], A)
        if reduce == "min":
            d = torch.where(live, d, torch.full_like(d, float("inf"))).min(-1).values
            d = torch.where(torch.isinf(d), torch.zeros_like(d), d)
        else:
            d = torch.where(live, d, torch.zeros_like(d)).sum(-1)
            if reduce == "mean":
                d = d / live.sum(-1).clamp_min(1).to(d.dtype)
        return (d * scale).unsqueeze(1).expand(-1, A)

    return term


def collect(env: BuildEnv, group: GroupPlan, p: CollectReward, path: tuple):
    env.check_types(p.of, path + ("of",))
    _reserve(env, group, p.of, path, 1, "collect")
    lo_hi = [(env.layout.types[t].start, env.layout.types[t].stop) for t in p.of]
    for t in p.of:
        lc = env.loaded.spec.entities[t].lifecycle
        if lc is None or not lc.despawn_on_contact:
            raise env.ctx.error(path + ("of",), f"entity type {t!r} is never removed by contact; "
                                                f"expected it to have lifecycle.despawn_on_contact")
    own = torch.arange(group.slice.start, group.slice.stop, device=env.device)

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        killer = torch.cat([state["killed_by"][:, lo:hi] for lo, hi in lo_hi], dim=1)  # [B, K]
        r = (killer.unsqueeze(1) == own.view(1, -1, 1)).sum(-1).to(state["pos"].dtype) * p.value
        return _share(r, p.shared)

    return term


def death(env: BuildEnv, group: GroupPlan, p: DeathReward, path: tuple):
    a0, a1 = group.slice.start, group.slice.stop

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        died = alive_before[:, a0:a1] & ~state["alive"][:, a0:a1]
        return died.to(state["pos"].dtype) * p.value

    return term


def custom(env: BuildEnv, group: GroupPlan, p: CustomReward, path: tuple):
    """A user-written reward ``fn(state, group) -> [B, A]``, by dotted path (under the trust policy)."""
    from engine.terms.user import user_reward

    return user_reward(env, group, p.fn, path)


#: name → (params class, factory)
def component_distance(env: BuildEnv, group: GroupPlan, p: ComponentDistanceReward, path: tuple):
    """Squared distance between a component of entities and a component of their partners, summed."""
    from engine.pairings import partner_columns
    from engine.terms.observations import _check_component

    types = env.check_types(p.of, path + ("of",))
    other = p.partner_name or p.name
    _check_component(env, p.name, path + ("name",))
    _check_component(env, other, path + ("partner_name" if p.partner_name else "name",))
    comps = env.layout.components
    if comps[p.name].shape != comps[other].shape:
        raise env.ctx.error(path + ("partner_name",), f"{p.name!r} has shape {list(comps[p.name].shape)} and "
                                                      f"{other!r} {list(comps[other].shape)}; expected the same")
    cols = partner_columns(env, p.pairing, types, path + ("pairing",))
    key, columns, name, skip, scale, A = cols.key, cols.columns, p.name, p.skip_zero, p.scale, group.size
    who = env.layout.indices(types).to(env.device)

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        fdt = state["pos"].dtype
        x = state[name][:, who].to(fdt).flatten(2)  # [B, K, w]
        table = state[other].to(fdt).flatten(2)
        partner = state[key][:, columns]
        y = torch.gather(table, 1, partner.unsqueeze(-1).expand(-1, -1, table.shape[-1]))
        d = (x - y).square().sum(-1)
        if skip:
            d = torch.where((x != 0).any(-1), d, torch.zeros_like(d))
        return (d.sum(-1) * scale).unsqueeze(1).expand(-1, A)

    return term


REWARD_TERMS: dict[str, tuple[type, Callable]] = {
    "contact": (ContactReward, contact),
    "bounds_penalty": (BoundsPenalty, bounds_penalty),
    "distance": (DistanceReward, distance),
    "coverage": (CoverageReward, coverage),
    "partner_distance": (PartnerDistanceReward, partner_distance),
    "component_distance": (ComponentDistanceReward, component_distance),
    "formation": (FormationReward, formation),
    "collect": (CollectReward, collect),
    "death": (DeathReward, death),
    "custom": (CustomReward, custom),
}
