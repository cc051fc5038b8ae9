"""The conditions of a rule (``when:``), each built once into ``fn(state, cache) → bool tensor``.

Every condition broadcasts to ``[B, S, O]`` (see ``engine.rules.context``); a rule ANDs them. The
distances between subjects and objects are computed once per rule evaluation (``cache``), however
many conditions use them.

============================================ =====================================================
condition                                    holds when
============================================ =====================================================
``touching``                                 subject and object overlap (d < r_self + r_other)
``{near: R}``                                subject and object are closer than R
``{partner: PAIRING}``                       the object is the subject's partner in that pairing
``{action: NAME}``                           the subject took the named action this tick
``{compare: [LEFT, OP, RIGHT]}``             e.g. ``[self.cooldown, "==", 0]``, ``[other.carried_by, ==, self]``
``{inside: [TYPES]}`` / ``{inside: {of, types}}`` self (or other) lies inside a living entity of TYPES
``{inside: {zones: [NAMES], of}}``           self's (or other's) centre lies in a static zone (zones:)
``{carries: [TYPES]}``                       self (or ``{of: other}``) carries an entity of TYPES
``{count: {types, within, op, value, of}}``  how many living entities of TYPES are within R of self
``{chance: P}``                              a seeded coin with probability P (per match)
``{every: K}``                               the world's tick is a multiple of K
``{not: CONDITION}``                         the condition does not hold
============================================ =====================================================
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.random import Random
from engine.rules.context import CARRIED_BY, RuleContext, compatible
from engine.world.schema import MAX_STEPS, RULE_CONDITIONS
from engine.world.validation import describe, named_entry

OPS = {"==": torch.eq, "!=": torch.ne, "<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge}
CONDITIONS = tuple(RULE_CONDITIONS)


def squared_distances(state: dict, cache: dict, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``[B, R, C]`` squared distances between two sets of entities, computed once per tick for as long as
    positions do not change (the cache is shared by every rule of the tick and keyed by the position
    tensor, which an effect that moves entities replaces)."""
    pos = state["pos"]
    key = (id(pos), id(rows), id(cols))
    hit = cache.get(key)
    if hit is None or hit[0] is not pos:
        hit = (pos, (pos[:, rows].unsqueeze(2) - pos[:, cols].unsqueeze(1)).square().sum(-1))
        cache[key] = hit
    return hit[1]


def pair_distance(state: dict, rc: RuleContext, cache: dict) -> torch.Tensor:
    """``[B, S, O]`` distances between subjects and objects."""
    return squared_distances(state, cache, rc.S, rc.O).sqrt()


def _number(rc: RuleContext, value: Any, path: tuple, lo: float | None = None, hi: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) <= 3.0e38
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        rng = f" in [{lo}, {hi}]" if hi is not None else (f" >= {lo}" if lo is not None else " (|x| <= 3e38)")
        raise rc.error(path, f"expected a number{rng}, got {describe(value)}")
    return float(value)


def _op(rc: RuleContext, op: Any, path: tuple):
    if not isinstance(op, str) or op not in OPS:
        raise rc.error(path, f"expected a comparison, one of {', '.join(OPS)}, got {describe(op)}")
    return OPS[op]


def _need_pairs(rc: RuleContext, what: str, path: tuple) -> None:
    if not rc.pairwise:
        raise rc.error(path, f"{what} compares a subject with an object, but the rule has no objects; add "
                             "with: [<entity types>]")


def _touching(rc, p, path):
    _need_pairs(rc, "touching", path)
    S, objs = rc.S, rc.O

    def touching(state, cache):
        rad = state["radius"]
        return pair_distance(state, rc, cache) < rad[:, S].unsqueeze(2) + rad[:, objs].unsqueeze(1)
    return touching


def _near(rc, p, path):
    _need_pairs(rc, "near", path)
    r = _number(rc, p, path, lo=0.0)
    return lambda state, cache: pair_distance(state, rc, cache) < r


def _partner(rc, p, path):
    _need_pairs(rc, "partner", path)
    spec = rc.app.loaded.spec.pairings.get(p) if isinstance(p, str) else None
    if spec is None:
        known = list(rc.app.loaded.spec.pairings)
        raise rc.error(path, f"unknown pairing {describe(p)}; expected one of: {', '.join(known) or 'none declared'} "
                             "(pairings:)")
    missing = [t for t in rc.subject_types if t not in spec.of]
    if missing:
        raise rc.error(path, f"pairing {p!r} gives partners to {spec.of}, not to {missing}; the rule's of: must "
                             "list only those types")
    if any(t != spec.to for t in rc.object_types):
        raise rc.error(path, f"pairing {p!r} pairs with {spec.to!r}; the rule's with: is {rc.object_types} "
                             f"(expected [{spec.to}])")
    layout = rc.app.layout
    of = layout.indices(spec.of).tolist()
    columns = torch.tensor([of.index(int(s)) for s in rc.S], dtype=torch.int64, device=rc.app.device)
    key, objs = f"pair.{p}", rc.O
    return lambda state, cache: state[key][:, columns].unsqueeze(2) == objs.view(1, 1, -1)


def subject_actions(rc: RuleContext, name: str, path: tuple):
    """``fn(state) → [B, S]`` the subjects' actions and ``[S]`` the value of the named action for each, after
    checking every subject type is an agent group that has it."""
    groups = {g.slice.name: g for g in rc.app.groups.values()}
    parts, index = [], []
    for t in rc.subject_types:
        g = groups.get(t)
        if g is None:
            raise rc.error(path, f"{{action: {name}}} tests what the subject did, but {t!r} entities are not agents; "
                                 "list only agent types in the rule's of:")
        if name not in g.action_space.named:
            raise rc.error(path, f"agents of group {g.name!r} have no action {name!r}; their named actions: "
                                 f"{list(g.action_space.named) or 'none'} (agents.{g.name}.action.actions)")
        parts.append(g.action_key)
        index += [g.action_space.index(name)] * g.size
    index_t = torch.tensor(index, dtype=torch.int64, device=rc.app.device)

    def actions(state):
        return state[parts[0]] if len(parts) == 1 else torch.cat([state[k] for k in parts], 1)
    return actions, index_t


def _action(rc, p, path):
    if not isinstance(p, str):
        raise rc.error(path, f"expected the name of an action, got {describe(p)}")
    actions, index = subject_actions(rc, p, path)
    return lambda state, cache: (actions(state) == index).unsqueeze(2)


def _compare(rc, p, path):
    if not (isinstance(p, list) and len(p) == 3):
        raise rc.error(path, f"expected [left, op, right], e.g. [self.cooldown, \"==\", 0], got {describe(p)}")
    left = rc.ref(p[0], path + (0,))
    if left.shape:
        raise rc.error(path + (0,), f"{p[0]} has shape {list(left.shape)}; comparisons need a single value")
    op = _op(rc, p[1], path + (1,))
    if left.kind == "bool" and p[1] not in ("==", "!="):
        raise rc.error(path + (1,), f"{p[0]} is true/false; expected == or !=, got {p[1]!r}")
    lhs = rc.read(left)
    rhs, kind = rc.value(p[2], path + (2,), left)
    if not compatible(left.kind, kind) and not compatible(kind, left.kind):
        raise rc.error(path + (2,), f"type mismatch: {p[0]} is {left.kind}, compared with {describe(p[2])} "
                                    f"({kind}); compare flags with true/false, entity indices with self/other")
    return lambda state, cache: op(lhs(state), rhs(state))


def _types_param(rc, p, path, key: str = "types") -> list[str]:
    types = p if isinstance(p, list) else None
    if types is None or not types:
        raise rc.error(path, f"expected a list of entity types, got {describe(p)}")
    return rc.app.check_types(types, path)


def _side_and_types(rc, p, path, what: str) -> tuple[str, list[str]]:
    """``[TYPES]`` (about self) or ``{types: [...], of: self|other}`` → (side, types)."""
    if not isinstance(p, dict):
        return "self", _types_param(rc, p, path)
    if set(p) - {"of", "types"} or "types" not in p:
        raise rc.error(path, f"expected [types] or {{types: [...], of: self|other}}, got keys {sorted(p)}")
    side = p.get("of", "self")
    if side not in ("self", "other"):
        raise rc.error(path + ("of",), f"expected self or other, got {describe(side)}")
    if side == "other":
        _need_pairs(rc, f"{what}: {{of: other}}", path)
    return side, _types_param(rc, p["types"], path + ("types",))


def _inside_zones(rc, p, path):
    """``{inside: {zones: [names], of: self|other}}``: the entity's centre lies in one of the static zones."""
    from engine.world.zones import build_zones

    if set(p) - {"of", "zones"} or not isinstance(p.get("zones"), list) or not p["zones"]:
        raise rc.error(path, f"expected {{zones: [zone names], of: self|other}}, got {describe(p)}")
    side = p.get("of", "self")
    if side not in ("self", "other"):
        raise rc.error(path + ("of",), f"expected self or other, got {describe(side)}")
    if side == "other":
        _need_pairs(rc, "inside: {of: other}", path)
    zones = build_zones(rc.app, p["zones"], path + ("zones",))
    rows = rc.S if side == "self" else rc.O

    def inside(state, cache):
        pos = state["pos"][:, rows]
        hit = zones[0].inside(pos)
        for z in zones[1:]:
            hit = hit | z.inside(pos)
        return hit.unsqueeze(2) if side == "self" else hit.unsqueeze(1)
    return inside


def _inside(rc, p, path):
    if isinstance(p, dict) and "zones" in p:
        return _inside_zones(rc, p, path)
    side, types = _side_and_types(rc, p, path, "inside")
    zones = rc.indices(types)
    rows = rc.S if side == "self" else rc.O

    def inside(state, cache):
        alive = state["alive"]
        d = squared_distances(state, cache, rows, zones).sqrt()
        hit = ((d < state["radius"][:, zones].unsqueeze(1)) & alive[:, zones].unsqueeze(1)).any(-1)
        return hit.unsqueeze(2) if side == "self" else hit.unsqueeze(1)
    return inside


def _carries(rc, p, path):
    side, types = _side_and_types(rc, p, path, "carries")
    if CARRIED_BY not in rc.extra:
        raise rc.error(path, "carries: nothing can be carried in this world; a rule must attach (do: [{attach: "
                             "{of: other, to: self}}])")
    things = rc.indices(types)
    rows = rc.S if side == "self" else rc.O

    def carries(state, cache):
        by = state[CARRIED_BY][:, things]  # [B, K]
        hit = (by.unsqueeze(1) == rows.view(1, -1, 1)).any(-1)
        return hit.unsqueeze(2) if side == "self" else hit.unsqueeze(1)
    return carries


def _count(rc, p, path):
    if not isinstance(p, dict) or not {"types", "within", "op", "value"} <= set(p) or set(p) - {
            "types", "within", "op", "value", "of"}:
        raise rc.error(path, "expected {types: [...], within: R, op: '>=', value: K} (and of: self|other)")
    types = _types_param(rc, p["types"], path + ("types",))
    r = _number(rc, p["within"], path + ("within",), lo=0.0)
    op = _op(rc, p["op"], path + ("op",))
    k = _number(rc, p["value"], path + ("value",))
    side = p.get("of", "self")
    if side not in ("self", "other"):
        raise rc.error(path + ("of",), f"expected self or other, got {describe(side)}")
    if side == "other":
        _need_pairs(rc, "count: {of: other}", path)
    others = rc.indices(types)
    rows = rc.S if side == "self" else rc.O
    not_me = (rows.unsqueeze(1) != others.unsqueeze(0))

    def count(state, cache):
        alive = state["alive"]
        d = squared_distances(state, cache, rows, others)
        n = ((d < r * r) & alive[:, others].unsqueeze(1) & not_me).sum(-1)
        hit = op(n, k)
        return hit.unsqueeze(2) if side == "self" else hit.unsqueeze(1)
    return count


def _chance(rc, p, path):
    prob = _number(rc, p, path, lo=0.0, hi=1.0)
    stream = f"rules:{'/'.join(map(str, rc.path))}:{'/'.join(map(str, path))}"
    S, objs = len(rc.S), (len(rc.O) if rc.pairwise else 1)

    def chance(state, cache):
        return Random(state, stream).uniform((state["alive"].shape[0], S, objs)) < prob
    return chance


def _every(rc, p, path):
    if not (isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= MAX_STEPS):
        raise rc.error(path, f"expected a whole number of ticks in 1..{MAX_STEPS:,}, got {describe(p)}")
    return lambda state, cache: (state["tick"] % p == 0).view(-1, 1, 1)


def _not(rc, p, path):
    inner = build_condition(rc, p, path)
    return lambda state, cache: ~inner(state, cache)


_BUILDERS = {"touching": _touching, "near": _near, "partner": _partner, "action": _action, "compare": _compare,
             "inside": _inside, "carries": _carries, "count": _count, "chance": _chance, "every": _every, "not": _not}


def build_condition(rc: RuleContext, entry: Any, path: tuple):
    """One item of ``when:`` → ``fn(state, cache) → bool`` broadcasting to ``[B, S, O]``."""
    name, params = named_entry(rc.ctx, entry, path, "a condition: touching, or {name: params} with name one of "
                                                    + ", ".join(CONDITIONS))
    if name not in _BUILDERS:
        import difflib

        close = difflib.get_close_matches(str(name), CONDITIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise rc.error(path, f"unknown condition {name!r}{hint}; expected one of: {', '.join(CONDITIONS)}")
    if name == "touching" and params not in ({}, None, True):
        raise rc.error(path, "touching takes no parameters; write it as `- touching`")
    at = path if isinstance(entry, str) else path + (name,)
    return _BUILDERS[name](rc, params, at)
