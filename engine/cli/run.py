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
    p.add_argument("--event-log", metavar="FILE",
                   help="write every rule match as a JSON line (rule, world, tick, self, other) to FILE; turns "
                        "on world.event_log (a debugging aid: use few worlds)")
    p.set_defaults(func=run)


class _Totals:
    """What the run accumulates from each step's info: episodes, returns, metrics, events."""

    def __init__(self, groups: list[str]) -> None:
        self.groups = groups
        self.ret_sum = {g: 0.0 for g in groups}
        self.episodes = 0
        self.metric_sums: dict[str, float] = {}
        self.metric_n = 0
        self.events: dict[str, int] = {}

    def add(self, info: dict) -> None:
        if "episode_return" in info:
            done = info["done"]
            self.episodes += int(done.sum())
            for g in self.groups:
                self.ret_sum[g] += float(info["episode_return"][g][done].mean(1).sum())
        for k, v in info.get("metrics", {}).items():
            self.metric_sums[k] = self.metric_sums.get(k, 0.0) + float(v)
        if info.get("metrics"):
            self.metric_n += 1
        for k, v in info.get("events", {}).items():  # the counts of the episodes that ended this tick
            self.events[k] = self.events.get(k, 0) + int(v[info["done"]].sum())


def _header(sim, args) -> None:
    agents = " + ".join(f"{g.size} {g.name}" for g in sim.groups.values())
    print(f"world {sim.plan.spec.name!r}: {args.worlds} worlds × "
          + (f"agents {agents}" if agents else f"{sim.layout.n:,} entities, no agents")
          + f" on {sim.device}, torch threads {sim.threads.describe()}, "
          + ("compiled" if args.compile else "eager")
          + (f"; controlled in-world: {', '.join(f'{g} by {s}' for g, s in sim.controlled_by.items())}"
             if sim.controlled_by else ""))
    if args.compile:
        print("compiling the tick with torch.compile (slow the first time, cached afterwards; --eager skips it)…",
              file=sys.stderr, flush=True)


def run(args) -> int:
    import torch

    from engine.errors import UserError

    if args.steps < 1:
        raise UserError(f"--steps: expected an integer >= 1, got {args.steps}")
    t_build = time.perf_counter()
    if args.event_log:
        args.overrides = list(args.overrides or []) + ["world.event_log=true"]
    sim = make_sim(args)
    sim.reset(seed=args.seed)
    log, lines = None, []
    if args.event_log:
        from engine.rules.log import EventLog

        if not sim.plan.spec.rules:
            raise UserError(f"--event-log: world {sim.plan.spec.name!r} has no rules: to log")
        log = EventLog(sim)
    totals = _Totals(list(sim.groups))
    if not args.json:
        _header(sim, args)
    progress = Progress(args.steps, "run")
    t0 = time.perf_counter()
    t_first = 0.0
    for step in range(args.steps):
        _, _, _, _, info = sim.step(sim.sample_actions())
        if step == 0:  # the first tick includes compilation: keep it out of the rate
            t_first = time.perf_counter() - t0
            t0 = time.perf_counter()
        totals.add(info)
        if log is not None:
            lines += log.step(info)
        progress.update(step + 1, f"episodes {totals.episodes}")
    wall = max(time.perf_counter() - t0, 1e-9)
    progress.close()
    timed_steps = max(args.steps - 1, 1)
    summary = {
        "world": sim.plan.spec.name, "worlds": args.worlds, "steps": args.steps,
        "agent_steps": args.steps * sim.agent_steps_per_tick,
        "agent_steps_per_s": timed_steps * sim.agent_steps_per_tick / wall,
        "ticks_per_s": timed_steps / wall, "episodes": totals.episodes,
        "mean_episode_return": {g: (totals.ret_sum[g] / totals.episodes if totals.episodes else None)
                                for g in totals.groups},
        "first_tick_s": t_first, "setup_s": t0 - t_build - t_first, "compiled": args.compile,
        "device": str(sim.device), "threads": torch.get_num_threads(), "thread_policy": sim.threads.describe(),
        "metrics": {k: v / max(totals.metric_n, 1) for k, v in totals.metric_sums.items()},
        "events": totals.events, "plugins": sim.plugin_report(),
    }
    if log is not None:
        from engine.fileio import atomic_write_text

        atomic_write_text(args.event_log, "".join(json.dumps(line) + "\n" for line in lines))
        summary["event_log"] = {"file": args.event_log, "lines": len(lines)}
    if args.json:
        print(json.dumps(summary))
        return 0
    _print_summary(summary, args, wall)
    if log is not None:
        print(f"event log: {len(lines):,} rule matches → {args.event_log}")
    return 0


def _print_summary(summary: dict, args, wall: float) -> None:
    print(f"steps: {args.steps} ticks × {args.worlds} worlds = {summary['agent_steps']:,} agent-steps "
          f"in {wall:.2f} s (first tick {summary['first_tick_s']:.2f} s, not counted)")
    print(f"agent-steps/s: {summary['agent_steps_per_s']:,.0f}   ticks/s: {summary['ticks_per_s']:,.0f}")
    print(f"episodes finished: {summary['episodes']}   threads: {summary['thread_policy']}")
    for g, r in summary["mean_episode_return"].items():
        print(f"  mean episode return {g}: {'n/a (no episode finished)' if r is None else f'{r:.3f}'}")
    for name, rep in summary["plugins"].items():
        ms = f"{rep['ms_per_call']:.3f} ms/call" if rep["ms_per_call"] is not None else "not called"
        bad = rep.get("nonfinite", 0)
        note = f", {bad:,} non-finite output values (on_nan: {rep['on_nan']})" if bad else ""
        print(f"plugin {name}: {rep['kind']} on {rep['provider']}, {rep['calls']} calls, {ms}{note}")
    for k, v in summary["metrics"].items():
        print(f"  {k} (mean per tick): {v:.6g}")
    for k, v in summary["events"].items():
        if k == "nonfinite":
            if v:
                print(f"  event {k}: {v:,} episodes ended by NaN/inf (see SECURITY.md / world.on_nonfinite)")
        elif summary["episodes"]:
            print(f"  event {k}: {v:,} in {summary['episodes']:,} finished episodes "
                  f"({v / summary['episodes']:.2f} per episode)")
