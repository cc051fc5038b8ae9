"""A PettingZoo ``ParallelEnv`` over one world: the standard multi-agent API for worldloom worlds.

A thin layer over a ``Sim`` with ``num_worlds=1``: agent names are ``<group>_<i>`` for every agent of
the *external* groups (groups driven by a system or plugin in the world file act by themselves and are
not PettingZoo agents), observations are float32 numpy vectors, actions ints in 0..4 (discrete) or
5 floats in [0, 1] (continuous).

PettingZoo semantics on top of the Sim's:

* No autoreset. When the Sim ends an episode it has already started the next one; this env returns
  ``info["final_observation"]`` as the observation of that last step, empties ``agents`` and waits for
  ``reset()``.
* Agent death. An agent whose entity dies is reported ``terminated=True`` once and removed from
  ``agents``; it is never revived within the episode, even if the world respawns its entity (PettingZoo
  forbids revival). Slots that start dead (``capacity > count``) are not in ``agents`` at reset.
* ``state()`` is the global state for centralised critics: positions, velocities and alive flags of
  every entity (``engine.train.state.global_state``), with ``state_space`` to match.

Example:
    >>> from engine.pettingzoo import parallel_env
    >>> env = parallel_env("tag", overrides={"systems": [{"scripted_flee": {"agents": "prey",
    ...                    "threat": ["adversary"]}}, "physics"]})
    >>> obs, infos = env.reset(seed=0)
    >>> env.agents
    ['adversary_0', 'adversary_1', 'adversary_2']
    >>> obs, rewards, terminations, truncations, infos = env.step({a: 2 for a in env.agents})
    >>> obs["adversary_0"].shape, env.state().shape
    ((16,), (30,))
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo.utils.env import ParallelEnv

from engine.errors import UserError

RENDER_MODES = ("rgb_array",)


class WorldParallelEnv(ParallelEnv):
    """PettingZoo ``ParallelEnv`` over a ``Sim`` of one world. Create it with ``parallel_env``.

    Example:
        >>> env = parallel_env("tag")
        >>> env.possible_agents
        ['adversary_0', 'adversary_1', 'adversary_2', 'prey_0']
        >>> env.action_space("prey_0"), env.observation_space("prey_0").shape
        (Discrete(5), (14,))
    """

    metadata = {"name": "worldloom", "render_modes": list(RENDER_MODES), "is_parallelizable": True}

    def __init__(self, world: str | os.PathLike, render_mode: str | None = None, **kw: Any) -> None:
        import engine

        if render_mode is not None and render_mode not in RENDER_MODES:
            raise UserError(f"render_mode: expected None or one of {list(RENDER_MODES)}, got {render_mode!r}")
        if kw.get("num_worlds", 1) != 1:
            raise UserError(f"num_worlds: a PettingZoo env holds one world, got {kw['num_worlds']}; use "
                            "engine.make for batched worlds")
        kw["num_worlds"] = 1
        self.sim = sim = engine.make(world, **kw)
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "name": f"worldloom_{sim.plan.spec.name}"}
        self._groups = list(sim.external_groups)
        self._index: dict[str, tuple[str, int, int]] = {}  # agent → (group, index in group, entity index)
        for g in self._groups:
            plan = sim.groups[g]
            for i, name in enumerate(plan.agent_names()):
                self._index[name] = (g, i, plan.slice.start + i)
        self.possible_agents = list(self._index)
        self.agents: list[str] = []
        self._obs_spaces = {a: spaces.Box(-np.inf, np.inf, (sim.groups[g].obs_size,), np.float32)
                            for a, (g, _, _) in self._index.items()}
        self._act_spaces = {a: sim.groups[g].action_space.gym_space() for a, (g, _, _) in self._index.items()}
        from engine.train.state import global_state_size

        self.state_space = spaces.Box(-np.inf, np.inf, (global_state_size(sim.layout.n),), np.float32)
        self.observation_spaces = self._obs_spaces
        self.action_spaces = self._act_spaces

    # PettingZoo requires the *same* space object on every call (action space seeding depends on it).
    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    @functools.cached_property
    def _entity_of(self) -> dict[str, int]:
        return {a: e for a, (_, _, e) in self._index.items()}

    def _obs_dict(self, obs: dict[str, torch.Tensor], agents: list[str]) -> dict[str, np.ndarray]:
        arrays = {g: obs[g][0].detach().to("cpu", torch.float32).numpy() for g in self._groups}
        return {a: arrays[self._index[a][0]][self._index[a][1]].copy() for a in agents}

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start a new episode; ``seed`` makes it (and everything after) reproducible."""
        obs, _ = self.sim.reset(seed=seed)
        alive = self.sim.state["alive"][0].tolist()
        self.agents = [a for a in self.possible_agents if alive[self._entity_of[a]]]
        return self._obs_dict(obs, self.agents), {a: {} for a in self.agents}

    def _actions(self, actions: dict[str, Any]) -> dict[str, torch.Tensor]:
        out = {}
        for g in self._groups:
            plan = self.sim.groups[g]
            out[g] = plan.action_space.zeros((1, plan.size), torch.float32, "cpu")
        live = set(self.agents)
        for a, act in actions.items():
            if a not in self._index:
                raise UserError(f"actions for unknown agent {a!r}; expected some of: {', '.join(self.agents)}")
            if a not in live:
                continue  # a finished agent's action is ignored, as in PettingZoo's own envs
            g, i, _ = self._index[a]
            out[g][0, i] = _agent_action(a, act, self.sim.groups[g].action_space)
        return {g: t.to(self.sim.device) for g, t in out.items()}

    def step(self, actions: dict[str, Any]):
        """Advance one tick; returns ``(obs, rewards, terminations, truncations, infos)`` for the agents
        that were live before the step."""
        if not self.agents:
            raise UserError("step() after the episode ended (no agents left); call reset() first")
        obs, rew, term, trunc, info = self.sim.step(self._actions(actions))
        if bool(info["done"][0]):
            obs = info["final_observation"]
        agents = self.agents
        r = {g: rew[g][0].tolist() for g in self._groups}
        te = {g: term[g][0].tolist() for g in self._groups}
        tr = {g: trunc[g][0].tolist() for g in self._groups}
        rewards, terminations, truncations = {}, {}, {}
        for a in agents:
            g, i, _ = self._index[a]
            rewards[a], terminations[a], truncations[a] = float(r[g][i]), bool(te[g][i]), bool(tr[g][i])
        observations = self._obs_dict(obs, agents)
        self.agents = [a for a in agents if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, {a: {} for a in agents}

    def state(self) -> np.ndarray:
        """Global state ``[F·N]`` float32: positions, velocities, alive flags of every entity."""
        from engine.train.state import global_state

        return global_state(self.sim.state)[0].cpu().numpy()

    def render(self):
        """``rgb_array``: an ``[H, W, 3]`` uint8 image of the world (needs the renderer's ``Sim.render``)."""
        if self.render_mode is None:
            return None
        if not hasattr(self.sim, "render"):
            raise UserError("render_mode='rgb_array' needs Sim.render(), which this build of worldloom does not "
                            "have (the renderer is not installed); use render_mode=None")
        img = self.sim.render()
        if isinstance(img, torch.Tensor):
            img = img.detach().cpu().numpy()
        img = np.asarray(img)
        return img[0] if img.ndim == 4 else img

    def close(self) -> None:
        pass


def parallel_env(world: str | os.PathLike, render_mode: str | None = None, **kw: Any) -> WorldParallelEnv:
    """A PettingZoo ``ParallelEnv`` of one copy of ``world``; keyword arguments as ``engine.make``
    (``device``, ``seed``, ``overrides``, ``compile``, ``threads``) plus ``render_mode``."""
    return WorldParallelEnv(world, render_mode=render_mode, **kw)


def _agent_action(agent: str, act: Any, space) -> torch.Tensor:
    """One agent's action as a tensor, checked against its space (type, shape, range, finiteness)."""
    try:
        v = np.asarray(act, dtype=np.float64)
    except (TypeError, ValueError):
        v = None
    if act is None or v is None or isinstance(act, (str, bytes)):
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got {type(act).__name__} {act!r}")
    if space.discrete:
        if v.size != 1 or not np.isfinite(v).all() or float(v.reshape(())) != int(v.reshape(())) \
                or not 0 <= int(v.reshape(())) < space.n:
            raise UserError(f"action of {agent!r}: expected {space.describe()}, got {act!r}")
        return torch.tensor(int(v.reshape(())))
    v = v.reshape(-1)
    if v.shape != space.per_agent_shape:
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got shape {list(v.shape)}")
    if not ((v >= space.low) & (v <= space.high)).all():
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got {v.tolist()}")
    return torch.from_numpy(v.astype(np.float32))
