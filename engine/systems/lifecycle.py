"""Despawn on contact, respawn after k ticks, agent death: the ``lifecycle`` system.

Rules come from each entity type's ``lifecycle:`` section. Everything is precomputed into index
tensors at build time: the tick computes distances only between entities that can be removed and the
types that remove them, in one batched operation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.systems.spawn import FRESH, apply_fresh, declare_fresh_spawn
from engine.world.env import BuildEnv

KILLED_BY, TIMER = "killed_by", "respawn_timer"


@dataclass(kw_only=True)
class LifecycleParams:
    """Lifecycle takes its rules from each entity type's ``lifecycle:``; listing it places it in the tick."""


def _declare(env: BuildEnv, can_respawn: bool) -> list[str]:
    env.add_state(StateDecl(KILLED_BY, "entity", (), "int64", -1, owner="lifecycle",
                            doc="entity index that removed this one this tick (-1: none)"))
    env.add_state(StateDecl(TIMER, "entity", (), "int64", 0, owner="lifecycle",
                            doc="ticks until a removed entity respawns (0: not counting)"))
    return declare_fresh_spawn(env, ("entities",), "lifecycle") if can_respawn else []


def make_lifecycle(env: BuildEnv, path: tuple = ("entities",)) -> SystemDecl | None:
    """Build the lifecycle system (declaring its state), or None when no entity type declares despawn rules."""
    spec = env.loaded.spec
    mortal = [(name, t.lifecycle) for name, t in spec.entities.items()
              if t.lifecycle is not None and t.lifecycle.despawn_on_contact]
    if not mortal:
        return None
    killer_types: list[str] = []
    for name, lc in mortal:
        env.check_types(lc.despawn_on_contact, ("entities", name, "lifecycle", "despawn_on_contact"))
        killer_types += [k for k in lc.despawn_on_contact if k not in killer_types]
    rows = env.layout.indices([n for n, _ in mortal])
    cols = env.layout.indices(killer_types)
    env.reserve(len(rows) * len(cols) * (4 * env.float_size + 4),
                f"lifecycle contacts ({len(rows):,} removable × {len(cols):,} removing entities)", path,
                "lower the counts/capacities of the types with lifecycle rules or of those that remove them")
    type_of = env.layout.type_index()
    names = list(env.layout.types)
    kills = torch.zeros(len(rows), len(cols), dtype=torch.bool)
    respawn = torch.full((env.layout.n,), -1, dtype=torch.int64)
    for name, lc in mortal:
        r_mask = type_of[rows] == names.index(name)
        for k in lc.despawn_on_contact:
            kills[r_mask] |= (type_of[cols] == names.index(k)).unsqueeze(0)
        if lc.respawn_after is not None:
            respawn[env.layout.types[name].sl] = lc.respawn_after
    kills &= rows.unsqueeze(1) != cols.unsqueeze(0)
    rows, cols, kills, respawn = (t.to(env.device) for t in (rows, cols, kills, respawn))
    can_respawn = bool((respawn > 0).any())
    spawn_components = _declare(env, can_respawn)

    def lifecycle(state: dict) -> None:
        pos, rad, alive = state["pos"], state["radius"], state["alive"]
        d = (pos[:, rows].unsqueeze(2) - pos[:, cols].unsqueeze(1)).square().sum(-1).sqrt()  # [B, M, K]
        touching = (d < rad[:, rows].unsqueeze(2) + rad[:, cols].unsqueeze(1)) & kills
        touching = touching & alive[:, rows].unsqueeze(2) & alive[:, cols].unsqueeze(1)
        dies_rows = touching.any(-1)
        if len(cols):
            first = touching.to(torch.int8).argmax(-1)
            killer_rows = torch.where(dies_rows, cols[first], torch.full_like(first, -1, dtype=torch.int64))
        else:  # the removing types have no slots (count 0): nothing is removed
            killer_rows = torch.full(dies_rows.shape, -1, dtype=torch.int64, device=dies_rows.device)
        killed_by = torch.full_like(alive, -1, dtype=torch.int64)
        killed_by[:, rows] = killer_rows
        dies = torch.zeros_like(alive)
        dies[:, rows] = dies_rows
        timer = state[TIMER]
        counting = ~alive & (timer > 0)
        timer = torch.where(counting, timer - 1, timer)
        back = counting & (timer == 0)
        timer = torch.where(dies, respawn.expand_as(timer), timer)
        state[KILLED_BY] = killed_by
        state[TIMER] = timer
        state["alive"] = (alive & ~dies) | back
        if can_respawn:
            apply_fresh(state, back, spawn_components)

    reads = ("pos", "radius", "alive", TIMER) + tuple(FRESH + c for c in spawn_components if can_respawn)
    return SystemDecl("lifecycle", lifecycle, reads=reads, writes=(KILLED_BY, TIMER, "alive") + (
        tuple(spawn_components) + ("vel",) if can_respawn else ()), path=path)
