"""``WorldParallelEnv``: the PettingZoo ``ParallelEnv`` over a Sim of one world (see ``engine.pettingzoo``).

Per step it does the least Python it can: one tensor per agent group in (built from the agents'
actions by :class:`~engine.pettingzoo.actions.ActionEncoder`), one host copy per group and output
out (observations, rewards, terminations, truncations), and dicts built from precomputed agent
indices. Spaces are built once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.utils import EzPickle
from pettingzoo.utils.env import ParallelEnv

from engine.errors import UserError

from .actions import ActionEncoder

RENDER_MODES = ("human", "rgb_array")


class WorldParallelEnv(ParallelEnv, EzPickle):
    """PettingZoo ``ParallelEnv`` over a ``Sim`` of one world. Create it with ``parallel_env``.

    It pickles as the recipe that made it (``EzPickle``, as PettingZoo's own envs do): unpickling
    builds a fresh env of the same world and arguments, which is what SuperSuit's
    ``concat_vec_envs_v1`` does to make its copies.

    Example:
        >>> from engine.pettingzoo import parallel_env
        >>> env = parallel_env("tag")
        >>> env.possible_agents
        ['adversary_0', 'adversary_1', 'adversary_2', 'prey_0']
        >>> env.action_space("prey_0"), env.observation_space("prey_0").shape
        (Discrete(5), (14,))
        >>> env.metadata["render_fps"], env.max_cycles
        (10, 25)
    """

    metadata = {"name": "worldloom", "render_modes": list(RENDER_MODES), "is_parallelizable": True,
                "render_fps": 10}

    def __init__(self, world: str | os.PathLike, render_mode: str | None = None, max_cycles: int | None = None,
                 **kw: Any) -> None:
        import engine
        from engine.core.action_check import MODES

        EzPickle.__init__(self, world, render_mode=render_mode, max_cycles=max_cycles, **kw)
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise UserError(f"render_mode: expected None or one of {list(RENDER_MODES)}, got {render_mode!r}")
        if kw.get("num_worlds", 1) != 1:
            raise UserError(f"num_worlds: a PettingZoo env holds one world, got {kw['num_worlds']}; use "
                            "engine.make (or engine.vector) for batched worlds")
        kw["num_worlds"] = 1
        kw.setdefault("compile", True)  # the tick compiles on the first step (cached on disk for later runs)
        kw.setdefault("threads", 1)  # one world is dispatch-bound: one intra-op thread is fastest
        mode = kw.get("action_check", "error")
        if mode in MODES:  # (an unknown mode is left for engine.make to refuse)
            kw["action_check"] = "off" if mode == "error" else mode  # "error": checked here, per agent
        if max_cycles is not None:
            kw["overrides"] = _with_max_cycles(kw.get("overrides"), max_cycles)
        self.sim = sim = engine.make(world, **kw)
        self.action_check = mode
        self.render_mode = render_mode
        spec = sim.plan.spec
        fps = max(1, round(spec.render.tick_rate or 1.0 / spec.world.dt))
        self.metadata = {**type(self).metadata, "name": f"worldloom_{spec.name}", "render_fps": fps}
        self.max_cycles = spec.episode.max_steps
        self._groups = list(sim.external_groups)
        self._encoder = ActionEncoder(sim, self._groups, mode)
        self._index = {a: k for k, a in enumerate(self._encoder.where)}  # agent → flat index
        self.possible_agents = list(self._index)
        self.agents: list[str] = []
        self._entity = [sim.groups[g].slice.start + i for g, i in
                        ((self._groups[gi], i) for gi, i in self._encoder.where.values())]
        self._masked = [g for g in self._groups if sim.groups[g].mask_fns]
        self._obs_cpu_f32 = all(sim.state[sim.groups[g].obs_key].dtype == torch.float32 and
                                sim.state[sim.groups[g].obs_key].device.type == "cpu" for g in self._groups)
        self._build_spaces()
        self._window = None
        self._restarted = False  # the Sim auto-reset at the end of the last episode: reset() reuses it

    def _build_spaces(self) -> None:
        from engine.train.state import global_state_size

        sim = self.sim
        self.observation_spaces: dict[str, spaces.Space] = {}
        self.action_spaces: dict[str, spaces.Space] = {}
        for a, (gi, _) in self._encoder.where.items():
            plan = sim.groups[self._groups[gi]]
            box = spaces.Box(-np.inf, np.inf, (plan.obs_size,), np.float32)
            if plan.mask_fns:  # as PettingZoo's own masked envs (connect_four, chess) have it
                box = spaces.Dict({"observation": box,
                                   "action_mask": spaces.Box(0, 1, (plan.action_space.n,), np.int8)})
            self.observation_spaces[a] = box
            self.action_spaces[a] = plan.action_space.gym_space()
        self.state_space = spaces.Box(-np.inf, np.inf, (global_state_size(sim.layout.n),), np.float32)

    # PettingZoo requires the *same* space object on every call (space seeding depends on it).
    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    # ------------------------------------------------------------------------------------------ outputs
    def _observation_rows(self, obs: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor] | None
                          ) -> list:
        """Every possible agent's observation, in flat agent order (rows of one host copy per group)."""
        rows: list = []
        for g in self._groups:
            t = obs[g]
            arr = t.numpy()[0].copy() if self._obs_cpu_f32 else t[0].detach().to("cpu", torch.float32).numpy()
            if masks is not None and g in masks:
                m = masks[g][0].to("cpu", torch.int8).numpy()
                rows.extend({"observation": o, "action_mask": mk} for o, mk in zip(arr, m))
            else:
                rows.extend(arr)  # row views of our own copy (the Sim's tensor may be reused)
        return rows

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start a new episode; ``seed`` makes it (and everything after) reproducible.

        Without a seed, right after an episode ended, the episode the Sim already started (its
        autoreset, drawn from the same generator) is the new one: no second reset."""
        if seed is None and self._restarted:
            obs = self.sim.observations()  # the Sim already started the next episode when this one ended
        else:
            obs, _ = self.sim.reset(seed=seed)
        self._restarted = False
        alive = self.sim.state["alive"].tolist()[0]
        self.agents = [a for a, e in zip(self.possible_agents, self._entity) if alive[e]]
        rows = self._observation_rows(obs, self.sim.action_masks() if self._masked else None)
        index = self._index
        if self.render_mode == "human":
            self._show()
        return {a: rows[index[a]] for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: Mapping[str, Any]):
        """Advance one tick; returns ``(obs, rewards, terminations, truncations, infos)`` for the agents
        that were live before the step. With no live agent left (the episode is over) it returns five
        empty dicts and does not advance the world, as PettingZoo's own envs do."""
        agents = self.agents
        if not agents:
            return {}, {}, {}, {}, {}
        obs, rew, term, trunc, info = self.sim.step(self._encoder.encode(actions, set(agents)))
        final = info.get("final_observation")  # one world: present exactly when its episode ended
        if final is not None:
            obs = final
            self._restarted = True
        r: list = []
        te: list = []
        tr: list = []
        for g in self._groups:  # whole-tensor tolist: cheaper than indexing the tensor first
            r += rew[g].tolist()[0]
            te += term[g].tolist()[0]
            tr += trunc[g].tolist()[0]
        rows = self._observation_rows(obs, info.get("action_mask"))
        index = self._index
        idx = [index[a] for a in agents]
        pairs = list(zip(agents, idx))
        observations = {a: rows[k] for a, k in pairs}
        rewards = {a: r[k] for a, k in pairs}
        terminations = {a: te[k] for a, k in pairs}
        if final is not None:  # the episode is over for everyone: whoever is not terminated is truncated
            truncations = {a: tr[k] or not te[k] for a, k in pairs}
            self.agents = []
        else:
            truncations = {a: tr[k] for a, k in pairs}
            self.agents = [a for a, k in pairs if not (te[k] or tr[k])]
        if self.render_mode == "human":
            self._show()
        return observations, rewards, terminations, truncations, {a: {} for a in agents}

    def state(self) -> np.ndarray:
        """Global state ``[5·N]`` float32: positions, velocities, alive flags of every entity."""
        from engine.train.state import global_state

        return global_state(self.sim.state)[0].cpu().numpy()

    # ---------------------------------------------------------------------------------------- rendering
    def _show(self) -> None:
        if self._window is None:
            from .human import HumanWindow

            self._window = HumanWindow(self.sim, self.metadata["render_fps"], self.metadata["name"])
        self._window.show()

    def render(self):
        """``rgb_array``: world 0 as an ``[H, W, 3]`` uint8 image (offscreen OpenGL). ``human``: the
        window already shows every reset and step; this opens it if needed and returns None."""
        if self.render_mode is None:
            return None
        if self.render_mode == "human":
            if self._window is None:
                self._show()
            return None
        return np.asarray(self.sim.render(0))

    def close(self) -> None:
        """Close the window (``human``) and release the Sim's GL resources (offscreen view, pixel observers)."""
        if self._window is not None:
            self._window.close()
            self._window = None
        self.sim.close()


def _with_max_cycles(overrides: Mapping[str, Any] | None, max_cycles: int) -> dict[str, Any]:
    """``overrides`` plus ``episode.max_steps = max_cycles`` (PettingZoo's name for the episode length)."""
    if isinstance(max_cycles, bool) or not isinstance(max_cycles, (int, np.integer)) or max_cycles < 1:
        raise UserError(f"max_cycles: expected an integer >= 1, got {max_cycles!r}")
    out = dict(overrides or {})
    given = out.get("episode.max_steps")
    if given is not None and given != max_cycles:
        raise UserError(f"max_cycles={max_cycles} and overrides['episode.max_steps']={given!r} disagree; give one")
    out["episode.max_steps"] = int(max_cycles)
    return out
