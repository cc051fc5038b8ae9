"""``worldloom eval WORLD --controller GROUP=SPEC ...``: compare controllers over the same seeded episodes."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    from engine.cli.common import add_sim_args, add_world_args

    p = sub.add_parser(
        "eval", help="run episodes with chosen controllers; print mean returns and contacts per episode",
        description="Run --episodes episodes (--worlds at a time, seeded) with a controller per external agent "
                    "group and print, per group, the mean episode return ± std, and the contacts between "
                    "agent groups per episode (pairs of living entities closer than r_a + r_b, every tick). "
                    "SPEC: random | scripted_chase:TYPE[,TYPE] | scripted_flee:TYPE[,TYPE] | onnx:PATH | "
                    "ckpt:PATH. External groups without --controller act randomly.")
    add_world_args(p)
    add_sim_args(p, worlds=64, compile_default=False)
    p.add_argument("--controller", action="append", default=[], metavar="GROUP=SPEC",
                   help="who acts for GROUP, e.g. adversary=onnx:plugins/tag_npc/adversary.onnx; repeatable")
    p.add_argument("--episodes", type=int, default=256, help="episodes to run (default 256)")
    p.add_argument("--sample", action="store_true",
                   help="sample from policies (onnx:, ckpt:) instead of taking the most likely action")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=run)


def run(args) -> int:
    import torch

    from engine.cli.common import parse_overrides, parse_threads
    from engine.errors import UserError
    from engine.train.controllers import parse_assignment
    from engine.train.evaluation import evaluate

    if args.episodes < 1:
        raise UserError(f"--episodes: expected an integer >= 1, got {args.episodes}")
    if args.worlds < 1:
        raise UserError(f"--worlds: expected an integer >= 1, got {args.worlds}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu")
    controllers: dict[str, str] = {}
    for item in args.controller:
        g, spec = parse_assignment(item)
        if g in controllers:
            raise UserError(f"--controller: group {g!r} given twice ({controllers[g]!r} and {spec!r})")
        controllers[g] = spec
    threads = parse_threads(args.threads)
    result = evaluate(args.world, controllers, episodes=args.episodes, worlds=min(args.worlds, args.episodes),
                      seed=args.seed, overrides=parse_overrides(args.overrides), device=args.device,
                      compile=args.compile, threads=threads, deterministic=not args.sample)
    if args.json:
        print(json.dumps(result.summary()))
        return 0
    print(result.table())
    return 0
