"""RLlib over the batched Sim: an ``EnvRunner`` that steps every world of a runner at once.

RLlib's stock ``MultiAgentEnvRunner`` steps a ``MultiAgentEnv`` (or RLlib's vector of them) and keeps
a ``MultiAgentEpisode`` per world, updated per agent and per tick in Python: at a few hundred
agent-steps per second, that bookkeeping, not the simulation, is the cost. ``WorldEnvRunner`` is
RLlib's documented extension point for that case (``config.env_runners(env_runner_cls=...)``, the
new API stack): per tick it runs each group's ``RLModule`` once on ``[B·A, F]`` observations, samples
actions from the module's own action distribution and steps the ``Sim``; at the end of ``sample()``
it cuts the ``[T, B, A, …]`` buffers into RLlib ``SingleAgentEpisode`` s — one per agent per episode
piece, built from numpy slices, tagged with the agent's module — so RLlib's PPO learner pipeline
(GAE, minibatches, the loss) runs unchanged on them.

* Agent ids are ``<group>_<i>`` of the world, module ids the group names (one shared policy per
  group, as ``worldloom train``); ``policy_mapping_fn`` is ``agent_module``.
* An episode piece ends when the agent is terminated (death, or its world ended) or truncated (time
  limit), with the world's last observation (``info["final_observation"]``); a piece cut by the end
  of the fragment is handed over unfinished, and RLlib bootstraps its value as for any cut episode.
  A dead agent has no transitions until its world restarts (or its entity respawns).
* Worlds travel as data (``world_bundle``): the world file's text, the overrides, and the code and
  models it uses, so a runner on another machine of a Ray cluster rebuilds the world without a
  shared file system. The driver checks that the world builds under the caller's trust policy
  before anything is shipped; the runners trust what the driver shipped.

Needs Ray (``tools/ray/.venv``, which ``tools/setup.sh`` builds); ``engine.integrations.bundle`` does not.

Example (in the Ray venv, after ``ray.init()``; ``docs/integrations.md`` has a complete script):
    >>> from engine.integrations.rllib_env import ppo_config, world_bundle
    >>> config = ppo_config(world_bundle("tag"), num_env_runners=1, worlds_per_runner=64, rollout=25)
    >>> algo = config.build_algo()  # doctest: +SKIP
    >>> result = algo.train()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.core.columns import Columns
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    EPISODE_LEN_MEAN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    WEIGHTS_SEQ_NO,
)

from engine.errors import UserError
from engine.integrations.bundle import make_sim_from_bundle, world_bundle  # noqa: F401  (re-exported)


def group_spaces(sim) -> dict[str, tuple[Any, Any]]:
    """Per external group: (observation space of one agent, action space of one agent), as Gymnasium spaces."""
    from gymnasium import spaces

    return {g: (spaces.Box(-np.inf, np.inf, (sim.groups[g].obs_size,), np.float32),
                sim.groups[g].action_space.gym_space()) for g in sim.external_groups}


def agent_module(agent_id: str, episode: Any = None, **kwargs: Any) -> str:
    """RLlib ``policy_mapping_fn``: agent ``<group>_<i>`` is trained by module ``<group>``."""
    return agent_id.rpartition("_")[0]


# ---------------------------------------------------------------------- the EnvRunner
#: Seconds per phase of ``sample()``, logged by every runner (summed over an iteration).
TIMER_KEYS = ("worldloom_sim_s", "worldloom_policy_s", "worldloom_episodes_s")


class _Buffers:
    """One fragment of one group: ``[T, B, A, …]`` numpy arrays filled tick by tick."""

    def __init__(self, T: int, B: int, A: int, F: int, act_shape: tuple, act_dtype, D: int) -> None:
        self.obs = np.zeros((T + 1, B, A, F), np.float32)  # obs[t]: what the agents saw before acting at t
        self.next_final = np.zeros((T, B, A, F), np.float32)  # obs after t for worlds that ended at t
        self.alive = np.zeros((T + 1, B, A), bool)
        self.actions = np.zeros((T, B, A) + act_shape, act_dtype)
        self.logp = np.zeros((T, B, A), np.float32)
        self.dist = np.zeros((T, B, A, D), np.float32)
        self.rewards = np.zeros((T, B, A), np.float32)
        self.term = np.zeros((T, B, A), bool)
        self.trunc = np.zeros((T, B, A), bool)


class WorldEnvRunner(EnvRunner, Checkpointable):
    """Samples a batched worldloom ``Sim`` for RLlib (see the module docstring).

    ``config.env_config`` holds ``{"bundle": world_bundle(...), "worlds": B, "compile": bool,
    "threads": int | None}``; ``config.rollout_fragment_length`` is ticks per ``sample()`` (each tick is
    B env steps); the modules are ``config.rl_module_spec`` (one per group, see ``ppo_config``).
    """

    def __init__(self, *, config, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        env_cfg = dict(self.config.env_config)
        self.bundle = env_cfg["bundle"]
        self.num_worlds = int(env_cfg.get("worlds", 64))
        self.spaces = kwargs.get("spaces") or {}
        self.sim = None
        self.num_envs = 0
        needs_env = (self.worker_index is None or self.worker_index > 0 or self.config.num_env_runners == 0
                     or self.config.create_env_on_local_worker)
        self.make_env(full=needs_env)
        self.module = None
        self.make_module()
        self._weights_seq_no = 0
        self._fragments = 0  # sample() calls so far, part of every episode piece's id
        self._obs: dict[str, torch.Tensor] | None = None
        self._episode_steps = None

    # ------------------------------------------------------------------ set-up
    def make_env(self, full: bool = True) -> None:
        """Build the Sim from the bundle (a one-world Sim for spaces only on a local runner that never samples)."""
        env_cfg = self.config.env_config
        threads = env_cfg.get("threads")
        if threads is None:
            threads = max(1, int(self.config.num_cpus_per_env_runner or 1))
        seed = int(self._seed if self._seed is not None else 0)
        self.sim = make_sim_from_bundle(self.bundle, self.num_worlds if full else 1, seed=seed,
                                        compile=bool(env_cfg.get("compile", False)) and full, threads=threads,
                                        action_check=env_cfg.get("action_check", "error"))
        self.num_envs = self.sim.num_worlds if full else 0
        self.groups = list(self.sim.external_groups)
        if not self.groups:
            raise UserError(f"world {self.bundle['name']!r} has no external agent group: nothing to train")
        self._group_spaces = group_spaces(self.sim)
        self._obs = None

    def make_module(self) -> None:
        from engine.train.controllers import make_controller

        spec = self.config.get_multi_rl_module_spec(spaces=self.get_spaces(), inference_only=True)
        self.module = spec.build()
        self.trained = [g for g in self.groups if g in self.module]
        opponents = dict(self.config.env_config.get("opponents") or {})
        gen = torch.Generator().manual_seed(int(self._seed or 0) + 0x5EED)
        # external groups without a module act through a controller: the config's, else random
        self.controllers = {g: make_controller(opponents.get(g, "random"), self.sim, g, gen)
                            for g in self.groups if g not in self.module}

    def get_spaces(self) -> dict:
        from gymnasium import spaces

        obs = spaces.Dict({g: s[0] for g, s in self._group_spaces.items()})
        act = spaces.Dict({g: s[1] for g, s in self._group_spaces.items()})
        return {INPUT_ENV_SPACES: (obs, act), INPUT_ENV_SINGLE_SPACES: (obs, act), **self._group_spaces}

    def assert_healthy(self) -> None:
        assert self.sim is not None and self.module is not None

    # ------------------------------------------------------------------ sampling
    def sample(self, *, num_timesteps: int | None = None, num_episodes: int | None = None,
               explore: bool | None = None, random_actions: bool = False, force_reset: bool = False,
               **kwargs: Any) -> list[SingleAgentEpisode]:
        """Step every world ``rollout_fragment_length`` ticks (or enough for ``num_timesteps`` env steps, or
        until ``num_episodes`` world episodes ended) and return the episode pieces."""
        if self.num_envs == 0:
            raise ValueError("this WorldEnvRunner is the local runner of a group with remote runners; it does not "
                             "sample (set create_env_on_local_worker=True to sample here)")
        explore = self.config.explore if explore is None else explore
        B = self.num_envs
        if num_timesteps is not None:
            T = max(1, -(-int(num_timesteps) // B))
        elif num_episodes is not None:
            T = None
        else:
            T = int(self.config.get_rollout_fragment_length(self.worker_index or 0))
        if force_reset or num_episodes is not None or self._obs is None:
            self._reset()
        if T is None:  # run whole fragments until enough world episodes ended
            out, ended = [], 0
            while ended < num_episodes:
                eps, n = self._sample_ticks(self.sim.plan.spec.episode.max_steps or 100, explore, random_actions)
                out += eps
                ended += n
            return out
        return self._sample_ticks(T, explore, random_actions)[0]

    def _reset(self) -> None:
        obs, _ = self.sim.reset()
        self._obs = obs
        self._episode_steps = torch.zeros(self.num_envs, dtype=torch.int64)

    def _act(self, obs: dict[str, torch.Tensor], explore: bool, random_actions: bool):
        """Actions for the Sim and (actions, logp, dist inputs) for the episodes, per group, in one forward each."""
        to_sim, rec = {}, {}
        with torch.no_grad():
            for g, ctrl in self.controllers.items():
                to_sim[g] = ctrl(self.sim)
            for g in self.trained:
                plan = self.sim.groups[g]
                B, A = obs[g].shape[:2]
                module = self.module[g]
                if random_actions:
                    a = plan.action_space.sample((B, A), None, torch.float32, "cpu")
                    to_sim[g], rec[g] = a, (a.numpy(), None, None)
                    continue
                flat = obs[g].reshape(B * A, -1).to(torch.float32)
                out = (module.forward_exploration if explore else module.forward_inference)({Columns.OBS: flat})
                logits = out[Columns.ACTION_DIST_INPUTS]
                dist_cls = (module.get_exploration_action_dist_cls() if explore
                            else module.get_inference_action_dist_cls())
                dist = dist_cls.from_logits(logits)
                if not explore:
                    dist = dist.to_deterministic()
                a = dist.sample()
                logp = dist.logp(a) if explore else torch.zeros(B * A)
                rec[g] = (a.reshape((B, A) + a.shape[1:]).numpy(), logp.reshape(B, A).numpy(),
                          logits.reshape(B, A, -1).numpy())
                to_sim[g] = self._env_action(plan.action_space, a).reshape((B, A) + a.shape[1:])
        return to_sim, rec

    def _env_action(self, space, a: torch.Tensor) -> torch.Tensor:
        if space.discrete:
            return a
        if self.config.normalize_actions:  # RLlib's convention: the module acts in [-1, 1]
            return space.low + (a.clamp(-1.0, 1.0) + 1.0) * (space.high - space.low) / 2.0
        return a.clamp(space.low, space.high)

    def _sample_ticks(self, T: int, explore: bool, random_actions: bool) -> tuple[list[SingleAgentEpisode], int]:
        sim, B = self.sim, self.num_envs
        bufs = {}
        for g in self.trained:
            plan = sim.groups[g]
            act_space = self._group_spaces[g][1]
            D = int(self.module[g].get_exploration_action_dist_cls().required_input_dim(act_space))
            bufs[g] = _Buffers(T, B, plan.size, plan.obs_size, tuple(act_space.shape), act_space.dtype, D)
        world_done = np.zeros((T, B), bool)
        returns, lengths = [], []
        t_sim = t_pol = 0.0
        obs = self._obs
        alive = sim.state["alive"]
        for t in range(T):
            t0 = time.perf_counter()
            for g in self.trained:
                bufs[g].obs[t] = obs[g].numpy()
                bufs[g].alive[t] = alive[:, sim.groups[g].sl].numpy()
            to_sim, rec = self._act(obs, explore, random_actions)
            t1 = time.perf_counter()
            obs, rew, term, trunc, info = sim.step(to_sim)
            t2 = time.perf_counter()
            alive = sim.state["alive"]
            self._episode_steps += 1
            done = info["done"]
            for g in self.trained:
                b = bufs[g]
                b.actions[t], lp, dist = rec[g]
                if lp is not None:
                    b.logp[t], b.dist[t] = lp, dist
                b.rewards[t] = rew[g].numpy()
                b.term[t] = term[g].numpy()
                b.trunc[t] = trunc[g].numpy()
            if "final_observation" in info:
                d = done.numpy()
                world_done[t] = d
                for g in self.trained:
                    bufs[g].next_final[t][d] = info["final_observation"][g].numpy()[d]
                ret = sum(info["episode_return"][g].sum(1) for g in self.groups)
                returns.append(torch.stack([ret[done]] + [info["episode_return"][g].sum(1)[done]
                                                          for g in self.groups], 1).numpy())
                lengths.append(self._episode_steps[done].numpy())
                self._episode_steps[done] = 0
            t_pol += t1 - t0
            t_sim += t2 - t1
        for g in self.trained:
            bufs[g].obs[T] = obs[g].numpy()
            bufs[g].alive[T] = alive[:, sim.groups[g].sl].numpy()
        self._obs = obs
        t0 = time.perf_counter()
        self._fragments += 1
        episodes = []
        for g in self.trained:
            episodes += self._episodes(g, bufs[g], world_done, random_actions)
        t_eps = time.perf_counter() - t0
        self._log(T, returns, lengths, {"worldloom_sim_s": t_sim, "worldloom_policy_s": t_pol,
                                        "worldloom_episodes_s": t_eps})
        return episodes, int(sum(len(x) for x in lengths))

    def _episodes(self, g: str, b: _Buffers, world_done: np.ndarray, random_actions: bool) -> list:
        """Cut one group's fragment into ``SingleAgentEpisode`` s: vectorised boundaries, one object per piece."""
        T, B, A = b.term.shape
        valid = b.alive[:T]  # [T, B, A]: the agent was alive when it observed
        end = valid & (b.term | b.trunc)
        nxt_valid = b.alive[1:]
        last = np.zeros_like(valid)
        last[T - 1] = True
        start = valid & np.concatenate([np.ones((1, B, A), bool), ~valid[:-1] | end[:-1]], 0)
        stop = valid & (end | last | ~nxt_valid)
        cols_start = np.nonzero(start.transpose(1, 2, 0).reshape(B * A, T))
        cols_stop = np.nonzero(stop.transpose(1, 2, 0).reshape(B * A, T))
        # both in (column, time) order: the k-th start pairs with the k-th stop
        obs = b.obs.transpose(1, 2, 0, 3)  # [B, A, T+1, F]
        fin = b.next_final.transpose(1, 2, 0, 3)
        acts = np.moveaxis(b.actions, 0, 2)
        rew, logp, dist = b.rewards.transpose(1, 2, 0), b.logp.transpose(1, 2, 0), b.dist.transpose(1, 2, 0, 3)
        term, trunc = b.term.transpose(1, 2, 0), b.trunc.transpose(1, 2, 0)
        wdone = world_done.T  # [B, T]
        names = self.sim.groups[g].agent_names()
        # RLlib's learner files each piece's rows under (multi_agent_episode_id, agent, module) and GAE reads
        # them back in the episodes' order: the id must be unique per piece, across runners and calls
        tag = f"r{self.worker_index or 0}.{self._fragments}.{g}"
        out = []
        for col, t0, t1 in zip(cols_start[0].tolist(), cols_start[1].tolist(), cols_stop[1].tolist()):
            w, a = divmod(col, A)
            ended = bool(term[w, a, t1] or trunc[w, a, t1])
            nxt = fin[w, a, t1] if wdone[w, t1] else obs[w, a, t1 + 1]
            o = np.concatenate([obs[w, a, t0:t1 + 1], nxt[None]], 0)
            L = t1 + 1 - t0
            extra = {} if random_actions else {Columns.ACTION_LOGP: logp[w, a, t0:t1 + 1],
                                               Columns.ACTION_DIST_INPUTS: dist[w, a, t0:t1 + 1]}
            out.append(SingleAgentEpisode(
                observations=o, infos=[{}] * (L + 1), actions=acts[w, a, t0:t1 + 1], rewards=rew[w, a, t0:t1 + 1],
                terminated=ended and bool(term[w, a, t1]), truncated=ended and not bool(term[w, a, t1]),
                extra_model_outputs=extra, len_lookback_buffer=0, agent_id=names[a], module_id=g,
                multi_agent_episode_id=f"{tag}.{w}.{t0}"))  # no spaces: the learner does not read them; they cost
        return out

    def _log(self, T: int, returns: list, lengths: list, timers: dict[str, float]) -> None:
        m, B = self.metrics, self.num_envs
        env_steps = T * B
        self.num_env_steps_sampled_lifetime += env_steps
        m.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        m.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        for g in self.trained:
            n = env_steps * self.sim.groups[g].size
            m.log_value((NUM_AGENT_STEPS_SAMPLED, g), n, reduce="sum")
            m.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, g), n, reduce="lifetime_sum")
            m.log_value((NUM_MODULE_STEPS_SAMPLED, g), n, reduce="sum")
            m.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, g), n, reduce="lifetime_sum")
        for k, v in timers.items():
            m.log_value(k, v, reduce="sum")
        m.log_value(WEIGHTS_SEQ_NO, self._weights_seq_no, window=1)
        if returns:
            r = np.concatenate(returns, 0)
            n = len(r)
            m.log_value(NUM_EPISODES, n, reduce="sum")
            m.log_value(NUM_EPISODES_LIFETIME, n, reduce="lifetime_sum")
            win = 20
            m.log_value(EPISODE_RETURN_MEAN, float(r[:, 0].mean()), window=win)
            m.log_value(EPISODE_RETURN_MIN, float(r[:, 0].min()), reduce="min", window=win)
            m.log_value(EPISODE_RETURN_MAX, float(r[:, 0].max()), reduce="max", window=win)
            m.log_value(EPISODE_LEN_MEAN, float(np.concatenate(lengths).mean()), window=win)
            for i, g in enumerate(self.groups):
                m.log_value((EPISODE_MODULE_RETURN_MEAN, g), float(r[:, 1 + i].mean()), window=win)

    def get_metrics(self) -> dict:
        return self.metrics.reduce()

    # ------------------------------------------------------------------ state (weights sync, checkpoints)
    def get_state(self, components=None, *, not_components=None, **kwargs) -> dict:
        state = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.num_env_steps_sampled_lifetime}
        if self._check_component(COMPONENT_RL_MODULE, components, not_components):
            state[COMPONENT_RL_MODULE] = self.module.get_state(
                components=self._get_subcomponents(COMPONENT_RL_MODULE, components),
                not_components=self._get_subcomponents(COMPONENT_RL_MODULE, not_components), **kwargs)
            state[WEIGHTS_SEQ_NO] = self._weights_seq_no
        return state

    def set_state(self, state: dict) -> None:
        import ray

        if COMPONENT_RL_MODULE in state:
            seq = state.get(WEIGHTS_SEQ_NO, 0)
            if seq == 0 or self._weights_seq_no < seq:
                module_state = state[COMPONENT_RL_MODULE]
                if isinstance(module_state, ray.ObjectRef):
                    module_state = ray.get(module_state)
                self.module.set_state(module_state)
            if seq > 0:
                self._weights_seq_no = seq
        if NUM_ENV_STEPS_SAMPLED_LIFETIME in state:
            self.num_env_steps_sampled_lifetime = state[NUM_ENV_STEPS_SAMPLED_LIFETIME]

    def get_ctor_args_and_kwargs(self):
        return (), {"config": self.config}

    def get_checkpointable_components(self):
        return [(COMPONENT_RL_MODULE, self.module)]

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.close()


# ---------------------------------------------------------------------- config
def ppo_config(bundle: Mapping[str, Any], *, num_env_runners: int = 1, worlds_per_runner: int = 256,
               rollout: int = 25, hidden: tuple[int, ...] = (64, 64), lr: float = 3e-4, epochs: int = 4,
               minibatches: int = 4, gamma: float = 0.99, gae_lambda: float = 0.95, compile: bool = False,
               threads: int | None = None, seed: int = 0, groups: list[str] | None = None,
               opponents: Mapping[str, str] | None = None):
    """A ``PPOConfig`` that trains the external groups of the bundled world with ``WorldEnvRunner``.

    One iteration collects ``rollout`` ticks of ``worlds_per_runner`` worlds on each runner (the train
    batch, in env steps, is ``rollout × worlds_per_runner × max(1, num_env_runners)``) and runs
    ``epochs`` passes of PPO over it in ``minibatches`` minibatches (RLlib sizes minibatches per module;
    the largest group sets the size). Each group has its own module, shared by the group's agents.
    ``groups`` limits training to some groups; the others act through ``opponents`` controllers
    (``random``, ``scripted_chase:TYPES``, ``scripted_flee:TYPES``, as ``worldloom train``), else randomly.
    """
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    sim = make_sim_from_bundle(bundle, 1)
    spaces = group_spaces(sim)
    groups = list(groups or spaces)
    unknown = [g for g in groups if g not in spaces]
    if unknown:
        raise UserError(f"groups: {unknown} are not external agent groups of {bundle['name']!r}; it has: "
                        f"{', '.join(spaces) or '(none)'}")
    batch = rollout * worlds_per_runner * max(1, num_env_runners)
    largest = max(sim.groups[g].size for g in groups)
    module_specs = {g: RLModuleSpec(observation_space=spaces[g][0], action_space=spaces[g][1],
                                    model_config={"fcnet_hiddens": list(hidden), "fcnet_activation": "tanh",
                                                  "vf_share_layers": False})
                    for g in groups}
    return (PPOConfig()
            .environment(env=None, env_config={"bundle": dict(bundle), "worlds": worlds_per_runner,
                                               "compile": compile, "threads": threads,
                                               "opponents": dict(opponents or {})},
                         disable_env_checking=True)
            .env_runners(env_runner_cls=WorldEnvRunner, num_env_runners=num_env_runners,
                         num_envs_per_env_runner=1, rollout_fragment_length=rollout,
                         num_cpus_per_env_runner=1, sample_timeout_s=600)
            .multi_agent(policies=set(groups), policy_mapping_fn=agent_module, policies_to_train=groups)
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=module_specs))
            .training(train_batch_size_per_learner=batch, num_epochs=epochs, lr=lr, gamma=gamma, lambda_=gae_lambda,
                      minibatch_size=max(32, batch * largest // max(1, minibatches)))
            .debugging(seed=seed))
