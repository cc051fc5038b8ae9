"""Drawing a Sim's state: colours at the entities' pixels, background elsewhere, one code path for all targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine
from engine.render import fit_camera
from engine.views.sim_view import SimView

# tag: 3 adversaries, 1 prey, 2 obstacles; positions far apart so nothing overlaps.
POSITIONS = [[-0.6, 0.6], [0.6, 0.6], [-0.6, -0.6], [0.6, -0.6], [0.0, 0.5], [0.0, -0.4]]


def tag_sim(worlds: int = 2, **overrides: object) -> engine.Sim:
    sim = engine.make("tag", num_worlds=worlds, seed=3, overrides=overrides)
    sim.reset()
    pos = torch.tensor(POSITIONS, dtype=sim.state["pos"].dtype)
    sim.state["pos"] = pos.expand(worlds, -1, -1).clone()
    return sim


def to_pixel(xy: list[float], size: tuple[int, int], cam: tuple[float, float, float]) -> tuple[int, int]:
    """World point → (row, col) of an image rendered rows top-first."""
    w, h = size
    scale = min(w, h) / (2 * cam[2])
    return int(h / 2 - (xy[1] - cam[1]) * scale), int(w / 2 + (xy[0] - cam[0]) * scale)


def test_render_puts_entity_colours_at_their_positions(gl_ctx: object) -> None:
    sim = tag_sim()
    image = sim.render()
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    cam = fit_camera(sim.plan.spec.world.arena, 512, 512)
    colors = (sim.state["color"][0].numpy() * 255).round()
    for slot, xy in enumerate(POSITIONS):
        r, c = to_pixel(xy, (512, 512), cam)
        np.testing.assert_allclose(image[r, c], colors[slot], atol=1, err_msg=f"entity {slot} at {xy}")
    background = np.array(sim.plan.spec.render.background) * 255
    for corner in (image[2, 2], image[-3, -3], image[2, -3], image[256, 2]):
        np.testing.assert_allclose(corner, background, atol=1)


def test_render_uses_world_shapes_and_background(gl_ctx: object) -> None:
    sim = tag_sim(**{"render.shapes.obstacle": "square", "render.background": [0.0, 0.0, 0.2]})
    image = sim.render()
    cam = fit_camera(sim.plan.spec.world.arena, 512, 512)
    # Inside the obstacle's square (half side 0.2) but outside its circle: only a square covers it.
    r, c = to_pixel([0.0 + 0.17, 0.5 + 0.17], (512, 512), cam)
    np.testing.assert_allclose(image[r, c], (sim.state["color"][0, 4].numpy() * 255).round(), atol=1)
    np.testing.assert_allclose(image[2, 2], [0, 0, 51], atol=1)


def test_render_fits_the_arena_into_non_square_images(gl_ctx: object) -> None:
    sim = tag_sim(worlds=1, **{"world.arena": [-2.0, 2.0, -1.0, 1.0]})
    sim.state["pos"][0, 0] = torch.tensor([1.8, 0.0])  # near the arena's right wall
    view = SimView(sim, size=(200, 80))
    image = view.render(0)
    assert image.shape == (80, 200, 3)
    r, c = to_pixel([1.8, 0.0], (200, 80), view.camera())
    np.testing.assert_allclose(image[r, c], (sim.state["color"][0, 0].numpy() * 255).round(), atol=1)
    view.release()


def test_render_all_tiles_equal_single_renders(gl_ctx: object) -> None:
    sim = engine.make("tag", num_worlds=5, seed=1)
    sim.reset()
    view = SimView(sim, size=(96, 64), ctx=gl_ctx)
    tiles = view.render_all()
    assert tiles.shape == (5, 64, 96, 3)
    for b in range(5):
        assert np.abs(tiles[b].astype(int) - view.render(b).astype(int)).max() <= 1, f"world {b}"
    assert not np.array_equal(tiles[0], tiles[1])  # different worlds really differ


def test_draw_into_a_framebuffer_matches_render(gl_ctx: object) -> None:
    """The window path (draw_into, y up) and the offscreen path (render) draw the same pixels."""
    sim = tag_sim(worlds=1)
    view = SimView(sim, size=(128, 96), ctx=gl_ctx)
    fbo = gl_ctx.simple_framebuffer((128, 96))
    view.draw_into(fbo, 0)
    drawn = np.frombuffer(fbo.read(components=3, alignment=1), np.uint8).reshape(96, 128, 3)[::-1]
    assert np.abs(drawn.astype(int) - view.render(0).astype(int)).max() <= 1
    fbo.release()


def test_frame_cache_follows_in_place_writes(gl_ctx: object) -> None:
    sim = tag_sim(worlds=1)
    view = SimView(sim, size=(64, 64), ctx=gl_ctx)
    first = view.frame()
    assert view.frame() is first  # unchanged state: converted once
    sim.state["pos"][0, 0, 0] += 0.5
    assert view.frame() is not first
    with pytest.raises(IndexError, match="out of range"):
        view.render(3)


def test_color_by_draws_an_int_components_value(gl_ctx: object) -> None:
    """collect_treasure colours a treasure by its type and a collector by what it holds (render.color_by);
    the color component itself is untouched, and the drawing follows the value when it changes."""
    sim = engine.make("mpe/collect_treasure", num_worlds=1, seed=0, compile=False)
    sim.reset(seed=0)
    st = dict(sim.state)
    pos = torch.zeros_like(st["pos"])
    pos[0, :, 0] = torch.linspace(-0.9, 0.9, pos.shape[1])  # every entity apart on a line
    st["pos"], st["kind"], st["holding"] = pos, st["kind"].clone(), st["holding"].clone()
    st["radius"] = torch.full_like(st["radius"], 0.05)  # treasures are tiny: big enough to sample
    st["kind"][0, 8:] = torch.tensor([0, 1, 0, 1, 0, 1])
    st["holding"][0, :6] = torch.tensor([-1, 0, 1, -1, -1, -1])
    sim.state = st
    view = SimView(sim, size=(256, 256), ctx=gl_ctx)
    spec = sim.plan.spec.render.color_by
    expect = {8: spec["treasure"].colors[0], 9: spec["treasure"].colors[1], 1: spec["collector"].colors[0],
              2: spec["collector"].colors[1], 0: sim.state["color"][0, 0].tolist()}  # 0 holds nothing: its own
    image = view.render(0)
    for i, rgb in expect.items():
        r, c = to_pixel(pos[0, i].tolist(), (256, 256), view.camera())
        np.testing.assert_allclose(image[r, c], np.round(np.array(rgb) * 255), atol=2, err_msg=f"entity {i}")
    assert sim.state["color"][0, 8].tolist() == pytest.approx([0.6, 0.6, 0.3])  # the state is not rewritten
    sim.state["holding"][0, 0] = 1  # picks up: drawn in the other colour from the next frame on
    r, c = to_pixel(pos[0, 0].tolist(), (256, 256), view.camera())
    np.testing.assert_allclose(view.render(0)[r, c], np.round(np.array(spec["collector"].colors[1]) * 255), atol=2)
    view.release()


def test_walls_are_drawn_under_the_entities(gl_ctx: object) -> None:
    """worlds/walls.yaml: a segment's bar, a box's inside and a map cell are wall-coloured; open floor is not."""
    sim = engine.make("walls", num_worlds=1, seed=0, compile=False)
    sim.reset(seed=0)
    st = dict(sim.state)
    st["pos"] = torch.full_like(st["pos"], 5.0)  # every agent far out of view
    sim.state = st
    view = SimView(sim, size=(256, 256), ctx=gl_ctx)
    image = view.render(0)
    wall = np.round(np.array([0.3, 0.3, 0.32]) * 255)
    for xy in ([0.32, 0.32], [-0.22, -0.45], [0.59, -0.26]):  # boxes and a map cell: filled
        r, c = to_pixel(xy, (256, 256), view.camera())
        np.testing.assert_allclose(image[r, c], wall, atol=2, err_msg=str(xy))
    for xy in ([-0.6, 0.3], [0.35, -0.7]):  # segments: bars about a pixel thick (anti-aliased)
        r, c = to_pixel(xy, (256, 256), view.camera())
        assert image[r - 1:r + 2, c - 1:c + 2].min() < 160, xy
    for xy in ([0.0, 0.0], [-0.5, 0.3], [0.35, -0.6]):
        r, c = to_pixel(xy, (256, 256), view.camera())
        assert image[r, c].tolist() == [255, 255, 255], xy
    view.release()
