"""Timing harness for the grid-world (DoorKey-8x8) peer benchmarks.

Same protocol as the MPE anchors (shared/anchors/harness.py), copied here so this folder stands alone:
build env -> warm up for --warmup seconds (not timed; includes JIT compile for the JAX peers) ->
--repeats timing windows of at least --seconds wall time each -> median/min/max.
Unit: env-steps/s (one world advancing one step counts 1; a batched call over N worlds counts N).
"us_per_step" is the wall time of one batched step call (all N worlds), in microseconds.
Each window also records process CPU time / wall time (how many threads were actually busy).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time


def base_parser(desc, default_num_envs):
    p = argparse.ArgumentParser(description=desc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0, help="min wall time per timing window")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up wall time (not timed)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--num-envs", type=int, default=default_num_envs, help="worlds stepped per call")
    p.add_argument(
        "--max-steps",
        type=int,
        default=640,
        help="episode length before truncation (default 640 = MiniGrid's 10*8*8 for DoorKey-8x8)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="append the JSON line to this file")
    return p


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def run_windows(step_chunk, num_envs, args, label, extra=None, finish=None):
    """step_chunk() advances every world by a fixed number of batched step calls and returns that
    number. finish(), if given, is called once after timing and returns a dict merged into the JSON
    (e.g. episode/reset counts)."""
    t_end = time.perf_counter() + args.warmup
    warm_calls = 0
    while True:  # at least one chunk, even with --warmup 0 (JIT compile happens here)
        warm_calls += step_chunk()
        if time.perf_counter() >= t_end:
            break
    rates, call_rates, cpu_ratio, walls = [], [], [], []
    for _ in range(args.repeats):
        calls = 0
        c0, t0 = time.process_time(), time.perf_counter()
        while True:
            calls += step_chunk()
            t = time.perf_counter()
            if t - t0 >= args.seconds:
                break
        wall, cpu = t - t0, time.process_time() - c0
        call_rates.append(calls / wall)
        rates.append(calls * num_envs / wall)
        cpu_ratio.append(cpu / wall)
        walls.append(wall)
    res = {
        "label": label,
        "num_envs": num_envs,
        "env_steps_per_s_median": statistics.median(rates),
        "env_steps_per_s_min": min(rates),
        "env_steps_per_s_max": max(rates),
        "env_steps_per_s_all": rates,
        "us_per_step_median": 1e6 / statistics.median(call_rates),
        "us_per_step_min": 1e6 / max(call_rates),
        "us_per_step_max": 1e6 / min(call_rates),
        "cpu_time_over_wall": cpu_ratio,
        "threads": thread_count(),
        "window_wall_s": walls,
        "seconds_per_window": args.seconds,
        "warmup_s": args.warmup,
        "warmup_calls": warm_calls,
        "repeats": args.repeats,
        "max_steps": args.max_steps,
        "seed": args.seed,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
    }
    if extra:
        res.update(extra)
    if finish:
        res.update(finish())
    line = json.dumps(res)
    print(line, flush=True)
    print(
        f"# {label}: median {res['env_steps_per_s_median']:,.0f} env-steps/s "
        f"(min {min(rates):,.0f}, max {max(rates):,.0f}); {res['us_per_step_median']:,.1f} us per "
        f"batched step of {num_envs}; cpu/wall {[round(c, 2) for c in cpu_ratio]}; threads {res['threads']}",
        file=sys.stderr,
    )
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return res
