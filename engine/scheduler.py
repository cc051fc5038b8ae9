"""The tick: systems in world-file order, then observations, rewards and termination.

The systems list is fixed before the first tick. Consecutive systems written in torch are fused into
one *segment* that can be compiled with ``torch.compile`` (static shapes, no Python branching on
tensor values, no allocation of new shapes); systems that cannot be compiled (ONNX plugins, user
systems marked ``compile: false``) run eagerly between segments. The end of the tick — observations,
rewards, termination — belongs to the last segment, so a world without plugins is one compiled call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from engine.world.build import WorldPlan


def observe(plan: WorldPlan, state: dict) -> None:
    """Compute every group's observation ``obs.<group> [B, A, F]`` from the state, in place."""
    for g in plan.groups.values():
        parts = [fn(state) for fn in g.obs_fns]
        obs = torch.cat(parts, dim=-1) if len(parts) > 1 else (parts[0] if parts else
                                                              state["pos"].new_zeros(state["pos"].shape[0],
                                                                                     g.size, 0))
        if g.slice.name in plan.env.mortal_types:
            obs = obs * state["alive"][:, g.sl].unsqueeze(-1).to(obs.dtype)
        state["obs." + g.name] = obs


def finish_tick(plan: WorldPlan, state: dict, alive_before: torch.Tensor) -> None:
    """Observations, rewards, per-agent termination, truncation and episode returns, in place."""
    spec = plan.spec
    state["tick"] = state["tick"] + 1
    observe(plan, state)
    alive = state["alive"]
    truncated = state["tick"] >= spec.episode.max_steps
    if spec.episode.end_when == "all_agents_dead" and plan.groups:
        any_alive = torch.stack([alive[:, g.sl].any(1) for g in plan.groups.values()], 0).any(0)
        world_term = ~any_alive
    else:
        world_term = torch.zeros_like(truncated)
    for g in plan.groups.values():
        before = alive_before[:, g.sl]
        rew = None
        for fn in g.reward_fns:
            r = fn(state, alive_before)
            rew = r if rew is None else rew + r
        if rew is None:
            rew = torch.zeros(before.shape, dtype=state["pos"].dtype, device=before.device)
        if g.slice.name in plan.env.mortal_types:
            rew = rew * before.to(rew.dtype)
        state["reward." + g.name] = rew
        state["return." + g.name] = state["return." + g.name] + rew
        state["terminated." + g.name] = ~alive[:, g.sl] | world_term.unsqueeze(1)
        state["truncated." + g.name] = truncated.unsqueeze(1).expand_as(before)
    state["done"] = world_term | truncated
    state["any_done"] = state["done"].any()


class _Compiled:
    """A segment compiled with ``torch.compile``, called with a flat tuple of tensors.

    The first call runs eagerly to learn which entries the segment reads (all tensors in a fixed key
    order) and writes; the compiled function takes the tensors positionally and returns only the
    written ones, so each tick pays no dict guards and unchanged components (mass, radius, colour …)
    are neither returned nor re-checked — at one world the tick is dispatch-bound, and this matters.
    """

    def __init__(self, fn: Callable[[dict], dict]) -> None:
        self.fn = fn
        self.compiled = None
        self.keys: tuple[str, ...] = ()
        self.written: tuple[str, ...] = ()

    def __call__(self, state: dict) -> dict:
        if self.compiled is None or tuple(state) != self.keys:
            out = self.fn(state)
            self.keys = tuple(state)
            self.written = tuple(k for k, v in out.items() if state.get(k) is not v)
            keys, written, fn = self.keys, self.written, self.fn

            def flat(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
                new = fn(dict(zip(keys, tensors)))
                return tuple(new[k] for k in written)

            self.compiled = torch.compile(flat, dynamic=False)
            self.compiled(*state.values())  # compile now: the first tick pays for it, not some later one
            return out
        out = dict(state)
        out.update(zip(self.written, self.compiled(*state.values())))
        return out


class Tick:
    """Runs one tick over a state dict and returns the new state dict.

    ``compile=True`` compiles each segment with ``torch.compile`` (first call is slow; later calls
    and later processes reuse the cache). ``profile=True`` times each system (eager, with a sync).
    """

    def __init__(self, plan: WorldPlan, compile: bool = False) -> None:
        self.plan = plan
        self.segments: list[tuple[str, Callable[[dict], dict], bool]] = []
        systems = list(plan.systems)
        current: list = []
        for s in systems:
            if s.compilable:
                current.append(s)
            else:
                if current:
                    self.segments.append(self._segment(current, last=False))
                    current = []
                self.segments.append((s.name, self._opaque(s), False))
        self.segments.append(self._segment(current, last=True))
        if compile:
            self.segments = [(n, _Compiled(f) if c else f, c) for n, f, c in self.segments]
        self.compiled = compile

    def _segment(self, systems: list, last: bool):
        plan = self.plan
        fns = [s.fn for s in systems]

        def segment(state: dict) -> dict:
            state = dict(state)
            if last and "_alive_before" not in state:
                state["_alive_before"] = state["alive"]
            for fn in fns:
                fn(state)
            if last:
                alive_before = state.pop("_alive_before")
                finish_tick(plan, state, alive_before)
            return state

        name = "+".join(s.name for s in systems) or "observe"
        return name, segment, True

    @staticmethod
    def _opaque(system):
        def run(state: dict) -> dict:
            state = dict(state)
            system.fn(state)
            return state

        return run

    def __call__(self, state: dict) -> dict:
        if len(self.segments) > 1:
            state = dict(state)
            state["_alive_before"] = state["alive"]
        for _, fn, _ in self.segments:
            state = fn(state)
        return state

    def profile(self, state: dict, timings: dict[str, float]) -> dict:
        """One eager tick, adding seconds per system (and 'observe+reward') into ``timings``."""
        plan = self.plan
        state = dict(state)
        alive_before = state["alive"]
        sync = torch.cuda.synchronize if state["pos"].is_cuda else (lambda: None)
        for s in plan.systems:
            t0 = time.perf_counter()
            s.fn(state)
            sync()
            timings[s.name] = timings.get(s.name, 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        finish_tick(plan, state, alive_before)
        sync()
        timings["observations+rewards+termination"] = (timings.get("observations+rewards+termination", 0.0)
                                                       + time.perf_counter() - t0)
        return state
