"""Scripted controllers: hand-written chase and flee heuristics that write a group's actions.

They are systems like any other (placed in the tick by the world file), and serve as baselines, as
NPC behaviour before a policy is trained, and as teachers for behaviour cloning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.actions import direction_table, direction_to_action
from engine.world.env import BuildEnv
from engine.world.validation import fld


@dataclass(kw_only=True)
class ChaseParams:
    """Move each agent of ``agents`` toward the nearest living entity of the ``target`` types."""

    agents: str = fld(doc="The agent group this controls.")
    target: list[str] = fld(min_items=1, doc="Entity types to chase.")


@dataclass(kw_only=True)
class FleeParams:
    """Move each agent away from the ``threat`` types (inverse-square weighted), and from the walls."""

    agents: str = fld(doc="The agent group this controls.")
    threat: list[str] = fld(min_items=1, doc="Entity types to flee from.")
    wall: float = fld(0.8, ge=0, doc="|x| or |y| beyond which the agent is pushed back toward the centre.")


def _check_group(env: BuildEnv, group: str, path: tuple):
    if group not in env.groups:
        raise env.ctx.error(path + ("agents",), f"unknown agent group {group!r}; expected one of: "
                                                f"{', '.join(env.groups) or '(none declared)'}")
    return env.groups[group]


def _write_direction(state: dict, group, direction: torch.Tensor, table: torch.Tensor) -> None:
    """Turn desired directions ``[B, A, 2]`` into the group's actions and store them."""
    state[group.action_key] = direction_to_action(group.action_space, direction, table)


def _reserve(env: BuildEnv, group, types: list[str], path: tuple, what: str) -> None:
    """Count the per-tick ``[B, A, K, 2]`` temporaries (agents × listed entities) in the memory budget."""
    k = sum(env.layout.types[t].capacity for t in types)
    env.reserve(group.size * k * 6 * env.float_size, f"{what} ({group.size:,} agents × {k:,} entities)", path,
                "list fewer entity types or lower their counts/capacities")


def make_chase(env: BuildEnv, p: ChaseParams, path: tuple):
    group = _check_group(env, p.agents, path)
    env.check_types(p.target, path + ("target",))
    _reserve(env, group, p.target, path, "scripted_chase")
    idx = env.layout.indices(p.target).to(env.device)
    table = direction_table(env.dtype, env.device)
    a0, a1 = group.slice.start, group.slice.stop

    def scripted_chase(state: dict) -> None:
        pos = state["pos"]
        if len(idx) == 0:  # the target types have no slots (count 0): stand still
            _write_direction(state, group, torch.zeros_like(pos[:, a0:a1]), table)
            return
        delta = pos[:, idx].unsqueeze(1) - pos[:, a0:a1].unsqueeze(2)  # [B, A, K, 2]
        d = delta.square().sum(-1)
        d = torch.where(state["alive"][:, idx].unsqueeze(1), d, torch.full_like(d, float("inf")))
        nearest = d.argmin(-1, keepdim=True)  # [B, A, 1]
        direction = torch.gather(delta, 2, nearest.unsqueeze(-1).expand(-1, -1, 1, 2)).squeeze(2)
        _write_direction(state, group, direction, table)

    return scripted_chase


def make_flee(env: BuildEnv, p: FleeParams, path: tuple):
    group = _check_group(env, p.agents, path)
    env.check_types(p.threat, path + ("threat",))
    _reserve(env, group, p.threat, path, "scripted_flee")
    idx = env.layout.indices(p.threat).to(env.device)
    table = direction_table(env.dtype, env.device)
    a0, a1 = group.slice.start, group.slice.stop
    wall = p.wall

    def scripted_flee(state: dict) -> None:
        pos = state["pos"]
        own = pos[:, a0:a1]
        delta = own.unsqueeze(2) - pos[:, idx].unsqueeze(1)  # away from threats
        d2 = delta.square().sum(-1, keepdim=True).clamp_min(1e-4)
        w = state["alive"][:, idx].unsqueeze(1).unsqueeze(-1).to(pos.dtype)
        direction = (delta / d2 * w).sum(2)
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        push = -torch.sign(own) * (own.abs() - wall).clamp_min(0) * 10.0  # back from the walls
        _write_direction(state, group, direction + push, table)

    return scripted_flee
