"""``worldloom play WORLD --dream DIR``: the shipped pixel world model dreams beside the real world.

Checked the way a player sees it: the ``--state-log`` carries the live PSNR and the steps since the last
re-anchor; G re-anchors (the step count drops back while the tick goes on); X hides the real side; the
screenshots show the dream as the model's 64 × 64 frame scaled up (blocks of equal pixels) beside the
GL render (smooth edges), or alone. Once in a real glfw window under Xvfb driven by xdotool, once on
the headless backend with a scripted input file (machines without X).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from test_play_window import read_log, worldloom
from wl_test_support import wait_for

ROOT = Path(__file__).resolve().parents[1]
WORLD = ROOT / "worlds" / "tag_dream.yaml"
MODEL = ROOT / "plugins" / "tag_world_model"
SIZE = (640, 320)  # two 320 × 320 halves: the 64 × 64 dream is drawn at exactly 5 screen pixels per pixel


def blocky(image: np.ndarray, x0: int, x1: int, block: int = 5) -> bool:
    """Whether ``image[:, x0:x1]`` is made of ``block`` × ``block`` squares of one colour (below the HUD)."""
    region = image[160:320, x0:x1].astype(int)
    tiles = region.reshape(160 // block, block, (x1 - x0) // block, block, 3)
    return bool((tiles == tiles[:, :1, :, :1]).all())


def png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def check_screens(beside: np.ndarray, alone: np.ndarray) -> None:
    """``beside``: GL render left, dream right; ``alone`` (X): the dream centred, nothing else but the HUD."""
    assert beside.shape[:2] == (SIZE[1], SIZE[0]) and alone.shape == beside.shape
    assert blocky(beside, 320, 640), "the right half shows the 64 x 64 dream scaled 5x"
    assert not blocky(beside, 0, 320), "the left half is the GL render at full resolution"
    assert len(np.unique(beside[:, 320:].reshape(-1, 3), axis=0)) > 4, "the dream shows entities"
    assert blocky(alone, 160, 480), "with X the dream fills the window's height, centred"
    strip = alone[160:320, :160].reshape(-1, 3)
    assert len(np.unique(strip, axis=0)) == 1, "with X the real world is not drawn"


def check_log(records: list[dict]) -> None:
    """PSNR at every tick; steps since the anchor count up with the tick until G, then restart."""
    assert records and all("dream_psnr" in r and "dream_steps" in r for r in records)
    first = [r for r in records if r["dream_steps"] == 1 and r["tick"] == 1]
    assert first and first[0]["dream_psnr"] > 27.0, first  # the next frame: the model learned tag
    assert all(r["dream_psnr"] is None or 10.0 < r["dream_psnr"] < 60.0 for r in records)
    reanchored = [r for r in records if 0 <= r["dream_steps"] < r["tick"] - 1]
    assert reanchored, "G re-anchors: the steps since the anchor drop below the tick"
    later = [r for r in records if r["tick"] > reanchored[0]["tick"]]
    assert any(r["dream_steps"] > reanchored[0]["dream_steps"] for r in later), "the dream runs on after G"
    assert any(r["real_hidden"] for r in records)


@pytest.mark.display
def test_dream_play_in_a_window_reanchor_and_hide(xvfb_display: str, tmp_path: Path) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool not installed (Debian: apt-get install xdotool)")
    env = dict(os.environ, DISPLAY=xvfb_display)
    log = tmp_path / "state.jsonl"
    cmd = worldloom() + ["play", str(WORLD), "--dream", str(MODEL), "--state-log", str(log), "--max-seconds", "40",
                         "--max-fps", "30", "--size", f"{SIZE[0]}x{SIZE[1]}", "--out", str(tmp_path)]
    play = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def xdo(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)

    def shot(name: str) -> Path:
        before = set(tmp_path.glob("*.png"))
        xdo("key", "F12")
        wait_for(lambda: set(tmp_path.glob("*.png")) - before, 5, "the F12 screenshot")
        (new,) = set(tmp_path.glob("*.png")) - before
        return new.rename(tmp_path / name)

    try:
        wait_for(lambda: any(r["dream_steps"] >= 6 for r in read_log(log)) or play.poll() is not None, 40,
                 "six dream steps")
        assert play.poll() is None, f"play exited early:\n{play.stdout.read()}"
        xdo("key", "g")
        wait_for(lambda: read_log(log)[-1]["dream_steps"] < read_log(log)[-1]["tick"] - 1, 5, "G to re-anchor")
        beside = shot("beside.png")
        xdo("key", "x")
        wait_for(lambda: read_log(log)[-1]["real_hidden"], 5, "X to hide the real side")
        time.sleep(0.3)
        alone = shot("alone.png")
        xdo("key", "Escape")
        assert play.wait(timeout=15) == 0, play.stdout.read()
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()
    check_log(read_log(log))
    check_screens(png(beside), png(alone))


def test_dream_play_headless_script(tmp_path: Path) -> None:
    """The same on the offscreen backend: scripted G, F12, X, F12; the dream's numbers in the state log."""
    from engine.render import GLUnavailableError
    from engine.render.window import open_window
    from engine.views.play import Player, load_script

    script = tmp_path / "keys.txt"
    script.write_text("0.1 down RIGHT\n0.9 tap G\n1.0 tap F12\n1.2 tap X\n1.3 tap F12\n1.5 quit\n")
    log = tmp_path / "state.jsonl"
    try:
        window = open_window("headless", SIZE)
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    try:
        player = Player(WORLD, window, state_log=log, script=load_script(script), out_dir=tmp_path, max_seconds=20,
                        overrides={"render.tick_rate": 20}, dream=MODEL)
        player.run()
    finally:
        window.close()
    assert any(m.startswith("dream re-anchored") for m in player.messages)
    check_log(read_log(log))
    beside, alone = (png(p) for p in sorted(tmp_path.glob("*.png"), key=lambda p: p.stat().st_mtime_ns))
    check_screens(beside, alone)


@pytest.mark.parametrize("argv, expected", [
    (["play", "tag", "--headless", "--max-seconds", "1", "--dream", "no/such/folder"], "no such folder"),
    (["play", "mpe/simple_spread", "--headless", "--max-seconds", "1", "--dream", str(MODEL)], "trained on agents"),
])
def test_dream_play_refuses_a_missing_or_foreign_model(argv: list[str], expected: str) -> None:
    out = subprocess.run(worldloom() + argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    err = out.stderr.strip()
    assert err.count("\n") == 0 and expected in err and "Traceback" not in err, err
