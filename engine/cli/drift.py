"""``worldloom drift WORLD --plugin NAME --horizon K``: open-loop k-step error of a learned dynamics plugin.

Writes ``drift.json`` (median and p10/p25/p75/p90 of the position error per horizon step, and the raw
errors) and ``drift.png`` (error vs horizon with percentile bands) into ``--out``.

``worldloom drift WORLD --world-model DIR [--world-model DIR2 …] --data REC``: a pixel world model's
open-loop frames against the recorded GL frames of held-out episodes — PSNR, SSIM and the agents' disk
centroids per step, beside copy-last-frame and the empty arena — into ``pixel_drift.json`` and
``pixel_drift.png`` (one PSNR curve per model).
"""

from __future__ import annotations

import json

from engine.cli.common import Progress, add_world_args, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("drift", help="open-loop k-step error of a learned dynamics plugin vs the hand-coded one",
                       description="From many starting states, advance the world with the learned dynamics "
                                   "plugin and its shadow twin with the hand-coded system (same actions) and "
                                   "report the position error per horizon step (JSON + PNG).")
    add_world_args(p)
    p.add_argument("--plugin", default=None, help="the dynamics plugin to measure")
    p.add_argument("--world-model", action="append", default=None, metavar="DIR",
                   help="a pixel world-model folder (worldloom distill --subsystem world-model) to measure on "
                        "--data; repeat to compare several on the same frames")
    p.add_argument("--data", action="append", default=None, metavar="DIR",
                   help="--world-model: held-out recordings with frames (worldloom record --frames)")
    p.add_argument("--physics-reference", action="store_true",
                   help="--world-model: also score WORLD's own physics stepped from the first model's encoded "
                        "frames (and drawn by its decoder): what a perfect dynamics model would reach from them")
    p.add_argument("--horizon", type=int, default=25, help="open-loop steps from each start (default 25)")
    p.add_argument("--starts", type=int, default=256, help="starting states (default 256)")
    p.add_argument("--worlds", type=int, default=64, help="worlds simulated together (default 64)")
    p.add_argument("--seed", type=int, default=1000, help="seed of the starts and actions (default 1000: not the "
                                                          "seeds `record` defaults to, so starts are held out)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--out", default="runs/drift", help="folder for drift.json and drift.png (default runs/drift)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.distill.drift import measure_drift, write_drift
    from engine.errors import UserError

    if (args.plugin is None) == (args.world_model is None):
        raise UserError("expected --plugin NAME (a dynamics plugin of WORLD) or --world-model DIR --data REC "
                        "(a pixel world model), not " + ("both" if args.plugin else "neither"))
    if args.physics_reference and args.world_model is None:
        raise UserError("--physics-reference goes with --world-model DIR --data REC (a pixel world model)")
    if args.world_model is not None:
        from engine.cli.pixel_drift import run_pixel_drift

        return run_pixel_drift(args)

    progress = Progress(1, "drift")

    def report(i: int, n: int) -> None:
        progress.total = n
        progress.update(i)

    try:
        result = measure_drift(args.world, args.plugin, args.horizon, starts=args.starts, worlds=args.worlds,
                               seed=args.seed, overrides=parse_overrides(args.overrides), device=args.device,
                               threads=args.threads, progress=report)
    finally:
        progress.close()
    s = write_drift(result, args.out)
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"open-loop position error of {args.plugin!r} vs the hand-coded system, {s['starts']} starts "
          f"(world units; written {args.out}/drift.json, drift.png)")
    print(f"{'step':>5} {'p10':>9} {'p25':>9} {'median':>9} {'p75':>9} {'p90':>9}")
    k = s["horizon"]
    for i in sorted({0, k // 4, k // 2, 3 * k // 4, k - 1} if k > 5 else set(range(k))):
        print(f"{i + 1:>5} " + " ".join(f"{s[p][i]:>9.5f}" for p in ("p10", "p25", "median", "p75", "p90")))
    print(f"median error after {k} steps: {s['median_at_horizon']:.5f}")
    return 0
