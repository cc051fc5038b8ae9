"""`worldloom record --video` without `--out`: a clip of world 0 and no shard folder."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def wl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _decode(path: Path) -> list[np.ndarray]:
    import imageio.v2 as imageio

    with imageio.get_reader(path) as reader:
        return [np.asarray(f)[..., :3] for f in reader]


def test_record_video_only_writes_the_clip_and_no_shards(tmp_path):
    video = tmp_path / "v.mp4"
    # run from tmp_path: a stray shard folder or manifest would land there (or beside the video)
    out = wl("record", str(ROOT / "worlds" / "tag.yaml"), "--video", str(video), "--steps", "10", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert f"into the video {video}" in out.stdout and "no shards" in out.stdout
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["v.mp4"], "only the video, no shards or manifest"
    frames = _decode(video)
    assert len(frames) == 10, "one frame per step"
    assert frames[0].ndim == 3 and frames[0].dtype == np.uint8
    assert frames[0].min() < 128 < frames[0].max()  # entities on a white background
    assert any(not np.array_equal(frames[0], f) for f in frames[1:]), "the entities move between frames"


def test_record_without_out_or_video_exits_2_with_one_line():
    out = wl("record", "tag", "--steps", "1")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("worldloom record: error: nothing to write: expected --out DIR")
    assert "--video FILE" in lines[0]


def test_record_frames_without_out_is_refused(tmp_path, capsys):
    assert main(["record", "tag", "--video", str(tmp_path / "v.mp4"), "--frames", "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "worldloom record: error: --frames:" in err and "add --out DIR" in err
    assert not list(tmp_path.iterdir())


def test_video_only_films_the_trajectory_a_recording_holds(tmp_path):
    """Same seeds, same action draws: the clip without --out equals the clip recorded beside the shards."""
    common = ["record", "tag", "--worlds", "3", "--steps", "5", "--seed", "4", "--action-seed", "7", "--eager"]
    assert main([*common, "--out", str(tmp_path / "rec"), "--video", str(tmp_path / "with.gif")]) == 0
    assert main([*common, "--video", str(tmp_path / "alone.gif")]) == 0
    with_shards, alone = _decode(tmp_path / "with.gif"), _decode(tmp_path / "alone.gif")
    assert len(alone) == len(with_shards) == 5
    assert all(np.array_equal(a, b) for a, b in zip(alone, with_shards))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.gif", "rec", "with.gif"]
