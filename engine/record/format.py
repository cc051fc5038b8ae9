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
                                                    mass, radius, color, ..., ``alive``) and every other
                                                    ``record=True`` entry (leading axes by its scope,
                                                    manifest ``key_scopes``: world → [T, B, ...])
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

**Damaged or crafted recordings.** A recording folder may come from anywhere (a killed run, a full
disk, a colleague), so readers trust nothing in it. ``Recording.open`` checks the manifest against
``MANIFEST_KEYS`` (every key a reader uses, with its type and range; shard files must be plain names
inside the folder) and that the shards' step ranges add up to ``steps_recorded``. Before a shard's
arrays are loaded, ``Recording.check_shard`` reads only its zip directory and ``.npy`` headers: every
member must be a numeric ``.npy`` array, their declared sizes (shape × itemsize) must fit
``MAX_SHARD_BYTES`` (2 GiB), and every array's shape and dtype must agree with the manifest (``[T, B,
...]`` with T the shard's steps and B ``num_worlds``; ``[T, B, N, ...]`` for per-entity arrays;
``arrays`` when the manifest lists it). Arrays are always loaded with ``allow_pickle=False``. Every
problem is a ``RecordingError`` (a ``UserError``: one line, exit status 2) that names the file, what
is wrong, and the fix. An empty recording (killed before its first shard) opens, but replay and
distillation refuse it (``Recording.require_steps``).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import UserError
from engine.fileio import atomic_write_bytes, atomic_write_text

#: Bumped whenever the meaning or layout of a key changes; readers refuse newer versions.
FORMAT_VERSION = 1
FORMAT_NAME = "worldloom.recording"
MANIFEST = "manifest.json"

#: The most memory one shard's arrays may take once loaded (the sum of shape × itemsize that the
#: ``.npy`` headers declare, checked before anything is loaded). ``Recorder`` cuts shards below it.
MAX_SHARD_BYTES = 2 << 30
#: The largest ``manifest.json`` read (it holds the world file's text; a real one is a few KiB).
MAX_MANIFEST_BYTES = 64 << 20
#: The most members (arrays) a shard may have.
MAX_SHARD_MEMBERS = 10_000
_COUNT = 1 << 40  # loose upper bound of counts in a manifest (worlds, entities, steps)
_SEED = (-(1 << 63), (1 << 64) - 1)  # what torch.manual_seed accepts

#: The fix named by errors about a damaged recording.
RERECORD = "re-record it with `worldloom record`"
#: (shape, dtype) of one array of a shard, as its ``.npy`` header declares it.
Header = tuple[tuple[int, ...], np.dtype]


class RecordingError(UserError):
    """A damaged, incomplete or inconsistent recording: ``file: what is wrong; how to fix it``.

    Example:
        >>> str(RecordingError("rec/manifest.json", "missing key 'world'"))
        "rec/manifest.json: missing key 'world'; re-record it with `worldloom record`"
    """

    def __init__(self, file: str | os.PathLike, problem: str, fix: str | None = RERECORD) -> None:
        self.file, self.problem, self.fix = str(file), problem, fix
        super().__init__(f"{self.file}: {problem}" + (f"; {fix}" if fix else ""))


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


# --- the manifest: a table of the keys readers use, checked on open ------------------------------

_MISSING = object()
Check = Callable[[Any, str], None]


class _Bad(Exception):
    """A manifest value that does not match ``MANIFEST_KEYS``: where it is, what was expected, what is there."""

    def __init__(self, where: str, expected: str, got: Any = _MISSING) -> None:
        self.where, self.expected, self.got = where, expected, got
        super().__init__(self.message())

    def message(self) -> str:
        if self.got is _MISSING:
            return f"missing key {self.where!r}"
        return f"{self.where}: expected {self.expected}, got {_show(self.got)}"


def _show(value: Any) -> str:
    """A value of the manifest as one short line (JSON, cut at 60 characters)."""
    text = json.dumps(value, allow_nan=True)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(lo: int, hi: int) -> Check:
    def check(v: Any, where: str) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise _Bad(where, f"an integer in {lo}..{hi}", v)
    return check


def _bool(v: Any, where: str) -> None:
    if not isinstance(v, bool):
        raise _Bad(where, "true or false", v)


def _str(v: Any, where: str) -> None:
    if not isinstance(v, str) or "\x00" in v:
        raise _Bad(where, "a string", v)


def _path(v: Any, where: str) -> None:
    if not isinstance(v, str) or "\x00" in v or not os.path.isabs(v):
        raise _Bad(where, "an absolute file path", v)


def _sha256(v: Any, where: str) -> None:
    if not (isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)):
        raise _Bad(where, "a sha256 (64 hex digits)", v)


def _file_name(v: Any, where: str) -> None:
    """A plain ``.npz`` file name inside the recording folder: never a path (``../x``, ``/x``, ``a/b``)."""
    if not (isinstance(v, str) and v.endswith(".npz") and not v.startswith(".") and v.isprintable()
            and "/" not in v and "\\" not in v and os.sep not in v and Path(v).name == v):
        raise _Bad(where, "a plain .npz file name inside the recording folder (no '/', '..' or absolute path)", v)


def _dtype(v: Any, where: str) -> None:
    try:
        ok = isinstance(v, str) and len(v) <= 16 and np.dtype(v).kind in "biuf"
    except (TypeError, ValueError, SyntaxError):
        ok = False
    if not ok:
        raise _Bad(where, "the name of a numeric or bool numpy dtype (e.g. float32)", v)


def _opt(check: Check) -> Check:
    def opt(v: Any, where: str) -> None:
        if v is not None:
            check(v, where)
    return opt


def _list(item: Check, length: int | None = None) -> Check:
    def check(v: Any, where: str) -> None:
        if not isinstance(v, list) or (length is not None and len(v) != length):
            raise _Bad(where, "a list" if length is None else f"a list of {length}", v)
        for i, x in enumerate(v):
            item(x, f"{where}[{i}]")
    return check


def _obj(required: dict[str, Check], optional: dict[str, Check] | None = None) -> Check:
    """A JSON object with these keys (others are ignored: newer writers may add some)."""
    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(where or "the manifest", "a JSON object {...}", v)
        for key, item in [*required.items(), *(optional or {}).items()]:
            sub = _sub(where, key)
            if key in v:
                item(v[key], sub)
            elif key in required:
                raise _Bad(sub, "")
    return check


def _map(value: Check) -> Check:
    """A JSON object of any keys, each value checked by ``value``."""
    def check(v: Any, where: str) -> None:
        if not isinstance(v, dict):
            raise _Bad(where, "a JSON object {...}", v)
        for k, x in v.items():
            value(x, _sub(where, k))
    return check


def _sub(where: str, key: str) -> str:
    """``where.key``, the key quoted when it is not a short printable name (messages stay one line)."""
    shown = key if key.isprintable() and 0 < len(key) <= 60 else _show(key)
    return f"{where}.{shown}" if where else shown


def _any(v: Any, where: str) -> None:
    pass


#: Every manifest key a reader (replay, distillation) uses, with its type and range. Keys not listed
#: here (``created``, ``versions``, ``onnxruntime``, ...) are informative and not checked.
MANIFEST_KEYS: dict[str, Check] = {
    "format": _str,
    "format_version": _int(1, FORMAT_VERSION),
    "complete": _bool,
    "world": _obj({"name": _str, "path": _path, "sha256": _sha256, "text": _str}),
    "seed": _int(*_SEED),
    "action_seed": _int(*_SEED),
    "num_worlds": _int(1, _COUNT),
    "num_entities": _int(0, _COUNT),
    "entity_types": _map(_list(_int(0, _COUNT), length=2)),
    "entity_keys": _list(_str),
    "groups": _map(_obj({"size": _int(0, _COUNT), "action_type": _str, "controlled_by": _opt(_str),
                         "obs_size": _int(0, _COUNT)})),
    "steps_recorded": _int(0, _COUNT),
    "device": _str,
    "compiled": _bool,
    "threads": _int(1, 4096),
    "shards": _list(_obj({"file": _file_name, "steps": _list(_int(0, _COUNT), length=2), "sha256": _sha256})),
}
#: Keys that may be absent (older or partial manifests), checked when present.
MANIFEST_OPTIONAL_KEYS: dict[str, Check] = {
    "overrides": _opt(_map(_any)),
    "steps_requested": _int(0, _COUNT),
    "frames": _opt(_obj({"width": _int(1, 1 << 16), "height": _int(1, 1 << 16)})),
    "plugins": _opt(_map(_obj({"sha256": _sha256}))),
    "arrays": _map(_obj({"dtype": _dtype, "shape_per_step": _list(_int(0, _COUNT))})),
    "key_scopes": _map(_str),
    "labelled": _opt(_obj({"source": _str, "inverse": _str})),
}


def validate_manifest(manifest: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Check a parsed ``manifest.json`` against ``MANIFEST_KEYS`` and itself; RecordingError naming ``path``."""
    if not isinstance(manifest, dict):
        raise RecordingError(path, f"expected a JSON object {{...}}, got {type(manifest).__name__} "
                                   f"{_show(manifest)}")
    if manifest.get("format") != FORMAT_NAME:
        raise RecordingError(path, f"expected format {FORMAT_NAME!r}, got {_show(manifest.get('format'))}; not a "
                                   "worldloom recording", fix=None)
    version = manifest.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise RecordingError(path, f"recording format version {version!r} is newer than this worldloom reads "
                                   f"({FORMAT_VERSION})", fix="upgrade worldloom")
    try:
        _obj(MANIFEST_KEYS, MANIFEST_OPTIONAL_KEYS)(manifest, "")
        _check_consistency(manifest)
    except _Bad as e:
        raise RecordingError(path, e.message()) from None
    return manifest


def _check_consistency(m: dict[str, Any]) -> None:
    """What the types alone do not say: ranges inside the entity axis, shards that tile the steps."""
    n = m["num_entities"]
    if m.get("labelled") and not m.get("frames"):
        raise _Bad("frames", "the frame size {width, height} (a labelled recording holds frames)", m.get("frames"))
    for name, (start, stop) in m["entity_types"].items():
        if not start <= stop <= n:
            raise _Bad(f"entity_types.{name}", f"[start, stop] with start <= stop <= num_entities ({n})", [start, stop])
    for name, g in m["groups"].items():
        if g["size"] > n:
            raise _Bad(f"groups.{name}.size", f"at most num_entities ({n})", g["size"])
    if len(set(m["entity_keys"])) != len(m["entity_keys"]):
        raise _Bad("entity_keys", "distinct names", m["entity_keys"])
    scopes = m.get("key_scopes")
    if scopes is not None:
        allowed = {"entity", "group", "world", "global", *(f"agent:{g}" for g in m["groups"])}
        for k in m["entity_keys"]:
            if scopes.get(k) not in allowed:
                raise _Bad(_sub("key_scopes", k), "one of " + ", ".join(sorted(allowed)), scopes.get(k))
    covered, names = 0, set()
    for i, shard in enumerate(m["shards"]):
        start, stop = shard["steps"]
        if start != covered or stop <= start:
            raise _Bad(f"shards[{i}].steps", f"[{covered}, n] with n > {covered} (each shard continues the last)",
                       [start, stop])
        if shard["file"] in names:
            raise _Bad(f"shards[{i}].file", "a file no other shard lists", shard["file"])
        covered, names = stop, names | {shard["file"]}
    if m["steps_recorded"] != covered:
        raise _Bad("steps_recorded", f"{covered}, the steps the listed shards cover", m["steps_recorded"])


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise RecordingError(folder, f"not a recording (no {MANIFEST})", fix="make one with `worldloom record`")
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise RecordingError(path, f"{size} bytes, more than a manifest can be ({MAX_MANIFEST_BYTES})")
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RecordingError(path, f"unreadable ({e})") from None
    if not text.strip():
        raise RecordingError(path, "empty file, expected the recording's JSON manifest")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordingError(path, f"not valid JSON ({e}); truncated or damaged") from None
    except RecursionError:
        raise RecordingError(path, "not valid JSON (nested too deeply)") from None


# --- shards: zip directory and .npy headers checked before any array is loaded -------------------

#: Errors reading a damaged zip archive or a member of it.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError,
               RuntimeError, struct.error, OverflowError)


def read_shard_headers(path: Path) -> dict[str, Header]:
    """Shape and dtype of every array of the ``.npz`` at ``path``, read from the ``.npy`` headers only.

    Checks the file is a zip of numeric ``.npy`` arrays whose declared sizes fit ``MAX_SHARD_BYTES``;
    nothing is loaded, so a crafted header cannot make the reader allocate memory.
    """
    if not path.is_file():
        raise RecordingError(path, f"listed in {MANIFEST} but missing", fix="restore the file, or " + RERECORD)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if not infos or len(infos) > MAX_SHARD_MEMBERS:
                raise RecordingError(path, f"{len(infos)} arrays, expected 1..{MAX_SHARD_MEMBERS}")
            heads = dict(_member_header(path, zf, info) for info in infos)
    except _ZIP_ERRORS as e:
        raise RecordingError(path, f"not a readable .npz archive, truncated or not a zip file "
                                   f"({type(e).__name__}: {e})") from None
    total = sum(math.prod(shape) * dtype.itemsize for shape, dtype in heads.values())
    if total > MAX_SHARD_BYTES:
        big = max(heads, key=lambda k: math.prod(heads[k][0]) * heads[k][1].itemsize)
        raise RecordingError(path, f"its arrays would take {total / 2**30:.3g} GiB once loaded (array {big!r} has "
                                   f"shape {heads[big][0]}), over the {MAX_SHARD_BYTES / 2**30:.0f} GiB a shard may "
                                   "hold; damaged or crafted")
    return heads


def _member_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[str, Header]:
    name = info.filename
    if not name.endswith(".npy"):
        raise RecordingError(path, f"member {name!r} is not a .npy array: not a shard written by worldloom")
    key = name[: -len(".npy")]
    with zf.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as e:
            raise RecordingError(path, f"array {key!r}: not a valid .npy header ({e})") from None
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.shape or dtype.names:
        raise RecordingError(path, f"array {key!r} has dtype {dtype}, expected numbers or bools")
    return key, (tuple(int(d) for d in shape), dtype)


def _expected_arrays(m: dict[str, Any], steps: int) -> dict[str, tuple[tuple[int, ...], str | None, bool]]:
    """key → (shape or leading dims, dtype or None, whether the shape is exact) every shard must have."""
    T, B, N = steps, m["num_worlds"], m["num_entities"]
    if m.get("labelled"):  # frames and inferred actions only (engine.record.labelled)
        out = {"step": ((T,), "int64", True), "done": ((T, B), "bool", True),
               "frames": ((T, B, m["frames"]["height"], m["frames"]["width"], 3), "uint8", True)}
        for g, info in m["groups"].items():
            out["action." + g] = ((T, B, info["size"]), "int64", True)
        return out
    out: dict[str, tuple[tuple[int, ...], str | None, bool]] = {
        "step": ((T,), "int64", True), "state.tick": ((T, B), "int64", True), "done": ((T, B), "bool", True)}
    scopes = m.get("key_scopes") or {}  # older recordings lack it: only T is known for their state
    lead = {"entity": (T, B, N), "group": (T, B), "world": (T, B),
            **{f"agent:{g}": (T, B, info["size"]) for g, info in m["groups"].items()}}
    for k in m["entity_keys"]:
        out["state." + k] = out["next." + k] = (lead.get(scopes.get(k, ""), (T,)), None, False)
    for g, info in m["groups"].items():
        A, F = info["size"], info["obs_size"]
        for prefix in ("obs.", "next_obs.", "final_obs."):
            out[prefix + g] = ((T, B, A, F), "float32", True)
        out["reward." + g] = ((T, B, A), "float32", True)
        out["terminated." + g] = out["truncated." + g] = ((T, B, A), "bool", True)
        out["action." + g] = ((T, B, A), None, False)
    if m.get("frames"):
        out["frames"] = ((T, B, m["frames"]["height"], m["frames"]["width"], 3), "uint8", True)
    return out


def _shape_text(shape: tuple[int, ...], exact: bool) -> str:
    return str(shape) if exact else "(" + ", ".join(map(str, shape)) + ", ...)"


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
    _checked: dict[int, dict[str, Header]] = field(default_factory=dict, repr=False, compare=False)
    _layout: dict[str, tuple[np.dtype, tuple[int, ...]]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls, folder: str | os.PathLike) -> Recording:
        """Read and check ``folder/manifest.json`` (RecordingError naming what is wrong); shards are read later."""
        folder = Path(folder)
        return cls(folder, validate_manifest(_read_manifest(folder), folder / MANIFEST))

    @property
    def num_worlds(self) -> int:
        return int(self.manifest["num_worlds"])

    @property
    def steps_recorded(self) -> int:
        return int(self.manifest["steps_recorded"])

    def shard_files(self) -> list[Path]:
        return [self.folder / s["file"] for s in self.manifest["shards"]]

    def require_steps(self) -> None:
        """RecordingError when the recording holds no step (killed before its first shard)."""
        if self.manifest["shards"]:
            return
        if self.manifest["complete"]:
            raise RecordingError(self.folder / MANIFEST, "the recording is empty (0 steps, no shard)")
        raise RecordingError(self.folder / MANIFEST, "the recording is empty: it was interrupted before its first "
                                                     "shard was written (complete: false, 0 steps)")

    def verify(self) -> None:
        """Check every listed shard against the manifest: its sha256, then its arrays' headers (UserError)."""
        for index, entry in enumerate(self.manifest["shards"]):
            path = self.folder / entry["file"]
            if not path.is_file():
                raise RecordingError(path, f"listed in {MANIFEST} but missing", fix="restore the file, or " + RERECORD)
            if sha256_file(path) != entry["sha256"]:
                raise RecordingError(path, f"contents differ from the sha256 in {MANIFEST} (corrupted or replaced)")
            self.check_shard(index)

    def check_shard(self, index: int) -> dict[str, Header]:
        """Shape and dtype of every array of shard ``index``, checked against the manifest; nothing is loaded."""
        if index in self._checked:
            return self._checked[index]
        entry = self.manifest["shards"][index]
        path = self.folder / entry["file"]
        heads = read_shard_headers(path)
        start, stop = entry["steps"]
        m = self.manifest
        expected = _expected_arrays(m, stop - start)
        missing = [k for k in expected if k not in heads]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise RecordingError(path, f"array {missing[0]!r} is missing{more}")
        legend = (f"T={stop - start} steps of this shard, B={m['num_worlds']} worlds, N={m['num_entities']} entities "
                  f"as {MANIFEST} says")
        for key, (shape, dtype) in heads.items():
            want, want_dtype, exact = expected.get(key) or self._leading_dims(key, stop - start)
            if (shape != want) if exact else (shape[: len(want)] != want):
                raise RecordingError(path, f"array {key!r} has shape {shape}, expected {_shape_text(want, exact)} "
                                           f"({legend})")
            if want_dtype is not None and dtype != np.dtype(want_dtype):
                raise RecordingError(path, f"array {key!r} has dtype {dtype}, expected {want_dtype}")
        self._check_layout(path, heads)
        self._checked[index] = heads
        return heads

    def _leading_dims(self, key: str, steps: int) -> tuple[tuple[int, ...], None, bool]:
        dims = (steps, self.num_worlds) + ((self.manifest["num_entities"],) if key == "action_force" else ())
        return dims, None, False

    def _check_layout(self, path: Path, heads: dict[str, Header]) -> None:
        """Every shard holds the same arrays with the same per-step shape and dtype: the manifest's ``arrays``
        when it lists them, else the first shard checked."""
        if self._layout is None:
            arrays = self.manifest.get("arrays")
            self._layout = ({k: (np.dtype(v["dtype"]), tuple(v["shape_per_step"])) for k, v in arrays.items()}
                            if arrays is not None else {k: (d, s[1:]) for k, (s, d) in heads.items()})
        source = f"{MANIFEST} 'arrays'" if self.manifest.get("arrays") is not None else "the first shard"
        for key in self._layout:
            if key not in heads:
                raise RecordingError(path, f"array {key!r} is missing (listed in {source})")
        for key, (shape, dtype) in heads.items():
            if key not in self._layout:
                raise RecordingError(path, f"unexpected array {key!r} (not in {source})")
            want_dtype, want_shape = self._layout[key]
            if (dtype, shape[1:]) != (want_dtype, want_shape):
                raise RecordingError(path, f"array {key!r} has dtype {dtype} and per-step shape {shape[1:]}, "
                                           f"expected {want_dtype} and {want_shape} as in {source}")

    def arrays(self) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """Every array of the recording: key → (dtype, per-step shape ``(B, ...)``); checks the first shard."""
        self.require_steps()
        self.check_shard(0)
        assert self._layout is not None
        return dict(self._layout)

    def shards(self, keys: list[str] | None = None):
        """Yield each listed shard as a dict of numpy arrays (only ``keys`` when given), each checked first."""
        for index, entry in enumerate(self.manifest["shards"]):
            heads = self.check_shard(index)
            path = self.folder / entry["file"]
            names = list(heads) if keys is None else [k for k in keys if k in heads]
            out = _load(path, names if "step" in names else [*names, "step"])
            start, stop = entry["steps"]
            if not np.array_equal(out["step"], np.arange(start, stop)):
                raise RecordingError(path, f"array 'step' holds steps {_show(out['step'].tolist())}, expected "
                                           f"{start}..{stop - 1} as {MANIFEST} lists")
            yield {k: out[k] for k in names}

    def load(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The given keys of every shard, concatenated along time ``[S, B, ...]``."""
        have = self.arrays()
        for k in keys:
            if k not in have and self.manifest.get("labelled"):
                raise UserError(f"{self.folder}: a labelled recording (`worldloom label`) holds frames and inferred "
                                f"actions only, no array {k!r}; use a recording made by `worldloom record`")
            if k not in have:
                raise UserError(f"{self.folder}: recording has no array {k!r} (record it with the matching option, "
                                "e.g. --frames)")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        for shard in self.shards(keys):
            for k in keys:
                parts[k].append(shard[k])
        return {k: np.concatenate(v, 0) for k, v in parts.items()}


def _load(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    """Load ``names`` from a checked shard (never unpickling); a read error names the array."""
    out: dict[str, np.ndarray] = {}
    key = None
    try:
        with np.load(path, allow_pickle=False) as z:
            for key in names:
                out[key] = z[key]
    except (*_ZIP_ERRORS, ValueError, KeyError) as e:
        what = f"array {key!r}" if key is not None else "the archive"
        raise RecordingError(path, f"{what} could not be read, the shard is truncated or corrupted "
                                   f"({type(e).__name__}: {e})") from None
    return out
