"""The ``rules`` system: variables, timers and the world file's ``rules:``, in one batched step per tick.

Order inside the step (documented in docs/world-format.md#rules):

1. countdowns (components and variables declared ``countdown: true``) drop by 1, down to 0;
2. entities despawned with ``respawn_after`` whose time is up come back with fresh spawn values;
3. the rule rewards of the last tick are cleared;
4. every rule, **in file order**: its matches are computed on the state as the previous rules left it,
   all at once (every subject × object of every world); conflicts are resolved by ``exclusive`` and
   ``pick``; its firings are counted (``events.<rule>``); its effects apply in order;
5. carried entities follow their carriers (position and velocity); what a dead carrier held is dropped.

By default the step runs after the world's ``systems:`` (after physics, so contacts are those of the
new positions) and before ``lifecycle``; list ``rules`` in ``systems:`` to place it elsewhere. Rule
rewards are added to the agents' rewards of the tick; an ``end`` effect ends the world's episode
(terminated) and sets ``rules.winner`` (the winning team's index in ``agents:`` order, -1: draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.random import Random
from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.rules.conditions import build_condition
from engine.rules.context import CARRIED_BY, RuleContext, var_key
from engine.rules.effects import DROPPED, ENDED, RESPAWN_IN, REWARD, WINNER, build_effect, effect_name

EVENT_PREFIX = "events."
#: With ``world.event_log``, the matches of each rule in the last tick: ``[B, S, O]`` bool.
MATCH_PREFIX = "rules.match."


@dataclass(kw_only=True)
class RulesParams:
    """The rules come from the world file's ``rules:``; listing ``rules`` in ``systems:`` places them."""


def _declare_variables(app) -> list[str]:
    """``var.<name>`` for every variable; returns the state keys that count down."""
    from engine.world.values import check_value

    countdown = []
    G = len(app.groups)
    for name, v in app.loaded.spec.variables.items():
        path = ("variables", name)
        default = False if v.dtype == "bool" and v.default == 0 and v.default is not True else v.default
        check_value(app.ctx, path + ("default",), default, (), v.dtype)
        if v.scope == "team" and not G:
            raise app.ctx.error(path + ("scope",), "a team variable needs agent groups (teams); this world has none")
        shape = (G,) if v.scope == "team" else ()
        app.add_state(StateDecl(var_key(name), "world", shape, v.dtype, default, owner="rules", record=True,
                                doc=v.doc or f"{v.scope} variable {name}"))
        if v.countdown:
            _check_countdown(app, v.dtype, path)
            countdown.append(var_key(name))
    for name, c in app.loaded.spec.components.items():
        if c.countdown:
            _check_countdown(app, c.dtype, ("components", name), c.shape)
            countdown.append(name)
    return countdown


def _check_countdown(app, dtype: str, path: tuple, shape=()) -> None:
    if dtype == "bool" or shape:
        raise app.ctx.error(path + ("countdown",), f"a countdown needs a single number, got a {dtype} of shape "
                                                   f"{list(shape)}")


def _uses(spec, effect: str) -> bool:
    return any(effect_name(e) == effect for r in spec.rules for e in r.do)


def _uses_fresh(effect) -> bool:
    """Does this effect read fresh spawn values (drawn before every tick, so only when some effect needs
    them)? spawn always; respawn at spawn; despawn with respawn_after; teleport to spawn."""
    name = effect_name(effect)
    p = effect.get(name) if isinstance(effect, dict) else None
    if name == "spawn":
        return True
    if name == "respawn":
        return not (isinstance(p, dict) and p.get("at") == "place")
    if name == "despawn":
        return isinstance(p, dict) and p.get("respawn_after") is not None
    if name == "teleport":
        return not isinstance(p, dict) or p.get("to", "spawn") == "spawn"
    return False


def extra_refs(spec) -> dict[str, str]:
    """Per-entity state the rules declare that conditions may read (``carried_by`` where a rule attaches)."""
    return {CARRIED_BY: "entity"} if _uses(spec, "attach") else {}


def _declare_rule_state(app) -> None:
    spec = app.loaded.spec
    app.add_state(StateDecl(REWARD, "entity", (), "float", 0.0, owner="rules",
                            doc="rewards the rules gave each entity this tick (added to agents' rewards)"))
    app.add_state(StateDecl(ENDED, "world", (), "bool", False, owner="rules", record=True,
                            doc="a rule ended the episode"))
    app.add_state(StateDecl(WINNER, "world", (), "int64", -1, owner="rules", record=True,
                            doc="index (agents: order) of the team that won by a rule's end: win/lose; -1: none"))
    app.add_end_flag(ENDED)
    if any(isinstance(e, dict) and isinstance(e.get("despawn"), dict) and "respawn_after" in e["despawn"]
           for r in spec.rules for e in r.do):
        app.add_state(StateDecl(RESPAWN_IN, "entity", (), "int64", 0, owner="rules",
                                doc="ticks until a despawned entity respawns (0: not counting)"))
        app.respawn_timers.append(RESPAWN_IN)
    if _uses(spec, "spawn"):
        app.add_state(StateDecl(DROPPED, "world", (), "int64", 0, owner="rules", record=True, event="spawns_dropped",
                                doc="spawns dropped this episode because the type was at capacity"))
    if _uses(spec, "attach"):
        app.add_state(StateDecl(CARRIED_BY, "entity", (), "int64", -1, owner="rules", record=True,
                                doc="entity index of the carrier (-1: not carried)"))
    names: dict[str, int] = {}
    for i, r in enumerate(spec.rules):
        if r.name in names:
            raise app.ctx.error(("rules", i, "name"), f"rule name {r.name!r} is used by rule {names[r.name]} too; "
                                                      "expected unique names (they name the event counters)")
        names[r.name] = i
        app.add_state(StateDecl(EVENT_PREFIX + r.name, "world", (), "int64", 0, owner="rules", record=True,
                                event=r.name, doc=f"times rule {r.name!r} fired this episode"))


def _resolver(rc: RuleContext, exclusive: str, pick: str, path: tuple):
    """Conflicts: keep one match per object (other), per subject (self), one-to-one (both) or one per world,
    by lowest index or seeded random priority."""
    if exclusive == "none":
        return lambda state, m: m
    stream = f"rules:{'/'.join(map(str, path))}:pick"

    def scores(state, m):
        if pick == "random":
            return torch.where(m, Random(state, stream).uniform(tuple(m.shape)), -1.0)
        return m.to(torch.int8)

    def keep_one(state, m, dim):
        first = scores(state, m).argmax(dim, keepdim=True)
        idx = torch.arange(m.shape[dim], device=m.device).view((1, -1, 1) if dim == 1 else (1, 1, -1))
        return m & (idx == first)

    def resolve(state, m):
        if exclusive == "world":
            B, S, objs = m.shape
            return keep_one(state, m.reshape(B, 1, S * objs), 2).reshape(B, S, objs)
        if exclusive == "both":
            return _one_to_one(m, scores(state, m))
        if exclusive == "other":
            return keep_one(state, m, 1)
        return keep_one(state, m, 2)
    return resolve


def _one_to_one(m: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """A greedy one-to-one matching: objects in index order each take their best free subject (the highest
    ``score``: the lowest index, or a seeded random priority) — MPE collect_treasure's pick-up loop.

    With index priorities on both sides the stable matching is unique, so walking the smaller side (subjects
    in order, each taking its lowest free object) gives the same pairs: ``min(S, O)`` steps of ``[B, ·]``
    tensor ops, unrolled by the compiler."""
    B, S, objs = m.shape
    cols = []
    if objs <= S or score.dtype != torch.int8:
        free = torch.ones(B, S, dtype=torch.bool, device=m.device)
        for o in range(objs):
            cand = m[:, :, o] & free  # [B, S]
            best = torch.where(cand, score[:, :, o].to(torch.float32), -2.0).argmax(1, keepdim=True)
            take = cand & (torch.arange(S, device=m.device).view(1, -1) == best)
            cols.append(take)
            free = free & ~take
        return torch.stack(cols, 2)
    free = torch.ones(B, objs, dtype=torch.bool, device=m.device)
    for s in range(S):
        cand = m[:, s, :] & free  # [B, O]
        take = cand & (torch.arange(objs, device=m.device).view(1, -1) == cand.to(torch.int8).argmax(1, keepdim=True))
        cols.append(take)
        free = free & ~take
    return torch.stack(cols, 1)


def _build_rule(app, i: int, rule, fresh: list[str], extra_refs: dict):
    path = ("rules", i)
    app.check_types(rule.of, path + ("of",))
    if rule.with_ is not None:
        app.check_types(rule.with_, path + ("with",))
    rc = RuleContext(app, rule.of, rule.with_, path, extra_refs)
    conds = [build_condition(rc, c, path + ("when", j)) for j, c in enumerate(rule.when)]
    effects = [build_effect(rc, e, path + ("do", j), fresh) for j, e in enumerate(rule.do)]
    exclusive = rule.exclusive or ("other" if rc.pairwise else "none")
    if exclusive not in ("none", "world") and not rc.pairwise:
        raise app.ctx.error(path + ("exclusive",), f"exclusive: {exclusive} resolves conflicts between pairs; this "
                                                   "rule has no objects (with:); use none or world")
    resolve = _resolver(rc, exclusive, rule.pick, path)
    S, objs, alive_mode, counter = rc.S, rc.O, rule.alive, EVENT_PREFIX + rule.name
    log = MATCH_PREFIX + rule.name if app.params.event_log else None
    if log is not None:
        app.add_state(StateDecl(log, "world", (len(S), len(objs) if objs is not None else 1), "bool", False,
                                reset="keep", owner="rules", doc=f"matches of rule {rule.name!r} in the last tick "
                                "(subjects × objects; world.event_log)"))
    distinct = (S.unsqueeze(1) != objs.unsqueeze(0)) if objs is not None else None
    _note_unbounded(app, rule, path)
    if len(S) == 0 or (objs is not None and len(objs) == 0):  # a type with no slots: it can never match
        def never(state: dict, cache: dict) -> None:
            if log is not None:
                state[log] = torch.zeros_like(state[log])
        never.__name__ = f"rule_{rule.name}"
        return never

    def run_rule(state: dict, cache: dict) -> None:
        alive = state["alive"]
        subj = alive[:, S] if alive_mode == "alive" else (~alive[:, S] if alive_mode == "dead" else
                                                          torch.ones_like(alive[:, S]))
        m = subj.unsqueeze(2)
        if objs is not None:
            m = m & alive[:, objs].unsqueeze(1) & distinct
        for cond in conds:
            m = m & cond(state, cache)
        m = resolve(state, m.expand(m.shape[0], len(S), len(objs) if objs is not None else 1))
        state[counter] = state[counter] + m.sum((1, 2))
        if log is not None:
            state[log] = m
        for effect in effects:
            effect(state, m)

    run_rule.__name__ = f"rule_{rule.name}"
    return run_rule


def _note_unbounded(app, rule, path: tuple) -> None:
    """A rule that spawns a type it also matches, with nothing that limits how often, can spawn without
    bound: say so at load (at run time the type's capacity caps it and drops are counted)."""
    limiting = {"chance", "every", "action", "compare"}
    for e in rule.do:
        if effect_name(e) != "spawn":
            continue
        p = e["spawn"]
        t = p.get("type") if isinstance(p, dict) else p
        matched = set(rule.of) | set(rule.with_ or [])
        if t in matched and not any(isinstance(c, dict) and set(c) & limiting for c in rule.when):
            app.notes.append(f"rules[{path[1]}] {rule.name!r} spawns {t!r}, which it also matches, with no chance, "
                             f"every, action or compare condition: it can spawn without bound (capped at the "
                             f"type's capacity, {app.layout.types[t].capacity}; drops are counted in "
                             "info['events']['spawns_dropped'])")


def _make_mask(app, g, named: dict, extra_refs: dict):
    """The action mask of a group whose named actions declare ``available:`` conditions."""
    rc = RuleContext(app, [g.slice.name], None, ("agents", g.name, "action", "actions"), extra_refs)
    space = g.action_space
    checks = []
    for name, na in named.items():
        if na.available:
            path = ("agents", g.name, "action", "actions", name, "available")
            conds = [build_condition(rc, c, path + (j,)) for j, c in enumerate(na.available)]
            checks.append((space.index(name), conds))
    if not checks:
        return None
    n = space.n
    cols = [col for col, _ in checks]

    def mask(state: dict) -> torch.Tensor:
        alive = state["alive"]
        allowed = []
        for _, conds in checks:  # one per named action with `available:` (a handful), not per entity
            ok = conds[0](state, {})
            for c in conds[1:]:
                ok = ok & c(state, {})
            allowed.append(ok.reshape(ok.shape[0], -1).expand(alive.shape[0], g.size))
        out = torch.ones(alive.shape[0], g.size, n, dtype=torch.bool, device=alive.device)
        out[:, :, cols] = torch.stack(allowed, -1)
        return out
    return mask


def install_rules(app, listed_path: tuple | None = None) -> SystemDecl | None:
    """Declare variables and rule state, add the masks and reward terms; return the ``rules`` system, or
    None when the world has neither rules nor countdowns (then it costs nothing)."""
    spec = app.loaded.spec
    countdown = _declare_variables(app)
    extra = extra_refs(spec)
    for g in app.groups.values():
        m = _make_mask(app, g, g.spec.action.actions, extra)
        if m is not None:
            app.add_action_mask(g.name, m)
    if not spec.rules and not countdown:
        if listed_path is not None:
            raise app.ctx.error(listed_path, "rules is listed in systems: but the world has no rules: and no "
                                             "countdown variables; remove it or add rules")
        return None
    _declare_rule_state(app)
    from engine.systems.spawn import apply_fresh, declare_fresh_spawn

    needs_fresh = any(_uses_fresh(e) for r in spec.rules for e in r.do)
    fresh = declare_fresh_spawn(app, ("rules",), "rules") if needs_fresh else []
    rules = [_build_rule(app, i, r, fresh, extra) for i, r in enumerate(spec.rules)]
    timed_respawn = RESPAWN_IN in app.state
    carrying = CARRIED_BY in app.state
    for g in app.groups.values():
        g.reward_fns.append(_rule_reward(g.sl))

    def rules_step(state: dict) -> None:
        for key in countdown:
            state[key] = (state[key] - 1).clamp_min(0)
        if timed_respawn:
            t, alive = state[RESPAWN_IN], state["alive"]
            counting = ~alive & (t > 0)
            t = torch.where(counting, t - 1, t)
            back = counting & (t == 0)
            state[RESPAWN_IN] = t
            apply_fresh(state, back, fresh)
            state["alive"] = alive | back
        state[REWARD] = torch.zeros_like(state[REWARD])
        cache: dict = {}  # distances shared by the rules while positions do not change
        for rule in rules:
            rule(state, cache)
        if carrying:
            _follow(state)

    return SystemDecl("rules", rules_step, path=listed_path or ("rules",))


def _rule_reward(sl: slice):
    def rule_reward(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        return state[REWARD][:, sl]
    return rule_reward


def _follow(state: dict) -> None:
    """Carried entities take their carrier's position and velocity; a dead carrier (or a dead carried
    entity) breaks the link."""
    c, alive = state[CARRIED_BY], state["alive"]
    src = c.clamp_min(0)
    held = (c >= 0) & alive & alive.gather(1, src)
    state[CARRIED_BY] = torch.where(held, c, -1)
    for key in ("pos", "vel"):
        x = state[key]
        carrier = x.gather(1, src.unsqueeze(-1).expand_as(x))
        state[key] = torch.where(held.unsqueeze(-1), carrier, x)
