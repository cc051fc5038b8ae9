"""``worldloom bench WORLD``: throughput with the peers' protocol (../shared/anchors/harness.py).

Protocol: build → warm up ``--warmup`` seconds (includes compilation, reported separately) →
``--repeats`` windows of at least ``--seconds`` each → median/min/max agent-steps/s. Random actions
come from a pool of 8 batches made up front and cycled (as the mpe2 and VMAS anchors do), so the
timing is the simulator, not the action sampler. The last line printed is one JSON object with the
anchors' fields (``agent_steps_per_s_median`` …).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

from engine.cli.common import add_sim_args, add_world_args, make_sim


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure throughput (agent-steps/s) with the anchors' protocol")
    add_world_args(p)
    add_sim_args(p, worlds=1)
    p.add_argument("--seconds", type=float, default=5.0, help="min wall time per timing window (default 5)")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds, not timed (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="timing windows (default 3)")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    p.add_argument("--profile", action="store_true",
                   help="also time each system (eager, ms per tick) and print the breakdown")
    p.add_argument("--out", help="append the JSON line to this file")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch  # noqa: F401  (imported before t0: compile_s is build + compile, not torch's import)

    t0 = time.perf_counter()
    sim = make_sim(args)
    compile_s, rates, env_rates, cpu_ratio = _measure(sim, args, t0)
    res = _result(sim, args, compile_s, rates, env_rates, cpu_ratio)
    _add_profile_and_plugins(sim, args, res)
    if not args.json:
        _print_summary(args, res)
    line = json.dumps(res)
    print(line)
    if args.out:
        with open(args.out, "a") as f:
            f.write(line + "\n")
    return 0


def _measure(sim, args, t0: float) -> tuple[float, list[float], list[float], list[float]]:
    """Compile, warm up and time ``--repeats`` windows; returns (compile_s, agent rates, env rates, cpu/wall).

    ``compile_s`` counts from ``t0`` (before the Sim was built) to the end of the first chunk.
    """
    sim.reset(seed=args.seed)
    pool = [sim.sample_actions() for _ in range(8)]
    chunk_n = max(1, min(100, 4096 // args.worlds))
    box = {"i": 0}

    def chunk() -> int:
        i = box["i"]
        for _ in range(chunk_n):
            sim.step(pool[i % 8])
            i += 1
        box["i"] = i
        return chunk_n

    chunk()  # first call compiles
    compile_s = time.perf_counter() - t0
    t_end = time.perf_counter() + args.warmup
    while time.perf_counter() < t_end:
        chunk()
    per_call = sim.agent_steps_per_tick
    rates, env_rates, cpu_ratio = [], [], []
    for _ in range(args.repeats):
        calls = 0
        c0, w0 = time.process_time(), time.perf_counter()
        while True:
            calls += chunk()
            w = time.perf_counter()
            if w - w0 >= args.seconds:
                break
        wall, cpu = w - w0, time.process_time() - c0
        rates.append(calls * per_call / wall)
        env_rates.append(calls * args.worlds / wall)
        cpu_ratio.append(cpu / wall)
    return compile_s, rates, env_rates, cpu_ratio


def _result(sim, args, compile_s: float, rates: list[float], env_rates: list[float],
            cpu_ratio: list[float]) -> dict:
    """The anchors' JSON object for the timed windows (label, rates, machine and run facts)."""
    import torch

    from engine import __version__

    groups = {g.name: g.size for g in sim.groups.values()}
    label = (f"worldloom {sim.plan.spec.name} {sim.device} num_envs={args.worlds} "
             + "+".join(f"{n}{g}" for g, n in groups.items())
             + f" {'compiled' if args.compile else 'eager'} threads={torch.get_num_threads()}")
    return {
        "label": label,
        "agent_steps_per_s_median": statistics.median(rates),
        "agent_steps_per_s_min": min(rates),
        "agent_steps_per_s_max": max(rates),
        "env_steps_per_s_median": statistics.median(env_rates),
        "agent_steps_per_s_all": rates,
        "cpu_time_over_wall": cpu_ratio,
        "seconds_per_window": args.seconds,
        "warmup_s": args.warmup,
        "repeats": args.repeats,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "loadavg_at_end": os.getloadavg(),
        "sim": "worldloom", "sim_version": __version__, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "thread_policy": sim.threads.describe(), "num_envs": args.worlds,
        "n_agents": sum(groups.values()), "groups": groups, "device": str(sim.device),
        "compiled": args.compile, "compile_s": compile_s, "overrides": args.overrides,
    }


def _add_profile_and_plugins(sim, args, res: dict) -> None:
    """Add the per-system breakdown (``--profile``) and the plugins' timings to ``res``."""
    if args.profile:
        timings: dict[str, float] = {}
        n = max(20, min(200, 20000 // args.worlds))
        for _ in range(n):
            sim.profile(timings)
        res["profile_ms_per_tick"] = {k: 1e3 * v / n for k, v in timings.items()}
    if sim.plugins:
        res["plugins"] = sim.plugin_timings()
        if not args.json:
            for name, t in res["plugins"].items():
                print(f"# plugin {name} ({t['kind']}, {t['provider']}, {t['rows']} rows): host {t['host_ms']:.3f} ms"
                      f" vs bare InferenceSession.run {t['bare_run_ms']:.3f} ms "
                      f"(overhead {t['host_overhead_pct']:+.1f} %)", file=sys.stderr)


def _print_summary(args, res: dict) -> None:
    """The human-readable summary on stderr (the JSON line stays the last line of stdout)."""
    rates, cpu_ratio = res["agent_steps_per_s_all"], res["cpu_time_over_wall"]
    print(f"# {res['label']}: median {res['agent_steps_per_s_median']:,.0f} agent-steps/s "
          f"(min {min(rates):,.0f}, max {max(rates):,.0f}); cpu/wall {[round(c, 2) for c in cpu_ratio]}; "
          f"first call (build + compile) {res['compile_s']:.1f} s", file=sys.stderr)
    if args.profile:
        print("# per-system breakdown (eager, ms per tick):", file=sys.stderr)
        for k, v in res["profile_ms_per_tick"].items():
            print(f"#   {k:<40} {v:8.3f}", file=sys.stderr)
