"""``worldloom distill WORLD --subsystem dynamics|renderer|policy|world-model|inverse --data DIR``: train a learned
subsystem.

Trains in PyTorch on recordings made with ``worldloom record``, exports ONNX into a plugin folder
(with the module source, weights and a README of its I/O contract) and prints the world-file snippet
that plugs it in. See docs/world-models.md.
"""

from __future__ import annotations

import sys

from engine.cli.common import Progress, add_world_args


def add_parser(sub) -> None:
    p = sub.add_parser("distill", help="train a learned dynamics / renderer / policy from recordings, export ONNX",
                       description="Train a learned subsystem of WORLD from recordings (worldloom record) and "
                                   "export it as an ONNX plugin folder with its PyTorch source and a README of "
                                   "its I/O contract; prints the YAML snippet that binds it.")
    add_world_args(p)
    p.add_argument("--subsystem", required=True, choices=["dynamics", "renderer", "policy", "world-model", "inverse"],
                   help="what to learn (world-model: encoder, latent dynamics and decoder from frames and actions; "
                        "inverse: each agent's action from frames t-1 … t+2, for `worldloom label`)")
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="a recording folder; repeat to train on several (same entity layout)")
    p.add_argument("--out", default=None, help="plugin folder (default plugins/<world>_<subsystem>)")
    p.add_argument("--epochs", type=float, default=None,
                   help="passes over the recorded transitions (default: 10 dynamics, 20 renderer, 30 policy)")
    p.add_argument("--minutes", type=float, default=None, help="stop training after this many minutes")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, splits and batches (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for training (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--logdir", default="runs", help="TensorBoard logs go under this folder (default runs)")
    p.add_argument("--entities", default=None,
                   help="dynamics/renderer: comma-separated entity types to bind (default: all types)")
    p.add_argument("--rows", default="world", choices=["world", "entity"],
                   help="dynamics: one model row per world (sees contacts; default) or per entity")
    p.add_argument("--horizon", type=int, default=None,
                   help="dynamics: longest open-loop rollout in the loss (default 20); world-model: steps of the "
                        "rollout loss (default 10; 1 = one-step teacher forcing)")
    p.add_argument("--noise", type=float, default=0.0,
                   help="world-model: std of the Gaussian noise added to the latents rollouts start from, in image "
                        "units (the image spans 2; default 0)")
    p.add_argument("--trim", type=float, default=None,
                   help="world-model: fraction of each batch's worst (window, slot) rollout losses left out — "
                        "robust to wrong action labels (default 0.1; 0 keeps all)")
    p.add_argument("--iterations", type=int, default=None,
                   help="world-model: dynamics iterations (default 3000; the decoder takes 900); "
                        "inverse: training iterations (default 6000)")
    p.add_argument("--group", default=None, help="policy: the agent group whose recorded actions to clone")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from engine.distill.common import TrainOptions
    from engine.distill.plugin import command_line
    from engine.errors import UserError
    from engine.paths import resolve_world
    from engine.world.loader import load_world

    world = resolve_world(args.world)
    loaded = load_world(world, None)  # validates the world; its folder anchors the snippet's model path
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads: expected an integer >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available on this machine")
    for d in args.data:
        if not (Path(d) / "manifest.json").is_file():
            raise UserError(f"--data {d}: not a recording (no manifest.json); make one with `worldloom record`")
    default_epochs = {"dynamics": 10.0, "renderer": 20.0, "policy": 30.0, "world-model": 0.0,
                      "inverse": 0.0}[args.subsystem]
    name = loaded.spec.name
    out = Path(args.out or Path("plugins") / f"{name}_{args.subsystem.replace('-', '_')}")
    opts = TrainOptions(epochs=args.epochs if args.epochs is not None else default_epochs, minutes=args.minutes,
                        seed=args.seed, device=args.device, logdir=args.logdir,
                        run_name=f"distill-{out.name}-{args.subsystem}", extra={"command": command_line()})
    if args.batch_size:
        opts.batch_size = args.batch_size
    if args.lr:
        opts.lr = args.lr
    types = [t.strip() for t in args.entities.split(",")] if args.entities else None
    progress = Progress(1, f"distill {args.subsystem}")
    logged = [-1]

    def report(i: int, total: int, extra: str) -> None:
        if total != progress.total:  # a new stage (world-model: encoder, decoder, dynamics) logs from its start
            logged[0] = -1
        progress.total = total
        progress.update(i, extra)
        tenth = 10 * i // max(total, 1)
        if not progress.enabled and tenth > logged[0]:  # a log file (nohup) still sees progress
            logged[0] = tenth
            print(f"distill {args.subsystem}: iteration {i}/{total} {extra}", file=sys.stderr, flush=True)

    try:
        if args.horizon is not None and args.horizon < 1:
            raise UserError(f"--horizon: expected an integer >= 1, got {args.horizon}")
        only_wm = [f for f, v in (("--noise", args.noise), ("--trim", args.trim)) if v not in (None, 0.0)]
        if only_wm and args.subsystem != "world-model":
            raise UserError(f"{', '.join(only_wm)}: only --subsystem world-model uses it")
        if args.subsystem == "dynamics":
            from engine.distill.dynamics import distill_dynamics

            contract = distill_dynamics(args.data, out, opts, types=types, rows=args.rows, horizon=args.horizon or 20,
                                        world_dir=world.parent, progress=report)
        elif args.subsystem == "world-model":
            contract = _world_model(args, world, out, opts, report)
        elif args.subsystem == "inverse":
            contract = _inverse(args, world, loaded, out, opts, report)
        elif args.subsystem == "renderer":
            from engine.distill.renderer import distill_renderer

            contract = distill_renderer(args.data, out, opts, arena=list(loaded.spec.world.arena), types=types,
                                        world_dir=world.parent, progress=report)
        else:
            from engine.distill.policy import distill_policy

            if not args.group:
                raise UserError("--group: policy distillation needs the agent group to clone, e.g. --group prey")
            contract = distill_policy(args.data, out, opts, group=args.group, world_dir=world.parent,
                                      progress=report)
    finally:
        progress.close()
    _print_result(args, out, contract)
    return 0


def _action_sizes(world) -> dict[str, int]:
    """Each agent group's action size in the world (discrete: choices; continuous: values)."""
    import engine

    sim = engine.make(world, 1)
    try:
        return {g: p.action_space.n for g, p in sim.groups.items()}
    finally:
        sim.close()


def _refuse_unused(args, subsystem: str, used: str, also: tuple[str, ...] = ()) -> None:
    from engine.errors import UserError

    if args.iterations is not None and args.iterations < 1:
        raise UserError(f"--iterations: expected an integer >= 1, got {args.iterations}")
    unused = [f"--{k.replace('_', '-')}" for k in ("epochs", "batch_size", "lr", "entities", "group", *also)
              if getattr(args, k) not in (None, 0.0)]
    if unused:
        raise UserError(f"{', '.join(unused)}: not used by --subsystem {subsystem}; its knobs are {used}")


def _inverse(args, world, loaded, out, opts, report) -> dict:
    """``--subsystem inverse``: frames t − 1 … t + 2 → every agent's action at t."""
    from engine.distill.inverse import InverseOptions, distill_inverse

    _refuse_unused(args, "inverse", "--iterations, --minutes and --seed", also=("horizon", "noise", "trim"))
    io = InverseOptions()
    if args.iterations:
        io.iterations = args.iterations
    return distill_inverse(args.data, out, opts, io, _action_sizes(world), list(loaded.spec.world.arena),
                           world_dir=world.parent, progress=report)


def _world_model(args, world, out, opts, report) -> dict:
    """``--subsystem world-model``: the agents' action sizes come from the world, the rest from the data."""
    import math

    from engine.distill.world_model import WorldModelOptions, distill_world_model
    from engine.errors import UserError

    if not (math.isfinite(args.noise) and args.noise >= 0):
        raise UserError(f"--noise: expected a number >= 0 (image units), got {args.noise}")
    trim = 0.1 if args.trim is None else args.trim
    if not (math.isfinite(trim) and 0 <= trim < 1):
        raise UserError(f"--trim: expected a fraction in [0, 1), got {args.trim}")
    _refuse_unused(args, "world-model", "--iterations, --horizon, --noise, --trim, --minutes and --seed")
    sizes = _action_sizes(world)
    wm = WorldModelOptions(horizon=args.horizon or 10, noise=args.noise, trim=trim)
    if args.iterations:
        wm.dynamics_iters = args.iterations
    return distill_world_model(args.data, out, opts, wm, sizes, world_dir=world.parent, progress=report)


def _print_result(args, out, contract: dict) -> None:
    """What was made, its held-out numbers, and how to use it."""
    m = contract["metrics"]
    if args.subsystem == "world-model":
        print(f"distilled world model → {out} (encoder, latent_dynamics, decoder: {contract['parameters']:,} "
              f"parameters, {contract['onnx_bytes'] / 1024:.0f} KiB) in {m['seconds']:.0f} s")
        print("held-out worlds, open loop: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if k.startswith(
            ("psnr", "centroid"))))
        print(f"measure it: worldloom drift {args.world} --world-model {out} --data HELD_OUT_RECORDING")
        return
    if args.subsystem == "inverse":
        print(f"distilled inverse model → {out / contract['onnx']} ({contract['parameters']:,} parameters, "
              f"{contract['onnx_bytes'] / 1024:.0f} KiB) in {m['seconds']:.0f} s")
        print("held-out worlds: " + ", ".join(f"{k} {v:.4g}" for k, v in m.items() if k.startswith("accuracy")
                                              or k == "visible_free_share"))
        print(f"label frames with it: worldloom label {args.world} --inverse {out} --data FRAMES --out LABELLED")
        return
    print(f"distilled {args.subsystem} → {out / contract['onnx']} ({contract['parameters']:,} parameters, "
          f"{contract['onnx_bytes'] / 1024:.0f} KiB) in {m['seconds']:.0f} s, {m['iterations']} iterations")
    print("held-out validation: " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                              for k, v in m.items() if k not in ("seconds", "iterations")))
    if contract.get("logdir"):
        print(f"TensorBoard logs: {contract['logdir']}")
    print("world-file snippet:\n")
    print(contract["yaml"])
