"""PPO for worldloom's batched Sims, in plain PyTorch: shared actors per group, GAE, clipped updates.

The Sim is already a vectorised environment (``[B, A, F]`` tensors per group), so the trainer needs
no env wrapper: each tick it reads every trained group's observations, samples one action per agent
from that group's actor, lets the non-trained external groups act through their controllers
(``engine.train.controllers``: scripted, ONNX, random), and steps. Groups controlled inside the world
file (scripted systems, policy plugins) just run.

Details that matter:

* **Dead agents.** An agent whose entity is not alive when it observes contributes nothing: its
  transition is masked out of the loss (its observation is zeros anyway). ``terminated`` cuts the
  GAE recursion the step an agent dies, so a respawned agent starts a fresh return.
* **Truncation.** When an episode ends by the time limit, the value of the final observation
  (``info["final_observation"]``) is bootstrapped into the last reward (γ·V(s_T)), instead of
  pretending the world ended. With the central critic this needs the final global state
  (``info["final_state"]``: pos/vel/alive before the reset); a Sim that does not return it gets
  truncation treated as termination.
* **Critic.** ``local``: V(own observation) with the group's shared weights (IPPO). ``central``:
  V(global state, one-hot agent index) (MAPPO).
* **Determinism.** One ``torch.Generator`` samples actions and minibatch orders; the network init is
  seeded inside ``torch.random.fork_rng`` so the global RNG is untouched. Checkpoints hold the
  generator, the optimisers and a snapshot of the Sim, so ``--resume`` continues the same run.

Example:
    >>> from engine.train import PPOTrainer, load_config
    >>> cfg = load_config(None, world="tag").replace(worlds=64, total_steps=64 * 32 * 10)
    >>> trainer = PPOTrainer("tag", cfg, seed=0)
    >>> summary = trainer.train()
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import UserError
from engine.fileio import atomic_write_text
from engine.train.checkpoint import load_checkpoint, save_checkpoint
from engine.train.config import TrainConfig, config_from_dict
from engine.train.controllers import make_controller
from engine.train.metrics import short_name, with_contact_probe
from engine.train.policy import Actor, Critic, sample_with_log_prob
from engine.train.state import global_state, global_state_size


@dataclass
class Learner:
    """One trained agent group: its actor, critic, optimiser and rollout buffers."""

    name: str
    size: int
    sl: slice
    actor: Actor
    critic: Critic
    optimizer: torch.optim.Optimizer
    buf: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Timers:
    """Seconds spent in each phase (for the throughput report)."""

    sim: float = 0.0
    act: float = 0.0
    learn: float = 0.0
    other: float = 0.0

    def total(self) -> float:
        return self.sim + self.act + self.learn + self.other


class PPOTrainer:
    """Train the external agent groups of a world with PPO (see the module docstring).

    Example:
        >>> trainer = PPOTrainer("tag", load_config(None, world="tag"), seed=0, out_dir="runs/tag")
        >>> trainer.train()          # writes runs/tag/{checkpoints,metrics.csv,events…}
        >>> trainer.export("plugins/tag_npc")
    """

    def __init__(self, world: str | os.PathLike, cfg: TrainConfig, *, seed: int = 0, device: str = "cpu",
                 world_overrides: Mapping[str, Any] | None = None, compile: bool = False,
                 threads: int | str | None = "auto", out_dir: str | os.PathLike | None = None) -> None:
        import engine

        self.world, self.cfg, self.seed = str(world), cfg, seed
        self.world_overrides = {**cfg.overrides, **dict(world_overrides or {})}
        overrides, self.metric_keys = with_contact_probe(world, self.world_overrides)
        self.sim = sim = engine.make(world, num_worlds=cfg.worlds, device=device, seed=seed, overrides=overrides,
                                     compile=compile, threads=threads)
        self.device = sim.device
        self.out_dir = Path(out_dir) if out_dir is not None else None
        names = list(cfg.groups) or list(sim.external_groups)
        for g in names:
            if g not in sim.groups:
                raise UserError(f"groups: unknown agent group {g!r}; this world has: {', '.join(sim.groups)}")
            if g in sim.controlled_by:
                raise UserError(f"groups: {g!r} is controlled by {sim.controlled_by[g]!r} in the world file, so it "
                                f"cannot be trained; external groups: {', '.join(sim.external_groups) or '(none)'}")
        if not names:
            raise UserError("nothing to train: every agent group of this world is controlled in the world file")
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed + 0x5EED)
        for g in cfg.opponents:
            if g in names or g not in sim.external_groups:
                raise UserError(f"opponents: {g!r} is {'trained' if g in names else 'not an external group'}; "
                                f"opponents are the external groups not trained: "
                                f"{', '.join(x for x in sim.external_groups if x not in names) or '(none)'}")
        self.opponents: dict[str, Callable] = {
            g: make_controller(cfg.opponents.get(g, "random"), sim, g, generator=self.gen)
            for g in sim.external_groups if g not in names}
        self.state_size = global_state_size(sim.layout.n)
        self.learners: dict[str, Learner] = {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for g in names:
                plan = sim.groups[g]
                actor = Actor(plan.obs_size, plan.action_space, cfg.hidden, cfg.activation).to(self.device)
                c_in = plan.obs_size if cfg.critic == "local" else self.state_size + plan.size
                critic = Critic(c_in, cfg.hidden, cfg.activation).to(self.device)
                opt = torch.optim.Adam(list(actor.parameters()) + list(critic.parameters()), lr=cfg.lr, eps=1e-5)
                self.learners[g] = Learner(g, plan.size, plan.sl, actor, critic, opt)
        self.batch_ticks = cfg.rollout * cfg.worlds
        self.num_updates = max(1, math.ceil(cfg.total_steps / self.batch_ticks))
        self.update = 0
        self.global_step = 0
        self.timers = Timers()
        self.history: list[dict[str, float]] = []
        self._ep = {"n": 0, **{f"return/{g}": 0.0 for g in sim.groups}, **{k: 0.0 for k in self.metric_keys}}
        self._last_ep: dict[str, float] = {}
        self._contacts = {k: torch.zeros(sim.num_worlds, device=self.device) for k in self.metric_keys}
        self._writer = None
        self._needs_reset = True

    # ------------------------------------------------------------------ values
    def _critic_input(self, lr: Learner, obs: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """Local: obs ``[..., A, F]``; central: global state ``[..., S]`` + one-hot ``[A]`` per agent."""
        if self.cfg.critic == "local":
            return obs
        eye = torch.eye(lr.size, device=self.device)
        lead = state.shape[:-1]
        s = state.unsqueeze(-2).expand(*lead, lr.size, state.shape[-1])
        return torch.cat((s, eye.expand(*lead, lr.size, lr.size)), dim=-1)

    # ------------------------------------------------------------------ rollout
    def _alloc(self) -> None:
        T, B = self.cfg.rollout, self.sim.num_worlds
        for g, lr in self.learners.items():
            plan = self.sim.groups[g]
            A, F = lr.size, plan.obs_size
            lr.buf = {
                "obs": torch.zeros(T, B, A, F, device=self.device),
                "act": plan.action_space.zeros((T, B, A), torch.float32, self.device),
                "logp": torch.zeros(T, B, A, device=self.device),
                "val": torch.zeros(T, B, A, device=self.device),
                "rew": torch.zeros(T, B, A, device=self.device),
                "done": torch.zeros(T, B, A, device=self.device),
                "mask": torch.zeros(T, B, A, dtype=torch.bool, device=self.device),
            }
            if plan.mask_fns:  # the world masks this group's actions: keep them for the update
                lr.buf["amask"] = torch.ones(T, B, A, plan.action_space.n, dtype=torch.bool, device=self.device)
        self._state_buf = (torch.zeros(T, B, self.state_size, device=self.device)
                           if self.cfg.critic == "central" else None)

    @torch.no_grad()
    def collect(self) -> None:
        """Run ``rollout`` ticks in every world, filling the buffers of every trained group."""
        sim, cfg = self.sim, self.cfg
        if self._needs_reset:
            sim.reset(seed=self.seed)
            self._needs_reset = False
        if not self.learners or not next(iter(self.learners.values())).buf:
            self._alloc()
        timers = self.timers
        for t in range(cfg.rollout):
            t0 = time.perf_counter()
            state = global_state(sim.state) if self._state_buf is not None else None
            if state is not None:
                self._state_buf[t] = state
            actions = {}
            masks = sim.action_masks() if any("amask" in lr.buf for lr in self.learners.values()) else {}
            for g, lr in self.learners.items():
                obs = sim.state[sim.groups[g].obs_key].to(torch.float32)
                amask = masks.get(g)
                env_a, stored, logp = sample_with_log_prob(lr.actor, obs, self.gen, amask)
                b = lr.buf
                if amask is not None:
                    b["amask"][t] = amask
                b["obs"][t], b["act"][t], b["logp"][t] = obs, stored, logp
                b["val"][t] = lr.critic(self._critic_input(lr, obs, state))
                b["mask"][t] = sim.state["alive"][:, lr.sl]
                actions[g] = env_a
            for g, ctrl in self.opponents.items():
                actions[g] = ctrl(sim)
            t1 = time.perf_counter()
            _, rew, term, trunc, info = sim.step(actions)
            t2 = time.perf_counter()
            done_w = info["done"]
            final_state = None
            if self._state_buf is not None and "final_state" in info:
                final_state = global_state(info["final_state"])
            for g, lr in self.learners.items():
                r = rew[g].to(torch.float32)
                if "final_observation" in info and (self._state_buf is None or final_state is not None):
                    boot = trunc[g] & ~term[g] & done_w.unsqueeze(1)
                    final = info["final_observation"][g].to(torch.float32)
                    r = r + cfg.gamma * lr.critic(self._critic_input(lr, final, final_state)) * boot
                lr.buf["rew"][t] = r
                lr.buf["done"][t] = (term[g] | trunc[g]).to(torch.float32)
            self._track_episodes(info)
            t3 = time.perf_counter()
            timers.act += (t1 - t0) + (t3 - t2)
            timers.sim += t2 - t1
        self.global_step += cfg.rollout * sim.num_worlds
        state = global_state(sim.state) if self._state_buf is not None else None
        self._last_values = {
            g: lr.critic(self._critic_input(lr, sim.state[sim.groups[g].obs_key].to(torch.float32), state))
            for g, lr in self.learners.items()}

    def _track_episodes(self, info: dict) -> None:
        for k in self.metric_keys:
            self._contacts[k] += self.sim.state[k]
        done = info["done"]
        if "episode_return" not in info:
            return
        n = int(done.sum())
        ep = self._ep
        ep["n"] += n
        for g in self.sim.groups:
            ep[f"return/{g}"] += float(info["episode_return"][g][done].to(torch.float32).mean(1).sum())
        for k in self.metric_keys:
            ep[k] += float(self._contacts[k][done].sum())
            self._contacts[k] = torch.where(done, torch.zeros_like(self._contacts[k]), self._contacts[k])

    def _episode_stats(self) -> dict[str, float]:
        """Means over the episodes finished since the last call (the previous values if none finished)."""
        ep = self._ep
        if ep["n"]:
            self._last_ep = {k: v / ep["n"] for k, v in ep.items() if k != "n"}
            self._last_ep["episodes"] = float(ep["n"])
            for k in ep:
                ep[k] = 0 if k == "n" else 0.0
        return dict(self._last_ep)

    # ------------------------------------------------------------------ learning
    def _gae(self, lr: Learner) -> tuple[torch.Tensor, torch.Tensor]:
        b, cfg = lr.buf, self.cfg
        T = b["rew"].shape[0]
        adv = torch.zeros_like(b["rew"])
        last = torch.zeros_like(b["rew"][0])
        for t in reversed(range(T)):
            nxt = self._last_values[lr.name] if t == T - 1 else b["val"][t + 1]
            nonterminal = 1.0 - b["done"][t]
            delta = b["rew"][t] + cfg.gamma * nxt * nonterminal - b["val"][t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
            adv[t] = last
        return adv, adv + b["val"]

    def learn(self) -> dict[str, float]:
        """One PPO update of every trained group from the collected rollout; returns loss statistics."""
        cfg, stats = self.cfg, {}
        if cfg.anneal_lr:
            lr_now = cfg.lr * max(0.0, 1.0 - self.update / self.num_updates)
            for lr in self.learners.values():
                for pg in lr.optimizer.param_groups:
                    pg["lr"] = lr_now
        for g, lr in self.learners.items():
            with torch.no_grad():
                adv, ret = self._gae(lr)
            b = lr.buf
            mask = b["mask"].reshape(-1)
            idx = mask.nonzero().squeeze(-1)
            n = idx.numel()
            if n == 0:
                continue
            A = lr.size
            flat = {k: v.reshape((-1,) + v.shape[3:])[idx] for k, v in b.items() if k not in ("mask",)}
            flat_adv, flat_ret = adv.reshape(-1)[idx], ret.reshape(-1)[idx]
            if self._state_buf is not None:
                eye = torch.eye(A, device=self.device)
                st = self._state_buf.reshape(-1, self.state_size)[idx // A]
                c_in = torch.cat((st, eye[idx % A]), dim=-1)
            else:
                c_in = flat["obs"]
            mb = max(1, math.ceil(n / cfg.minibatches))
            acc = {"loss/policy": 0.0, "loss/value": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clip_frac": 0.0}
            steps = 0
            params = list(lr.actor.parameters()) + list(lr.critic.parameters())
            for _ in range(cfg.epochs):
                perm = torch.randperm(n, generator=self.gen, device=self.device)
                for s in range(0, n, mb):
                    j = perm[s:s + mb]
                    logp, ent = lr.actor.log_prob_entropy(flat["obs"][j], flat["act"][j],
                                                          flat["amask"][j] if "amask" in flat else None)
                    ratio_log = logp - flat["logp"][j]
                    ratio = ratio_log.exp()
                    a = flat_adv[j]
                    if cfg.norm_adv and a.numel() > 1:
                        a = (a - a.mean()) / (a.std() + 1e-8)
                    pg_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
                    v = lr.critic(c_in[j])
                    if cfg.clip_value:
                        v_old = flat["val"][j]
                        v_clip = v_old + (v - v_old).clamp(-cfg.clip, cfg.clip)
                        v_loss = 0.5 * torch.max((v - flat_ret[j]).square(), (v_clip - flat_ret[j]).square()).mean()
                    else:
                        v_loss = 0.5 * (v - flat_ret[j]).square().mean()
                    entropy = ent.mean()
                    loss = pg_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
                    lr.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                    lr.optimizer.step()
                    with torch.no_grad():
                        acc["loss/policy"] += float(pg_loss)
                        acc["loss/value"] += float(v_loss)
                        acc["entropy"] += float(entropy)
                        acc["approx_kl"] += float(((ratio - 1) - ratio_log).mean())
                        acc["clip_frac"] += float(((ratio - 1).abs() > cfg.clip).float().mean())
                    steps += 1
            for k, v in acc.items():
                stats[f"{k}/{g}"] = v / max(steps, 1)
            with torch.no_grad():
                var_y = flat_ret.var()
                stats[f"explained_var/{g}"] = float(1 - (flat_ret - flat["val"]).var() / var_y) if var_y > 0 else 0.0
        self.update += 1
        return stats

    # ------------------------------------------------------------------ the loop
    def train(self, progress: bool = False, on_update: Callable[[PPOTrainer, dict], None] | None = None,
              stop_after: int | None = None) -> dict[str, Any]:
        """Run updates until ``num_updates`` (or ``stop_after`` more); returns a summary with throughput."""
        from engine.cli.common import Progress

        bar = Progress(self.num_updates, "train") if progress else None
        start_update = self.update
        self._warm = (Timers(**vars(self.timers)), self.global_step)
        t_start = time.perf_counter()
        while self.update < self.num_updates and (stop_after is None or self.update - start_update < stop_after):
            self.collect()
            t0 = time.perf_counter()
            stats = self.learn()
            self.timers.learn += time.perf_counter() - t0
            t1 = time.perf_counter()
            row = {"update": float(self.update), "global_step": float(self.global_step),
                   **self._episode_stats(), **stats,
                   "time/sim": self.timers.sim, "time/act": self.timers.act, "time/learn": self.timers.learn,
                   "wall": time.perf_counter() - t_start}
            if self.update % self.cfg.log_every == 0 or self.update == self.num_updates:
                self.history.append(row)
                self._log(row)
            if self.out_dir is not None and self.cfg.checkpoint_every and self.update % self.cfg.checkpoint_every == 0:
                self.save(self.out_dir / "checkpoints" / f"update_{self.update:06d}.pt")
            if on_update is not None:
                on_update(self, row)
            if bar is not None:
                bar.update(self.update, self._progress_text(row))
            self.timers.other += time.perf_counter() - t1
            if self.update == start_update + 1:  # the first update includes compilation: keep it out of rates
                self._warm = (Timers(**vars(self.timers)), self.global_step)
        if bar is not None:
            bar.close()
        if self.out_dir is not None:
            self.save(self.out_dir / "checkpoints" / "final.pt")
        if self._writer is not None:
            self._writer.flush()
        return self.summary(time.perf_counter() - t_start)

    def _progress_text(self, row: dict) -> str:
        parts = [f"{g} {row[f'return/{g}']:.2f}" for g in self.sim.groups if f"return/{g}" in row]
        parts += [f"{short_name(k)} {row[k]:.2f}" for k in self.metric_keys if k in row]
        return "mean return " + ", ".join(parts) if parts else ""

    def summary(self, wall: float) -> dict[str, Any]:
        """Throughput: env agent-steps/s over the whole loop and in the Sim alone; time shares per phase.

        Rates and shares leave out the first update of the last ``train`` call (it includes compiling
        the tick) when later updates ran.
        """
        base, base_step = getattr(self, "_warm", (Timers(), 0))
        if self.global_step == base_step:
            base, base_step = Timers(), 0
        tm = Timers(*(getattr(self.timers, k) - getattr(base, k) for k in ("sim", "act", "learn", "other")))
        total = max(tm.total(), 1e-9)
        per_tick = sum(g.size for g in self.sim.groups.values())
        measured = (self.global_step - base_step) * per_tick
        return {
            "updates": self.update, "global_step": self.global_step, "wall_s": wall,
            "agent_steps": self.global_step * per_tick,
            "agent_steps_per_s": measured / total,
            "sim_agent_steps_per_s": measured / max(tm.sim, 1e-9),
            "share_sim": tm.sim / total, "share_act": tm.act / total, "share_learn": tm.learn / total,
            "share_other": tm.other / total,
            "last": self.history[-1] if self.history else {},
        }

    # ------------------------------------------------------------------ logging
    def _log(self, row: dict) -> None:
        if self.out_dir is None:
            return
        if self.cfg.tensorboard:
            if self._writer is None:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(log_dir=str(self.out_dir))
            step = int(row["global_step"])
            for k, v in row.items():
                if k not in ("update", "global_step"):
                    self._writer.add_scalar(k.replace("metric.", ""), v, step)
        keys: list[str] = []
        for r in self.history:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.history)
        atomic_write_text(self.out_dir / "metrics.csv", buf.getvalue())

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        snap = self.sim.snapshot()
        return {
            "world": self.world, "world_overrides": self.world_overrides, "config": self.cfg.to_dict(),
            "seed": self.seed, "update": self.update, "global_step": self.global_step,
            "groups": {g: {"actor_spec": lr.actor.spec(), "actor": lr.actor.state_dict(),
                           "critic": lr.critic.state_dict(), "optimizer": lr.optimizer.state_dict()}
                       for g, lr in self.learners.items()},
            "generator": self.gen.get_state(),
            "sim": None if self._needs_reset else {"state": snap.state, "rng": snap.rng},
            "contacts": dict(self._contacts), "history": self.history,
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write a checkpoint (atomically) and point ``latest.pt`` beside it at the same data."""
        path = Path(path)
        data = self.state_dict()
        save_checkpoint(path, data)
        if path.name != "latest.pt":
            save_checkpoint(path.parent / "latest.pt", data)
        return path

    def load(self, path: str | os.PathLike) -> None:
        """Resume from a checkpoint: networks, optimisers, RNG, update count and (same B) the Sim's state."""
        data = load_checkpoint(path)
        missing = [g for g in self.learners if g not in data["groups"]]
        if missing:
            raise UserError(f"{path}: no trained policy for {', '.join(missing)}; it has {', '.join(data['groups'])}")
        for g, lr in self.learners.items():
            d = data["groups"][g]
            spec = d["actor_spec"]
            if spec["obs_size"] != lr.actor.obs_size or spec["hidden"] != lr.actor.hidden:
                raise UserError(f"{path}: the {g!r} policy has {spec['obs_size']} inputs and hidden {spec['hidden']};"
                                f" this run has {lr.actor.obs_size} and {lr.actor.hidden}")
            lr.actor.load_state_dict(d["actor"])
            lr.critic.load_state_dict(d["critic"])
            lr.optimizer.load_state_dict(d["optimizer"])
        self.gen.set_state(data["generator"])
        self.update, self.global_step = int(data["update"]), int(data["global_step"])
        self.history = list(data.get("history", []))
        sim_state = data.get("sim")
        if sim_state is not None and sim_state["state"]["alive"].shape[0] == self.sim.num_worlds:
            from engine.sim import Snapshot

            self.sim.restore(Snapshot({k: v.to(self.device) for k, v in sim_state["state"].items()},
                                      sim_state["rng"]))
            self._needs_reset = False
            for k, v in data.get("contacts", {}).items():
                if k in self._contacts:
                    self._contacts[k] = v.to(self.device)

    # ------------------------------------------------------------------ export
    def export(self, folder: str | os.PathLike, world_file: str | os.PathLike | None = None,
               world_name: str | None = None, command: str | None = None) -> dict[str, Path]:
        """Export every trained group's policy to ``folder/<group>.onnx`` (+ README); returns the paths.

        ``world_file`` makes the printed model paths relative to it; ``world_name`` is how the README
        names the world (default: the path the trainer was given).
        """
        from engine.train.export import export_policies

        return export_policies({g: lr.actor for g, lr in self.learners.items()}, folder,
                               world=world_name or self.world, world_file=world_file,
                               trained_against={g: self.cfg.opponents.get(g, "random") for g in self.opponents},
                               steps=self.global_step, command=command)


def trainer_from_checkpoint(path: str | os.PathLike, *, changes: Mapping[str, Any] | None = None,
                            **kw: Any) -> PPOTrainer:
    """A trainer rebuilt from a checkpoint's world, overrides and config (``changes`` applied), resumed."""
    data = load_checkpoint(path)
    cfg = config_from_dict(data["config"])
    if changes:
        cfg = cfg.replace(**changes)
    kw.setdefault("seed", int(data.get("seed", 0)))
    kw.setdefault("world_overrides", data.get("world_overrides", {}))
    trainer = PPOTrainer(kw.pop("world", data["world"]), cfg, **kw)
    trainer.load(path)
    return trainer
