"""The global state vector that centralised critics (and PettingZoo's ``state()``) read."""

from __future__ import annotations

import torch


def global_state(state: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[B, 5N]`` float32: positions ``[2N]``, velocities ``[2N]`` and alive flags ``[N]`` of every entity.

    Dead entities read as zeros (their stale positions would otherwise leak into the critic).

    Example:
        >>> import engine
        >>> sim = engine.make("tag", num_worlds=2)
        >>> obs, info = sim.reset(seed=0)
        >>> global_state(sim.state).shape
        torch.Size([2, 30])
    """
    alive = state["alive"]
    B = alive.shape[0]
    a = alive.unsqueeze(-1).to(torch.float32)
    pos = (state["pos"].to(torch.float32) * a).reshape(B, -1)
    vel = (state["vel"].to(torch.float32) * a).reshape(B, -1)
    return torch.cat((pos, vel, alive.to(torch.float32)), dim=-1)


def global_state_size(n_entities: int) -> int:
    return 5 * n_entities
