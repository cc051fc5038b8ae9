"""Tiny HUD text: PIL's default font baked into a glyph atlas at runtime, drawn as instanced quads.

No font files ship with worldloom: ``ImageFont.load_default()`` is rendered once into a one-channel
texture (printable ASCII), so the HUD works wherever Pillow does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .resources import load_program

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

_FIRST, _LAST = 32, 126  # printable ASCII; anything else is drawn as '?'
_INSTANCE_FLOATS = 12    # rect(4) uv(4) rgba(4)
_WHITE = 4               # side of the solid block used by background boxes


class TextRenderer:
    """Draws lines of text at screen pixel coordinates over a translucent background box.

    Coordinates are pixels from the target's top-left corner, x right and y down, like a HUD.

    >>> from engine.render import TextRenderer, create_headless_context
    >>> ctx = create_headless_context()
    >>> fbo = ctx.simple_framebuffer((160, 40))
    >>> text = TextRenderer(ctx)
    >>> text.draw(fbo, ["fps 60", "worlds 1"], pos=(4, 4))
    >>> text.measure(["fps 60"])[1] == text.line_height + 2 * 3
    True
    """

    def __init__(self, ctx: moderngl.Context, *, scale: int = 1, shaders: Path | None = None) -> None:
        import moderngl

        self.ctx = ctx
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f"TextRenderer scale must be an integer >= 1, got {scale}")
        self._program = load_program(ctx, "text.glsl", shaders)
        atlas, self._glyphs, self._white_uv, glyph_h = _bake_atlas()
        self.line_height = glyph_h * self.scale
        self._texture = ctx.texture((atlas.shape[1], atlas.shape[0]), 1, atlas.tobytes(), alignment=1)
        self._texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        corners = np.array([0, 0, 1, 0, 0, 1, 1, 1], dtype=np.float32)
        self._quad = ctx.buffer(corners.tobytes())
        self._capacity = 0
        self._buffer: moderngl.Buffer | None = None
        self._vao: moderngl.VertexArray | None = None
        self._grow(256)

    def measure(self, lines: str | Sequence[str], padding: int = 3) -> tuple[int, int]:
        """Size in pixels ``(w, h)`` of the background box ``draw`` would paint for ``lines``."""
        lines = _as_lines(lines)
        widths = [int(self._glyphs[_codes(line), 4].sum()) * self.scale for line in lines]
        return max(widths, default=0) + 2 * padding, len(lines) * self.line_height + 2 * padding

    def draw(self, target: moderngl.Framebuffer, lines: str | Sequence[str], pos: tuple[int, int] = (8, 8), *,
             color: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
             background: Sequence[float] | None = (0.0, 0.0, 0.0, 0.6),
             padding: int = 3, rows_top_first: bool = False,
             viewport: tuple[int, int, int, int] | None = None) -> None:
        """Draw ``lines`` with the box's top-left corner at ``pos`` (pixels) into ``target``.

        ``color``/``background`` are straight RGBA in 0..1 (``background=None``: no box).
        ``rows_top_first=True`` matches ``Renderer.render_into(..., rows_top_first=True)`` targets,
        whose read-back yields the top row first. ``viewport`` ``(x, y, w, h)`` (GL pixels) is the
        area ``pos`` is relative to, default the whole target; pass the window's size after a resize.
        """
        import moderngl

        lines = _as_lines(lines)
        x0, y0 = float(pos[0]), float(pos[1])
        parts = []
        if background is not None:
            box_w, box_h = self.measure(lines, padding)
            box = np.zeros((1, _INSTANCE_FLOATS), dtype=np.float32)
            box[0, :4] = (x0, y0, box_w, box_h)
            box[0, 4:8] = self._white_uv
            box[0, 8:12] = _rgba(background)
            parts.append(box)
        s = self.scale
        for row, line in enumerate(lines):  # HUD lines are few; each line is built with array ops
            glyphs = self._glyphs[_codes(line)]  # [k, 8]: u0 v0 u1 v1 advance x_off width height
            if glyphs.shape[0] == 0:
                continue
            pen = np.concatenate(([0.0], np.cumsum(glyphs[:-1, 4]))) * s
            inst = np.empty((glyphs.shape[0], _INSTANCE_FLOATS), dtype=np.float32)
            inst[:, 0] = x0 + padding + pen + glyphs[:, 5] * s
            inst[:, 1] = y0 + padding + row * self.line_height
            inst[:, 2] = glyphs[:, 6] * s
            inst[:, 3] = glyphs[:, 7] * s
            inst[:, 4:8] = glyphs[:, 0:4]
            inst[:, 8:12] = _rgba(color)
            parts.append(inst)
        if not parts:
            return
        instances = np.concatenate(parts)
        if instances.shape[0] > self._capacity:
            self._grow(max(instances.shape[0], 2 * self._capacity))
        self._buffer.write(instances)
        viewport = viewport if viewport is not None else (0, 0, *target.size)
        target.use()
        self.ctx.viewport = viewport
        width, height = viewport[2], viewport[3]
        self.ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self._program["u_target_size"].value = (float(width), float(height))
        self._program["u_flip"].value = -1.0 if rows_top_first else 1.0
        self._program["u_atlas"].value = 0
        self._texture.use(0)
        self._vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=instances.shape[0])

    def release(self) -> None:
        """Free the GL objects."""
        if self._vao is not None:
            self._vao.release()
            self._buffer.release()
        self._vao = self._buffer = None
        self._texture.release()
        self._quad.release()
        self._program.release()

    def _grow(self, capacity: int) -> None:
        if self._vao is not None:
            self._vao.release()
            self._buffer.release()
        self._capacity = capacity
        self._buffer = self.ctx.buffer(reserve=capacity * _INSTANCE_FLOATS * 4, dynamic=True)
        self._vao = self.ctx.vertex_array(
            self._program,
            [(self._quad, "2f", "in_corner"), (self._buffer, "4f 4f 4f/i", "in_rect", "in_uv", "in_color")],
        )


def _as_lines(lines: str | Sequence[str]) -> list[str]:
    return lines.splitlines() if isinstance(lines, str) else [str(line) for line in lines]


def _codes(line: str) -> np.ndarray:
    """Glyph table rows for ``line``: printable ASCII index, '?' for anything else."""
    codes = np.frombuffer(line.encode("ascii", "replace"), dtype=np.uint8).astype(np.int64)
    codes = np.where((codes >= _FIRST) & (codes <= _LAST), codes, ord("?"))
    return codes - _FIRST


def _rgba(value: Sequence[float]) -> tuple[float, float, float, float]:
    v = tuple(float(c) for c in value)
    if len(v) == 3:
        v = (*v, 1.0)
    if len(v) != 4:
        raise ValueError(f"colour must be RGB or RGBA floats in 0..1, got {value!r}")
    return v


def _bake_atlas() -> tuple[np.ndarray, np.ndarray, tuple[float, float, float, float], int]:
    """Render printable ASCII with PIL's default font into one row of cells.

    Returns the atlas ``[H, W]`` uint8, a glyph table ``[95, 8]`` (u0 v0 u1 v1 advance x_offset width
    height, pixels where not uv), the uv rect of a solid white block, and the line height.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    chars = [chr(c) for c in range(_FIRST, _LAST + 1)]
    boxes = [font.getbbox(ch) for ch in chars]  # (left, top, right, bottom) from the pen position
    advances = [math.ceil(font.getlength(ch)) for ch in chars]
    lefts = [min(0, int(math.floor(b[0]))) for b in boxes]
    rights = [max(adv, int(math.ceil(b[2]))) for adv, b in zip(advances, boxes)]
    height = max(int(math.ceil(b[3])) for b in boxes) + 1
    widths = [r - left for left, r in zip(lefts, rights)]
    gap = 1  # keeps nearest sampling of one glyph from touching its neighbour
    atlas_w = sum(w + gap for w in widths) + _WHITE
    atlas_h = max(height, _WHITE)
    image = Image.new("L", (atlas_w, atlas_h), 0)
    draw = ImageDraw.Draw(image)
    table = np.zeros((len(chars), 8), dtype=np.float32)
    x = 0
    for i, ch in enumerate(chars):  # 95 glyphs, once per TextRenderer
        draw.text((x - lefts[i], 0), ch, font=font, fill=255)
        table[i] = (x / atlas_w, 0.0, (x + widths[i]) / atlas_w, height / atlas_h,
                    advances[i], lefts[i], widths[i], height)
        x += widths[i] + gap
    image.paste(255, (x, 0, x + _WHITE, _WHITE))
    white_u, white_v = (x + _WHITE / 2) / atlas_w, (_WHITE / 2) / atlas_h
    white_uv = (white_u, white_v, white_u, white_v)
    return np.asarray(image, dtype=np.uint8), table, white_uv, height
