"""record → replay: bit-exact reproduction, tamper detection, crash safety, counterfactual re-simulation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.paths import resolve_world
from engine.record import Recording
from engine.record.format import FORMAT_VERSION


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "tag"
    assert main(["record", "tag", "--out", str(out), "--worlds", "4", "--steps", "60", "--shard-steps", "25",
                 "--seed", "5", "--eager"]) == 0
    return out


def test_record_writes_shards_and_a_manifest_that_pins_the_run(recording):
    rec = Recording.open(recording)
    m = rec.manifest
    assert m["format_version"] == FORMAT_VERSION and m["complete"] is True
    assert m["steps_recorded"] == 60 and [s["steps"] for s in m["shards"]] == [[0, 25], [25, 50], [50, 60]]
    assert m["world"]["text"] == resolve_world("tag").read_text() and len(m["world"]["sha256"]) == 64
    assert m["seed"] == 5 and m["num_worlds"] == 4 and m["compiled"] is False and m["threads"] >= 1
    assert m["versions"]["torch"] and m["versions"]["numpy"]
    data = rec.load(["state.pos", "next.pos", "action.adversary", "done", "reward.prey", "obs.prey"])
    assert data["state.pos"].shape == (60, 4, 6, 2) and data["action.adversary"].shape == (60, 4, 3)
    # next state of a step is the state of the following step, except across an autoreset
    same = ~data["done"][:-1]
    assert np.array_equal(data["next.pos"][:-1][same], data["state.pos"][1:][same])
    assert data["done"].sum() == 2 * 4  # 25-step episodes: steps 24 and 49 end every world


def test_replay_of_the_recorded_world_is_bit_exact(recording, capsys):
    assert main(["replay", str(recording)]) == 0
    assert "bit for bit" in capsys.readouterr().out


def test_replay_of_a_tampered_world_reports_divergence(recording, capsys):
    assert main(["replay", str(recording), "--set", "world.damping=0.3", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["match"] is False and report["first_step"] == 1 and report["max_divergence"] > 1e-3
    assert "next.vel" in report["mismatches"]


def test_counterfactual_replay_reports_divergence_per_step(recording, tmp_path, capsys):
    other = tmp_path / "tag_damped.yaml"
    other.write_text(resolve_world("tag").read_text().replace("damping: 0.25", "damping: 0.3"))
    assert main(["replay", str(recording), "--world", str(other), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["per_step"]
    assert len(rows) == 60
    assert rows[0]["pos_mean"] == 0.0  # the first tick moves with the old velocities: same positions
    assert rows[10]["pos_mean"] > 1e-3
    restarted = [r for r in rows if r["tick"] == 2]  # second tick of each episode: drift small again
    assert all(r["pos_mean"] < rows[10]["pos_mean"] for r in restarted)


def test_replay_refuses_a_folder_that_is_not_a_recording(tmp_path, capsys):
    assert main(["replay", str(tmp_path)]) == 2
    assert "not a recording" in capsys.readouterr().err


def test_killed_recording_leaves_readable_shards(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "engine", "record", "tag", "--out", str(out), "--worlds", "4", "--steps",
           "1000000", "--shard-steps", "5", "--eager", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if len(json.loads((out / "manifest.json").read_text())["shards"]) >= 3:
                    break
            except (OSError, ValueError):
                pass
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the recording did not write 3 shards in 60 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    rec = Recording.open(out)
    assert rec.manifest["complete"] is False and rec.steps_recorded >= 15
    data = rec.load(["step", "state.pos"])
    assert np.array_equal(data["step"], np.arange(rec.steps_recorded))
    assert main(["replay", str(out)]) == 0  # what was kept still replays bit for bit


def test_record_frames_and_video(tmp_path):
    out = tmp_path / "frames"
    video = tmp_path / "world0.mp4"
    assert main(["record", "tag", "--out", str(out), "--worlds", "3", "--steps", "6", "--frames", "--frame-size", "32",
                 "--video", str(video), "--eager"]) == 0
    data = Recording.open(out).load(["frames", "state.pos"])
    assert data["frames"].shape == (6, 3, 32, 32, 3) and data["frames"].dtype == np.uint8
    assert data["frames"].min() < 128 < data["frames"].max()  # entities on a white background
    assert video.is_file() and video.stat().st_size > 0
    import imageio.v2 as imageio

    with imageio.get_reader(video) as reader:
        frames = [np.asarray(f) for f in reader]
    assert len(frames) in (6, 7), "one frame per recorded step (plus the final state)"
    assert any(not np.array_equal(frames[0], f) for f in frames[1:]), "the entities move between frames"


def test_a_newer_format_version_is_refused(recording, tmp_path):
    from engine.errors import UserError

    m = json.loads((recording / "manifest.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(UserError, match="newer"):
        Recording.open(tmp_path)


def test_replay_detects_a_corrupted_shard(recording, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(recording, copy)
    with open(copy / "shard-000001.npz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    assert main(["replay", str(copy)]) == 2
    assert "sha256" in capsys.readouterr().err


def test_a_planner_without_a_model_file_records_and_replays_bit_exact(tmp_path, capsys):
    """A planner over the built-in physics has no model file to hash: the world file describes it."""
    out = tmp_path / "rec"
    world = str(resolve_world("tag_planner_physics"))
    assert main(["record", world, "--out", str(out), "--steps", "12", "--worlds", "2", "--eager"]) == 0
    assert "adversary_planner" not in (Recording.open(out).manifest.get("plugins") or {})
    assert main(["replay", str(out)]) == 0
    assert "reproduced bit for bit" in capsys.readouterr().out
