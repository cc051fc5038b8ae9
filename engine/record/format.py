"""The on-disk layout of a recording: ``manifest.json`` plus compressed ``.npz`` shards.

A recording is a folder::

    manifest.json           what was run (world text + sha256, overrides, seeds, B, versions, shards)
    shard-000000.npz        steps [0, T0) of all B worlds
    shard-000001.npz        steps [T0, T1) ...

Every shard is written to a temporary file and renamed, and the manifest is rewritten (atomically)
after each shard, so a recording killed at any moment leaves only complete shards, all listed in the
manifest (a shard written but not yet listed is simply ignored by readers).

Arrays in a shard are time-major, ``[T, B, ...]`` (T steps of the shard, B worlds), loadable with
``np.load(path, allow_pickle=False)``. Format version 1 (``FORMAT_VERSION``):

==========================  ======================  ===================================================
key                         shape, dtype            meaning
==========================  ======================  ===================================================
``step``                    [T] int64               global step index (0 = first step after reset)
``state.<component>``       [T, B, N, ...]          every entity component *before* the step (pos, vel,
                                                    mass, radius, color, ..., ``alive``)
``state.tick``              [T, B] int64            ticks since the world's episode started
``next.<component>``        [T, B, N, ...]          the same components *after* the step; for worlds
                                                    with ``done`` this is the first state of the next
                                                    episode (autoreset), not the end of this one
``action.<group>``          [T, B, A] int64 or      actions applied in the step (random for external
                            [T, B, A, 5] float32    groups, read back for groups a system controls)
``action_force``            [T, B, N, 2] float32    forces the actions produced (when the world has it)
``obs.<group>``             [T, B, A, F] float32    observation before the step
``next_obs.<group>``        [T, B, A, F] float32    observation returned by the step (autoreset)
``final_obs.<group>``       [T, B, A, F] float32    last observation of the episode where ``done``,
                                                    else equal to ``next_obs``
``reward.<group>``          [T, B, A] float32       rewards of the step
``terminated.<group>``      [T, B, A] bool
``truncated.<group>``       [T, B, A] bool
``done``                    [T, B] bool             the world's episode ended in this step
``metric.<plugin>.<m>``     [T, B] float32          plugin metrics of the step (shadow drift, nonfinite)
``frames``                  [T, B, H, W, 3] uint8   (``--frames``) GL render of the state before the step
==========================  ======================  ===================================================

Why time-major with ``next.*`` stored explicitly: a consumer (replay, distillation) reads one shard
and has whole transitions, even across shard boundaries and autoresets, without stitching.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.fileio import atomic_write_bytes, atomic_write_text

#: Bumped whenever the meaning or layout of a key changes; readers refuse newer versions.
FORMAT_VERSION = 1
FORMAT_NAME = "worldloom.recording"
MANIFEST = "manifest.json"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (models, world files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.npz"


def write_shard(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> str:
    """Write ``arrays`` as a compressed ``.npz`` atomically; returns the sha256 of the bytes written."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def write_manifest(folder: str | os.PathLike, manifest: dict[str, Any]) -> None:
    atomic_write_text(Path(folder) / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


@dataclass
class Recording:
    """A recording folder opened for reading: its manifest and lazy access to its shards.

    Example:
        >>> rec = Recording.open("runs/rec")
        >>> rec.num_worlds, rec.steps_recorded
        (64, 500)
        >>> for shard in rec.shards():
        ...     pos = shard["state.pos"]      # [T, 64, N, 2]
    """

    folder: Path
    manifest: dict[str, Any]

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Recording:
        folder = Path(folder)
        path = folder / MANIFEST
        if not path.is_file():
            raise UserError(f"{folder}: not a recording (no {MANIFEST}); make one with `worldloom record`")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"{path}: unreadable manifest ({e})") from None
        if manifest.get("format") != FORMAT_NAME:
            raise UserError(f"{path}: expected format {FORMAT_NAME!r}, got {manifest.get('format')!r}")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UserError(f"{path}: recording format version {version!r} is newer than this worldloom reads "
                            f"({FORMAT_VERSION}); upgrade worldloom")
        return cls(folder, manifest)

    @property
    def num_worlds(self) -> int:
        return int(self.manifest["num_worlds"])

    @property
    def steps_recorded(self) -> int:
        return int(self.manifest["steps_recorded"])

    def shard_files(self) -> list[Path]:
        return [self.folder / s["file"] for s in self.manifest["shards"]]

    def verify(self) -> None:
        """Check every listed shard against the sha256 the manifest recorded (UserError if not)."""
        for entry in self.manifest["shards"]:
            path = self.folder / entry["file"]
            if not path.is_file():
                raise UserError(f"{path}: listed in the manifest but missing")
            if sha256_file(path) != entry["sha256"]:
                raise UserError(f"{path}: contents differ from the manifest's sha256 (corrupted or replaced)")

    def shards(self, keys: list[str] | None = None):
        """Yield each listed shard as a dict of numpy arrays (only ``keys`` when given)."""
        for path in self.shard_files():
            with np.load(path, allow_pickle=False) as z:
                names = z.files if keys is None else [k for k in keys if k in z.files]
                yield {k: z[k] for k in names}

    def load(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The given keys of every shard, concatenated along time ``[S, B, ...]``."""
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for shard in self.shards(keys):
            for k in keys:
                if k not in shard:
                    raise UserError(f"{self.folder}: recording has no array {k!r} (record it with the "
                                    "matching option, e.g. --frames)")
                parts[k].append(shard[k])
        if not self.manifest["shards"]:
            raise UserError(f"{self.folder}: the recording has no complete shard yet")
        return {k: np.concatenate(v, 0) for k, v in parts.items()}
