"""A Gymnasium-style vector env over a ``Sim`` whose world has one external agent group.

The Sim already is a vector env; this adapter only renames things for libraries that speak
Gymnasium's ``VectorEnv``: ``num_envs`` = worlds, ``single_observation_space`` / ``observation_space``
(batched), and the autoreset mode declared in ``metadata["autoreset_mode"]``: **same-step** — when a
world's episode ends, ``step`` already returns the first observation of its next episode and the last
one is in ``info["final_obs"]`` (rows where ``info["_final_obs"]`` is true).

With one agent in the group, an env's observation is ``[F]`` and its action an int (or n floats);
with A > 1 agents they are ``[A, F]`` and ``[A]`` (or ``[A, n]``), and the env's reward is the sum
over its agents. Arrays are torch tensors on the Sim's device (``numpy=True`` converts them).

Example:
    >>> from engine.vector import VectorWorldEnv
    >>> env = VectorWorldEnv("tag", num_envs=8, overrides={"systems": [{"scripted_flee": {"agents": "prey",
    ...     "threat": ["adversary"]}}, "physics"], "entities.adversary.count": 1})
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, env.single_action_space
    (torch.Size([8, 12]), Discrete(5))
    >>> obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from engine.errors import UserError


class VectorWorldEnv(VectorEnv):
    """``num_envs`` copies of a world with one external agent group, as a Gymnasium ``VectorEnv``."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, world: str | os.PathLike, num_envs: int = 1, numpy: bool = False, **kw: Any) -> None:
        import engine

        self.sim = sim = engine.make(world, num_worlds=num_envs, **kw)
        if len(sim.external_groups) != 1:
            raise UserError(f"VectorWorldEnv needs exactly one external agent group; this world has "
                            f"{sim.external_groups or 'none'} (use engine.make or engine.pettingzoo instead)")
        self.group = g = sim.external_groups[0]
        plan = sim.groups[g]
        self.num_envs, self.numpy = num_envs, numpy
        self._agents = plan.size
        A, F = plan.size, plan.obs_size
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (F,) if A == 1 else (A, F), np.float32)
        self.single_action_space = plan.action_space.gym_space(None if A == 1 else A)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def _out(self, x: torch.Tensor) -> Any:
        return x.detach().cpu().numpy() if self.numpy else x

    def _obs(self, obs: dict[str, torch.Tensor]) -> Any:
        o = obs[self.group].to(torch.float32)
        return self._out(o[:, 0] if self._agents == 1 else o)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.sim.reset(seed=seed)
        return self._obs(obs), {}

    def step(self, actions: Any):
        a = torch.as_tensor(np.asarray(actions) if not isinstance(actions, torch.Tensor) else actions,
                            device=self.sim.device)
        if self._agents == 1:
            a = a.unsqueeze(1)
        obs, rew, term, trunc, info = self.sim.step({self.group: a})
        g = self.group
        truncated = trunc[g].all(1)
        terminated = info["done"] & ~truncated
        out_info: dict[str, Any] = {}
        if "final_observation" in info:
            out_info["final_obs"] = self._obs(info["final_observation"])
            out_info["_final_obs"] = self._out(info["done"])
            out_info["episode_return"] = self._out(info["episode_return"][g].sum(1))
        return (self._obs(obs), self._out(rew[g].sum(1)), self._out(terminated), self._out(truncated), out_info)
