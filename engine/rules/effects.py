"""The effects of a rule (``do:``), each built once into ``fn(state, m)`` over the rule's matches.

``m`` is the rule's match mask ``[B, S, O]`` (``O`` = 1 without objects) after conflicts were resolved.
A subject that matched several objects is affected once per effect; where the effect needs a
value from "the other", it takes the first matched object (lowest index) — ``add`` sums over
all matches instead. Values are read when the effect applies, after the rule's earlier effects.

================================================ ===================================================
effect                                           does
================================================ ===================================================
``{set: [TARGET, VALUE]}``                       TARGET = VALUE (self.X, other.X, team.X, other_team.X, world.X)
``{add: [TARGET, VALUE]}``                       TARGET += VALUE, once per match
``{reward: {to: WHO, value: R}}``                WHO = self, other, team, other_team, all (agents)
``{despawn: self|other}``                        the entity leaves (``{of, respawn_after: K}`` brings it back)
``{respawn: self|other}``                        a dead entity comes back (``{of, at: spawn|place}``)
``{spawn: {type: T, at: WHERE, within: R}}``    a free slot of T comes alive at self, other, spawn, random or
                                                 [x, y] (within R of it); dropped and counted when full
``{teleport: {of: WHO, to: WHERE}}``             WHERE = spawn, random, self, other or [x, y]
``{attach: {of: other, to: self}}``              the entity is carried: it follows its carrier every tick
``{detach: self|other}`` / ``{drop: self|other}`` it stops being carried / it lets go of what it carries
``{end: win|lose|draw}``                         the episode ends; win: the subject's team wins
================================================ ===================================================
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.random import Random
from engine.rules.context import CARRIED_BY, RuleContext, compatible, var_key
from engine.world.schema import MAX_STEPS, RULE_EFFECTS
from engine.world.validation import describe, named_entry

EFFECTS = tuple(RULE_EFFECTS)
#: State the rules system keeps (declared in ``engine.rules.system``).
REWARD, ENDED, WINNER, RESPAWN_IN, DROPPED = "rules.reward", "rules.ended", "rules.winner", "rules.respawn_in", \
    "rules.spawns_dropped"


def _fired(m: torch.Tensor, side: str) -> torch.Tensor:
    return m.any(2) if side == "self" else m.any(1)


def _at_first(v: torch.Tensor, m: torch.Tensor, side: str) -> torch.Tensor:
    """``v`` (broadcasting to ``m``) at each subject's (object's) first match: ``[B, S]`` (``[B, O]``)."""
    v = v.expand(m.shape)
    dim = 2 if side == "self" else 1
    first = m.to(torch.int8).argmax(dim, keepdim=True)
    return v.gather(dim, first).squeeze(dim)


def _rows(rc: RuleContext, side: str) -> torch.Tensor:
    return rc.S if side == "self" else rc.O


def _side(rc: RuleContext, p: Any, path: tuple, what: str, allowed=("self", "other")) -> str:
    if p not in allowed:
        raise rc.error(path, f"{what}: expected one of {', '.join(allowed)}, got {describe(p)}")
    if p == "other" and not rc.pairwise:
        raise rc.error(path, f"{what}: the rule has no objects (other); add with: [<types>] or use self")
    return p


def _params(rc: RuleContext, p: Any, path: tuple, keys: dict[str, Any], short: str, what: str) -> dict:
    """``{key: value}`` parameters with defaults; a bare value is the ``short`` key."""
    if not isinstance(p, dict):
        p = {short: p}
    unknown = set(p) - set(keys)
    if unknown:
        raise rc.error(path + (sorted(unknown)[0],), f"{what}: unknown parameter {sorted(unknown)[0]!r}; expected "
                                                     f"{', '.join(keys)}")
    return {k: p.get(k, v) for k, v in keys.items()}


# ---------------------------------------------------------------------------------------- set / add
def _assign(rc: RuleContext, p: Any, path: tuple, add: bool):
    verb = "add" if add else "set"
    if not (isinstance(p, list) and len(p) == 2):
        raise rc.error(path, f"expected [target, value], e.g. {{{verb}: [team.score, 1]}}, got {describe(p)}")
    target = rc.ref(p[0], path + (0,))
    if target.scope == "index":
        raise rc.error(path + (0,), f"expected a variable to {verb} (self.X, other.X, team.X, world.X), got {p[0]!r}")
    value, kind = rc.value(p[1], path + (1,), target)
    if not compatible(target.kind, kind):
        raise rc.error(path + (1,), f"type mismatch: {p[0]} holds {target.kind} values, got {describe(p[1])} "
                                    f"({kind})")
    if add and target.kind == "bool":
        raise rc.error(path, f"{p[0]} is true/false; use set, not add")
    if target.shape and not isinstance(p[1], list):
        raise rc.error(path + (1,), f"{p[0]} has shape {list(target.shape)}; expected a constant list of "
                                    f"{target.shape[0]} numbers, got {describe(p[1])}")
    if target.scope in ("self", "other"):
        if target.name in ("collide", "movable"):
            raise rc.error(path + (0,), f"{target.name} is decided when the world is built (physics moves only "
                                        "the types declared movable and computes contacts only for those declared "
                                        "to collide); despawn the entity, or give it another type, instead of "
                                        f"switching {target.name} in a rule")
        return _assign_entity(rc, target, value, add)
    if isinstance(p[1], str) and not add:
        raise rc.error(path + (1,), f"setting a {target.scope} variable takes a constant value, got {p[1]!r}")
    if target.scope == "world":
        key = var_key(target.name)

        def world(state, m):
            v = value(state)
            if add:
                total = (m.to(v.dtype if v.is_floating_point() else torch.int64) * v).sum((1, 2))
                state[key] = state[key] + total.to(state[key].dtype)
            else:
                state[key] = torch.where(m.flatten(1).any(1), v.to(state[key].dtype), state[key])
        return world
    rows = rc.team_rows("self", path) if target.scope == "team" else rc.other_team_rows(path)
    onehot = torch.nn.functional.one_hot(rows, len(rc.teams))  # [S, G]
    key = var_key(target.name)

    def team(state, m):
        v = value(state)
        if add:
            per_subject = (m.to(v.dtype if v.is_floating_point() else torch.int64) * v).sum(2)  # [B, S]
            delta = (per_subject.unsqueeze(-1) * onehot.to(per_subject.dtype)).sum(1)
            state[key] = state[key] + delta.to(state[key].dtype)
        else:
            hit = (m.any(2).unsqueeze(-1) & onehot.bool()).any(1)
            state[key] = torch.where(hit, v.to(state[key].dtype), state[key])
    return team


def _assign_entity(rc: RuleContext, target, value, add: bool):
    side, name = target.scope, target.name
    rows, trail = _rows(rc, side), len(target.shape)
    dim = 2 if side == "self" else 1

    def entity(state, m):
        x = state[name]
        old = x[:, rows]
        v = value(state)
        if trail:  # a constant vector (a colour): the same for every match
            count = m.sum(dim)
            new = old + count.view(count.shape + (1,) * trail).to(old.dtype) * v.to(old.dtype) if add else \
                torch.where(_fired(m, side).view(count.shape + (1,) * trail), v.to(old.dtype), old)
        elif add:
            new = old + (m.to(old.dtype) * v.to(old.dtype)).sum(dim)
        else:
            new = torch.where(_fired(m, side), _at_first(v.to(old.dtype), m, side), old)
        state[name] = x.index_copy(1, rows, new)
    return entity


# ---------------------------------------------------------------------------------------- reward
def _reward(rc: RuleContext, p: Any, path: tuple):
    q = _params(rc, p, path, {"to": "self", "value": None}, "value", "reward")
    who, value = q["to"], q["value"]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not abs(value) <= 3.0e38:
        raise rc.error(path + ("value",), f"reward: expected a number (|x| <= 3e38), got {describe(value)}")
    value = float(value)
    who = _side(rc, who, path + ("to",), "reward to", ("self", "other", "team", "other_team", "all"))
    n = rc.app.layout.n
    agents = torch.zeros(n, dtype=torch.bool)
    for g in rc.app.groups.values():
        agents[g.sl] = True
    fdt = rc.app.layout.float_dtype
    agents = agents.to(device=rc.app.device, dtype=fdt)  # 1.0 on agent slots, made once
    if who in ("self", "other"):
        rows, dim = _rows(rc, who), 2 if who == "self" else 1

        def to_side(state, m):
            r = state[REWARD]
            state[REWARD] = r.index_add(1, rows, m.sum(dim).to(r.dtype) * value)
        return to_side
    if who == "all":
        def to_all(state, m):
            r = state[REWARD]
            state[REWARD] = r + m.sum((1, 2)).to(r.dtype).unsqueeze(1) * value * agents
        return to_all
    teams = rc.team_rows("self", path + ("to",))
    if who == "other_team":
        rc.other_team_rows(path + ("to",))
    members = ((rc.team_of.unsqueeze(0) == torch.arange(len(rc.teams), device=rc.app.device).unsqueeze(1))
               & agents.bool()).to(fdt)  # [G, N]
    onehot = torch.nn.functional.one_hot(teams, len(rc.teams))  # [S, G]

    def to_team(state, m):
        r = state[REWARD]
        per_team = (m.sum(2).unsqueeze(-1) * onehot).sum(1).to(r.dtype)  # [B, G] matches per team
        if who == "other_team":
            per_team = per_team.sum(1, keepdim=True) - per_team
        state[REWARD] = r + (per_team @ members) * value
    return to_team


# ---------------------------------------------------------------------------------------- lifecycle
def _despawn(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    q = _params(rc, p, path, {"of": "self", "respawn_after": None}, "of", "despawn")
    side = _side(rc, q["of"], path + ("of",), "despawn")
    after = q["respawn_after"]
    if after is not None and not (isinstance(after, int) and not isinstance(after, bool) and 1 <= after <= MAX_STEPS):
        raise rc.error(path + ("respawn_after",), f"expected a whole number of ticks in 1..{MAX_STEPS:,}, got "
                                                  f"{describe(after)}")
    rows = _rows(rc, side)

    def despawn(state, m):
        gone = _fired(m, side)
        alive = state["alive"]
        state["alive"] = alive.index_copy(1, rows, alive[:, rows] & ~gone)
        if after is not None:
            t = state[RESPAWN_IN]
            state[RESPAWN_IN] = t.index_copy(1, rows, torch.where(gone, after, t[:, rows]))
    return despawn


def _respawn(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    q = _params(rc, p, path, {"of": "self", "at": "spawn"}, "of", "respawn")
    side = _side(rc, q["of"], path + ("of",), "respawn")
    at = _side(rc, q["at"], path + ("at",), "respawn at", ("spawn", "place"))
    rows, n = _rows(rc, side), rc.app.layout.n

    def respawn(state, m):
        back = torch.zeros_like(state["alive"]).index_copy(1, rows, _fired(m, side)) & ~state["alive"]
        if at == "spawn":
            from engine.systems.spawn import apply_fresh

            apply_fresh(state, back, fresh)
        state["alive"] = state["alive"] | back
        if RESPAWN_IN in state:
            state[RESPAWN_IN] = torch.where(back, 0, state[RESPAWN_IN])
    del n
    return respawn


def _arena_uniform(state: dict, stream: str, shape: tuple, arena, dtype) -> torch.Tensor:
    """``[*shape, 2]`` uniform positions in the arena, from the state's counter-based random numbers."""
    u = Random(state, stream).uniform(tuple(shape) + (2,), dtype=dtype)
    return torch.stack((arena[0] + (arena[1] - arena[0]) * u[..., 0], arena[2] + (arena[3] - arena[2]) * u[..., 1]), -1)


def _place(rc: RuleContext, value: Any, path: tuple, what: str) -> torch.Tensor:
    if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= 3.0e38
                                  for v in value):
        raise rc.error(path, f"{what}: expected [x, y] of finite numbers, got {describe(value)}")
    return torch.tensor(value, dtype=rc.app.layout.float_dtype, device=rc.app.device)


def _spawn(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    q = _params(rc, p, path, {"type": None, "at": "self", "within": 0.0}, "type", "spawn")
    t = q["type"]
    rc.app.check_types([t] if isinstance(t, str) else [describe(t)], path + ("type",))
    at = q["at"]
    point = _place(rc, at, path + ("at",), "spawn at") if isinstance(at, list) else None
    if point is None:
        at = _side(rc, at, path + ("at",), "spawn at", ("self", "other", "spawn", "random"))
    within = q["within"]
    if not isinstance(within, (int, float)) or isinstance(within, bool) or not 0 <= within <= 1e6:
        raise rc.error(path + ("within",), f"spawn within: expected a distance >= 0, got {describe(within)}")
    if at == "spawn" and "pos" not in fresh:
        raise rc.error(path + ("at",), "spawn at spawn: the type has no spawn rule for pos; give it one or spawn "
                                       "at self, other, random or [x, y]")
    sl = rc.app.layout.types[t]
    if sl.capacity == 0:
        raise rc.error(path + ("type",), f"entity type {t!r} has no slots; give it a capacity: to spawn into")
    slots = torch.arange(sl.start, sl.stop, device=rc.app.device)
    side = "other" if at == "other" else "self"
    src = _rows(rc, side)
    arena, stream = rc.app.params.arena, f"rules:{'/'.join(map(str, rc.path))}:{'/'.join(map(str, path))}"

    def spawn(state, m):
        from engine.systems.spawn import apply_fresh

        alive = state["alive"]
        want = _fired(m, side)  # [B, R]: one new entity per firing subject (object)
        free = ~alive[:, slots]  # [B, K]
        rank_w = want.cumsum(1) - 1
        rank_f = free.cumsum(1) - 1
        match = want.unsqueeze(2) & free.unsqueeze(1) & (rank_w.unsqueeze(2) == rank_f.unsqueeze(1))  # [B, R, K]
        born = match.any(1)
        full_born = torch.zeros_like(alive).index_copy(1, slots, born)
        apply_fresh(state, full_born, fresh)
        pos = state["pos"]
        if at in ("self", "other"):
            here = (match.unsqueeze(-1).to(pos.dtype) * pos[:, src].unsqueeze(2)).sum(1)  # [B, K, 2]
        elif at == "random":
            here = _arena_uniform(state, stream, (pos.shape[0], len(slots)), arena, pos.dtype)
        elif point is not None:
            here = point.expand(pos.shape[0], len(slots), 2)
        else:
            here = pos[:, slots]  # the fresh spawn place
        if within > 0:  # near it: uniform in a disk of radius `within`
            u = Random(state, stream + ":near").uniform((pos.shape[0], len(slots), 2), dtype=pos.dtype)
            r, a = within * u[..., 0].sqrt(), 2 * torch.pi * u[..., 1]
            here = here + torch.stack((r * torch.cos(a), r * torch.sin(a)), -1)
        state["pos"] = pos.index_copy(1, slots, torch.where(born.unsqueeze(-1), here, pos[:, slots]))
        state["alive"] = alive | full_born
        state[DROPPED] = state[DROPPED] + (want.sum(1) - born.sum(1))
    return spawn


def _teleport(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    q = _params(rc, p, path, {"of": "self", "to": "spawn"}, "to", "teleport")
    side = _side(rc, q["of"], path + ("of",), "teleport")
    to = q["to"]
    rows = _rows(rc, side)
    if isinstance(to, list):
        point = _place(rc, to, path + ("to",), "teleport to")
    elif to in ("self", "other"):
        _side(rc, to, path + ("to",), "teleport to")
    elif to not in ("spawn", "random"):
        raise rc.error(path + ("to",), f"teleport to: expected spawn, random, self, other or [x, y], got "
                                       f"{describe(to)}")
    if to == "spawn" and "pos" not in fresh:
        raise rc.error(path + ("to",), "teleport to spawn: no entity type has a spawn rule for pos; give the type "
                                       "one (spawn: {pos: ...}) or teleport to random / [x, y]")
    lo_hi = rc.app.params.arena
    stream = f"rules:{'/'.join(map(str, rc.path))}:{'/'.join(map(str, path))}"

    def teleport(state, m):
        pos = state["pos"]
        moved = _fired(m, side)
        old = pos[:, rows]
        if isinstance(to, list):
            dest = point.expand_as(old)
        elif to == "spawn":
            dest = state["_respawn.pos"][:, rows]
        elif to == "random":
            dest = _arena_uniform(state, stream, old.shape[:-1], lo_hi, old.dtype)
        else:
            other_rows = _rows(rc, to)
            dim = 2 if side == "self" else 1
            first = m.to(torch.int8).argmax(dim)
            dest = pos[:, other_rows].gather(1, first.unsqueeze(-1).expand(first.shape + (2,)))
        state["pos"] = pos.index_copy(1, rows, torch.where(moved.unsqueeze(-1), dest, old))
        vel = state["vel"]
        state["vel"] = vel.index_copy(1, rows, torch.where(moved.unsqueeze(-1), torch.zeros_like(old),
                                                           vel[:, rows]))
    return teleport


# ---------------------------------------------------------------------------------------- carrying
def _attach(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    q = _params(rc, p, path, {"of": "other", "to": "self"}, "of", "attach")
    side = _side(rc, q["of"], path + ("of",), "attach")
    carrier = _side(rc, q["to"], path + ("to",), "attach to")
    if side == carrier:
        raise rc.error(path, "attach: an entity cannot carry itself; expected {of: other, to: self} or the reverse")
    rows, by = _rows(rc, side), _rows(rc, carrier)

    def attach(state, m):
        c = state[CARRIED_BY]
        dim = 2 if side == "self" else 1
        first = m.to(torch.int8).argmax(dim)
        who = by[first]
        state[CARRIED_BY] = c.index_copy(1, rows, torch.where(_fired(m, side), who, c[:, rows]))
    return attach


def _detach(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    side = _side(rc, p, path, "detach")
    rows = _rows(rc, side)

    def detach(state, m):
        c = state[CARRIED_BY]
        state[CARRIED_BY] = c.index_copy(1, rows, torch.where(_fired(m, side), -1, c[:, rows]))
    return detach


def _drop(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    side = _side(rc, p, path, "drop")
    rows = _rows(rc, side)

    def drop(state, m):
        c = state[CARRIED_BY]
        letting_go = torch.zeros(c.shape, dtype=torch.bool, device=c.device).index_copy(1, rows, _fired(m, side))
        held_by = letting_go.gather(1, c.clamp_min(0)) & (c >= 0)
        state[CARRIED_BY] = torch.where(held_by, -1, c)
    return drop
    return drop


# ---------------------------------------------------------------------------------------- end
def _end(rc: RuleContext, p: Any, path: tuple, fresh: list[str]):
    if p not in ("win", "lose", "draw"):
        raise rc.error(path, f"end: expected win, lose or draw (for the subject's team), got {describe(p)}")
    if p == "draw":
        teams = None
    else:
        teams = rc.team_rows("self", path) if p == "win" else rc.other_team_rows(path)

    def end(state, m):
        fired = m.any(2)  # [B, S]
        now = fired.any(1) & ~state[ENDED]
        if teams is None:
            winner = torch.full_like(state[WINNER], -1)
        else:
            winner = teams[fired.to(torch.int8).argmax(1)]
        state[WINNER] = torch.where(now, winner, state[WINNER])
        state[ENDED] = state[ENDED] | now
    return end


def _set(rc, p, path, fresh):
    return _assign(rc, p, path, add=False)


def _add(rc, p, path, fresh):
    return _assign(rc, p, path, add=True)


def _reward_effect(rc, p, path, fresh):
    return _reward(rc, p, path)


_BUILDERS = {"set": _set, "add": _add, "reward": _reward_effect, "despawn": _despawn, "respawn": _respawn,
             "spawn": _spawn, "teleport": _teleport, "attach": _attach, "detach": _detach, "drop": _drop,
             "end": _end}


def effect_name(entry: Any) -> str | None:
    """The effect's name (``set``, ``attach`` …) without building it, or None when malformed."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry))
    return None


def build_effect(rc: RuleContext, entry: Any, path: tuple, fresh: list[str]):
    """One item of ``do:`` → ``fn(state, m)``."""
    name, params = named_entry(rc.ctx, entry, path, "an effect {name: params} with name one of " + ", ".join(EFFECTS))
    if name not in _BUILDERS:
        import difflib

        close = difflib.get_close_matches(str(name), EFFECTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise rc.error(path, f"unknown effect {name!r}{hint}; expected one of: {', '.join(EFFECTS)}")
    return _BUILDERS[name](rc, params, path + (name,), fresh)
