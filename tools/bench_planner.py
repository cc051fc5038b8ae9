"""Milliseconds per tick of a world with planner NPCs, on one core: the whole tick (planning, physics,
observations, rewards), the prey acting randomly, one torch thread and one ONNX Runtime thread.

Repeats the measurement and prints the minimum and the median: on a machine shared with other work the
minimum is the closest to the idle cost (see docs/planners.md). Pin it to one core with taskset:

    taskset -c 1 .venv/bin/python tools/bench_planner.py worlds/tag_planner.yaml --worlds 1
    taskset -c 1 .venv/bin/python tools/bench_planner.py worlds/tag_planner_physics.yaml --worlds 64 \\
        --set plugins.adversary_planner.plan.candidates=64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def main() -> None:
    import engine
    from engine.cli.common import parse_overrides

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("world", nargs="?", default="worlds/tag_planner.yaml")
    p.add_argument("--worlds", type=int, default=1, help="worlds stepped at once (default 1)")
    p.add_argument("--ticks", type=int, default=50, help="ticks per repeat (default 50)")
    p.add_argument("--repeats", type=int, default=7, help="repeats (default 7)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    a = p.parse_args()
    torch.set_num_threads(1)
    sim = engine.make(a.world, num_worlds=a.worlds, seed=0, overrides=parse_overrides(a.overrides), threads=1)
    sim.reset(seed=0)
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        sim.step(sim.sample_actions(gen))
    ms = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(a.ticks):
            sim.step(sim.sample_actions(gen))
        ms.append((time.perf_counter() - t0) / a.ticks * 1e3)
    planners = {n: h for n, h in sim.plugins.items() if h.kind == "planner"}
    detail = ", ".join(f"{n}: {h.describe()}" for n, h in planners.items())
    print(f"{a.world} at {a.worlds} world(s): {min(ms):.2f} ms/tick min, {statistics.median(ms):.2f} median, "
          f"{max(ms):.2f} max over {a.repeats} × {a.ticks} ticks ({detail})")


if __name__ == "__main__":
    main()
