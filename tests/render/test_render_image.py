"""Single-image rendering: colours, shapes, dead entities, cameras and aspect ratio."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.render import Frame, Renderer, RenderStyle, shader_dir
from engine.render.resources import split_program_source

BG = (0.1, 0.2, 0.3)
BG8 = np.round(np.array(BG) * 255).astype(np.uint8)


def pixel_of(x: float, y: float, width: int, height: int,
             camera: tuple[float, float, float]) -> tuple[int, int]:
    """(row, col) of the pixel containing world point (x, y); rows top-first, y up in the world."""
    cx, cy, half = camera
    scale = min(width, height) / (2 * half)
    col = width / 2 + (x - cx) * scale
    row = height / 2 - (y - cy) * scale
    return int(np.floor(row)), int(np.floor(col))


def close(a: np.ndarray, b: np.ndarray, tol: int = 1) -> bool:
    return bool(np.abs(a.astype(int) - np.asarray(b).astype(int)).max() <= tol)


@pytest.fixture(scope="module")
def renderer(gl_ctx: object) -> Renderer:
    return Renderer(gl_ctx, RenderStyle(background=BG, width=128, height=128))


def test_known_state_draws_entity_colours_at_centres_and_background_elsewhere(renderer: Renderer) -> None:
    pos = np.array([[[0.0, 0.0], [0.5, 0.5], [-0.5, -0.5], [0.5, -0.5]]])
    color = np.array([[[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]], dtype=float)
    frame = Frame(pos=pos, radius=np.full((1, 4), 0.1), color=color, shape=[0, 1, 0, 1])
    image = renderer.render(frame)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    cam = renderer.style.default_camera
    for (x, y), rgb in zip(pos[0], color[0]):
        assert close(image[pixel_of(x, y, 128, 128, cam)], rgb * 255), (x, y)
    assert close(image[pixel_of(-0.5, 0.5, 128, 128, cam)], BG8)  # empty quadrant
    assert close(image[0, 0], BG8) and close(image[-1, -1], BG8)
    # y is up: the green entity at (0.5, 0.5) is in the top half of the image.
    rows, _ = np.nonzero((image == [0, 255, 0]).all(-1))
    assert rows.max() < 64


def test_square_fills_its_bounding_box_corner_and_circle_does_not(renderer: Renderer) -> None:
    cam = (0.0, 0.0, 1.0)
    frame = Frame(pos=[[[-0.5, 0.0], [0.5, 0.0]]], radius=[[0.25, 0.25]], color=[[[1, 1, 1], [1, 1, 1]]],
                  shape=[0, 1])
    image = renderer.render(frame, camera=cam)
    # Corner of each bounding box, 2 px inside: r = 0.25 world = 16 px.
    for x, expect_white in ((-0.5, False), (0.5, True)):
        row, col = pixel_of(x - 0.25, 0.25, 128, 128, cam)
        corner = image[row + 2, col + 2]
        assert close(corner, [255, 255, 255]) == expect_white, (x, corner)
        if not expect_white:
            assert close(corner, BG8)


def test_dead_entities_are_not_drawn(renderer: Renderer) -> None:
    frame = Frame(pos=[[[0.0, 0.0], [0.5, 0.5]]], radius=[[0.2, 0.2]], color=[[[1, 0, 0], [0, 1, 0]]],
                  alive=[[False, True]])
    image = renderer.render(frame)
    cam = renderer.style.default_camera
    assert close(image[pixel_of(0, 0, 128, 128, cam)], BG8)
    assert close(image[pixel_of(0.5, 0.5, 128, 128, cam)], [0, 255, 0])
    assert not (image == [255, 0, 0]).all(-1).any()


def test_non_square_image_keeps_circles_round_and_fits_the_unit_box(gl_ctx: object) -> None:
    wide = Renderer(gl_ctx, RenderStyle(background=BG, width=200, height=100))
    frame = Frame(pos=[[[0.0, 0.0], [0.95, 0.95], [-0.95, -0.95]]], radius=[[0.5, 0.03, 0.03]],
                  color=[[[1, 0, 0], [0, 1, 0], [0, 0, 1]]])
    image = wide.render(frame)
    assert image.shape == (100, 200, 3)
    rows, cols = np.nonzero((image == [255, 0, 0]).all(-1))
    width, height = cols.max() - cols.min() + 1, rows.max() - rows.min() + 1
    assert abs(width - height) <= 1, (width, height)
    assert abs(rows.mean() - 49.5) < 0.5 and abs(cols.mean() - 99.5) < 0.5
    # The default camera shows [-1, 1] along the shorter side, so the corner markers are inside.
    assert (image == [0, 255, 0]).all(-1).any() and (image == [0, 0, 255]).all(-1).any()


def test_outline_paints_the_edge_but_not_the_centre(gl_ctx: object) -> None:
    outlined = Renderer(gl_ctx, RenderStyle(background=BG, width=128, height=128, outline_width=2.0,
                                            outline_color=(0.0, 0.0, 0.0)))
    frame = Frame(pos=[[[0.0, 0.0]]], radius=[[0.5]], color=[[[1, 1, 1]]], shape=[1])
    image = outlined.render(frame, camera=(0, 0, 1))
    assert close(image[64, 64], [255, 255, 255])
    assert close(image[64, 33], [0, 0, 0])  # half side 32 px: column 32..95 is the square


def test_render_into_an_offset_viewport_matches_render(gl_ctx: object, renderer: Renderer) -> None:
    frame = Frame(pos=[[[0.3, -0.2], [-0.4, 0.5]]], radius=[[0.3, 0.2]], color=[[[1, 0.5, 0], [0, 0.5, 1]]],
                  shape=[0, 1])
    fbo = gl_ctx.simple_framebuffer((200, 160))
    fbo.clear(0, 0, 0, 1)
    renderer.render_into(fbo, frame, viewport=(30, 20, 128, 128))  # window orientation: world y up = GL up
    full = np.frombuffer(fbo.read(components=3, alignment=1), np.uint8).reshape(160, 200, 3)
    window = full[20:148, 30:158][::-1]  # bottom-first rows -> top-first
    assert close(window, renderer.render(frame))
    assert (full[:20] == 0).all() and (full[:, :30] == 0).all()  # nothing outside the viewport
    fbo.release()


def test_torch_tensors_are_accepted(renderer: Renderer) -> None:
    torch = pytest.importorskip("torch")
    frame_np = Frame(pos=[[[0.1, 0.2]]], radius=[[0.3]], color=[[[0.2, 0.9, 0.4]]], alive=[[True]], shape=[0])
    frame_t = Frame(pos=torch.tensor([[[0.1, 0.2]]]), radius=torch.tensor([[0.3]]),
                    color=torch.tensor([[[0.2, 0.9, 0.4]]]), alive=torch.tensor([[True]]),
                    shape=torch.tensor([0], dtype=torch.int8))
    assert np.array_equal(renderer.render(frame_np), renderer.render(frame_t))


def test_frame_rejects_wrong_shapes_with_a_message_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"Frame.radius: expected shape \[2, 3\]"):
        Frame(pos=np.zeros((2, 3, 2)), radius=np.zeros((3, 2)), color=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="Frame.shape: ids must be 0"):
        Frame(pos=np.zeros((1, 2, 2)), radius=np.zeros(2), color=np.zeros((2, 3)), shape=[0, 7])


def test_render_rejects_an_out_of_range_world(renderer: Renderer) -> None:
    with pytest.raises(IndexError, match="frame has 1 worlds"):
        renderer.render(Frame(pos=np.zeros((1, 1, 2)), radius=[0.1], color=[[1, 1, 1]]), world=3)


def test_shaders_are_found_in_the_checkout_and_split_into_stages() -> None:
    folder = shader_dir()
    assert folder == Path(__file__).resolve().parents[2] / "shaders"
    stages = split_program_source((folder / "entities.glsl").read_text())
    assert stages["VERTEX_SHADER"].splitlines()[:2] == ["#version 330", "#define VERTEX_SHADER"]
    assert "#define FRAGMENT_SHADER" in stages["FRAGMENT_SHADER"]


def test_importing_engine_render_loads_no_gl_or_media_library() -> None:
    # torch may come with the engine package itself; what must not load is GL, windowing or media code.
    code = ("import sys, engine.render; bad = [m for m in ('moderngl', 'glfw', 'PIL', 'imageio') "
            "if m in sys.modules]; assert not bad, bad")
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
