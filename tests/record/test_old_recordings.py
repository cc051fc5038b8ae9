"""Recordings made before the Core 2 redesign (commit 9b2fbb2) still load and replay bit for bit.

Bit for bit on the kind of CPU that made the fixture (CI's); on a CPU with another vector ISA (e.g.
AVX-512) eager kernels round the last bit differently — the replay says so in its notes, and the
differences stay at float32 rounding (the same code at 9b2fbb2 differs from the fixture just as much
there)."""

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
    assert report.steps == 30
    if report.mismatches:  # another CPU: only last-bit rounding, and the report says why
        assert report.max_divergence <= 1e-7, report.mismatches
        assert any("CPU" in n for n in report.notes), report.notes
    # an old recording names no CPU: a replay cannot promise bit-exactness without noting it
    assert any("before CPUs were noted" in n for n in report.notes)
