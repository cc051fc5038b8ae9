"""``worldloom train WORLD``: train the world's external agent groups with PPO and export them to ONNX."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    from engine.cli.common import add_sim_args, add_world_args

    p = sub.add_parser(
        "train", help="train agent groups with PPO and export their policies to ONNX",
        description="Train every external agent group of a world (or --groups) with PPO, parameters shared "
                    "within each group. Settings come from --config (default: engine/train/configs/<world>.yaml "
                    "or default.yaml) and --cfg overrides; --set overrides the world file as everywhere. "
                    "Writes TensorBoard logs, metrics.csv and checkpoints under --out, and exports each trained "
                    "group to ONNX in --export with a README and the YAML snippet that makes it an NPC.")
    add_world_args(p)
    add_sim_args(p, worlds=1)
    for a in p._actions:  # the config file gives the batch size unless --worlds says otherwise
        if a.dest == "worlds":
            a.default, a.help = None, "worlds simulated together (default: the config's worlds)"
    p.add_argument("--config", help="training config YAML (default: engine/train/configs/<world>.yaml)")
    p.add_argument("--cfg", dest="cfg_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a training setting, e.g. --cfg lr=0.001 --cfg critic=central; repeatable")
    p.add_argument("--steps", type=int, help="environment steps to train for, ticks × worlds "
                                             "(default: the config's total_steps)")
    p.add_argument("--groups", help="comma-separated agent groups to train (default: the config's, else all "
                                    "external groups)")
    p.add_argument("--out", help="run folder for logs and checkpoints (default: runs/<world>-<time>)")
    p.add_argument("--resume", metavar="CKPT", help="continue from a checkpoint (its config unless --config); with "
                                                    "--ray, an RLlib checkpoint folder (checkpoints/final)")
    p.add_argument("--export", dest="export_dir", help="folder for the ONNX policies (default: plugins/<world>_npc)")
    p.add_argument("--export-every", type=int, help="also export every N updates (default: the config's)")
    p.add_argument("--no-export", action="store_true", help="do not export ONNX policies")
    p.add_argument("--json", action="store_true", help="print the final summary as one JSON line")
    r = p.add_argument_group("RLlib on Ray (--ray): RLlib's PPO with batched env runners, locally or on a cluster")
    r.add_argument("--ray", action="store_true",
                   help="train with RLlib PPO on Ray instead of worldloom's PPO: each env runner steps --worlds worlds "
                        "at once; runs in tools/ray/.venv (built by tools/setup.sh)")
    r.add_argument("--address", help="Ray cluster to join (ray start --head prints it; default: RAY_ADDRESS, else "
                                     "a local Ray instance)")
    r.add_argument("--num-env-runners", type=int, default=1, metavar="N",
                   help="RLlib env runners (Ray actors, one CPU each), each with --worlds worlds (default 1)")
    p.add_argument("--iterations", type=int, metavar="K",
                   help="PPO iterations (updates), with or without --ray (default: --steps or the config's "
                        "total_steps ÷ the batch)")
    r.add_argument("--num-cpus", type=int, metavar="N", help="CPUs of the local Ray instance (default: all)")
    r.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="also write an RLlib checkpoint every K iterations (the final one is always written)")
    r.add_argument("--ship-engine", action="store_true",
                   help="send this worldloom package to the cluster with the job (Ray runtime_env py_modules) "
                        "instead of relying on worldloom being installed on every node")
    p.set_defaults(func=run)


def run(args) -> int:
    if getattr(args, "ray", False):
        from engine.integrations.rllib_train import run_or_delegate

        return run_or_delegate(args, sys.argv[1:])
    import torch

    from engine.cli.common import parse_overrides
    from engine.errors import UserError
    from engine.paths import resolve_world
    from engine.train.checkpoint import load_checkpoint
    from engine.train.config import load_config
    from engine.train.ppo import PPOTrainer

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available on this machine; use --device cpu")
    threads = _threads(args)
    world_file = resolve_world(args.world)
    stem = world_file.stem
    ckpt = load_checkpoint(args.resume) if args.resume else None
    cfg = load_config(args.config, world=world_file, overrides=parse_overrides(args.cfg_overrides),
                      base=ckpt["config"] if ckpt is not None and not args.config else None)
    cfg = cfg.replace(**_config_changes(args))
    if args.iterations is not None:  # PPO updates, as with --ray: each is --worlds × rollout ticks
        cfg = cfg.replace(total_steps=args.iterations * cfg.worlds * cfg.rollout)
    out = Path(args.out) if args.out else Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    export_dir = Path(args.export_dir) if args.export_dir else _plugins_dir() / f"{stem}_npc"
    world_overrides = dict(ckpt.get("world_overrides", {})) if ckpt is not None else {}
    world_overrides.update(parse_overrides(args.overrides))
    trainer = PPOTrainer(world_file, cfg, seed=args.seed, device=args.device, world_overrides=world_overrides,
                         compile=args.compile, threads=threads, out_dir=out)
    if args.resume:
        trainer.load(args.resume)
    if not args.json:
        _print_plan(args, trainer, cfg, out)

    command = "worldloom " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["train"] else None

    def on_update(tr: PPOTrainer, row: dict) -> None:
        if not args.no_export and cfg.export_every and tr.update % cfg.export_every == 0:
            tr.export(export_dir, world_file=world_file, world_name=args.world, command=command)

    summary = trainer.train(progress=not args.json, on_update=on_update)
    paths = {} if args.no_export else trainer.export(export_dir, world_file=world_file, world_name=args.world,
                                                     command=command)
    summary["exported"] = {g: str(p) for g, p in paths.items()}
    summary["out"] = str(out)
    from engine.fileio import atomic_write_text

    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    if args.json:
        print(json.dumps(summary, default=float))
        return 0
    _print_summary(summary, out)
    if paths:
        _print_exported(trainer, paths, export_dir, world_file)
    return 0


def _threads(args) -> int | str:
    from engine.cli.common import parse_threads

    return parse_threads(args.threads)


def _config_changes(args) -> dict:
    """Training settings the command line overrides: --worlds, --steps, --groups, --export-every."""
    from engine.errors import UserError

    changes = {}
    if args.worlds is not None:
        if args.worlds < 1:
            raise UserError(f"--worlds: expected an integer >= 1, got {args.worlds}")
        changes["worlds"] = args.worlds
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps: expected an integer >= 1, got {args.steps}")
        changes["total_steps"] = args.steps
    if args.iterations is not None:
        if args.iterations < 1:
            raise UserError(f"--iterations: expected an integer >= 1, got {args.iterations}")
        if args.steps is not None:
            raise UserError("--steps and --iterations both say how long to train; expected one of them")
    if args.groups:
        changes["groups"] = [g.strip() for g in args.groups.split(",") if g.strip()]
    if args.export_every is not None:
        if args.export_every < 0:
            raise UserError(f"--export-every: expected an integer >= 0, got {args.export_every}")
        changes["export_every"] = args.export_every
    return changes


def _print_plan(args, trainer, cfg, out: Path) -> None:
    """One line saying what will be trained, against whom, on how many worlds, and where the logs go."""
    import torch

    sim = trainer.sim
    opponents = ", ".join(f"{g}={cfg.opponents.get(g, 'random')}" for g in trainer.opponents)
    print(f"train {sim.plan.spec.name!r}: {', '.join(trainer.learners)} with PPO ({cfg.critic} critic) on "
          f"{cfg.worlds} worlds × {cfg.rollout} ticks per update, {trainer.num_updates} updates "
          f"({trainer.num_updates * trainer.batch_ticks:,} env steps); "
          + (f"opponents: {opponents}; " if opponents else "")
          + (f"in-world: {', '.join(f'{g} by {s}' for g, s in sim.controlled_by.items())}; " if sim.controlled_by
             else "")
          + f"torch threads {torch.get_num_threads()}, {'compiled' if args.compile else 'eager'}; "
          f"logs in {out}" + (f"; resumed at update {trainer.update}" if args.resume else ""))


def _print_summary(summary: dict, out: Path) -> None:
    """Updates, steps, throughput and where the time went; the last mean returns and metrics; the checkpoint."""
    last = summary["last"]
    print(f"done: {summary['updates']} updates, {summary['global_step']:,} env steps "
          f"({summary['agent_steps']:,} agent-steps) in {summary['wall_s']:.1f} s")
    print(f"throughput: {summary['agent_steps_per_s']:,.0f} agent-steps/s overall, "
          f"{summary['sim_agent_steps_per_s']:,.0f} in the simulation alone; time: "
          f"simulation {100 * summary['share_sim']:.0f}%, acting (policy + controllers) "
          f"{100 * summary['share_act']:.0f}%, learning {100 * summary['share_learn']:.0f}%, "
          f"logging/checkpoints {100 * summary['share_other']:.0f}%")
    for k, v in last.items():
        if k.startswith(("return/", "metric.")):
            print(f"  last mean {k.replace('metric.', '')}: {v:.3f}")
    print(f"checkpoint: {out / 'checkpoints' / 'final.pt'}")


def _print_exported(trainer, paths: dict, export_dir: Path, world_file: Path) -> None:
    """Where the ONNX policies went and the YAML snippet that makes them NPCs."""
    from engine.train.export import output_name, plugin_snippet

    print(f"exported: {', '.join(str(p) for p in paths.values())} (see {export_dir / 'README.md'})")
    print("add this to the world file to make them NPCs:\n")
    print(plugin_snippet({g: output_name(trainer.learners[g].actor) for g in paths}, paths, world_file))


def _plugins_dir() -> Path:
    from engine.paths import resource_dir

    return resource_dir("plugins")
