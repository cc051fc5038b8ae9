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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from engine.build import WorldPlan, build_world
from engine.core.resolver import TrustPolicy
from engine.core.threads import ThreadPolicy
from engine.errors import ActionError, UserCodeError
from engine.scheduler import Tick
from engine.world.loader import load_world


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

    def __init__(self, plan: WorldPlan, num_worlds: int = 1, seed: int = 0, compile: bool = False,
                 action_check: str = "error") -> None:
        from engine.core.action_check import MODES

        if not isinstance(num_worlds, int) or isinstance(num_worlds, bool) or not 1 <= num_worlds <= 1 << 22:
            raise ValueError(f"num_worlds: expected an integer in 1..{1 << 22}, got {num_worlds!r}")
        if action_check not in MODES:
            raise ValueError(f"action_check: expected one of {MODES}, got {action_check!r}")
        self.action_check = action_check
        self.plan = plan
        self.num_worlds = num_worlds
        self.device = plan.app.device
        self.groups = plan.groups
        self.layout = plan.layout
        self.table = plan.state
        self._gen = torch.Generator(device=self.device)
        self._seed = seed
        self._gen.manual_seed(seed)
        self.controlled_by = {g: s.name for s in plan.systems for g in s.controls}
        self.external_groups = [g for g in self.groups if g not in self.controlled_by]
        self._pre_tick = list(plan.app.pre_tick)
        self._next_tick_only: list[Callable[[dict], None]] = []
        self._episode_end_hooks = list(plan.app.episode_end_hooks)
        self._metrics = self.table.metrics()
        self._events = self.table.events()
        self._masked = [g for g in self.groups.values() if g.mask_fns]
        self.plugins = plan.plugins
        for host in self.plugins.values():
            host.generator = self._gen
        self._tick = Tick(plan.systems, compile=compile)
        self.threads = ThreadPolicy(None, num_worlds, plan.layout.n)  # engine.make sets the requested policy
        self.state: dict[str, torch.Tensor] = self.table.allocate(num_worlds)
        self._set_keys(seed)
        self._observers = [make(self) for make in plan.app.observers]
        self._view = None
        self._needs_reset = True
        if plan.app.user_checks:
            self._check_user_code()

    # ------------------------------------------------------------------ construction and reset
    def _set_keys(self, seed: int) -> None:
        """Seed the per-world random keys and restart their counters: a seeded reset is a fresh start."""
        from engine.core.random import COUNTER, KEY, seed_keys

        self.state[KEY] = seed_keys(seed, self.num_worlds, self.device)
        self.state[COUNTER] = torch.zeros_like(self.state[COUNTER])

    def _check_user_code(self) -> None:
        """Dry-run every piece of user code once, eagerly, on a copy of the first state (see UserCodeCheck)."""
        from engine.core.probe import run_checks

        gen_state = self._gen.get_state()
        first = self.table.reset(self.state, self.num_worlds, None, self._gen)
        self._gen.set_state(gen_state)  # the checks must not change what the first reset draws
        run_checks(self.plan.app, first)

    def _reset_worlds(self, mask: torch.Tensor | None) -> None:
        """Reset all worlds (mask None) or those with ``mask [B]`` true, and recompute observations.

        Callers pass a mask only when some world is to reset: with one world that is all of them, and
        an unmasked reset skips a select per entry."""
        if self.num_worlds == 1:
            mask = None
        self.state = self.table.reset(self.state, self.num_worlds, mask, self._gen)

    def reset(self, seed: int | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Start a new episode in every world; ``seed`` reseeds the Sim's generator (bit-reproducible)."""
        if seed is not None:
            self._seed = seed
            self._gen.manual_seed(seed)
            self._set_keys(seed)
        self._reset_worlds(None)
        self._needs_reset = False
        return self.observations(), {"seed": self._seed}

    # ------------------------------------------------------------------ stepping
    def observations(self) -> dict[str, torch.Tensor]:
        """Observation vectors by group ``[B, A, F]``; pixel observations as ``"<group>/pixels"``."""
        obs = {name: self.state[g.obs_key] for name, g in self.groups.items()}
        for observer in self._observers:
            obs.update(observer.observe(self.state))
        return obs

    def render(self, world: int = 0):
        """An RGB image ``[H, W, 3]`` uint8 of world ``world`` (offscreen OpenGL; the context is made once)."""
        if self._view is None:
            from engine.views.sim_view import SimView

            self._view = SimView(self)
        return self._view.render(world)

    def _write_actions(self, actions: Mapping[str, Any] | None) -> None:
        from engine.core.action_check import convert_actions

        if actions is not None and not isinstance(actions, Mapping):
            raise ActionError(f"actions: expected a dict {{group: tensor}} for {self.external_groups}, got "
                              f"{type(actions).__name__}")
        actions = actions or {}
        st = self.state
        checked = {}
        for g, a in actions.items():
            if g not in self.groups or g in self.controlled_by:
                self._bad_group(g)
            plan = self.groups[g]
            checked[plan.action_key] = convert_actions(g, a, st[plan.action_key], plan.action_space, self.action_check)
        if len(actions) != len(self.external_groups):
            for g in self.external_groups:
                if g not in actions:
                    raise ActionError(f"missing actions for agent group {g!r}; expected a tensor for each of "
                                      f"{self.external_groups}")
        self.state = {**st, **checked}  # a new dict: the values are checked in the tick (engine.systems.actions)

    def _raise_bad_actions(self, before: dict) -> None:
        """The tick flagged an action out of its space: say which one (``error`` mode; the step is undone)."""
        from engine.core.action_check import check_actions

        for name, g in self.groups.items():
            if name in self.external_groups:
                check_actions(name, before[g.action_key], before[g.action_key], g.action_space, "error")
        raise ActionError("an action was out of its space (a controller in the world file wrote it); expected "
                          + "; ".join(f"{n}: {g.action_space.describe()}" for n, g in self.groups.items()))

    def _bad_group(self, g: str) -> None:
        if g not in self.groups:
            raise ActionError(f"actions for unknown agent group {g!r}; expected: {self.external_groups}")
        raise ActionError(f"agent group {g!r} is controlled by {self.controlled_by[g]!r} in the world "
                          "file; expected actions only for " + str(self.external_groups))

    def step(self, actions: Mapping[str, Any] | None = None):
        """Advance every world one tick.

        Returns ``(obs, rewards, terminated, truncated, info)``, each a dict keyed by agent group.
        """
        if self._needs_reset:
            self.reset()
        prior = self.state
        gen_before = self._gen.get_state() if self._pre_tick else None  # pre-tick hooks draw from it
        self._write_actions(actions)
        if self._pre_tick or self._next_tick_only:
            self._run_pre_tick()
        before = self.state
        st = self.threads.timed(lambda: self._tick(before))
        any_done = bool(st["any_done"])
        if any_done and bool(st.get("action_error", False)):  # (the flag raises any_done: no extra sync)
            if self.action_check == "error":
                self.state = prior  # the rejected step changes nothing
                if gen_before is not None:
                    self._gen.set_state(gen_before)
                self._raise_bad_actions(before)
            any_done = bool(st["done"].any())  # clipped: did an episode really end?
        self.state = st
        return self._outputs(st, any_done)

    def before_next_tick(self, fn: Callable[[dict], None]) -> None:
        """Run ``fn(state)`` once, at the start of the next ``step``, after the world's own pre-tick draws
        (fresh spawn values) and before the tick: a test can replace those draws with another simulator's
        (``engine.interop.mpe2.feed_draws``). What it writes must keep its shape and dtype."""
        self._next_tick_only.append(fn)

    def _run_pre_tick(self) -> None:
        """Pre-tick hooks (extensions' draws); what they write must keep its declared shape and dtype
        (the compiled tick reads its inputs exactly as it was traced: checked here, made contiguous)."""
        st = self.state
        ids = {k: id(v) for k, v in st.items()}
        for hook in self._pre_tick:
            hook(st, self._gen, self.num_worlds)
        once, self._next_tick_only = self._next_tick_only, []
        for fn in once:
            fn(st)
        changed = [k for k, v in st.items() if ids.get(k) != id(v) and k in self.table]
        if changed:
            try:
                self.table.check_state(st, self.num_worlds, changed)
            except ValueError as e:
                raise UserCodeError(f"a pre-tick hook wrote state of the wrong kind: {e}") from None
            for k in changed:
                st[k] = st[k].contiguous()

    def _outputs(self, st: dict, any_done: bool):
        groups = self.groups
        rewards = {n: st[g.reward_key] for n, g in groups.items()}
        terminated = {n: st[g.terminated_key] for n, g in groups.items()}
        truncated = {n: st[g.truncated_key] for n, g in groups.items()}
        done = st["done"]
        info: dict[str, Any] = {"done": done}
        if self._metrics:
            info["metrics"] = {m: st[k].mean() for m, k in self._metrics.items()}
        if self._masked:
            info["action_mask"] = self.action_masks()
        if any_done:
            for hook in self._episode_end_hooks:
                hook(st)
            if self._events:
                info["events"] = {e: st[k] for e, k in self._events.items()}
            info["final_observation"] = self.observations()
            info["final_state"] = {k: st[k] for k in self.table.recorded()}
            info["episode_return"] = {n: st[g.return_key] for n, g in groups.items()}
            self._reset_worlds(done)
        return self.observations(), rewards, terminated, truncated, info

    # ------------------------------------------------------------------ helpers
    def action_masks(self) -> dict[str, torch.Tensor]:
        """``bool [B, A, n]`` per group whose actions an extension masks: True where an action is available."""
        out = {}
        for g in self._masked:
            masks = [fn(self.state) for fn in g.mask_fns]
            m = masks[0]
            for extra in masks[1:]:
                m = m & extra
            out[g.name] = m
        return out

    def sample_actions(self, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Uniformly random actions for every externally controlled group (for tests, run and bench),
        among the available ones where a group's actions are masked."""
        gen = generator or self._gen
        fdt = self.layout.float_dtype
        out = {g: self.groups[g].action_space.sample((self.num_worlds, self.groups[g].size), gen, fdt, self.device)
               for g in self.external_groups}
        for g, mask in (self.action_masks().items() if self._masked else ()):
            if g in out:
                u = torch.rand(mask.shape, generator=gen, device=self.device)
                out[g] = torch.where(mask, u, -1.0).argmax(-1)  # uniform among the available actions
        return out

    def snapshot(self) -> Snapshot:
        """A deep copy of the full state and the RNG; ``restore`` + same actions = same trajectory."""
        return Snapshot({k: v.clone() for k, v in self.state.items()}, self._gen.get_state())

    def restore(self, snap: Snapshot) -> None:
        """Put back a ``snapshot()`` of this Sim (or of one built from the same world and batch size)."""
        if not isinstance(snap, Snapshot):
            raise TypeError(f"restore: expected a Snapshot from Sim.snapshot(), got {type(snap).__name__}")
        missing = [k for k in self.table.names() if k not in snap.state]
        extra = [k for k in snap.state if k not in self.table]
        if missing or extra:
            raise ValueError(f"restore: the snapshot is of another world (missing {missing[:5]}, unknown {extra[:5]})")
        try:
            self.table.check_state(snap.state, self.num_worlds)
        except ValueError as e:
            raise ValueError(f"restore: the snapshot does not fit this Sim: {e}") from None
        self.state = {k: v.clone(memory_format=torch.contiguous_format) for k, v in snap.state.items()}
        self._gen.set_state(snap.rng)
        self._needs_reset = False

    def profile(self, timings: dict[str, float]) -> None:
        """One eager tick with random actions, adding seconds per system into ``timings``."""
        self._write_actions(self.sample_actions())
        st = self._tick.profile(self.state, timings)
        self.state = st
        self._outputs(st, bool(st["any_done"]))

    def close(self) -> None:
        """Release GL resources (offscreen view, pixel observer) now instead of at garbage collection."""
        for obj in [self._view] + self._observers:
            if obj is not None and hasattr(obj, "release"):
                obj.release()
        self._view, self._observers = None, []

    def plugin_report(self) -> dict[str, dict]:
        """Per plugin: kind, execution provider that really ran, calls and mean milliseconds per call."""
        return {n: {"kind": h.kind, "provider": h.provider, "calls": h.calls, "enabled": h.enabled,
                    "ms_per_call": 1e3 * h.seconds / h.calls if h.calls else None,
                    "nonfinite": h.nonfinite_total, "on_nan": h.spec.on_nan}
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
            if not hasattr(h, "inputs"):  # a planner: its model runs inside the planning loop (plugin_report)
                continue
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


#: Largest memory the state of all worlds of one Sim may take (raise with WORLDLOOM_MAX_SIM_GIB).
def _max_sim_bytes() -> int:
    return int(float(os.environ.get("WORLDLOOM_MAX_SIM_GIB", "16")) * (1 << 30))


def _check_batch_memory(plan: WorldPlan, num_worlds: int) -> None:
    """Refuse a batch whose state would not fit, before torch fails to allocate it."""
    from engine.errors import UserError
    from engine.world.budget import human

    budget = getattr(plan.app, "budget", None)
    per_world = budget.total if budget is not None else 0
    if isinstance(num_worlds, int) and per_world * num_worlds > _max_sim_bytes():
        raise UserError(f"num_worlds={num_worlds:,}: {num_worlds:,} copies of {plan.spec.name!r} need about "
                        f"{human(per_world * num_worlds)} ({human(per_world)} each); expected at most "
                        f"{human(_max_sim_bytes())}: use fewer worlds (or raise WORLDLOOM_MAX_SIM_GIB)")


def make(world_path: str | os.PathLike, num_worlds: int = 1, device: str | torch.device = "cpu", seed: int = 0,
         overrides: Mapping[str, Any] | None = None, compile: bool = False,
         threads: int | str | None = "auto", override_origin: str = "overrides",
         trust: TrustPolicy | list[str] | str | bool | None = None, action_check: str = "error") -> Sim:
    """Load, validate and build a world, returning a batched ``Sim`` of ``num_worlds`` copies.

    ``threads``: torch intra-op threads (process-wide): ``"auto"`` (default) is one thread for small
    batches and, for large ones, whichever of 1 and all cores the Sim measures faster, re-checked as
    it runs (safe on a busy machine: ``engine.core.threads``); a number is used as given; None leaves
    torch's setting alone; ``sim.threads.describe()`` says what ran. ``compile``: fuse the tick with
    ``torch.compile``. ``override_origin``: how errors in overrides name them (the CLI passes
    ``--set``). ``trust``: code the world may import beyond the package's own — folders, files or
    module names, ``True`` for everything (see ``engine.core.resolver``); ``WORLDLOOM_TRUST`` adds to
    it. ``action_check``: ``error`` (default: out-of-range, non-finite or mistyped actions raise
    ``ActionError``), ``clip`` or ``off`` (trusted hot loops; see ``engine.core.action_check``).

    Example:
        >>> import engine
        >>> sim = engine.make("tag", num_worlds=4, overrides={"entities.adversary.count": 6})
        >>> sim.reset(seed=1)[0]["adversary"].shape
        torch.Size([4, 6, 22])
    """
    loaded = load_world(world_path, overrides, origin=override_origin)
    policy = trust if isinstance(trust, TrustPolicy) else TrustPolicy.from_args(trust)
    plan = build_world(loaded, device=device, trust=policy)
    _check_batch_memory(plan, num_worlds)
    sim = Sim(plan, num_worlds=num_worlds, seed=seed, compile=compile, action_check=action_check)
    sim.threads = ThreadPolicy(threads, num_worlds, plan.layout.n)
    return sim
