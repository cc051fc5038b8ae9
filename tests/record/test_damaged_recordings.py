"""Damaged and crafted recordings are user errors: one line naming the file and what is wrong, exit 2.

One small real recording (3 shards: steps 0-5, 5-10, 10-12 of 2 worlds) is copied and damaged per case:
the manifest (missing, truncated, not JSON, a required key gone, wrong types and ranges, shard paths
that leave the folder, step counts that do not add up) and the shards (missing, truncated, random
bytes, a member removed, wrong shape or dtype, a header declaring a huge array, a zip of something
else). Shard damages are "crafted" (the manifest's sha256 updated to match) so the structural checks
are reached, not only the checksum.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import UserError
from engine.paths import resolve_world
from engine.record.format import MANIFEST_KEYS, Recording, RecordingError, sha256_file
from engine.record.replay import replay

SHARD0, SHARD1, SHARD2 = "shard-000000.npz", "shard-000001.npz", "shard-000002.npz"


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("damaged") / "rec"
    assert main(["record", str(resolve_world("tag")), "--out", str(out), "--worlds", "2", "--steps", "12",
                 "--shard-steps", "5", "--eager", "--threads", "1"]) == 0
    return out


# --- damaging helpers -------------------------------------------------------------------------------

def _read(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text())


def _write(folder: Path, m: Any) -> None:
    (folder / "manifest.json").write_text(json.dumps(m))


def edit(fn: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    """A damage that edits the parsed manifest in place."""
    def damage(folder: Path) -> None:
        m = _read(folder)
        fn(m)
        _write(folder, m)
    return damage


def setkey(path: str, value: Any) -> Callable[[Path], None]:
    """Set ``a.b`` (``shards.0.file`` indexes lists) in the manifest."""
    *parents, last = path.split(".")

    def fn(m: dict[str, Any]) -> None:
        node: Any = m
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(last) if isinstance(node, list) else last] = value
    return edit(fn)


def delkey(path: str) -> Callable[[Path], None]:
    *parents, last = path.split(".")

    def fn(m: dict[str, Any]) -> None:
        node: Any = m
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        del node[last]
    return edit(fn)


def raw_manifest(data: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / "manifest.json").write_bytes(data)


def _reseal(folder: Path, name: str) -> None:
    """Make the manifest's sha256 match the (damaged) shard: a crafted recording, not a corrupted one."""
    m = _read(folder)
    for s in m["shards"]:
        if s["file"] == name:
            s["sha256"] = sha256_file(folder / name)
    _write(folder, m)


def shard_bytes(name: str, fn: Callable[[bytes], bytes], reseal: bool = True) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(fn(path.read_bytes()))
        if reseal:
            _reseal(folder, name)
    return damage


def shard_arrays(name: str, fn: Callable[[dict[str, np.ndarray]], None]) -> Callable[[Path], None]:
    """Rewrite a shard's arrays (``fn`` edits the dict) as a valid .npz, sha256 resealed."""
    def damage(folder: Path) -> None:
        with np.load(folder / name) as z:
            arrays = {k: z[k] for k in z.files}
        fn(arrays)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        (folder / name).write_bytes(buf.getvalue())
        _reseal(folder, name)
    return damage


def shard_zip(name: str, members: dict[str, bytes]) -> Callable[[Path], None]:
    """Replace a shard by a zip of these raw members."""
    def damage(folder: Path) -> None:
        with zipfile.ZipFile(folder / name, "w") as zf:
            for member, data in members.items():
                zf.writestr(member, data)
        _reseal(folder, name)
    return damage


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """An .npy file declaring ``shape`` but holding no data (a crafted header)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _huge_member(folder: Path) -> None:
    """shard 0's state.pos re-declared as 5 x 2 x 10^6 x 10^6 float32 (4e13 bytes), with no data behind it."""
    path = folder / SHARD0
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["state.pos.npy"] = _npy_header((5, 2, 10**6, 10**6))
    shard_zip(SHARD0, members)(folder)


def _swap_shards(folder: Path) -> None:
    a, b = (folder / SHARD0).read_bytes(), (folder / SHARD1).read_bytes()
    (folder / SHARD0).write_bytes(b)
    (folder / SHARD1).write_bytes(a)
    _reseal(folder, SHARD0)
    _reseal(folder, SHARD1)


def _pickled_member(arrays: dict[str, np.ndarray]) -> None:
    arrays["state.pos"] = np.array([{"x": 1}] * 5, dtype=object)


def _empty(complete: bool) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        m = _read(folder)
        m.update(shards=[], steps_recorded=0, complete=complete)
        m.pop("arrays", None)
        _write(folder, m)
        for s in folder.glob("shard-*.npz"):
            s.unlink()
    return damage


def _pop(key: str) -> Callable[[dict[str, np.ndarray]], None]:
    return lambda a: a.pop(key)


def _put(key: str, fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[dict[str, np.ndarray]], None]:
    def put(a: dict[str, np.ndarray]) -> None:
        a[key] = fn(a[key])
    return put


M = "manifest.json"
#: id → (damage, the file the message must name, a phrase it must contain)
CASES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # the manifest
    "manifest deleted": (lambda f: (f / M).unlink(), M, "not a recording"),
    "manifest empty": (raw_manifest(b""), M, "empty file"),
    "manifest truncated": (lambda f: (f / M).write_bytes((f / M).read_bytes()[:300]), M, "not valid JSON"),
    "manifest not JSON": (raw_manifest(b"hello: world\n"), M, "not valid JSON"),
    "manifest not UTF-8": (raw_manifest(b"\xff\xfe{}"), M, "unreadable"),
    "manifest nested too deeply": (raw_manifest(b"[" * 100_000), M, "nested too deeply"),
    "manifest a JSON array": (raw_manifest(b"[1, 2, 3]"), M, "expected a JSON object"),
    "format of another tool": (setkey("format", "other.tool"), M, "expected format"),
    "format version newer": (setkey("format_version", 99), M, "newer than this worldloom reads"),
    "format version a string": (setkey("format_version", "1"), M, "format_version: expected an integer"),
    **{f"key {k!r} removed": (delkey(k), M, f"missing key {k!r}") for k in MANIFEST_KEYS if k != "format"},
    "world.path removed": (delkey("world.path"), M, "missing key 'world.path'"),
    "world.path relative": (setkey("world.path", "../tag.yaml"), M, "world.path: expected an absolute file path"),
    "world a string": (setkey("world", "tag.yaml"), M, "world: expected a JSON object"),
    "world.sha256 not hex": (setkey("world.sha256", "zz" * 32), M, "world.sha256: expected a sha256"),
    "num_worlds a string": (setkey("num_worlds", "2"), M, 'num_worlds: expected an integer in 1..'),
    "num_worlds a float": (setkey("num_worlds", 2.0), M, "num_worlds: expected an integer"),
    "num_worlds a bool": (setkey("num_worlds", True), M, "num_worlds: expected an integer"),
    "num_worlds negative": (setkey("num_worlds", -2), M, "got -2"),
    "num_worlds huge": (setkey("num_worlds", 10**30), M, "num_worlds: expected an integer in 1.."),
    "num_entities wrong (crafted)": (setkey("num_entities", 7), SHARD0, "has shape (5, 2, 6"),
    "seed a float": (setkey("seed", 0.5), M, "seed: expected an integer"),
    "threads zero": (setkey("threads", 0), M, "threads: expected an integer in 1..4096"),
    "steps_recorded negative": (setkey("steps_recorded", -1), M, "steps_recorded: expected an integer"),
    "steps_recorded inconsistent": (setkey("steps_recorded", 13), M, "steps_recorded: expected 12"),
    "entity_keys a string": (setkey("entity_keys", "pos"), M, "entity_keys: expected a list"),
    "entity_types outside the entities": (setkey("entity_types.prey", [3, 99]), M, "entity_types.prey"),
    "key_scopes names no scope": (setkey("key_scopes.pos", "galaxy"), M, "key_scopes.pos: expected one of"),
    "groups a list": (setkey("groups", ["adversary"]), M, "groups: expected a JSON object"),
    "group size a string": (setkey("groups.prey.size", "1"), M, "groups.prey.size"),
    "shards a JSON object": (setkey("shards", {"file": SHARD0}), M, "shards: expected a list"),
    "shard file removed from entry": (delkey("shards.0.file"), M, "missing key 'shards[0].file'"),
    "shard path ../": (setkey("shards.0.file", "../../x.npz"), M, "plain .npz file name inside the recording"),
    "shard path absolute": (setkey("shards.0.file", "/etc/passwd.npz"), M, "plain .npz file name"),
    "shard path in a subfolder": (setkey("shards.1.file", "sub/shard.npz"), M, "shards[1].file"),
    "shard name not .npz": (setkey("shards.0.file", "manifest.json"), M, "shards[0].file"),
    "shard steps with a gap": (setkey("shards.1.steps", [6, 10]), M, "shards[1].steps: expected [5, n]"),
    "shard steps not a pair": (setkey("shards.1.steps", [5]), M, "shards[1].steps: expected a list of 2"),
    "shard listed twice": (setkey("shards.1.file", SHARD0), M, "shards[1].file: expected a file no other"),
    "overrides a string": (setkey("overrides", "systems=[]"), M, "overrides: expected a JSON object"),
    "arrays with an object dtype": (setkey("arrays.done.dtype", "O"), M, "arrays.done.dtype"),
    "arrays names an array no shard has": (edit(lambda m: m["arrays"].update({"state.secret": {
        "dtype": "float32", "shape_per_step": [2]}})), SHARD0, "array 'state.secret' is missing"),
    "recorded world file gone": (setkey("world.path", "/nonexistent/tag.yaml"), "tag.yaml", "no longer exists"),
    "recorded device absent": (setkey("device", "cuda:99"), "cuda:99", "pass --device cpu"),
    "recorded device nonsense": (setkey("device", "warp-drive"), "warp-drive", "not a torch device"),
    "empty, interrupted before the first shard": (_empty(False), M, "interrupted before its first shard"),
    "empty and complete": (_empty(True), M, "the recording is empty"),
    # shards
    "shard deleted": (lambda f: (f / SHARD1).unlink(), SHARD1, "listed in manifest.json but missing"),
    "shard is a folder": (lambda f: ((f / SHARD1).unlink(), (f / SHARD1).mkdir()), SHARD1, "missing"),
    "shard corrupted (sha256)": (shard_bytes(SHARD1, lambda b: b[:100] + b"\0\1\2" + b[103:], reseal=False),
                                 SHARD1, "differ from the sha256"),
    "shard truncated to 0 bytes": (shard_bytes(SHARD0, lambda b: b""), SHARD0, "truncated"),
    "shard truncated at 30 bytes": (shard_bytes(SHARD0, lambda b: b[:30]), SHARD0, "truncated"),
    "shard truncated at half": (shard_bytes(SHARD1, lambda b: b[: len(b) // 2]), SHARD1, "truncated"),
    "shard truncated by 10 bytes": (shard_bytes(SHARD2, lambda b: b[:-10]), SHARD2, "truncated"),
    "shard random bytes": (shard_bytes(SHARD1, lambda b: np.random.default_rng(0).bytes(len(b))), SHARD1,
                           "not a readable .npz"),
    "shard a zip of a text file": (shard_zip(SHARD0, {"README.txt": b"hello"}), SHARD0, "'README.txt' is not a .npy"),
    "shard an empty zip": (shard_zip(SHARD0, {}), SHARD0, "0 arrays"),
    "shard member with a bad header": (shard_zip(SHARD0, {"step.npy": b"\x93NUMPY\x01\x00garbage"}), SHARD0,
                                       "not a valid .npy header"),
    "shard member removed": (shard_arrays(SHARD1, _pop("state.pos")), SHARD1, "array 'state.pos' is missing"),
    "shard member added": (shard_arrays(SHARD1, lambda a: a.update(evil=np.zeros((5, 2)))), SHARD1,
                           "unexpected array 'evil'"),
    "shard member with the wrong entity count": (shard_arrays(SHARD1, _put("state.pos", lambda v: v[:, :, :5])),
                                                 SHARD1, "array 'state.pos' has shape (5, 2, 5, 2), expected (5, 2, 6"),
    "shard member with the wrong world count": (shard_arrays(SHARD0, _put("done", lambda v: v[:, :1])), SHARD0,
                                                "array 'done' has shape (5, 1), expected (5, 2)"),
    "shard member with the wrong steps": (shard_arrays(SHARD2, _put("reward.prey", lambda v: v[:1])), SHARD2,
                                          "array 'reward.prey' has shape (1, 2, 1)"),
    "shard member with the wrong dtype": (shard_arrays(SHARD0, _put("done", lambda v: v.astype(np.float32))),
                                          SHARD0, "array 'done' has dtype float32, expected bool"),
    "shard member float64 (layout)": (shard_arrays(SHARD1, _put("state.pos", lambda v: v.astype(np.float64))),
                                      SHARD1, "array 'state.pos' has dtype float64"),
    "shard member of pickled objects": (shard_arrays(SHARD0, _pickled_member), SHARD0, "expected numbers or bools"),
    "shard member declaring a huge shape": (_huge_member, SHARD0, "GiB once loaded"),
    "shard steps do not match the manifest": (shard_arrays(SHARD1, _put("step", lambda v: v + 1)), SHARD1,
                                              "array 'step' holds steps"),
    "shards swapped": (_swap_shards, SHARD0, "array 'step' holds steps [5, 6, 7, 8, 9]"),
    "last shard replaced by the first": (lambda f: (shutil.copy(f / SHARD0, f / SHARD2), _reseal(f, SHARD2)),
                                         SHARD2, "has shape (5,), expected (2,)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_recording_is_a_one_line_user_error(case: str, recording: Path, tmp_path: Path, capsys) -> None:
    damage, file, phrase = CASES[case]
    folder = tmp_path / "rec"
    shutil.copytree(recording, folder)
    damage(folder)
    assert main(["replay", str(folder)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert file in lines[0] and phrase in lines[0], lines[0]
    with pytest.raises(UserError) as raised:  # the same through the API
        replay(folder)
    assert phrase in str(raised.value)


@pytest.mark.parametrize("case", [c for c, (_, file, _) in CASES.items() if file == M and c != "manifest deleted"])
def test_a_damaged_manifest_is_refused_on_open(case: str, recording: Path, tmp_path: Path) -> None:
    damage, _file, phrase = CASES[case]
    folder = tmp_path / "rec"
    shutil.copytree(recording, folder)
    damage(folder)
    try:
        rec = Recording.open(folder)
    except RecordingError as e:
        assert e.file == str(folder / M) and phrase in str(e)
        return
    # consistent on its own, refused when read: empty, or inconsistent with the shards / the world file
    with pytest.raises(RecordingError, match="empty|interrupted"):
        rec.load(["state.pos"])


def test_there_are_at_least_32_damage_cases() -> None:
    assert len(CASES) >= 32


def test_every_flipped_byte_of_a_shard_is_caught_or_harmless(recording: Path, tmp_path: Path) -> None:
    """Byte flips anywhere in a (resealed) shard: a RecordingError, or arrays of the declared shapes."""
    rng = np.random.default_rng(1)
    size = (recording / SHARD1).stat().st_size
    for offset in rng.choice(size, 40, replace=False):
        folder = tmp_path / f"flip{offset}"
        shutil.copytree(recording, folder)
        shard_bytes(SHARD1, lambda b, o=int(offset): b[:o] + bytes([b[o] ^ 0xA5]) + b[o + 1:])(folder)
        rec = Recording.open(folder)
        try:
            rec.verify()
            shards = list(rec.shards())
        except RecordingError as e:
            assert SHARD1 in str(e) and "\n" not in str(e)
            continue
        assert shards[1]["state.pos"].shape == (5, 2, 6, 2)


def test_the_manifest_size_is_bounded(recording: Path, tmp_path: Path, monkeypatch) -> None:
    import engine.record.format as fmt

    folder = tmp_path / "rec"
    shutil.copytree(recording, folder)
    monkeypatch.setattr(fmt, "MAX_MANIFEST_BYTES", 1000)
    with pytest.raises(RecordingError, match="more than a manifest can be"):
        Recording.open(folder)


def test_a_recording_interrupted_before_its_first_shard_is_empty(tmp_path: Path, capsys, monkeypatch) -> None:
    """`worldloom record` stopped at step 3 of 5-step shards: a manifest with complete=false and no shard,
    which replay and distillation refuse, saying why."""
    from engine.cli.common import Progress

    def interrupt(self, done: int, extra: str = "") -> None:
        if done == 3:
            raise KeyboardInterrupt

    out = tmp_path / "rec"
    monkeypatch.setattr(Progress, "update", interrupt)
    assert main(["record", "tag", "--out", str(out), "--worlds", "2", "--steps", "12", "--shard-steps", "5",
                 "--eager", "--threads", "1"]) == 130
    monkeypatch.undo()
    rec = Recording.open(out)
    assert rec.manifest["complete"] is False and rec.manifest["shards"] == [] and rec.steps_recorded == 0
    assert not list(out.glob("*.npz")) and not list(out.glob(".*.tmp"))
    capsys.readouterr()
    assert main(["replay", str(out)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json" in err and "interrupted before its first shard" in err and len(err.splitlines()) == 1
    with pytest.raises(RecordingError, match="interrupted before its first shard"):
        rec.load(["state.pos"])
    assert main(["distill", "tag", "--subsystem", "policy", "--group", "prey", "--data", str(out),
                 "--out", str(tmp_path / "plugin"), "--logdir", str(tmp_path / "logs")]) == 2
    assert "interrupted before its first shard" in capsys.readouterr().err
    assert not (tmp_path / "plugin").exists()


# --- a recording never widens trust -----------------------------------------------------------------

EVIL = '''
from pathlib import Path
Path(__file__).with_name("PWNED").write_text("evil.py ran")

def tick(app, params):
    return lambda state: None
'''


@pytest.fixture()
def own_world_recording(tmp_path: Path) -> Path:
    """A recording of a copy of tag.yaml in a folder of its own (not beside the shipped worlds)."""
    world = tmp_path / "mine" / "tag.yaml"
    world.parent.mkdir()
    world.write_text(resolve_world("tag").read_text())
    out = tmp_path / "rec"
    assert main(["record", str(world), "--out", str(out), "--worlds", "2", "--steps", "3", "--eager",
                 "--threads", "1"]) == 0
    return out


def test_a_manifest_cannot_make_replay_run_untrusted_code(own_world_recording: Path, capsys,
                                                          monkeypatch) -> None:
    monkeypatch.delenv("WORLDLOOM_TRUST", raising=False)
    rec = own_world_recording
    world_dir = Path(_read(rec)["world"]["path"]).parent
    (world_dir / "evil.py").write_text(EVIL)
    m = _read(rec)
    m["overrides"] = {"systems": ["physics", {"system": "evil.tick"}]}
    _write(rec, m)
    capsys.readouterr()
    assert main(["replay", str(rec)]) == 2
    err = capsys.readouterr().err
    assert "evil.tick" in err and "not trusted" in err and "--trust" in err and len(err.splitlines()) == 1, err
    assert not (world_dir / "PWNED").exists()
    with pytest.raises(UserError, match="not trusted"):
        replay(rec)
    assert not (world_dir / "PWNED").exists()
    # the user's own --trust is what allows it (the check above is not vacuous)
    main(["replay", str(rec), "--trust", str(world_dir)])
    assert (world_dir / "PWNED").exists()


def test_replay_uses_the_recorded_world_file_only_when_unchanged(own_world_recording: Path, capsys) -> None:
    rec = own_world_recording
    world = Path(_read(rec)["world"]["path"])
    world.write_text(world.read_text().replace("damping: 0.25", "damping: 0.3"))
    assert main(["replay", str(rec)]) == 2
    assert "changed since the recording" in capsys.readouterr().err
    m = _read(rec)  # pointing the manifest at another file does not help: its sha256 differs
    m["world"]["path"] = str(resolve_world("swarm"))
    _write(rec, m)
    assert main(["replay", str(rec)]) == 2
    assert "changed since the recording" in capsys.readouterr().err
