"""A single-agent Gymnasium ``Env`` over one world, and the shipped worlds as Gymnasium ids.

``WorldEnv(world, group=None, agent=0, opponents=None, render_mode=None, **make_kwargs)`` is one copy of
a world seen by one agent: agent ``agent`` of group ``group`` (default the world's first external
group). Every other external agent is driven by a controller — ``opponents`` maps a group to a spec of
``engine.train.controllers`` (``"random"``, ``"scripted_flee:adversary"``, ``"onnx:PATH"`` …) or a
callable ``controller(sim) -> actions``; unnamed groups act at random, and the spec given for the
learning group itself drives its other agents. It passes ``gymnasium.utils.env_checker.check_env``.

* Observation ``Box(-inf, inf, (F,), float32)``, action ``Discrete(n)`` or ``Box(0, 1, (n,))`` (the
  group's action space), reward a float; ``terminated`` when the agent dies or the world's episode
  ends by its rule, ``truncated`` at ``episode.max_steps``. The step that ends the episode reports
  ``info["episode_return"]``.
* ``reset(seed=k)`` is bit-reproducible (the Sim's generator, per-world key and counter, and the
  controllers' generator are all reseeded); ``reset()`` right after the world ended serves the episode
  the Sim already started (no second draw), which is what makes ``SyncVectorEnv`` over this env and
  ``engine.vector.VectorWorldEnv`` agree step for step.
* ``render_mode="rgb_array"``: ``render()`` is the ``[H, W, 3]`` uint8 image of ``Sim.render()``
  (offscreen OpenGL; headless EGL works).

Importing this module registers every shipped world as ``worldloom/<name>-v0`` (entry point this env,
vector entry point ``engine.vector.VectorWorldEnv``), so ``gymnasium.make("worldloom/tag-v0")`` and
``gymnasium.make_vec("worldloom/tag-v0", num_envs=64)`` work after ``import engine.gym_env`` — or
without it, with Gymnasium's module prefix: ``gymnasium.make("engine.gym_env:worldloom/tag-v0")``.

Example:
    >>> import gymnasium
    >>> from gymnasium.utils.env_checker import check_env
    >>> from engine.gym_env import WorldEnv
    >>> env = WorldEnv("tag", group="prey", opponents={"adversary": "scripted_chase:prey"})
    >>> check_env(env, skip_render_check=True)
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, env.action_space
    ((14,), Discrete(5))
    >>> gymnasium.make("worldloom/tag-v0").unwrapped.group
    'adversary'
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from engine.errors import ActionError, UserError
from engine.vector import Opponents, controller_seed, learning_group, opponent_controllers, seed_sim

RENDER_MODES = ("rgb_array",)
NAMESPACE = "worldloom"


class WorldEnv(gymnasium.Env):
    """One world, one learning agent, as a Gymnasium ``Env`` (see the module docstring)."""

    metadata = {"render_modes": list(RENDER_MODES), "render_fps": 10}

    def __init__(self, world: str | os.PathLike = "tag", group: str | None = None, agent: int = 0,
                 opponents: Opponents = None, render_mode: str | None = None, **kw: Any) -> None:
        import engine

        if render_mode is not None and render_mode not in RENDER_MODES:
            raise UserError(f"render_mode: expected None or one of {list(RENDER_MODES)}, got {render_mode!r}")
        if kw.get("num_worlds", 1) != 1:
            raise UserError(f"num_worlds: a WorldEnv holds one world, got {kw['num_worlds']}; use "
                            "engine.vector.VectorWorldEnv for batched worlds")
        kw["num_worlds"] = 1
        self.sim = sim = engine.make(world, **kw)
        self.group = g = learning_group(sim, group)
        plan = self._plan = sim.groups[g]
        if not isinstance(agent, (int, np.integer)) or not 0 <= agent < plan.size:
            raise UserError(f"agent={agent!r}: group {g!r} has {plan.size} agent(s); expected 0..{plan.size - 1}")
        self.agent = int(agent)
        self.render_mode = render_mode
        self._gen = torch.Generator(device=sim.device)
        self._gen.manual_seed(controller_seed(kw.get("seed", 0)))
        self._drivers = opponent_controllers(sim, g, opponents, self._gen, teammates=plan.size > 1)
        self.observation_space = spaces.Box(-np.inf, np.inf, (plan.obs_size,), np.float32)
        self.action_space = plan.action_space.gym_space()
        dt = float(getattr(sim.plan.spec.world, "dt", 0.1) or 0.1)
        self.metadata = {**type(self).metadata, "render_fps": max(1, round(1.0 / dt))}
        self._fresh = False  # the Sim started a new episode at the last step and nothing moved since

    def _obs(self, obs: torch.Tensor) -> np.ndarray:
        return obs[0, self.agent].detach().to("cpu", torch.float32, copy=True).numpy()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode; ``seed`` makes it and everything after it reproducible."""
        super().reset(seed=seed)
        if seed is not None:
            seed_sim(self.sim, int(seed))
            self._gen.manual_seed(controller_seed(int(seed)))
        elif not self._fresh:
            self.sim.reset()
        self._fresh = False
        return self._obs(self.sim.state[self._plan.obs_key]), {}

    def _action(self, action: Any) -> torch.Tensor:
        """The learning agent's action as a tensor (range checks are the Sim's, per ``action_check``)."""
        space = self._plan.action_space
        try:
            v = np.asarray(action)
            ok = v.dtype.kind in "biuf" and v.size == int(np.prod(space.per_agent_shape or (1,)))
        except (TypeError, ValueError):
            ok = False
        if ok and space.discrete:
            ok = bool(np.isfinite(v).all()) and float(v.reshape(())) == int(v.reshape(()))
            if ok:
                return torch.tensor(int(v.reshape(())))
        if not ok:
            raise ActionError(f"action of agent {self.agent} of {self.group!r}: expected {space.describe()}, "
                              f"got {type(action).__name__} {action!r}")
        return torch.as_tensor(v.reshape(space.per_agent_shape).astype(np.float32))

    def step(self, action: Any):
        """One tick: the agent's action, the controllers' for everyone else."""
        sim, g, i = self.sim, self.group, self.agent
        acts = {og: drive(sim) for og, drive in self._drivers.items()}
        mine = acts.get(g)
        if mine is None:
            plan = self._plan
            mine = plan.action_space.zeros((1, plan.size), sim.layout.float_dtype, sim.device)
        mine = mine.clone()
        mine[0, i] = self._action(action).to(mine.device, mine.dtype)
        acts[g] = mine
        obs, rew, term, trunc, info = sim.step(acts)
        done = bool(info["done"][0])
        o = info["final_observation"][g] if done else obs[g]
        terminated, truncated = bool(term[g][0, i]), bool(trunc[g][0, i])
        out_info: dict[str, Any] = {}
        if terminated or truncated:
            ret = info["episode_return"][g] if done else sim.state[self._plan.return_key]
            out_info["episode_return"] = float(ret[0, i])
        self._fresh = done
        return self._obs(o), float(rew[g][0, i]), terminated, truncated, out_info

    def action_masks(self) -> np.ndarray:
        """``bool [n]``: the agent's available actions now (all True when the group is not masked)."""
        m = self.sim.action_masks().get(self.group)
        if m is None:
            return np.ones(self._plan.action_space.n, dtype=bool)
        return m[0, self.agent].cpu().numpy().copy()

    def render(self):
        """``rgb_array``: an ``[H, W, 3]`` uint8 image of the world; None without a render mode."""
        if self.render_mode is None:
            return None
        img = self.sim.render()
        if isinstance(img, torch.Tensor):
            img = img.detach().cpu().numpy()
        img = np.asarray(img, dtype=np.uint8)
        return (img[0] if img.ndim == 4 else img).copy()

    def close(self) -> None:
        self.sim.close()


def register_envs() -> list[str]:
    """Register every shipped world as ``worldloom/<name>-v0`` (idempotent; ``mpe/simple`` becomes
    ``worldloom/mpe-simple-v0``); returns the ids."""
    from engine.paths import shipped_worlds

    ids = []
    for name in shipped_worlds():
        env_id = f"{NAMESPACE}/{name.replace('/', '-')}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, entry_point="engine.gym_env:WorldEnv",
                               vector_entry_point="engine.vector:VectorWorldEnv", kwargs={"world": name})
        ids.append(env_id)
    return ids


register_envs()
