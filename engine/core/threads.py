"""How many intra-op threads torch uses: a default that never hurts on a busy machine.

Measured on this project's 2-core machines: one thread is fastest for small batches (the tick is
dispatch-bound); all cores are up to 2× faster for large batches *on an idle machine* — but when
another process holds a core, 2 threads made the same tick 2.6× slower than 1 (up to 100× in some
windows: the OpenMP barrier waits for a thread that is not scheduled), and a tiny reduction took
28 ms instead of 6 µs. Training machines always run something else. So ``auto``:

* uses **one thread** for small batches (entities × worlds below ``LARGE``), always;
* for large batches, **measures** instead of assuming: after the first few ticks, then every
  ``period`` seconds, it runs a few of the real ticks with 1 thread and a few with all cores (the
  first tick on a new thread count is not counted: it starts the thread pool and may compile;
  a trial stops as soon as it is clearly losing) and keeps the faster; a candidate that lost is
  tried less and less often (back-off up to 64 periods), so a loaded machine settles on 1 thread
  and pays almost nothing for the occasional check, while an idle one gets its cores; a tick 3×
  slower than the current choice's last measurement (another process just took a core) triggers a
  new measurement at once.

``threads`` set to a number is used as given. The thread count is process-wide (torch's setting);
``ThreadPolicy.describe()`` says what ran, for run summaries, ``bench`` and ``doctor``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import torch

#: Entities × worlds from which more than one thread can pay off (below it, one thread always).
LARGE = 8192


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ThreadPolicy:
    """Chooses torch's intra-op threads for a Sim; ``timed(fn)`` runs one tick under the policy."""

    def __init__(self, threads: int | str | None, num_worlds: int, n_entities: int, period: float = 2.0,
                 trial: int = 4, first_check: int = 8, clock: Callable[[], float] = time.perf_counter) -> None:
        self.requested = threads
        self.clock = clock  # the tests pass a fake one: the policy's decisions then depend on no wall time
        self.fixed: int | None = None
        self.adaptive = False
        self.period, self.trial = period, trial
        self.candidates: list[int] = []
        if threads is None:
            return  # leave torch's setting alone
        if threads == "auto":
            many = cores()
            if num_worlds * n_entities < LARGE or many == 1:
                self.fixed = 1
            else:
                self.adaptive = True
                self.candidates = [1, many]
                self.current = 1
                self.backoff = {c: 1 for c in self.candidates}
                self.since = period * (1 - 1e-9)  # the first check comes after `first_check` ticks
                self.first_check, self.ticks = first_check, 0
                self.seen: set[int] = {1}
                self.times: dict[int, float] = {}
                self.trial_times: dict[int, float] = {}
                self.queue: list[int] = []
        else:
            n = int(threads)
            if n < 1:
                raise ValueError(f"threads: expected an integer >= 1 or 'auto', got {threads!r}")
            self.fixed = n
        torch.set_num_threads(self.fixed or 1)

    def timed(self, fn: Callable[[], Any]) -> Any:
        """Run one tick (``fn``); the adaptive policy times some ticks under each candidate."""
        if not self.adaptive:
            return fn()
        if not self.queue:
            t0 = self.clock()
            out = fn()
            dt = self.clock() - t0
            self.ticks += 1
            self.since += dt
            if dt > 3 * self.times.get(self.current, float("inf")):
                self._plan_trials(everyone=True)  # the current choice just collapsed: re-measure now
            elif self.since >= self.period and self.ticks >= self.first_check:
                self._plan_trials()
            return out
        c = self.queue.pop(0)
        torch.set_num_threads(c)
        t0 = self.clock()
        out = fn()
        dt = self.clock() - t0
        if c not in self.seen:  # the first tick on a new thread count starts its pool (and may compile)
            self.seen.add(c)
            self.queue.insert(0, c)
            return out
        self.trial_times[c] = min(self.trial_times.get(c, float("inf")), dt)
        base = self.trial_times.get(self.current)
        if c != self.current and base is not None and dt > 3 * base:
            self.queue = [q for q in self.queue if q != c]  # clearly losing (a collapse under load): stop
        if not self.queue:
            self._decide()
        return out

    def _plan_trials(self, everyone: bool = False) -> None:
        """Ticks to time: the current choice first (today's baseline), then every candidate that is due."""
        due = [c for c in self.candidates
               if c != self.current and (everyone or self.since >= self.period * self.backoff[c])]
        self.trial_times = {}
        self.queue = [self.current] * self.trial + [c for c in due for _ in range(self.trial)] if due else []

    def _decide(self) -> None:
        self.times.update(self.trial_times)
        winner = min(self.trial_times, key=self.trial_times.get)
        for c in self.trial_times:  # a loser is checked less and less often; back to every period on a win
            self.backoff[c] = 1 if c == winner else min(self.backoff[c] * 2, 64)
        self.current = winner
        torch.set_num_threads(winner)
        self.since = 0.0

    def describe(self) -> str:
        if self.requested is None:
            return f"{torch.get_num_threads()} (torch's setting)"
        if self.adaptive:
            seen = ", ".join(f"{c}: {1e6 * t:.0f} µs" for c, t in sorted(self.times.items()))
            return f"auto → {self.current} (measured {seen or 'not yet'}; re-checked every {self.period:g} s)"
        if self.requested == "auto":
            return "auto → 1 (small batch: dispatch-bound)"
        return str(self.fixed)
