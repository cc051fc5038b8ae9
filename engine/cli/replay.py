"""``worldloom replay DIR [--world OTHER]``: re-simulate a recording, exactly or counterfactually.

Without ``--world`` the recorded world is rebuilt with the recorded settings and must reproduce every
recorded array bit for bit: exit 0 when it does, 1 (with the first diverging step and the largest
difference) when it does not. With ``--world OTHER`` the recorded actions drive another world (e.g. one
with learned dynamics) from the recorded episode starts and the divergence per step is reported.
A damaged, incomplete-before-its-first-shard or inconsistent recording is a user error (exit 2, one line
naming the file and what is wrong; see ``engine.record.format``); code the recorded world or overrides
name runs only under the user's own ``--trust`` policy.
"""

from __future__ import annotations

import json
import math

from engine.cli.common import Progress, add_trust_arg, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="re-simulate a recording (bit-exact check, or in another world)",
                       description="Re-simulate the recorded actions from the recorded initial state. With the "
                                   "recorded world: check bit-for-bit reproduction (exit 1 on any mismatch). "
                                   "With --world OTHER: report the divergence per step (exit 0). A damaged or "
                                   "empty recording exits 2 with a message naming the file.")
    p.add_argument("recording", help="folder written by `worldloom record`")
    p.add_argument("--world", default=None, help="re-simulate in this world instead (counterfactual)")
    add_trust_arg(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value on top of the recorded overrides; repeatable")
    p.add_argument("--device", default=None, help="torch device (default: the recorded one)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the recorded count)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--compile", dest="compile", action="store_true", default=None,
                   help="compile the tick (default: as recorded)")
    g.add_argument("--eager", dest="compile", action="store_false", help="run eagerly (default: as recorded)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--every", type=int, default=None, help="counterfactual table: print every k-th step")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.record.format import Recording
    from engine.record.replay import replay

    total = Recording.open(args.recording).steps_recorded
    progress = Progress(total, "replay")
    try:
        report = replay(args.recording, args.world, parse_overrides(args.overrides), device=args.device,
                        compile=args.compile, threads=args.threads, on_step=lambda i, n: progress.update(i))
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report.to_json(), allow_nan=True))
    else:
        for note in report.notes:
            print(f"note: {note}")
        if report.mode == "exact":
            _print_exact(report)
        else:
            _print_counterfactual(report, args.every)
    if report.mode == "exact" and not report.ok:
        return 1
    return 0


def _print_exact(report) -> None:
    if report.ok:
        print(f"replay: {report.steps} steps reproduced bit for bit ({report.world})")
        return
    print(f"replay: MISMATCH — first diverging step {report.first_step}, max divergence "
          f"{report.max_divergence:.6g} ({report.world})")
    for key, m in sorted(report.mismatches.items(), key=lambda kv: (kv[1].first_step, kv[0])):
        print(f"  {key:<28} first step {m.first_step:>6}   max |diff| {m.max_abs_diff:.6g}   steps {m.count}")


def _print_counterfactual(report, every: int | None) -> None:
    rows = report.per_step
    if not rows:
        print("replay: no steps")
        return
    every = every or max(1, math.ceil(len(rows) / 40))
    extra = [k for k in rows[0] if k.startswith("action_agree.")]
    head = f"{'step':>6} {'tick':>5} {'pos_mean':>10} {'pos_max':>10} {'vel_mean':>10}" + "".join(
        f" {k[13:] + ' agree':>14}" for k in extra)
    print(f"counterfactual replay in {report.world}: divergence from the recording (episode starts restored)")
    print(head)
    for r in rows[::every]:
        print(f"{r['step']:>6} {r['tick']:>5} {r['pos_mean']:>10.5f} {r['pos_max']:>10.5f} {r['vel_mean']:>10.5f}"
              + "".join(f" {r[k]:>14.3f}" for k in extra))
    by_tick: dict[int, list[float]] = {}
    for r in rows:
        if not math.isnan(r["pos_mean"]):
            by_tick.setdefault(r["tick"], []).append(r["pos_mean"])
    print("mean position divergence by tick of the episode: "
          + ", ".join(f"{t}: {sum(v) / len(v):.4f}" for t, v in sorted(by_tick.items())))
