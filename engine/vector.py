"""A Gymnasium 1.x ``VectorEnv`` over a ``Sim``: ``num_envs`` worlds, one learning agent group.

The Sim already is a vector env; this adapter gives it Gymnasium's vector API, so Gymnasium's vector
wrappers (``RecordEpisodeStatistics``, ``NormalizeObservation``, ``NormalizeReward``,
``TransformObservation`` …) and the libraries built on them work unchanged:

* **One learning group** (``group=``, default the world's first external group). Its observation is
  ``[F]`` per env with one agent, ``[A, F]`` with A > 1; its action an int (or n floats) per agent; the
  env's reward is the sum over its agents. The world's other external groups are driven by
  controllers: ``opponents={"prey": "scripted_flee:adversary"}`` (``engine.train.controllers`` specs,
  or a callable ``controller(sim) -> actions``), ``"random"`` by default.
* **Autoreset** as Gymnasium documents it (https://farama.org/Vector-Autoreset-Mode), declared in
  ``metadata["autoreset_mode"]``:

  - ``NEXT_STEP`` (default, as Gymnasium's own vector envs): the step that ends an episode returns its
    last observation; the *next* step returns the first observation of the new episode with reward 0
    and ``terminated``/``truncated`` False, and ignores that env's action. The Sim resets a world in
    the step that ends it; this adapter holds the already-reset world for one step (its state is
    restored after the tick, or the tick is skipped when every world is held), so what each env sees
    is exactly what ``SyncVectorEnv`` gives over ``engine.gym_env.WorldEnv``.
  - ``SAME_STEP``: the step that ends an episode already returns the new episode's first observation;
    the last one is in ``info["final_obs"]`` and the step's info in ``info["final_info"]`` (rows
    where ``info["_final_obs"]`` / ``info["_final_info"]`` are true).

  An env whose episode ended reports ``info["episode_return"]`` (its return, summed over the group's
  agents) with the mask ``info["_episode_return"]`` — at top level in ``NEXT_STEP``, inside
  ``final_info`` in ``SAME_STEP`` (where ``SyncVectorEnv`` puts a finished step's info).
* **Arrays**: numpy by default (float32 observations, float64 rewards, bool flags; ``final_obs`` an
  object array with one entry per env, as ``SyncVectorEnv``); ``numpy=False`` returns torch tensors on
  the Sim's device (``device=`` of ``engine.make``) and ``final_obs`` as one ``[B, ...]`` tensor.
* **Seeds**: ``reset(seed=k)`` seeds the whole batch (as ``engine.make(seed=k)``: fast, bit-reproducible);
  ``reset(seed=[s0, s1, …])`` seeds each world on its own — world i starts exactly as
  ``WorldEnv.reset(seed=s_i)`` (a ``None`` entry leaves that world to the batch's generator; later
  autoresets draw from the batch's generator, seeded with the first seed).

Example:
    >>> from engine.vector import VectorWorldEnv
    >>> env = VectorWorldEnv("tag", num_envs=8, opponents={"prey": "scripted_flee:adversary"},
    ...                      overrides={"entities.adversary.count": 1})
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.single_action_space, env.metadata["autoreset_mode"].name
    ((8, 12), dtype('float32'), Discrete(5), 'NEXT_STEP')
    >>> obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
    >>> rew.dtype, terminated.shape
    (dtype('float64'), (8,))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from engine.errors import UserError

#: The autoreset modes this env offers (the Sim always resets a finished world, so not ``DISABLED``).
AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)

Opponents = Mapping[str, "str | Callable[[Any], torch.Tensor]"] | None


# ---------------------------------------------------------------------- shared with engine.gym_env
def learning_group(sim, group: str | None) -> str:
    """The group a Gymnasium env learns for: ``group``, or the world's first external group."""
    ext = sim.external_groups
    if not ext:
        raise UserError("this world has no external agent group (every group is driven by a system or plugin "
                        "in the world file); a Gymnasium env needs one to learn for")
    if group is None:
        return ext[0]
    if group not in sim.groups:
        raise UserError(f"group={group!r}: unknown agent group; this world has: {', '.join(sim.groups)}")
    if group in sim.controlled_by:
        raise UserError(f"group={group!r} is controlled by {sim.controlled_by[group]!r} in the world file; "
                        f"a Gymnasium env can learn for: {', '.join(ext)}")
    return group


def opponent_controllers(sim, group: str, opponents: Opponents, generator: torch.Generator,
                         teammates: bool = False) -> dict[str, Callable[[Any], torch.Tensor]]:
    """A controller for every external group other than ``group`` (and for ``group`` itself when
    ``teammates``: it drives the group's agents other than the learning one). ``opponents`` maps a group
    to a controller spec (``engine.train.controllers``) or a callable; unnamed groups act at random."""
    from engine.train.controllers import make_controller

    opponents = dict(opponents or {})
    driven = [g for g in sim.external_groups if g != group or teammates]
    wrong = [g for g in opponents if g not in driven]
    if wrong:
        why = (f"{group!r} is the learning group" if group in wrong else
               f"expected some of: {', '.join(driven) or '(none)'}")
        raise UserError(f"opponents: no controller can be given for {', '.join(map(repr, wrong))} ({why})")
    return {g: spec if callable(spec) else make_controller(spec, sim, g, generator)
            for g in driven for spec in [opponents.get(g, "random")]}


def controller_seed(seed: int) -> int:
    """The seed of the controllers' generator for an env seeded with ``seed`` (same in both envs)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, 0x6F70706F]).generate_state(1, np.uint64)[0]
               >> 1)


def seed_sim(sim, seed: int | None) -> None:
    """``sim.reset(seed=seed)``, with the per-world random counters back at 0 when seeded, so that a
    seeded reset starts exactly as a freshly made Sim with that seed."""
    from engine.core.random import COUNTER

    if seed is not None:
        sim.state[COUNTER] = torch.zeros_like(sim.state[COUNTER])
    sim.reset(seed=seed)


def seed_worlds(sim, seeds: Sequence[int | None], batched: Sequence[str]) -> None:
    """Reset each world ``i`` with ``seeds[i]`` set on its own, as a one-world Sim reset with that seed
    would (its own generator, random key and counter); ``None`` entries are left as they are."""
    from engine.core.random import COUNTER, KEY, seed_keys

    rows = [i for i, s in enumerate(seeds) if s is not None]
    if not rows:
        return
    st, keyed = sim.state, set(batched)
    outs = []
    for i in rows:
        gen = torch.Generator(device=sim.device)
        gen.manual_seed(int(seeds[i]))
        one = {k: (v[i:i + 1] if k in keyed else v) for k, v in st.items()}
        one[KEY] = seed_keys(int(seeds[i]), 1, sim.device)
        one[COUNTER] = torch.zeros_like(one[COUNTER])
        outs.append(sim.table.reset(one, 1, None, gen))
    index = torch.tensor(rows, device=sim.device)
    for k in batched:
        st[k] = st[k].index_put((index,), torch.cat([o[k] for o in outs]))


def parse_autoreset_mode(mode: AutoresetMode | str) -> AutoresetMode:
    """``AutoresetMode.NEXT_STEP``/``SAME_STEP``, also from their values (``"NextStep"``) or names."""
    if isinstance(mode, str):
        by = {m.value.lower(): m for m in AutoresetMode} | {m.name.lower(): m for m in AutoresetMode}
        mode = by.get(mode.lower().replace("-", "_"), mode)
    if mode not in AUTORESET_MODES:
        raise UserError(f"autoreset_mode: expected AutoresetMode.NEXT_STEP or AutoresetMode.SAME_STEP, got {mode!r} "
                        "(the Sim resets a finished world itself, so DISABLED is not offered)")
    return mode


def _host(x: torch.Tensor, dtype: torch.dtype | None = None) -> np.ndarray:
    """A numpy copy (never a view of the Sim's state: wrappers write into what they are given)."""
    return x.detach().to("cpu", dtype or x.dtype, copy=True).numpy()


class VectorWorldEnv(VectorEnv):
    """``num_envs`` copies of a world, one learning agent group, as a Gymnasium ``VectorEnv``.

    ``VectorWorldEnv(world, num_envs, numpy=True, *, group=None, opponents=None,
    autoreset_mode=AutoresetMode.NEXT_STEP, **make_kwargs)``; ``make_kwargs`` go to ``engine.make``
    (``device``, ``seed``, ``overrides``, ``compile``, ``threads``, ``trust``, ``action_check``).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, world: str | os.PathLike, num_envs: int = 1, numpy: bool = True, *, group: str | None = None,
                 opponents: Opponents = None, autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 **kw: Any) -> None:
        import engine

        mode = parse_autoreset_mode(autoreset_mode)
        if "num_worlds" in kw:
            raise UserError("num_worlds: pass num_envs to VectorWorldEnv (one env = one world)")
        self.sim = sim = engine.make(world, num_worlds=num_envs, **kw)
        self.group = g = learning_group(sim, group)
        self._gen = torch.Generator(device=sim.device)
        self._gen.manual_seed(controller_seed(kw.get("seed", 0)))
        self._drivers = opponent_controllers(sim, g, opponents, self._gen)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        plan = sim.groups[g]
        self.num_envs, self.numpy = num_envs, numpy
        self._agents = A = plan.size
        self._plan = plan
        self.single_observation_space = spaces.Box(-np.inf, np.inf, (plan.obs_size,) if A == 1 else (A, plan.obs_size),
                                                   np.float32)
        self.single_action_space = plan.action_space.gym_space(None if A == 1 else A)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._batched = [k for k, d in sim.table.decls.items() if d.scope != "global"]
        self._held: torch.Tensor | None = None  # NEXT_STEP: worlds reset last step, shown as reset this step
        self._all_held = False
        self._pending: torch.Tensor | None = None  # their first observation ([B, A, F], the Sim's)

    # ------------------------------------------------------------------ conversions
    def _obs(self, o: torch.Tensor) -> Any:
        o = o[:, 0] if self._agents == 1 else o
        return _host(o, torch.float32) if self.numpy else o.to(torch.float32, copy=True)

    def _out(self, x: torch.Tensor) -> Any:
        return _host(x) if self.numpy else x.clone()  # masks: the caller may keep and change them

    def _reward(self, x: torch.Tensor) -> Any:
        return _host(x, torch.float64) if self.numpy else x

    def _actions(self, actions: Any) -> dict[str, torch.Tensor]:
        sim = self.sim
        a = actions.to(sim.device) if isinstance(actions, torch.Tensor) else \
            torch.as_tensor(np.asarray(actions), device=sim.device)
        if self._agents == 1 and a.dim() == len(self._plan.action_space.per_agent_shape) + 1:
            a = a.unsqueeze(1)
        out = {og: drive(sim) for og, drive in self._drivers.items()}
        out[self.group] = a
        return out

    # ------------------------------------------------------------------ Gymnasium API
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None):
        """Start a new episode in every env; ``seed``: None, an int (the batch) or one per env."""
        if options and "reset_mask" in options:
            raise UserError("reset(options={'reset_mask': ...}): partial resets are not offered; finished worlds "
                            "reset themselves (autoreset_mode NEXT_STEP or SAME_STEP)")
        seeds = None
        if seed is not None and not isinstance(seed, (int, np.integer)):
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"If seeds are passed as a list the length must match num_envs={self.num_envs} "
                                 f"but got length={len(seeds)}.")
            seed = next((int(s) for s in seeds if s is not None), None)
        super().reset(seed=None if seed is None else int(seed))
        seed_sim(self.sim, None if seed is None else int(seed))
        if seeds is not None:
            seed_worlds(self.sim, seeds, self._batched)
        if seed is not None:
            self._gen.manual_seed(controller_seed(int(seed)))
        self._held, self._all_held, self._pending = None, False, None
        return self._obs(self.sim.state[self._plan.obs_key]), {}

    def step(self, actions: Any):
        """One tick of every world (see the module docstring for the autoreset modes)."""
        if self._held is not None and self._all_held:
            return self._held_step()
        acts = self._actions(actions)
        held, saved = self._held, None
        if held is not None:  # NEXT_STEP, some worlds held: tick them with no-op actions, then restore them
            index = held.nonzero().squeeze(1)
            saved = {k: self.sim.state[k].index_select(0, index) for k in self._batched}
            a = acts[self.group]
            if a.dim() >= 2 and a.shape[0] == self.num_envs:  # a held world's action is ignored
                acts[self.group] = a.masked_fill(held.view((-1,) + (1,) * (a.dim() - 1)), 0)
        obs, rew, term, trunc, info = self.sim.step(acts)
        g = self.group
        o, done = obs[g], info["done"]
        reward = rew[g].sum(1)
        if saved is not None:
            st = self.sim.state
            for k, v in saved.items():
                st[k] = st[k].index_put((index,), v)
            done = done & ~held
            reward = reward.masked_fill(held, 0.0)
            o = torch.where(held.view(-1, 1, 1), self._pending, o)
        self._held, self._all_held = None, False
        if "final_observation" in info:
            return self._finish(o, reward, term[g], trunc[g], done, info)
        no = torch.zeros_like(done)
        return self._obs(o), self._reward(reward), self._out(no), self._out(no), {}

    def _held_step(self):
        """NEXT_STEP when every world was reset last step: no tick, the first observations, reward 0."""
        o, self._held, self._all_held = self._pending, None, False
        z = torch.zeros(self.num_envs, dtype=torch.bool, device=self.sim.device)
        reward = torch.zeros(self.num_envs, dtype=self.sim.state[self._plan.reward_key].dtype, device=z.device)
        return self._obs(o), self._reward(reward), self._out(z), self._out(z), {}

    def _finish(self, o: torch.Tensor, reward: torch.Tensor, term: torch.Tensor, trunc: torch.Tensor,
                done: torch.Tensor, info: dict):
        """Outputs of a step in which some world's episode ended (``done [B]``, already without held worlds)."""
        g = self.group
        terminated = done & term.all(1)
        truncated = done & trunc[:, 0]
        ret = torch.where(done, info["episode_return"][g].sum(1), 0.0)
        done_host = done.cpu()
        rows = np.flatnonzero(done_host.numpy())
        extra: dict[str, Any] = {"episode_return": self._reward(ret), "_episode_return": self._out(done)}
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            out_info = {"final_obs": self._final_obs(info["final_observation"][g], rows), "_final_obs": self._out(done),
                        "final_info": extra, "_final_info": self._out(done)}
            return self._obs(o), self._reward(reward), self._out(terminated), self._out(truncated), out_info
        if len(rows):
            self._held, self._all_held, self._pending = done, len(rows) == self.num_envs, o
            o = torch.where(done.view(-1, 1, 1), info["final_observation"][g], o)
        return (self._obs(o), self._reward(reward), self._out(terminated), self._out(truncated),
                extra if len(rows) else {})

    def _final_obs(self, final: torch.Tensor, rows: np.ndarray) -> Any:
        """``final_obs``: numpy — an object array with each finished env's observation (None elsewhere),
        as ``SyncVectorEnv``; torch — the ``[B, ...]`` tensor."""
        batch = self._obs(final)
        if not self.numpy:
            return batch
        out = np.full(self.num_envs, None, dtype=object)
        for i in rows:
            out[i] = batch[i]
        return out

    def action_masks(self) -> Any:
        """``bool [B, (A,) n]``: the learning group's available actions now (all True if not masked)."""
        m = self.sim.action_masks().get(self.group)
        if m is None:
            space = self._plan.action_space
            m = torch.ones((self.num_envs, self._agents, space.n), dtype=torch.bool, device=self.sim.device)
        return self._out(m[:, 0] if self._agents == 1 else m)

    def close_extras(self, **kwargs: Any) -> None:
        self.sim.close()
