"""Batched rendering: T tiles in one framebuffer equal T single-world renders."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine.render import Frame, Renderer, RenderStyle, agent_cameras

MakeFrame = Callable[..., Frame]

BG = (0.05, 0.05, 0.05)


@pytest.fixture(scope="module")
def renderer(gl_ctx: object) -> Renderer:
    return Renderer(gl_ctx, RenderStyle(background=BG))


def single_renders(gl_ctx: object, frame: Frame, tile_hw: tuple[int, int], cams: np.ndarray,
                   worlds: np.ndarray) -> np.ndarray:
    single = Renderer(gl_ctx, RenderStyle(background=BG, width=tile_hw[1], height=tile_hw[0]))
    try:
        return np.stack([single.render(frame, int(w), tuple(c)) for c, w in zip(cams, worlds)])
    finally:
        single.release()


def test_tiles_equal_single_world_renders(gl_ctx: object, renderer: Renderer, make_frame: MakeFrame) -> None:
    frame = make_frame(worlds=5, entities=7, seed=1, alive=np.random.default_rng(2).random((5, 7)) > 0.2)
    rng = np.random.default_rng(3)
    cams = np.concatenate([rng.uniform(-0.5, 0.5, (11, 2)), rng.uniform(0.3, 1.2, (11, 1))], axis=1)
    worlds = rng.integers(0, 5, 11)  # 11 tiles: a grid of 4 columns with a partial last row
    tiles = renderer.render_tiles(frame, (48, 40), cams, worlds)  # non-square tiles
    assert tiles.shape == (11, 48, 40, 3)
    expected = single_renders(gl_ctx, frame, (48, 40), cams, worlds)
    diff = np.abs(tiles.astype(int) - expected.astype(int))
    assert diff.max() <= 1, f"max diff {diff.max()} in tiles {np.unique(np.nonzero(diff > 1)[0])}"
    assert (tiles != tiles[:, :1, :1]).any(axis=(1, 2, 3)).sum() >= 8  # most tiles show something


def test_agent_centred_camera_puts_the_agent_at_the_tile_centre(renderer: Renderer) -> None:
    pos = np.array([[[0.37, -0.61], [-0.2, 0.4]], [[-0.8, 0.15], [0.5, 0.5]]])
    color = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    frame = Frame(pos=pos, radius=np.full(2, 0.1), color=color,
                  cameras=agent_cameras(pos, agent_index=[0, 1], half_extent=0.5))
    tiles = renderer.render_tiles(frame, (64, 64))  # cameras from the frame: tile b*A + a
    assert tiles.shape == (4, 64, 64, 3)
    for t in range(4):
        agent_rgb = (color[t % 2] * 255).astype(np.uint8)
        rows, cols = np.nonzero((tiles[t] == agent_rgb).all(-1))
        assert rows.size > 50, t
        centre = (rows.mean(), cols.mean())
        assert abs(centre[0] - 31.5) < 0.25 and abs(centre[1] - 31.5) < 0.25, (t, centre)


def test_entities_do_not_bleed_into_neighbouring_tiles(renderer: Renderer) -> None:
    # World 0 has a huge square covering its whole view; world 1 is empty.
    frame = Frame(pos=[[[0.0, 0.0]], [[0.0, 0.0]]], radius=[3.0], color=[[1, 1, 1]],
                  alive=[[True], [False]], shape=[1])
    worlds = np.array([0, 1, 1, 0, 1, 1, 1, 0, 1])
    tiles = renderer.render_tiles(frame, (16, 16), np.tile([0.0, 0.0, 1.0], (9, 1)), worlds)
    bg = np.round(np.array(BG) * 255).astype(np.uint8)
    assert (tiles[worlds == 0] == 255).all()
    assert (tiles[worlds == 1] == bg).all()


def test_tiles_beyond_the_framebuffer_limit_render_in_passes_with_the_same_pixels(
        gl_ctx: object, renderer: Renderer, make_frame: MakeFrame) -> None:
    frame = make_frame(worlds=10, entities=5, seed=4)
    small = Renderer(gl_ctx, RenderStyle(background=BG), max_framebuffer_size=100)  # 3x3 tiles a pass
    try:
        assert np.array_equal(small.render_tiles(frame, (32, 32)), renderer.render_tiles(frame, (32, 32)))
    finally:
        small.release()


def test_steady_state_calls_reuse_gl_objects(renderer: Renderer, make_frame: MakeFrame) -> None:
    frame = make_frame(worlds=64, entities=6, seed=5)
    out = np.empty((64, 32, 32, 3), np.uint8)
    renderer.render_tiles(frame, (32, 32), out=out)
    held = (renderer._fbo, renderer._color, [(b.buffer, b.vao) for b in renderer._batches.values()])
    first = out.copy()
    renderer.render_tiles(frame, (32, 32), out=out)
    assert (renderer._fbo, renderer._color, [(b.buffer, b.vao) for b in renderer._batches.values()]) == held
    assert np.array_equal(out, first)


def test_render_tiles_explains_mismatched_arguments(renderer: Renderer, make_frame: MakeFrame) -> None:
    frame = make_frame(worlds=3)
    with pytest.raises(ValueError, match="pass world_of_tile"):
        renderer.render_tiles(frame, (16, 16), cameras=np.ones((5, 3)))
    with pytest.raises(ValueError, match="one camera per tile"):
        renderer.render_tiles(frame, (16, 16), cameras=np.ones((5, 3)), world_of_tile=[0, 1])
