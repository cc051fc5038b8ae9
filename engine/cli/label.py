"""``worldloom label WORLD --inverse DIR --data SRC --out DIR``: add inferred actions to frames that have none.

SRC is a recording with frames (its own actions, if any, are not read for the labels — only to score them)
or a video of play (``.mp4``, ``.gif``; its size a whole multiple of the model's frames). The output is a
labelled recording (``engine.record.labelled``) that ``worldloom distill --subsystem world-model`` trains on.
"""

from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    from engine.cli.common import add_world_args

    p = sub.add_parser(
        "label", help="infer every agent's actions from frames (a recording or a video) with an inverse model",
        description="Run an inverse model (worldloom distill WORLD --subsystem inverse) over frames t-1 … t+2 of "
                    "every step of --data — a recording's frames or a video of play — and write a labelled "
                    "recording (frames, episode ends, inferred actions) that `worldloom distill --subsystem "
                    "world-model` can train on. A video's episode ends are inferred too. When --data is a "
                    "recording with actions, the labels are scored against them.")
    add_world_args(p)
    p.add_argument("--inverse", required=True, metavar="DIR", help="inverse model folder (distill --subsystem inverse)")
    p.add_argument("--data", required=True, metavar="SRC", help="a recording folder with frames, or a video file")
    p.add_argument("--out", required=True, metavar="DIR", help="new folder for the labelled recording")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    p.set_defaults(func=run)


def _source(data: str, size: tuple[int, int]):
    """Frames ``[S, B, H, W, 3]``, ``done`` (None for a video) and the recording (None for a video)."""
    import torch

    from engine.errors import UserError
    from engine.record.format import Recording
    from engine.record.labelled import VIDEO_SUFFIXES, frames_from_video

    path = Path(data)
    if path.is_dir():
        rec = Recording.open(path)
        frames_info = rec.manifest.get("frames")
        if not frames_info:
            raise UserError(f"--data {data}: the recording has no frames; record it with --frames")
        if (frames_info["width"], frames_info["height"]) != tuple(size):
            raise UserError(f"--data {data}: its frames are {frames_info['width']}x{frames_info['height']}, the "
                            f"inverse model sees {size[0]}x{size[1]}; record with --frame-size {size[0]}")
        a = rec.load(["frames", "done"])
        return torch.from_numpy(a["frames"]), torch.from_numpy(a["done"]), rec
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return torch.from_numpy(frames_from_video(path, size)), None, None
    if path.is_file():
        raise UserError(f"--data {data}: expected a recording folder or a video ({', '.join(VIDEO_SUFFIXES)}), "
                        f"found a {path.suffix or 'suffix-less'} file")
    raise UserError(f"--data {data}: no such file or folder")


def run(args) -> int:
    import json

    import torch

    import engine
    from engine.distill.inverse import accuracy, labelable, predict, state_mask
    from engine.errors import UserError
    from engine.learned.inverse_model import OnnxInverseModel
    from engine.paths import resolve_world
    from engine.record.labelled import write_labelled

    world = resolve_world(args.world)
    out = Path(args.out)
    if (out / "manifest.json").exists():
        raise UserError(f"--out {out}: a recording is already there; choose a new folder (nothing was overwritten)")
    model = OnnxInverseModel(args.inverse, providers="cpu")
    sim = engine.make(world, 1)
    try:
        groups = {g: p.size for g, p in sim.groups.items()}
        if groups != model.agents:
            raise UserError(f"--inverse {args.inverse}: the model labels agents {model.agents}, this world has "
                            f"{groups}; label with the world it learned")
        frames, done, rec = _source(args.data, (model.width, model.height))
        actions, done = predict(model, frames, done)
        known = labelable(done)
        facts = {"steps": int(frames.shape[0]), "worlds": int(frames.shape[1]),
                 "episodes": int(done.sum()) + int(frames.shape[1]) - int(done[-1].sum()),
                 "unlabelled_steps": int((~known).sum()), "provider": model.provider,
                 "agent_colors": [model.contract["colors"][k] for k in model.contract["agent_slots"]]}
        if rec is not None and not rec.manifest.get("labelled"):
            from engine.distill.world_model import joint_action

            sizes = {g: p.action_space.n for g, p in sim.groups.items()}
            a = rec.load([f"action.{g}" for g in groups])
            true = torch.from_numpy(joint_action(a, groups, sizes)).argmax(-1)
            facts.update(accuracy(actions, true, done, state_mask(args.data, list(sim.plan.spec.world.arena))))
        split, start = {}, 0
        for g, size in groups.items():
            split[g] = actions[:, :, start:start + size].numpy()
            start += size
        write_labelled(out, sim, world, frames.numpy(), (done | ~known).numpy(), split, source=str(args.data),
                       inverse=str(args.inverse), extra=facts)
    finally:
        sim.close()
    if args.json:
        print(json.dumps(facts))
        return 0
    print(f"labelled {facts['steps']} steps × {facts['worlds']} worlds ({facts['episodes']} episodes; "
          f"{facts['unlabelled_steps']} steps at episode ends have no label and end their episode early) → {out}")
    if "accuracy" in facts:
        line = f"agreement with the recorded actions: {facts['accuracy']:.2%} of agents' steps"
        if "accuracy_visible_free" in facts:
            line += (f", {facts['accuracy_visible_free']:.2%} on visible agents in no contact below max speed "
                     f"({facts['visible_free_share']:.0%} of them)")
        print(line)
    print(f"train on it: worldloom distill {args.world} --subsystem world-model --data {out}")
    return 0
