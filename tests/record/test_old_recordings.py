"""Recordings made before the Core 2 redesign (commit 9b2fbb2) still load and replay bit for bit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.paths import resource_dir
from engine.record.replay import replay

FIXTURE = Path(__file__).parent / "fixtures" / "forage_before_core2"


def test_a_recording_from_before_core2_replays_exactly(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    shutil.copytree(FIXTURE, rec)
    manifest = json.loads((rec / "manifest.json").read_text())
    assert manifest["world"]["name"] == "forage" and manifest["steps_recorded"] == 30
    # the recording names the world file where it was made; point it at this checkout's (same sha256)
    manifest["world"]["path"] = str(resource_dir("worlds") / "forage.yaml")
    (rec / "manifest.json").write_text(json.dumps(manifest))
    report = replay(rec)
    assert report.steps == 30 and report.mismatches == {} and report.first_step is None
