"""A native TorchRL environment over a batched ``Sim``: ``batch_size=[num_worlds]``, multi-agent keys.

The layout is the one TorchRL's multi-agent tooling (and BenchMARL) expects, as in TorchRL's VMAS
wrapper: one sub-tensordict per *external* agent group (groups driven by a system or plugin in the world
file act by themselves and have no keys), each with the group's agents as its second batch dimension:

=================================  ==================  ====================================
key                                shape               spec
=================================  ==================  ====================================
``(g, "observation")``             ``[B, A, F]``       ``Unbounded`` (the Sim's float dtype)
``(g, "action")``                  ``[B, A]``          ``Categorical(n)`` (discrete groups)
                                   ``[B, A, n]``       ``OneHot(n)`` with ``categorical_actions=False``;
                                                       ``Bounded(low, high)`` for continuous groups
``(g, "reward")``                  ``[B, A, 1]``       ``Unbounded``
``(g, "done" | "terminated" |      ``[B, A, 1]``       ``Categorical(2, bool)``: per agent, only for
"truncated")``                                         groups whose agents can die (``worlds/forage.yaml``):
                                                       a dead agent stays terminated until its world
                                                       resets (``agent_dones=True`` forces them)
``(g, "action_mask")``             ``[B, A, n]``       bool, only for groups whose actions are masked
``"done" | "terminated" |          ``[B, 1]``          the world's episode: TorchRL resets a world
"truncated"``                                          when its root ``done`` is set
=================================  ==================  ====================================

**Dones.** Where agents cannot die on their own (``tag``), an agent's episode is its world's, and the
dones live at the root only, as in TorchRL's VMAS wrapper; losses that want them per agent expand
them (``td["next", "done"].unsqueeze(-1).expand(...)``, as TorchRL's multi-agent tutorials do). Fewer
keys is less for ``rollout`` and collectors to copy and stack every step.

**Resets.** The Sim resets a finished world in the same step (same-step autoreset). TorchRL wants the
last observation of an episode in ``("next", ...)`` and then calls ``reset`` with a ``"_reset"`` mask
for the finished worlds. So ``_step`` returns the *final* observation of a finished world (the Sim's
``info["final_observation"]``) and keeps the first observation of its next episode, which the
following ``_reset`` hands back without stepping or resetting anything again. Worlds that a
``"_reset"`` mask names but that had not finished are reset for real; a reset with no mask restarts
every world.

**Speed.** One ``Sim.step`` per ``env.step`` for all worlds and agents; no per-agent or per-world Python:
the output tensordicts are built from the Sim's tensors without copies (the Sim returns new tensors
each tick, so nothing is overwritten later).

Example:
    >>> from engine.integrations.torchrl_env import WorldTorchRLEnv
    >>> env = WorldTorchRLEnv("tag", num_worlds=8, seed=0)
    >>> td = env.rollout(30, break_when_any_done=False)   # random actions, resets included
    >>> td["adversary", "observation"].shape, td["next", "prey", "reward"].shape
    (torch.Size([8, 30, 3, 16]), torch.Size([8, 30, 1, 1]))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Bounded, Categorical, Composite, OneHot, Unbounded
from torchrl.envs import EnvBase

from engine.errors import UserError

#: TensorDict's validation-free constructor (used by TorchRL itself); the public one where it is missing.
_new_td = getattr(TensorDict, "_new_unsafe", TensorDict)


class WorldTorchRLEnv(EnvBase):
    """``num_worlds`` copies of a world as one batched TorchRL env (see the module docstring).

    Args:
        world: a world name or ``.yaml`` path, as for ``engine.make``; or ``sim=`` an existing ``Sim``.
        num_worlds: the batch size B.
        categorical_actions: discrete actions as integer indices ``[B, A]`` (default, as BenchMARL's
            VMAS tasks use) or one-hot ``[B, A, n]``.
        agent_dones: per-agent ``(g, "done" | "terminated" | "truncated")`` keys: ``None`` (default) for
            the groups whose agents can die (a despawn or lifecycle rule ends them), ``True`` for every
            group, ``False`` for none (the root keys only).
        compile_sim: fuse the Sim's tick with ``torch.compile`` (``engine.make(compile=True)``). The
            keyword ``compile`` itself belongs to TorchRL: every ``EnvBase`` constructor takes it to
            compile ``step_and_maybe_reset``, TorchRL's own bookkeeping included.
        **make_kwargs: ``device``, ``seed``, ``overrides``, ``threads``, ``trust``, ``action_check``:
            passed to ``engine.make``.

    Example:
        >>> env = WorldTorchRLEnv("forage", num_worlds=4)
        >>> env.group_map
        {'red': ['red_0', 'red_1', 'red_2'], 'blue': ['blue_0', 'blue_1', 'blue_2']}
        >>> env.full_action_spec["red", "action"].shape
        torch.Size([4, 3])
    """

    def __init__(self, world: str | os.PathLike | None = None, num_worlds: int = 1, *,
                 categorical_actions: bool = True, agent_dones: bool | None = None, compile_sim: bool = False,
                 sim: Any = None, **make_kwargs: Any) -> None:
        if sim is None:
            if world is None:
                raise UserError("WorldTorchRLEnv: give a world (name or path) or sim=")
            import engine

            sim = engine.make(world, num_worlds=num_worlds, compile=compile_sim, **make_kwargs)
        elif make_kwargs or compile_sim:
            raise UserError(f"WorldTorchRLEnv: with sim=, engine.make arguments are not used: {sorted(make_kwargs)}")
        self.sim = sim
        self.groups = list(sim.external_groups)
        if not self.groups:
            raise UserError("WorldTorchRLEnv: this world has no external agent group: every group is driven by a "
                            "system or plugin in the world file, so there is nothing for a policy to act on")
        self.categorical_actions = categorical_actions
        mortal = sim.plan.env.mortal_types
        self._agent_dones = {g: (sim.groups[g].slice.name in mortal) if agent_dones is None else bool(agent_dones)
                             for g in self.groups}
        super().__init__(device=sim.device, batch_size=torch.Size([sim.num_worlds]), allow_done_after_reset=True)
        self._make_specs()
        self._fresh: TensorDictBase | None = None  # first observations of the episodes the Sim already started
        self._fresh_mask: torch.Tensor | None = None  # [B]: worlds whose next episode already started

    # ------------------------------------------------------------------ specs
    @property
    def group_map(self) -> dict[str, list[str]]:
        """Agent names per group, as TorchRL's multi-agent envs report them."""
        return {g: self.sim.groups[g].agent_names() for g in self.groups}

    def _make_specs(self) -> None:
        sim, B, dev = self.sim, self.sim.num_worlds, self.device
        fdt = sim.layout.float_dtype
        self._masked = set(sim.action_masks())
        obs, act, rew, done = {}, {}, {}, {}
        for g in self.groups:
            plan = sim.groups[g]
            A, space = plan.size, plan.action_space
            o = {"observation": Unbounded((B, A, plan.obs_size), dtype=fdt, device=dev)}
            if g in self._masked:
                o["action_mask"] = Categorical(2, (B, A, space.n), dtype=torch.bool, device=dev)
            obs[g] = Composite(o, shape=(B, A), device=dev)
            if space.discrete:
                a = (Categorical(space.n, (B, A), dtype=torch.int64, device=dev) if self.categorical_actions
                     else OneHot(space.n, (B, A, space.n), dtype=torch.int64, device=dev))
            else:
                a = Bounded(space.low, space.high, (B, A) + space.per_agent_shape, dtype=fdt, device=dev)
            act[g] = Composite({"action": a}, shape=(B, A), device=dev)
            rew[g] = Composite({"reward": Unbounded((B, A, 1), dtype=fdt, device=dev)}, shape=(B, A), device=dev)
            if self._agent_dones[g]:
                done[g] = Composite({k: Categorical(2, (B, A, 1), dtype=torch.bool, device=dev)
                                     for k in ("done", "terminated", "truncated")}, shape=(B, A), device=dev)
        for k in ("done", "terminated", "truncated"):
            done[k] = Categorical(2, (B, 1), dtype=torch.bool, device=dev)
        self.observation_spec = Composite(obs, shape=(B,), device=dev)
        self.action_spec = Composite(act, shape=(B,), device=dev)
        self.reward_spec = Composite(rew, shape=(B,), device=dev)
        self.done_spec = Composite(done, shape=(B,), device=dev)

    # ------------------------------------------------------------------ stepping
    def _actions(self, tensordict: TensorDictBase) -> dict[str, torch.Tensor]:
        out = {}
        for g in self.groups:
            a = tensordict.get((g, "action"))
            if not self.categorical_actions and self.sim.groups[g].action_space.discrete:
                a = a.argmax(-1)
            out[g] = a
        return out

    def _group_td(self, g: str, obs: torch.Tensor, term: torch.Tensor, trunc: torch.Tensor,
                  masks: Mapping[str, torch.Tensor], reward: torch.Tensor | None = None) -> TensorDictBase:
        d = {"observation": obs}
        if self._agent_dones[g]:
            term1, trunc1 = term.unsqueeze(-1), trunc.unsqueeze(-1)
            d.update(done=term1 | trunc1, terminated=term1, truncated=trunc1)
        if reward is not None:
            d["reward"] = reward.unsqueeze(-1)
        if g in self._masked:
            d["action_mask"] = masks[g]
        return _new_td(d, batch_size=obs.shape[:2], device=self.device)

    def _root(self, source: dict, done: torch.Tensor, truncated: torch.Tensor) -> TensorDictBase:
        source["done"] = done.unsqueeze(-1)
        source["truncated"] = truncated.unsqueeze(-1)
        source["terminated"] = (done & ~truncated).unsqueeze(-1)
        return _new_td(source, batch_size=self.batch_size, device=self.device)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        sim = self.sim
        obs, rew, term, trunc, info = sim.step(self._actions(tensordict))
        done = info["done"]
        first = self.groups[0]
        truncated = trunc[first].all(1)  # the time limit is per world: every agent of a world shares it
        masks = sim.action_masks() if self._masked else {}
        if "final_observation" in info:
            # finished worlds already restarted: keep their first observations for the next _reset
            alive = sim.state["alive"]
            self._fresh = self._root({g: self._group_td(g, obs[g], ~alive[:, sim.groups[g].sl],
                                                        torch.zeros_like(trunc[g]), masks) for g in self.groups},
                                     torch.zeros_like(done), torch.zeros_like(done))
            self._fresh_mask = done
            obs = info["final_observation"]
        else:
            self._fresh = self._fresh_mask = None
        return self._root({g: self._group_td(g, obs[g], term[g], trunc[g], masks, rew[g]) for g in self.groups},
                          done, truncated)

    def _step_proc_data(self, next_tensordict_out: TensorDictBase) -> TensorDictBase:
        # TorchRL reshapes rewards and fills in missing done keys here, walking the specs every step;
        # ``_step`` already writes every reward and done key at its spec's shape, so there is nothing to do.
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict_out)
        return next_tensordict_out

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        mask = tensordict.get("_reset", None) if tensordict is not None else None
        if mask is not None:
            mask = mask.reshape(self.batch_size)
            pending = self._fresh_mask if self._fresh is not None else torch.zeros_like(mask)
            todo = mask & ~pending
            if bool(todo.any()):  # worlds asked to reset that had not finished: reset them for real
                self._reset_worlds(None if bool(todo.all()) else todo)
            elif self._fresh is not None:
                out, self._fresh, self._fresh_mask = self._fresh, None, None
                return out
        else:
            self.sim.reset()
        self._fresh = self._fresh_mask = None
        return self._current()

    def _reset_worlds(self, worlds: torch.Tensor | None) -> None:
        if worlds is None:
            self.sim.reset()
            return
        reset_some = getattr(self.sim, "_reset_worlds", None)  # no public partial reset on Sim (yet)
        if reset_some is None:
            raise UserError("WorldTorchRLEnv: this Sim cannot reset some worlds while the others go on; reset "
                            "finished worlds only (what TorchRL's collectors and rollout do), or all of them")
        reset_some(worlds)

    def _current(self) -> TensorDictBase:
        """The Sim's present observations as a reset tensordict (no world done; dead agents terminated)."""
        sim = self.sim
        obs, alive = sim.observations(), sim.state["alive"]
        masks = sim.action_masks() if self._masked else {}
        no = torch.zeros(self.batch_size, dtype=torch.bool, device=self.device)
        src = {}
        for g in self.groups:
            dead = ~alive[:, sim.groups[g].sl]
            src[g] = self._group_td(g, obs[g], dead, torch.zeros_like(dead), masks)
        return self._root(src, no, no)

    def _set_seed(self, seed: int | None) -> None:
        if seed is not None:
            self.sim.reset(seed=int(seed))
        self._fresh = self._fresh_mask = None

    def close(self, *, raise_if_closed: bool = True) -> None:
        self.sim.close()
        super().close(raise_if_closed=raise_if_closed)
