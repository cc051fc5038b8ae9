"""``worldloom play``: keyboard control, pause and screenshots, in a real glfw window under Xvfb.

The display test starts its own ``Xvfb :N`` (a free display number), drives the window with
``xdotool`` and reads what happened from ``--state-log``. It stops only the X server it started (the
PID in ``/tmp/.X<N>-lock``). The other tests run the same play loop on the headless backend with a
scripted input file, so its commands (step while paused, snapshot/restore, reload, zoom/pan, video)
and the learned-renderer panel are checked on machines without X too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from wl_test_support import wait_for

ROOT = Path(__file__).resolve().parents[1]
TAG = ROOT / "worlds" / "tag.yaml"


def worldloom() -> list[str]:
    exe = Path(sys.executable).with_name("worldloom")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "engine.cli.main"]


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            break
    return out



def assert_not_blank(png: Path) -> None:
    from PIL import Image

    image = np.asarray(Image.open(png).convert("RGB"))
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert image.std() > 5 and len(colours) > 10, f"{png} looks blank ({len(colours)} colours)"


@pytest.fixture
def xvfb(xvfb_display: str) -> str:
    """The session's X server (tests/conftest.py), for tests that also send keys with xdotool."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool not installed (Debian: apt-get install xdotool)")
    return xvfb_display


@pytest.mark.display
def test_play_window_keyboard_pause_and_screenshot(xvfb: str, tmp_path: Path) -> None:
    env = dict(os.environ, DISPLAY=xvfb)
    log = tmp_path / "state.jsonl"
    cmd = worldloom() + ["play", str(TAG), "--state-log", str(log), "--max-seconds", "25", "--max-fps", "60",
                         "--out", str(tmp_path), "--set", "episode.max_steps=1000"]
    play = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def xdo(*args: str) -> None:
        subprocess.run(["xdotool", *args], env=env, check=True, timeout=10)

    try:
        wait_for(lambda: len(read_log(log)) >= 3 or play.poll() is not None, 30, "the first ticks")
        assert play.poll() is None, f"play exited early:\n{play.stdout.read()}"
        first_agent = read_log(log)[-1]["agent"]
        xdo("key", "Tab")  # control the next adversary: the others keep their random controller
        wait_for(lambda: read_log(log)[-1]["agent"] != first_agent, 5, "TAB to switch the agent")
        xdo("keydown", "Right")
        time.sleep(1.2)
        xdo("keyup", "Right")
        wait_for(lambda: not read_log(log)[-1]["held"], 5, "the key release")
        xdo("key", "p")
        wait_for(lambda: read_log(log)[-1]["paused"], 5, "the pause")
        time.sleep(0.8)
        xdo("key", "F12")
        wait_for(lambda: list(tmp_path.glob("*.png")), 5, "the F12 screenshot")
        xdo("key", "p")
        wait_for(lambda: not read_log(log)[-1]["paused"] and read_log(log)[-1]["steps"] > paused_steps(log) + 2,
                 5, "the tick to advance again")
        xdo("key", "Escape")
        assert play.wait(timeout=15) == 0, play.stdout.read()
    finally:
        if play.poll() is None:
            play.kill()
            play.wait()

    records = read_log(log)
    assert {r["agent"] for r in records} >= {"adversary_0", "adversary_1"}
    held = [r for r in records if r["held"] == ["right"] and not r["paused"]]
    assert len(held) >= 5, "holding Right should span several ticks"
    assert all(r["action"] == 2 and r["agent"] == "adversary_1" for r in held)
    dx = held[-1]["pos"][0] - held[0]["pos"][0]
    assert dx > 0.3, f"the controlled adversary should move +x while Right is held, moved {dx:+.3f}"
    paused = [r for r in records if r["paused"]]
    assert len(paused) >= 5, "the paused clock keeps logging"
    assert len({r["steps"] for r in paused}) == 1, "no tick may run while paused"
    after = [r for r in records if r["steps"] > paused[0]["steps"]]
    assert after and not after[-1]["paused"], "the tick advances again after the second P"
    (png,) = tmp_path.glob("*.png")
    assert_not_blank(png)


def paused_steps(log: Path) -> int:
    steps = [r["steps"] for r in read_log(log) if r["paused"]]
    return max(steps) if steps else 0


def test_play_headless_script_commands(tmp_path: Path) -> None:
    """The same loop offscreen: scripted keys for step-while-paused, snapshot/restore, a failed reload."""
    from engine.render import GLUnavailableError
    from engine.render.window import InputEvent, open_window
    from engine.views.play import Player, load_script

    world = tmp_path / "tag.yaml"
    world.write_text(TAG.read_text())
    script = tmp_path / "keys.txt"
    script.write_text("0.05 down RIGHT\n0.45 up RIGHT\n0.5 tap P\n0.6 tap N\n0.7 tap F5\n0.75 tap N\n0.8 tap F9\n"
                      "0.85 tap F6\n0.9 tap F12\n0.95 quit\n")
    log = tmp_path / "state.jsonl"
    try:
        window = open_window("headless", (160, 120))
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    try:
        player = Player(world, window, state_log=log, script=load_script(script), out_dir=tmp_path, max_seconds=10,
                        overrides={"render.tick_rate": 50, "episode.max_steps": 1000})
        world.write_text("version: 1\nname: broken\nentities: {}\n")  # F6 must fail and keep the old world
        stats = player.run()
    finally:
        window.close()
    assert stats["seconds"] < 5 and stats["frames"] > 5
    assert any(m.startswith("reload failed") for m in player.messages) and player.name == "tag"
    records = read_log(log)
    moving = [r for r in records if r["held"] == ["right"]]
    assert moving and moving[-1]["pos"][0] > moving[0]["pos"][0]
    paused = [r for r in records if r["paused"]]
    # N stepped once while paused (snapshot after it), N again, then F9 restored the snapshot's tick.
    steps = sorted({r["steps"] for r in paused})
    assert len(steps) >= 3 and steps[1] == steps[0] + 1 and steps[2] == steps[1] + 1
    assert int(player.sim.state["tick"][0]) == paused[0]["tick"] + 1
    (png,) = tmp_path.glob("*.png")
    assert_not_blank(png)
    # Mouse: the wheel zooms, a left drag to the right pans the camera left (the world follows the cursor).
    player.handle(InputEvent("scroll", dy=2.0))
    assert player.camera.zoom == pytest.approx(1.15 ** 2)
    player.handle(InputEvent("button", button=0, action="press", x=10.0, y=10.0))
    player.handle(InputEvent("cursor", x=40.0, y=10.0))
    player.handle(InputEvent("button", button=0, action="release", x=40.0, y=10.0))
    player.handle(InputEvent("cursor", x=80.0, y=10.0))
    assert player.camera.pan[0] < 0 and player.camera.pan[1] == 0
    under = player.cursor_world()
    player.handle(InputEvent("scroll", dy=-3.0))  # zooming keeps the point under the cursor in place
    assert player.cursor_world() == pytest.approx(under, abs=1e-9)


def renderer_model(path: Path, entities: int, side: int = 16) -> None:
    """A tiny ONNX "learned renderer": state [B, 2K] → sigmoid(state @ W) as an image [B, 3, side, side]."""
    from onnx import TensorProto, helper, numpy_helper, save

    weights = np.random.default_rng(0).normal(0, 1, (2 * entities, 3 * side * side)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["state", "w"], ["z"]), helper.make_node("Sigmoid", ["z"], ["s"]),
         helper.make_node("Reshape", ["s", "shape"], ["image"])],
        "renderer",
        [helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", 2 * entities])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, side, side])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array([-1, 3, side, side]), "shape")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))


def test_play_shows_a_learned_renderer_beside_gl_and_records_video(tmp_path: Path) -> None:
    import yaml

    from engine.render import GLUnavailableError
    from engine.render.window import open_window
    from engine.views.play import Player, load_script

    renderer_model(tmp_path / "renderer.onnx", entities=6)
    data = yaml.safe_load(TAG.read_text())
    data["plugins"] = {"neural_render": {"kind": "renderer", "model": "renderer.onnx",
                                         "entities": ["adversary", "prey", "obstacle"],
                                         "inputs": {"state": ["pos"]}, "outputs": {"image": "image"}}}
    world = tmp_path / "tag_renderer.yaml"
    world.write_text(yaml.safe_dump(data, sort_keys=False))
    script = tmp_path / "keys.txt"
    script.write_text("0.05 tap V\n0.4 tap V\n0.45 tap F12\n0.5 quit\n")
    try:
        window = open_window("headless", (200, 100))
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    try:
        player = Player(world, window, script=load_script(script), out_dir=tmp_path, max_seconds=10,
                        overrides={"render.tick_rate": 50})
        player.run()
    finally:
        window.close()
    assert player.renderer_plugin == "neural_render"
    assert player.panel.image.shape == (16, 16, 3)
    assert 0 < player.panel.psnr < 30  # random weights: far from the GL image, but a finite comparison
    assert any("PSNR" in line for line in player.hud_lines())
    (png,) = tmp_path.glob("*.png")
    from PIL import Image

    shot = np.asarray(Image.open(png).convert("RGB"))
    right = shot[:, 100:]  # the learned image, letterboxed into the right half
    assert len(np.unique(right.reshape(-1, 3), axis=0)) > 20, "the learned image is drawn on the right"
    (video,) = tmp_path.glob("*.mp4")
    assert video.stat().st_size > 0


def test_play_named_action_keys_come_from_the_world_file_and_respect_the_mask(tmp_path: Path) -> None:
    """commons binds zap to SPACE: a tap zaps once (the cooldown masks it after), the HUD counts it."""
    from engine.render import GLUnavailableError
    from engine.render.window import open_window
    from engine.views.play import Player, load_script
    from engine.views.play.hud import hud_lines

    script = tmp_path / "keys.txt"
    script.write_text("0.1 down SPACE\n0.6 up SPACE\n0.8 quit\n")
    try:
        window = open_window("headless", (160, 120))
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    try:
        player = Player("commons", window, script=load_script(script), out_dir=tmp_path, max_seconds=10,
                        overrides={"render.tick_rate": 50})
        assert player.controls.keys["zap"] == ["SPACE"]
        assert player.controlled == ("harvester", 0)
        player.held = ["up", "zap"]  # the named action wins over the held direction
        player.step()
        assert int(player.sim.state["zap_cooldown"][0, 0]) == 10  # zapped: the cooldown starts
        player.step()
        assert int(player.sim.state["zap_cooldown"][0, 0]) == 9  # masked now: no second zap while it runs
        player.held = []
        stats = player.run()
        lines = hud_lines(player)
    finally:
        window.close()
    assert stats["frames"] > 5
    # SPACE held for ~0.5 s (≈ 25 ticks at 50/s): zapped on the first tick, then masked by the 10-tick cooldown
    # (the other harvesters act at random among their allowed actions, so count only the controlled one's).
    zaps = int(player.sim.state["events.zap"][0])
    assert 1 <= zaps
    assert any(line.startswith("actions zap: SPACE") for line in lines)
    assert any(line.startswith("events") for line in lines)


def test_hud_shows_the_worlds_variables_per_team() -> None:
    """ctf's score (a team variable) and captures_to_win (a world one) appear on the HUD, world 0's values."""
    import torch

    import engine
    from engine.views.play.hud import variable_text

    sim = engine.make("ctf", num_worlds=2, compile=False)
    sim.reset(seed=0)
    score = sim.state["var.score"].clone()
    score[0] = torch.tensor([1, 0])
    score[1] = torch.tensor([0, 2])  # another world: not shown
    sim.state["var.score"] = score
    assert variable_text(sim) == "vars score red 1 blue 0  captures_to_win 2"
    assert variable_text(engine.make("tag", num_worlds=1, compile=False)) == ""  # no variables: no line


def test_play_a_grid_world_turn_by_turn_with_the_agents_view(tmp_path: Path) -> None:
    """A grid world ticks once per action key press (MiniGrid's manual control, whatever the clock), and
    the controlled agent's egocentric view is drawn in the bottom-right corner."""
    from engine.render import GLUnavailableError
    from engine.render.window import open_window
    from engine.views.play import Player, load_script

    script = tmp_path / "keys.txt"  # Empty-8x8: the agent starts at (1, 1) facing right
    script.write_text("0.1 tap UP\n0.4 tap UP\n0.7 tap RIGHT\n1.0 tap UP\n1.6 tap F12\n1.9 quit\n")
    log = tmp_path / "state.jsonl"
    try:
        window = open_window("headless", (320, 240))
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    try:
        player = Player("grid/empty", window, state_log=log, script=load_script(script), out_dir=tmp_path,
                        max_seconds=10)
        player.run()
    finally:
        window.close()
    st = player.sim.state
    assert st["grid.pos"][0, 0].tolist() == [3, 2] and int(st["grid.dir"][0, 0]) == 1
    assert int(st["tick"][0]) == 4, "four action keys, four ticks (the clock ran for 1.9 s)"
    assert read_log(log)[-1]["steps"] == 4
    (png,) = tmp_path.glob("*.png")
    from PIL import Image

    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    x, y, w, h = player.inset_viewport
    inset = img[img.shape[0] - y - h:img.shape[0] - y, x:x + w]
    red = (inset[..., 0] > 200) & (inset[..., 1] < 100) & (inset[..., 2] < 100)
    grey = (abs(inset - 100) < 12).all(-1)
    assert red.sum() >= 4, "the agent's marker in its view"
    assert grey.sum() > 0.05 * grey.size, "walls in the view (Empty sees through walls: the whole room)"
