"""``Sim``: B copies of one world as tensors, stepped together.

The training surface is a facade of fixed-shape tensors keyed by agent group: observations
``[B, A, F]``, actions ``[B, A]`` (discrete) or ``[B, A, 5]`` (continuous), rewards/terminated/
truncated ``[B, A]``. Autoreset is *same-step*: when a world's episode ends, ``step`` returns the
first observation of its next episode, and the last observation of the finished one is in
``info["final_observation"]`` (with ``info["done"] [B]`` saying which worlds ended and
``info["episode_return"]`` their returns).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from engine.scheduler import Tick, observe
from engine.world.build import WorldPlan, build_world
from engine.world.loader import load_world

#: Entities (B × N) from which all cores beat one thread on this kind of machine (SETUP-NOTES).
THREADS_THRESHOLD = 8192


def default_threads(num_worlds: int, n_entities: int) -> int:
    """1 intra-op thread for small batches (dispatch-bound), all cores for large ones."""
    return 1 if num_worlds * n_entities < THREADS_THRESHOLD else (os.cpu_count() or 1)


@dataclass
class Snapshot:
    """A deep copy of a Sim's state and RNG; ``Sim.restore`` makes the future identical."""

    state: dict[str, torch.Tensor]
    rng: torch.Tensor


class Sim:
    """A batched simulation of one world. Create it with ``engine.make``.

    Example:
        >>> import engine, torch
        >>> sim = engine.make("tag", num_worlds=8, seed=0)
        >>> obs, info = sim.reset()
        >>> obs["adversary"].shape, obs["prey"].shape
        (torch.Size([8, 3, 16]), torch.Size([8, 1, 14]))
        >>> actions = sim.sample_actions()
        >>> obs, rew, term, trunc, info = sim.step(actions)
        >>> rew["prey"].shape
        torch.Size([8, 1])
    """

    def __init__(self, plan: WorldPlan, num_worlds: int = 1, seed: int = 0, compile: bool = False) -> None:
        if not isinstance(num_worlds, int) or isinstance(num_worlds, bool) or not 1 <= num_worlds <= 1 << 22:
            raise ValueError(f"num_worlds: expected an integer in 1..{1 << 22}, got {num_worlds!r}")
        self.plan = plan
        self.num_worlds = num_worlds
        self.device = plan.env.device
        self.groups = plan.groups
        self.layout = plan.layout
        self._gen = torch.Generator(device=self.device)
        self._seed = seed
        self._gen.manual_seed(seed)
        self.controlled_by: dict[str, str] = {}
        for s in plan.systems:
            for g in s.controls:
                if g not in self.groups:
                    raise ValueError(f"system {s.name!r} controls unknown agent group {g!r}")
                self.controlled_by[g] = s.name
        self.external_groups = [g for g in self.groups if g not in self.controlled_by]
        self._respawn_components = [sp.component for sp in plan.spawn] if any(
            getattr(s.fn, "needs_respawn_noise", False) for s in plan.systems) else []
        self.plugins = plan.plugins
        for host in self.plugins.values():
            host.generator = self._gen
        self._tick = Tick(plan, compile=compile)
        self.state: dict[str, torch.Tensor] = {}
        self._allocate()
        self._metric_keys = [k for k in self.state if k.startswith("metric.")]
        self._view = None
        self._pixels = None
        if any(g.pixels is not None for g in self.groups.values()):
            from engine.terms.pixels import PixelObserver  # creates the GL context, or fails loudly

            self._pixels = PixelObserver(self)
        self._needs_reset = True

    # ------------------------------------------------------------------ construction and reset
    def _allocate(self) -> None:
        B, dev = self.num_worlds, self.device
        st = {}
        for name, v in self.plan.initial.items():
            st[name] = v.unsqueeze(0).expand((B,) + v.shape).clone()
        st["alive"] = self.plan.alive0.unsqueeze(0).expand(B, -1).clone()
        st["tick"] = torch.zeros(B, dtype=torch.int64, device=dev)
        st["done"] = torch.zeros(B, dtype=torch.bool, device=dev)
        st["any_done"] = torch.zeros((), dtype=torch.bool, device=dev)
        if any(s.name == "lifecycle" for s in self.plan.systems):
            st["killed_by"] = torch.full((B, self.layout.n), -1, dtype=torch.int64, device=dev)
            st["respawn_timer"] = torch.zeros((B, self.layout.n), dtype=torch.int64, device=dev)
        fdt = self.layout.float_dtype
        for name, host in self.plugins.items():
            if host.kind != "dynamics":
                continue
            metrics = ["nonfinite"]
            if host.spec.shadow:
                st[f"shadow.{name}.pos"] = st["pos"].clone()
                st[f"shadow.{name}.vel"] = st["vel"].clone()
                metrics += ["drift_pos", "drift_pos_max", "drift_vel", "one_step_pos"]
                if host.spec.resync_above is not None:
                    metrics.append("resync")
            for m in metrics:
                st[f"metric.{name}.{m}"] = torch.zeros(B, dtype=fdt, device=dev)
        for g in self.groups.values():
            A = g.size
            if g.action_type == "discrete":
                st["action." + g.name] = torch.zeros(B, A, dtype=torch.int64, device=dev)
            else:
                st["action." + g.name] = torch.zeros(B, A, 5, dtype=fdt, device=dev)
            st["reward." + g.name] = torch.zeros(B, A, dtype=fdt, device=dev)
            st["return." + g.name] = torch.zeros(B, A, dtype=fdt, device=dev)
            st["terminated." + g.name] = torch.zeros(B, A, dtype=torch.bool, device=dev)
            st["truncated." + g.name] = torch.zeros(B, A, dtype=torch.bool, device=dev)
        self.state = st

    def _spawn(self, B: int) -> dict[str, torch.Tensor]:
        """Fresh spawn values ``[B, N, ...]`` for every component that has spawn rules."""
        out = {}
        for sp in self.plan.spawn:
            shape = (B,) + tuple(sp.a.shape)
            val = sp.a.expand(shape)
            if bool((sp.kind == 2).any()):
                u = torch.rand(shape, generator=self._gen, device=self.device, dtype=sp.a.dtype)
                val = torch.where(self._kind_mask(sp, 2, val), sp.a + (sp.b - sp.a) * u, val)
            if bool((sp.kind == 3).any()):
                z = torch.randn(shape, generator=self._gen, device=self.device, dtype=sp.a.dtype)
                val = torch.where(self._kind_mask(sp, 3, val), sp.a + sp.b * z, val)
            out[sp.component] = val.contiguous()
        return out

    @staticmethod
    def _kind_mask(sp, kind: int, like: torch.Tensor) -> torch.Tensor:
        m = sp.kind == kind
        return m.view((1, -1) + (1,) * (like.dim() - 2))

    def _reset_worlds(self, mask: torch.Tensor | None) -> None:
        """Reset all worlds (mask None) or those with ``mask [B]`` true, and recompute observations."""
        st = dict(self.state)
        B = self.num_worlds
        fresh = self._spawn(B)
        fresh_initial = {k: v.unsqueeze(0).expand((B,) + v.shape) for k, v in self.plan.initial.items()}
        fresh_initial.update(fresh)
        fresh_initial["alive"] = self.plan.alive0.unsqueeze(0).expand(B, -1)
        for k, v in fresh_initial.items():
            if mask is None:
                st[k] = v.clone()
            else:
                m = mask.view((B,) + (1,) * (v.dim() - 1))
                st[k] = torch.where(m, v, st[k])
        for k in [k for k in st if k.startswith("shadow.")]:  # the open-loop twin restarts with the world
            comp = st[k.rsplit(".", 1)[1]]
            st[k] = comp.clone() if mask is None else torch.where(mask.view(B, 1, 1), comp, st[k])
        st["any_done"] = torch.zeros((), dtype=torch.bool, device=self.device)
        zero_keys = ["tick", "done"] + [k for k in st if k.startswith(("return.", "reward.", "terminated.",
                                                                        "truncated."))]
        if "killed_by" in st:
            st["killed_by"] = torch.where(mask.unsqueeze(1), -1, st["killed_by"]) if mask is not None \
                else torch.full_like(st["killed_by"], -1)
            zero_keys.append("respawn_timer")
        for k in zero_keys:
            if mask is None:
                st[k] = torch.zeros_like(st[k])
            else:
                st[k] = torch.where(mask.view((B,) + (1,) * (st[k].dim() - 1)), torch.zeros_like(st[k]), st[k])
        if mask is None:
            observe(self.plan, st)
        else:
            before = {g: st["obs." + g] for g in self.groups}
            observe(self.plan, st)
            for g in self.groups:
                st["obs." + g] = torch.where(mask.view(B, 1, 1), st["obs." + g], before[g])
        self.state = st

    def reset(self, seed: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Start a new episode in every world; ``seed`` reseeds the Sim's generator (bit-reproducible)."""
        if seed is not None:
            self._seed = seed
            self._gen.manual_seed(seed)
        self._reset_worlds(None)
        self._needs_reset = False
        return self.observations(), {"seed": self._seed}

    # ------------------------------------------------------------------ stepping
    def observations(self) -> dict[str, torch.Tensor]:
        """Observation vectors by group ``[B, A, F]``; pixel observations as ``"<group>/pixels"``."""
        obs = {g: self.state["obs." + g] for g in self.groups}
        if self._pixels is not None:
            obs.update(self._pixels.observe(self.state))
        return obs

    def render(self, world: int = 0):
        """An RGB image ``[H, W, 3]`` uint8 of world ``world`` (offscreen OpenGL; the context is made once)."""
        if self._view is None:
            from engine.render.sim_view import SimView

            self._view = SimView(self)
        return self._view.render(world)

    def _write_actions(self, actions: Mapping[str, Any] | None) -> None:
        actions = actions or {}
        st = self.state
        for g, a in actions.items():
            key = "action." + g
            buf = st.get(key)
            if buf is None or g in self.controlled_by:
                self._bad_group(g)
            if type(a) is torch.Tensor and a.dtype == buf.dtype and a.device == buf.device and a.shape == buf.shape:
                st[key] = a  # the common case, kept cheap: at one world the tick is dispatch-bound
                continue
            t = torch.as_tensor(a, device=self.device)
            if t.shape != buf.shape:
                raise ValueError(f"actions[{g!r}]: expected shape {list(buf.shape)} "
                                 f"([worlds, agents{', 5' if buf.dim() == 3 else ''}]), got {list(t.shape)}")
            st[key] = t.to(buf.dtype)
        if len(actions) != len(self.external_groups):
            for g in self.external_groups:
                if g not in actions:
                    raise ValueError(f"missing actions for agent group {g!r}; expected a tensor for each of "
                                     f"{self.external_groups}")

    def _bad_group(self, g: str) -> None:
        if g not in self.groups:
            raise ValueError(f"actions for unknown agent group {g!r}; expected: {self.external_groups}")
        raise ValueError(f"agent group {g!r} is controlled by {self.controlled_by[g]!r} in the world "
                         "file; expected actions only for " + str(self.external_groups))

    def step(self, actions: Mapping[str, Any] | None = None):
        """Advance every world one tick.

        Returns ``(obs, rewards, terminated, truncated, info)``, each a dict keyed by agent group.
        """
        if self._needs_reset:
            self.reset()
        self._write_actions(actions)
        if self._respawn_components:
            fresh = self._spawn(self.num_worlds)
            for c in self._respawn_components:
                self.state["_respawn." + c] = fresh[c]
        st = self._tick(self.state)
        self.state = st
        return self._outputs(st)

    def _outputs(self, st: dict):
        groups = self.groups
        rewards = {g: st["reward." + g] for g in groups}
        terminated = {g: st["terminated." + g] for g in groups}
        truncated = {g: st["truncated." + g] for g in groups}
        done = st["done"]
        info: dict[str, Any] = {"done": done}
        any_done = bool(st["any_done"])
        if self._metric_keys:
            info["metrics"] = {k[7:]: st[k].mean() for k in self._metric_keys}
        if any_done:
            info["final_observation"] = self.observations()
            info["final_state"] = {k: st[k] for k in ("pos", "vel", "alive")}
            info["episode_return"] = {g: st["return." + g] for g in groups}
            self._reset_worlds(done)
        return self.observations(), rewards, terminated, truncated, info

    # ------------------------------------------------------------------ helpers
    def sample_actions(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Uniformly random actions for every externally controlled group (for tests, run and bench)."""
        gen = generator or self._gen
        out = {}
        for g in self.external_groups:
            buf = self.state["action." + g]
            if buf.dtype == torch.int64:
                out[g] = torch.randint(0, 5, buf.shape, generator=gen, device=self.device)
            else:
                out[g] = torch.rand(buf.shape, generator=gen, device=self.device, dtype=buf.dtype)
        return out

    def snapshot(self) -> Snapshot:
        """A deep copy of the full state and the RNG; ``restore`` + same actions = same trajectory."""
        return Snapshot({k: v.clone() for k, v in self.state.items()}, self._gen.get_state())

    def restore(self, snap: Snapshot) -> None:
        self.state = {k: v.clone() for k, v in snap.state.items()}
        self._gen.set_state(snap.rng)
        self._needs_reset = False

    def profile(self, timings: dict[str, float]) -> None:
        """One eager tick with random actions, adding seconds per system into ``timings``."""
        self._write_actions(self.sample_actions())
        st = self._tick.profile(self.state, timings)
        self.state = st
        self._outputs(st)

    def close(self) -> None:
        """Release GL resources (offscreen view, pixel observer) now instead of at garbage collection."""
        for obj in (self._view, self._pixels):
            if obj is not None and hasattr(obj, "release"):
                obj.release()
        self._view = self._pixels = None

    def plugin_report(self) -> dict[str, dict]:
        """Per plugin: kind, execution provider that really ran, calls and mean milliseconds per call."""
        return {n: {"kind": h.kind, "provider": h.provider, "calls": h.calls, "enabled": h.enabled,
                    "ms_per_call": 1e3 * h.seconds / h.calls if h.calls else None}
                for n, h in self.plugins.items()}

    def plugin_timings(self, repeats: int = 200) -> dict[str, dict]:
        """Per plugin, in this process on this batch: the bare ``InferenceSession.run`` of its model on
        numpy copies of the same inputs, against the host's gather + IOBinding run on the live state.

        This is what ``worldloom bench --json`` reports as ``plugins``; the difference is the host's
        overhead.
        """
        import time

        out = {}
        B = self.num_worlds
        for name, h in self.plugins.items():
            feeds = {g.name: h._gather(self.state, g, B).cpu().numpy() for g in h.inputs}
            sess = h.model.session
            for _ in range(10):
                sess.run(None, feeds)
                h.infer(self.state)
            bare, host = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(repeats // 5):
                    sess.run(None, feeds)
                t1 = time.perf_counter()
                for _ in range(repeats // 5):
                    h.infer(self.state)
                t2 = time.perf_counter()
                bare.append((t1 - t0) / (repeats // 5))
                host.append((t2 - t1) / (repeats // 5))
            bare_s, host_s = sorted(bare)[2], sorted(host)[2]
            out[name] = {"kind": h.kind, "provider": h.provider, "rows": int(next(iter(feeds.values())).shape[0]),
                         "bare_run_ms": 1e3 * bare_s, "host_ms": 1e3 * host_s,
                         "host_overhead_pct": 100.0 * (host_s - bare_s) / bare_s,
                         "ms_per_call_in_tick": 1e3 * h.seconds / h.calls if h.calls else None}
        return out

    def set_learned(self, enabled: bool) -> None:
        """Switch every learned plugin on (True) or back to its hand-coded system (False), live."""
        for h in self.plugins.values():
            if h.replaced is not None or h.kind != "policy":
                h.enabled = enabled

    def render_learned(self, name: str | None = None) -> torch.Tensor:
        """The image ``[B, C, H, W]`` a ``renderer`` plugin predicts from the current state."""
        hosts = [h for n, h in self.plugins.items() if h.kind == "renderer" and (name is None or n == name)]
        if not hosts:
            raise ValueError(f"no renderer plugin{' named ' + repr(name) if name else ''} in this world")
        return hosts[0].infer(self.state).clone()

    @property
    def agent_steps_per_tick(self) -> int:
        return self.num_worlds * sum(g.size for g in self.groups.values())


def make(world_path: str | os.PathLike, num_worlds: int = 1, device: str | torch.device = "cpu", seed: int = 0,
         overrides: Mapping[str, Any] | None = None, compile: bool = False,
         threads: int | str | None = None, override_origin: str = "overrides") -> Sim:
    """Load, validate and build a world, returning a batched ``Sim`` of ``num_worlds`` copies.

    ``threads``: torch intra-op threads (process-wide); ``"auto"`` picks by batch size; None leaves
    torch's setting alone. ``compile``: fuse the tick with ``torch.compile``. ``override_origin`` is how
    errors in overrides name them (the CLI passes ``--set``).

    Example:
        >>> import engine
        >>> sim = engine.make("tag", num_worlds=4, overrides={"entities.adversary.count": 6})
        >>> sim.reset(seed=1)[0]["adversary"].shape
        torch.Size([4, 6, 22])
    """
    loaded = load_world(world_path, overrides, origin=override_origin)
    plan = build_world(loaded, device=device, num_worlds=num_worlds)
    if threads is not None:
        n = default_threads(num_worlds, plan.layout.n) if threads == "auto" else int(threads)
        torch.set_num_threads(max(1, n))
    return Sim(plan, num_worlds=num_worlds, seed=seed, compile=compile)
