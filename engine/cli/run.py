"""``worldloom run WORLD``: run a world headless with random actions and print a summary."""

from __future__ import annotations

import json
import sys
import time

from engine.cli.common import Progress, add_sim_args, add_world_args, make_sim


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run a world headless (random actions for uncontrolled agents)",
                       description="Run B copies of a world for S ticks. Agents that no system or plugin "
                                   "controls take uniformly random actions. Prints throughput and the mean "
                                   "episode return per agent group.")
    add_world_args(p)
    add_sim_args(p, worlds=64)
    p.add_argument("--steps", type=int, default=500, help="ticks to run (default 500)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from engine.errors import UserError

    if args.steps < 1:
        raise UserError(f"--steps: expected an integer >= 1, got {args.steps}")
    t_build = time.perf_counter()
    sim = make_sim(args)
    sim.reset(seed=args.seed)
    groups = list(sim.groups)
    ret_sum = {g: 0.0 for g in groups}
    episodes = 0
    extra_sums: dict[str, float] = {}
    extra_n = 0
    events: dict[str, int] = {}
    if not args.json:
        print(f"world {sim.plan.spec.name!r}: {args.worlds} worlds × "
              + ", ".join(f"{g.size} {g.name}" for g in sim.groups.values())
              + f" agents on {sim.device}, torch threads {sim.threads.describe()}, "
              + ("compiled" if args.compile else "eager")
              + (f"; controlled in-world: {', '.join(f'{g} by {s}' for g, s in sim.controlled_by.items())}"
                 if sim.controlled_by else ""))
    if args.compile and not args.json:
        print("compiling the tick with torch.compile (slow the first time, cached afterwards; --eager skips it)…",
              file=sys.stderr, flush=True)
    progress = Progress(args.steps, "run")
    first = True
    t0 = time.perf_counter()
    for step in range(args.steps):
        _, _, _, _, info = sim.step(sim.sample_actions())
        if first:  # the first tick includes compilation: keep it out of the rate
            first = False
            t_first = time.perf_counter() - t0
            t0 = time.perf_counter()
        if "episode_return" in info:
            done = info["done"]
            n = int(done.sum())
            episodes += n
            for g in groups:
                ret_sum[g] += float(info["episode_return"][g][done].mean(1).sum())
        for k, v in info.get("metrics", {}).items():
            extra_sums[k] = extra_sums.get(k, 0.0) + float(v)
        for k, v in info.get("events", {}).items():
            events[k] = events.get(k, 0) + int(v.sum())
        if info.get("metrics"):
            extra_n += 1
        progress.update(step + 1, f"episodes {episodes}")
    wall = max(time.perf_counter() - t0, 1e-9)
    progress.close()
    timed_steps = max(args.steps - 1, 1)
    summary = {
        "world": sim.plan.spec.name, "worlds": args.worlds, "steps": args.steps,
        "agent_steps": args.steps * sim.agent_steps_per_tick,
        "agent_steps_per_s": timed_steps * sim.agent_steps_per_tick / wall,
        "ticks_per_s": timed_steps / wall, "episodes": episodes,
        "mean_episode_return": {g: (ret_sum[g] / episodes if episodes else None) for g in groups},
        "first_tick_s": t_first, "setup_s": t0 - t_build - t_first, "compiled": args.compile,
        "device": str(sim.device), "threads": torch.get_num_threads(), "thread_policy": sim.threads.describe(),
    }
    summary["metrics"] = {k: v / max(extra_n, 1) for k, v in extra_sums.items()}
    summary["events"] = events
    if hasattr(sim, "plugin_report"):
        summary["plugins"] = sim.plugin_report()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"steps: {args.steps} ticks × {args.worlds} worlds = {summary['agent_steps']:,} agent-steps "
          f"in {wall:.2f} s (first tick {t_first:.2f} s, not counted)")
    print(f"agent-steps/s: {summary['agent_steps_per_s']:,.0f}   ticks/s: {summary['ticks_per_s']:,.0f}")
    print(f"episodes finished: {episodes}   threads: {summary['thread_policy']}")
    for g in groups:
        r = summary["mean_episode_return"][g]
        print(f"  mean episode return {g}: {'n/a (no episode finished)' if r is None else f'{r:.3f}'}")
    for name, rep in summary.get("plugins", {}).items():
        ms = f"{rep['ms_per_call']:.3f} ms/call" if rep["ms_per_call"] is not None else "not called"
        bad = rep.get("nonfinite", 0)
        note = f", {bad:,} non-finite output values (on_nan: {rep['on_nan']})" if bad else ""
        print(f"plugin {name}: {rep['kind']} on {rep['provider']}, {rep['calls']} calls, {ms}{note}")
    for k, v in summary["metrics"].items():
        print(f"  {k} (mean per tick): {v:.6g}")
    for k, v in events.items():
        if v:
            print(f"  event {k}: {v:,} world-ticks (see SECURITY.md / world.on_nonfinite)")
    return 0
