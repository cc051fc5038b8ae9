"""``worldloom record WORLD [--out DIR] [--video FILE]``: record transitions (and frames, a video) of a world.

Agents no system controls take seeded random actions; the rest follow the world file's controllers,
and what they really did is read back after each step. With only ``--video`` no shards are written:
the same trajectory (same seeds, same actions) is stepped and world 0 filmed after each step.
See ``engine/record/format.py`` for the shard layout and docs/world-models.md for the whole loop.
"""

from __future__ import annotations

import contextlib
from typing import Any

from engine.cli.common import Progress, add_sim_args, add_world_args, make_sim, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("record", help="record transitions (and frames) of a world into .npz shards, or a video",
                       description="Run B copies of a world for S steps and record every transition (state, "
                                   "actions, next state, observations, rewards, done) into compressed .npz "
                                   "shards with a manifest.json that pins the world, overrides, seeds and "
                                   "versions (--out), and/or film world 0 into a video (--video). Shards are "
                                   "written atomically: a killed run leaves readable shards. Replay with "
                                   "`worldloom replay DIR`.")
    add_world_args(p)
    add_sim_args(p, worlds=16, compile_default=False)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder to write the recording's shards into (created); optional with --video")
    p.add_argument("--steps", type=int, default=500, help="steps to record (default 500)")
    p.add_argument("--action-seed", type=int, default=None,
                   help="seed of the random actions of external groups (default: --seed)")
    p.add_argument("--shard-steps", type=int, default=None,
                   help="steps per shard (default 100, fewer with --frames so a shard stays ~64 MB raw)")
    p.add_argument("--frames", action="store_true", help="also store offscreen GL frames of every world")
    p.add_argument("--frame-size", type=int, default=64, help="frame width = height in pixels (default 64)")
    p.add_argument("--video", default=None, metavar="FILE",
                   help="write an .mp4 (or .gif) of world 0 (alone, or beside --out)")
    p.add_argument("--dream", default=None, metavar="DIR",
                   help="with --video: film world 0 beside a pixel world model's dream of it (a folder from "
                        "`distill --subsystem world-model`), both on the same actions")
    p.add_argument("--fps", type=float, default=10.0, help="video frames per second (default 10 = 1/dt of tag)")
    p.set_defaults(func=run)


def run(args) -> int:
    _check_args(args)
    video = _open_video(args)
    sim = make_sim(args)
    progress = Progress(args.steps, "record")
    # the video is published only when the recording finishes; an interrupted one discards it
    with video if video is not None else contextlib.nullcontext():
        try:
            if args.out is None:
                _film(sim, args, video, progress)
            else:
                manifest = _record(sim, args, video, progress)
        finally:
            progress.close()
    if args.out is None:
        print(f"recorded {args.steps} steps of world 0 of {sim.plan.spec.name!r} into the video {args.video} "
              f"({video.frames} frames; no shards without --out)")
        return 0
    frames = manifest["frames"]["width"] if manifest["frames"] else None
    print(f"recorded {manifest['steps_recorded']} steps × {sim.num_worlds} worlds of {sim.plan.spec.name!r} "
          f"into {args.out} ({len(manifest['shards'])} shards{', frames ' + str(frames) + 'px' if frames else ''})"
          + (f"; video {args.video}" if video is not None else ""))
    return 0


def _check_args(args) -> None:
    """Refuse argument combinations that would do nothing, or silently ignore a flag."""
    from engine.errors import UserError

    if args.out is None and args.video is None:
        raise UserError("nothing to write: expected --out DIR (transition shards), --video FILE (a clip of "
                        "world 0), or both; e.g. `worldloom record tag --video tag.mp4`")
    if args.steps < 1:
        raise UserError(f"--steps: expected an integer >= 1, got {args.steps}")
    if args.out is None and (args.frames or args.shard_steps is not None):
        flag = "--frames" if args.frames else "--shard-steps"
        raise UserError(f"{flag}: frames and shards are stored in the recording folder; add --out DIR")
    if args.dream is not None and (args.video is None or args.out is not None):
        raise UserError("--dream films world 0 beside the dream into --video FILE; give --video, without --out")
    if args.frames and not 8 <= args.frame_size <= 1024:
        raise UserError(f"--frame-size: expected 8..1024 pixels, got {args.frame_size}")


def _open_video(args):
    """The ``VideoWriter`` of ``--video`` (nothing is written before its first frame), or None."""
    if not args.video:
        return None
    from engine.errors import UserError
    from engine.render import VideoWriter

    try:
        return VideoWriter(args.video, fps=args.fps)
    except ValueError as e:
        raise UserError(f"--video: {e}") from None


def _record(sim, args, video, progress: Progress) -> dict[str, Any]:
    """Record the shards of ``--out`` (and film world 0 into ``video`` after each step); the manifest."""
    import torch

    from engine.errors import UserError
    from engine.record.recorder import Recorder

    frames = args.frame_size if args.frames else None
    shard_steps = args.shard_steps
    if shard_steps is None:
        shard_steps = 100
        if frames:
            per_step = sim.num_worlds * frames * frames * 3
            shard_steps = max(1, min(100, (64 << 20) // per_step))
    if shard_steps < 1:
        raise UserError(f"--shard-steps: expected an integer >= 1, got {shard_steps}")
    rec = Recorder(sim, args.out, world_path=sim.plan.loaded.path, overrides=parse_overrides(args.overrides),
                   seed=args.seed, action_seed=args.action_seed, shard_steps=shard_steps, frames=frames,
                   compiled=args.compile, threads=torch.get_num_threads())

    def on_step(i: int, frame0) -> None:
        if video is not None:
            video.append(sim.render(0))
        progress.update(i + 1, f"shards {len(rec.manifest['shards'])}")

    return rec.run(args.steps, on_step)


def _film(sim, args, video, progress: Progress) -> None:
    """Step the trajectory ``Recorder.run`` would record and film world 0 after each step; write no shards.

    Same seeds and the same action draws as a recording (reset with ``--seed``, external groups'
    actions from a generator seeded with ``--action-seed``), so the clip matches ``--out``'s shards.
    """
    import torch

    action_seed = args.seed if args.action_seed is None else args.action_seed
    gen = torch.Generator(device=sim.device).manual_seed(action_seed)
    sim.reset(seed=args.seed)
    dream = None
    if args.dream is not None:
        from engine.record.dream import DreamFilm

        dream = DreamFilm(sim, args.dream)
        video.append(dream.start())
    for i in range(args.steps):
        sim.step(sim.sample_actions(gen))
        video.append(dream.after_step() if dream is not None else sim.render(0))
        progress.update(i + 1, f"frames {video.frames}")
    if dream is not None:
        print(f"dream vs world 0, PSNR by steps since the episode started: {dream.summary()}")
