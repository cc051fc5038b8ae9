"""Labelled recordings: frames with actions inferred by an inverse model (``worldloom label``).

A labelled recording is a recording folder (manifest + ``.npz`` shards, ``engine.record.format``) that holds
``frames``, ``done`` and one ``action.<group>`` per agent group — no engine state: it was made from frames
alone (another recording's frames, or a video). Its manifest's ``labelled`` entry names the source and the
inverse model. ``worldloom distill --subsystem world-model`` trains on it like on any recording with frames;
readers that need state (replay, dynamics distillation) refuse it by name.

Steps whose action cannot show in the frames (the last two of each episode: frames t + 1 and t + 2 are
needed) end their episode early: ``done`` is set there, so no training window uses a guessed action.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.record.format import FORMAT_NAME, FORMAT_VERSION, sha256_file, shard_name, write_manifest, write_shard

#: steps per shard (64 worlds × 100 steps × 64 × 64 × 3 bytes ≈ 79 MB before compression)
SHARD_STEPS = 100
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".gif")


#: the most frames a video may give `worldloom label` (at 64 × 64, 1.2 GB of frames)
MAX_VIDEO_FRAMES = 100_000


def frames_from_video(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """``[T, 1, H, W, 3]`` uint8 frames of a video, reduced to ``size`` (W, H) by averaging blocks of pixels:
    the video's width and height must be whole multiples of the model's (a 256 × 256 clip of a 64 × 64 world).
    Read frame by frame, each reduced at once, so a long or large video never sits in memory whole."""
    import imageio.v3 as iio

    W, H = size
    out: list[np.ndarray] = []
    try:
        for frame in iio.imiter(path):
            out.append(_reduce(np.asarray(frame), path, W, H))
            if len(out) > MAX_VIDEO_FRAMES:
                raise UserError(f"--data {path}: more than {MAX_VIDEO_FRAMES} frames; cut the video into parts")
    except UserError:
        raise
    except Exception as e:  # imageio names the codec or container problem
        raise UserError(f"--data {path}: could not read the video ({type(e).__name__}: {e}); expected an .mp4 "
                        "(H.264) or .gif, e.g. from `worldloom record WORLD --video F`") from None
    if len(out) < 4:
        raise UserError(f"--data {path}: expected at least 4 frames (t - 1 … t + 2), found {len(out)}")
    return np.ascontiguousarray(np.stack(out)[:, None])


def _reduce(frame: np.ndarray, path, W: int, H: int) -> np.ndarray:
    """One RGB(A) frame → ``[H, W, 3]`` uint8 by block averaging (UserError when the sizes do not divide)."""
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4) or frame.dtype != np.uint8:
        raise UserError(f"--data {path}: expected 8-bit RGB frames, found {frame.dtype} of shape {list(frame.shape)}")
    h, w = frame.shape[:2]
    if h % H or w % W or h // H != w // W:
        raise UserError(f"--data {path}: the video is {w}x{h}; the model sees {W}x{H} frames: expected a whole "
                        f"multiple of it ({W * 2}x{H * 2}, {W * 4}x{H * 4}, …); record the video at a multiple "
                        "or resize it")
    f = h // H
    frame = frame[..., :3]
    if f > 1:
        frame = frame.reshape(H, f, W, f, 3).astype(np.float32).mean((1, 3)).round().astype(np.uint8)
    return frame


def world_entry(world_path: Path) -> dict[str, str]:
    return {"name": "", "path": str(world_path.resolve()), "sha256": sha256_file(world_path),
            "text": world_path.read_text()}


def write_labelled(out: str | os.PathLike, sim, world_path: Path, frames: np.ndarray, done: np.ndarray,
                   actions: dict[str, np.ndarray], *, source: str, inverse: str, extra: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Write a labelled recording into the new folder ``out``; returns its manifest.

    ``sim`` (any B) gives the world's layout and groups; ``frames [S, B, H, W, 3]`` uint8, ``done [S, B]``,
    ``actions``: group → ``[S, B, A]`` int64. The shards are written first, the manifest last (atomically), so
    an interrupted run leaves no folder that reads as complete."""
    out = Path(out)
    if (out / "manifest.json").exists():
        raise UserError(f"--out {out}: a recording is already there; choose a new folder (nothing was overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    S, B, H, W = frames.shape[:4]
    arrays = {"step": np.arange(S, dtype=np.int64), "done": done.astype(bool), "frames": frames,
              **{f"action.{g}": a.astype(np.int64) for g, a in actions.items()}}
    shards = []
    for i, start in enumerate(range(0, S, SHARD_STEPS)):
        stop = min(S, start + SHARD_STEPS)
        digest = write_shard(out / shard_name(i), {k: v[start:stop] for k, v in arrays.items()})
        shards.append({"file": shard_name(i), "steps": [start, stop], "sha256": digest})
    groups = {g.name: {"size": g.size, "action_type": g.action_type, "controlled_by": None, "obs_size": g.obs_size}
              for g in sim.groups.values()}
    manifest = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "complete": True, "world": {**world_entry(world_path), "name": sim.plan.spec.name}, "overrides": {},
        "seed": 0, "action_seed": 0, "num_worlds": B, "num_entities": sim.layout.n,
        "entity_types": {name: [sl.start, sl.stop] for name, sl in sim.layout.types.items()},
        "groups": groups, "entity_keys": [], "key_scopes": {}, "steps_requested": S, "steps_recorded": S,
        "device": "cpu", "compiled": False, "threads": 1, "frames": {"width": W, "height": H},
        "labelled": {"source": str(source), "inverse": str(inverse)}, "label_facts": extra or {},
        "arrays": {k: {"dtype": str(v.dtype), "shape_per_step": list(v.shape[1:])} for k, v in arrays.items()},
        "shards": shards,
    }
    write_manifest(out, manifest)
    return manifest
