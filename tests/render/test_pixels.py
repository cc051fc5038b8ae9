"""Pixel observations: shapes, agent-centred views, one batched render equal to single renders, caching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import UserError
from engine.render import Frame, Renderer, RenderStyle
from engine.views.sim_view import SimView, shape_ids

WORLD = Path(__file__).with_name("pixels_world.yaml")
# scout 0, scout 1, watcher, rock × 3: far apart, so no entity covers another's centre.
POSITIONS = [[-0.5, 0.5], [0.5, 0.5], [0.5, -0.5], [-0.5, -0.5], [0.0, 0.0], [0.0, 0.8]]


@pytest.fixture
def sim(gl_ctx: object) -> engine.Sim:
    s = engine.make(WORLD, num_worlds=3, seed=0)
    s.reset()
    return s


def place(sim: engine.Sim, positions: list[list[float]] = POSITIONS) -> None:
    """Write known positions (a new tensor, as systems do) into every world, shifted per world."""
    b = sim.num_worlds
    pos = torch.tensor(positions, dtype=sim.state["pos"].dtype).expand(b, -1, -1).clone()
    pos[:, :, 0] += 0.05 * torch.arange(b).unsqueeze(1)
    sim.state["pos"] = pos


def test_pixel_observation_shapes_and_dtype(sim: engine.Sim) -> None:
    obs, _ = sim.reset()
    assert obs["scout/pixels"].shape == (3, 2, 32, 32, 3)
    assert obs["watcher/pixels"].shape == (3, 1, 24, 40, 3)
    assert obs["scout/pixels"].dtype == torch.uint8 and obs["watcher/pixels"].dtype == torch.uint8
    assert obs["scout"].shape == (3, 2, 2)  # the vector observation is untouched by the pixels term
    obs, *_ = sim.step(sim.sample_actions())
    assert set(obs) == {"scout", "watcher", "scout/pixels", "watcher/pixels"}


def test_agent_view_has_the_agent_colour_at_the_tile_centre(sim: engine.Sim) -> None:
    place(sim)
    pixels = sim.observations()["scout/pixels"].numpy()
    for b in range(3):
        for a in range(2):
            assert pixels[b, a, 16, 16].tolist() == [255, 0, 0], f"world {b} scout {a}"
            assert pixels[b, a, 0, 0].tolist() == [255, 255, 255]  # background at the corner


def test_pixel_tiles_equal_single_renders(sim: engine.Sim, gl_ctx: object) -> None:
    place(sim)
    obs = sim.observations()
    st = sim.state
    frame = Frame(pos=st["pos"], radius=st["radius"], color=st["color"], alive=st["alive"], shape=shape_ids(sim))
    single = Renderer(gl_ctx, RenderStyle(background=(1.0, 1.0, 1.0), width=32, height=32))
    watcher_view = SimView(sim, size=(40, 24), ctx=gl_ctx)
    try:
        for b in range(3):
            for a in range(2):
                x, y = (float(v) for v in st["pos"][b, a])
                expected = single.render(frame, b, (x, y, 0.4))
                got = obs["scout/pixels"][b, a].numpy()
                assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1, f"scout tile {b},{a}"
            expected = watcher_view.render(b)
            assert np.abs(obs["watcher/pixels"][b, 0].numpy().astype(int) - expected.astype(int)).max() <= 1
    finally:
        single.release()
        watcher_view.release()


def test_observations_render_once_per_state(sim: engine.Sim) -> None:
    observer = sim._observers[0]
    before = observer.renders
    first = sim.observations()
    second = sim.observations()
    assert observer.renders == before  # reset already rendered this state
    assert torch.equal(first["scout/pixels"], second["scout/pixels"])
    sim.step(sim.sample_actions())
    assert observer.renders == before + 1
    sim.state["pos"][:, 0] += 0.3  # an in-place write is a new state too
    moved = sim.observations()
    assert observer.renders == before + 2
    assert not torch.equal(moved["scout/pixels"], first["scout/pixels"])
    assert first["scout/pixels"].data_ptr() != moved["scout/pixels"].data_ptr()  # earlier obs are kept intact


def test_pixels_without_gl_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.render
    from engine.render import GLUnavailableError

    def no_gl(*_args: object, **_kwargs: object) -> None:
        raise GLUnavailableError("could not create a headless OpenGL context; `apt-get install libegl1 libgl1`")

    monkeypatch.setattr(engine.render, "create_headless_context", no_gl)
    with pytest.raises(UserError) as info:
        engine.make(WORLD, num_worlds=2)
    message = str(info.value)
    assert "pixels_fixture" in message and "'scout'" in message and "libegl1" in message
