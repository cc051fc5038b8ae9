"""Copy the state of an ``mpe2`` env into world 0 of the matching Sim, so anyone can check parity.

The worlds in ``worlds/mpe/`` follow mpe2's entity order — ``world.agents`` then ``world.landmarks``
— so entity ``i`` of the Sim is entity ``i`` of that list. ``load_state`` copies what the scenario
holds per entity (positions, velocities, the communication channel ``c`` of agents where the world
declares a ``comm`` component) and recomputes the observations, so the next ``sim.step`` with the
same actions as ``env.step`` must give the same states, observations and rewards. Where a scenario
draws random numbers mid-episode (collect_treasure's respawns), call ``feed_draws(sim, env)`` before
each pair of steps: the Sim's next tick then uses the draws mpe2's next step will make.

Example:
    >>> import engine, torch
    >>> from mpe2 import simple_spread_v3
    >>> from engine.interop.mpe2 import load_state
    >>> env = simple_spread_v3.parallel_env()
    >>> _ = env.reset(seed=3)
    >>> sim = engine.make("mpe/simple_spread")
    >>> _ = sim.reset()
    >>> load_state(sim, env)
    >>> bool((sim.observations()["agent"][0, 0] - torch.as_tensor(env.unwrapped.scenario.observation(
    ...     env.unwrapped.world.agents[0], env.unwrapped.world), dtype=torch.float32)).abs().max() < 1e-6)
    True
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from engine.errors import UserError


def mpe_world(env: Any) -> Any:
    """The ``mpe2._mpe_utils.core.World`` behind an mpe2 env (AEC, parallel or wrapped)."""
    inner = getattr(env, "unwrapped", env)
    world = getattr(inner, "world", None)
    if world is None or not hasattr(world, "agents") or not hasattr(world, "landmarks"):
        raise UserError(f"load_state: expected an mpe2 env (with .unwrapped.world), got {type(env).__name__}")
    return world


def load_state(sim: Any, env: Any, attrs: dict[str, str] | None = None) -> None:
    """Put the full state of mpe2 ``env`` into world 0 of ``sim`` and recompute its observations.

    The world's pairings take their partners from the mpe2 entities' attribute of the same name or
    with ``_a`` appended (MPE's ``goal_a``); ``attrs`` maps a pairing to another attribute. Raises
    ``UserError`` when the two do not hold the same entities (count, comm width, pairings).
    """
    world = mpe_world(env)
    entities = list(world.agents) + list(world.landmarks)
    if len(entities) != sim.layout.n:
        raise UserError(f"load_state: the mpe2 world has {len(entities)} entities (agents, then landmarks), "
                        f"the Sim {sim.layout.n}; build the Sim with the same counts")
    state = dict(sim.state)

    def put(key: str, rows: np.ndarray) -> None:
        value = state[key].clone()
        value[0] = torch.as_tensor(rows, dtype=value.dtype, device=value.device)
        state[key] = value

    put("pos", np.stack([e.state.p_pos for e in entities]))
    put("vel", np.stack([e.state.p_vel for e in entities]))
    if "comm" in state:
        width = state["comm"].shape[-1]
        rows = np.zeros((len(entities), width))
        for i, agent in enumerate(world.agents):
            c = np.asarray(agent.state.c if agent.state.c is not None else np.zeros(width), dtype=np.float64)
            if c.shape != (width,):
                raise UserError(f"load_state: mpe2 agent {agent.name!r} has a channel of width {c.shape}, the "
                                f"world's comm component {width}")
            rows[i] = c
        put("comm", rows)
    for name, partners in _pairings(sim, entities, attrs or {}):
        put(f"pair.{name}", np.array(partners))
    extras = _SCENARIO_STATE.get(_scenario_name(env))
    for key, rows in (extras(world) if extras else {}).items():
        if key not in state:
            raise UserError(f"load_state: the Sim's world has no {key!r}; build it from worlds/mpe/"
                            f"{_scenario_name(env)}.yaml")
        put(key, rows)
    for hook in sim.table.derive_hooks:  # observations are derived from the state just written
        hook(state)
    sim.state = state
    sim._needs_reset = False  # this is the episode's start: the next step must not reset it away


def _attr(entity: Any, name: str) -> Any:
    """An mpe2 attribute, or None when unset (mpe2's typed properties raise on unset values)."""
    try:
        return getattr(entity, name, None)
    except (AssertionError, AttributeError, RuntimeError):
        return None


def _partner_index(value: Any, entities: list, index: dict, candidates: list[int]) -> int:
    """The entity an mpe2 attribute names: the entity itself, or (crypto's key) the candidate of that colour."""
    if id(value) in index:
        return index[id(value)]
    if isinstance(value, np.ndarray):
        same = [i for i in candidates if np.shape(entities[i].color) == value.shape
                and np.array_equal(entities[i].color, value)]
        if len(same) == 1:
            return same[0]
    return -1


def _pairings(sim: Any, entities: list, attrs: dict[str, str]):
    """(name, partner entity indices) for every pairing of the Sim's world; a ``shared`` pairing takes its
    one partner from whichever member holds the attribute (crypto: only alice holds the key)."""
    index = {id(e): i for i, e in enumerate(entities)}
    for name, spec in sim.plan.spec.pairings.items():
        members = [entities[i] for i in sim.layout.indices(spec.of).tolist()]
        candidates = sim.layout.indices([spec.to]).tolist()
        options = [attrs[name]] if name in attrs else [name, f"{name}_a"]
        need = any if spec.choose == "shared" else all
        attr = next((a for a in options if need(_attr(e, a) is not None for e in members)), None)
        if attr is None:
            raise UserError(f"load_state: the mpe2 entities of {spec.of} have no attribute {' or '.join(options)} "
                            f"for pairing {name!r}; pass attrs={{{name!r}: 'their attribute'}}")
        if spec.choose == "shared":
            one = next(_attr(e, attr) for e in members if _attr(e, attr) is not None)
            partners = [_partner_index(one, entities, index, candidates)] * len(members)
        else:
            partners = [_partner_index(_attr(e, attr), entities, index, candidates) for e in members]
        if -1 in partners:
            raise UserError(f"load_state: a partner named by {attr!r} is not one of the mpe2 world's entities")
        yield name, partners


def _scenario_name(env: Any) -> str:
    """The mpe2 scenario module's name without its package (``collect_treasure``), or ``""``."""
    scenario = getattr(getattr(env, "unwrapped", env), "scenario", None)
    return type(scenario).__module__.rsplit(".", 1)[-1] if scenario is not None else ""


def _collect_treasure_state(world: Any) -> dict[str, np.ndarray]:
    """What a collector holds, the type a deposit accepts, each treasure's type and whether it is there."""
    agents, landmarks = list(world.agents), list(world.landmarks)
    holding = [(-1 if a.holding is None else int(a.holding)) if a.collector else -1 for a in agents]
    accepts = [-1 if a.collector else int(a.d_i) for a in agents]
    rest = [-1] * len(landmarks)
    return {"holding": np.array(holding + rest), "accepts": np.array(accepts + rest),
            "kind": np.array([0] * len(agents) + [int(lm.type) for lm in landmarks]),
            "alive": np.array([True] * len(agents) + [bool(lm.alive) for lm in landmarks]),
            "gone": np.zeros(len(agents) + len(landmarks), dtype=np.int64)}


def _collect_treasure_draws(world: Any, n_agents: int) -> dict[int, tuple[np.ndarray, int]]:
    """``entity index → (position, type)`` that mpe2's next ``post_step`` draws for each treasure picked up
    earlier (in landmark order: a respawn coin, a position in [-0.95, 0.95]², a type), read from a copy
    of its generator so mpe2 itself draws the same numbers."""
    rng = copy.deepcopy(world.np_random)
    draws = {}
    for j, lm in enumerate(world.landmarks):
        if lm.alive:
            continue
        if lm.respawn_prob != 1.0:
            raise UserError(f"feed_draws: treasure {j} has respawn_prob {lm.respawn_prob}; the YAML world brings "
                            "every treasure back on the next tick (mpe2's default, 1.0)")
        rng.uniform()  # the respawn coin
        pos = rng.uniform(-0.95, 0.95, world.dim_p)
        draws[n_agents + j] = (pos, int(rng.integers(0, len(world.treasure_types))))
    return draws


def feed_draws(sim: Any, env: Any) -> None:
    """Make the Sim's next tick use, in world 0, the random numbers mpe2's next step will draw
    mid-episode (collect_treasure: where and as what a picked-up treasure comes back). Call it before
    each ``env.step`` / ``sim.step`` pair; a no-op for scenarios that draw only at reset."""
    world = mpe_world(env)
    if _scenario_name(env) != "collect_treasure":
        return
    from engine.systems.spawn import FRESH

    draws = _collect_treasure_draws(world, len(world.agents))
    if not draws:
        return

    def use_mpe2_draws(state: dict) -> None:
        for key, col in (("pos", 0), ("kind", 1)):
            value = state[FRESH + key].clone()
            for i, d in draws.items():
                value[0, i] = torch.as_tensor(d[col], dtype=value.dtype)
            state[FRESH + key] = value

    sim.before_next_tick(use_mpe2_draws)


_SCENARIO_STATE = {"collect_treasure": _collect_treasure_state}
