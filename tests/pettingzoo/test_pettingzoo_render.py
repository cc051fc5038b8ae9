"""Rendering: PettingZoo's ``render_test`` on every shipped world (``human`` opens a real glfw window on
a private Xvfb display; ``rgb_array`` draws offscreen), and the human window itself: what it shows,
its pace, and closing it."""

from __future__ import annotations

import functools
import time

import numpy as np
import pytest
from pettingzoo.test import render_test
from pz_helpers import SHIPPED, skip_without_agents, world_id

from engine.pettingzoo import env, parallel_env

pytestmark = pytest.mark.display


@pytest.fixture
def display(xvfb_display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", xvfb_display)
    return xvfb_display


def _gl_or_skip(fn):
    from engine.render import GLUnavailableError

    try:
        return fn()
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")


@pytest.mark.parametrize("world", [pytest.param(w, id=world_id(w)) for w in SHIPPED])
def test_render_test_on_every_world(world, display):
    skip_without_agents(world)
    _gl_or_skip(lambda: render_test(functools.partial(env, world, compile=False, max_cycles=8)))


def test_human_window_shows_the_world_at_the_world_pace(display):
    par = parallel_env("tag", render_mode="human", compile=False)
    assert par.metadata["render_fps"] == 10  # tag: dt 0.1 → real time is 10 ticks per second
    frames: list[np.ndarray] = []
    par.reset(seed=0)
    win = par._window.window
    real_swap = win.swap

    def swap_and_keep() -> None:  # the image presented, read back before the swap
        frames.append(np.frombuffer(win.screen.read(components=3), np.uint8).reshape(*win.framebuffer_size[::-1], 3))
        real_swap()

    win.swap = swap_and_keep
    t0 = time.perf_counter()
    for _ in range(6):
        par.step({a: 2 for a in par.agents})
        assert par.render() is None
    elapsed = time.perf_counter() - t0
    assert len(frames) == 6, "one frame per step (render() adds none)"
    assert elapsed >= 5 * 0.1 * 0.9, f"6 frames at 10 fps take at least 0.5 s, took {elapsed:.2f} s"
    image = frames[-1]
    assert image.shape == (512, 512, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 2, "background plus entities"
    assert not np.array_equal(frames[0], frames[-1]), "the world moves between frames"
    par.close()
    assert par._window is None


def test_closing_the_window_leaves_the_env_running(display):
    par = parallel_env("tag", render_mode="human", compile=False)
    par.reset(seed=0)
    par._window.window.request_close()  # what the window's close button does
    par.step({a: 0 for a in par.agents})
    assert par._window.closed
    obs, *_ = par.step({a: 0 for a in par.agents})
    assert set(obs) == set(par.possible_agents)
    par.close()
