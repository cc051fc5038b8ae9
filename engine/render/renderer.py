"""Instanced moderngl renderer for batched entity state: one image, a grid of tiles, or a window.

One program (``shaders/entities.glsl``), one draw call per shape type. Instance data is built with
whole-array numpy ops from a :class:`Frame`; GL buffers and the offscreen framebuffer are created once
and grown when a call needs more, so a steady-state call allocates no GL objects.

Batched observations (``render_tiles``) put T tiles in one framebuffer, draw them with one call per
shape, read back once and split with reshape/transpose. Coverage is computed in tile-local pixels,
so a tile equals the single-world render of the same world and camera bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .frame import SHAPES, Frame, to_numpy
from .resources import load_program
from .style import RenderStyle

if TYPE_CHECKING:  # pragma: no cover - moderngl is imported lazily so `import engine.render` needs no GL
    import moderngl

# Per-instance record: pos(2) radius(1) color(3) camera(3) tile origin(2) half sides(2) direction(2), float32.
_INSTANCE_FLOATS = 15
_INSTANCE_FORMAT = "2f 1f 3f 3f 2f 2f 2f/i"
_INSTANCE_ATTRS = ("in_pos", "in_radius", "in_color", "in_camera", "in_origin", "in_half", "in_rot")
SHAPE_RECT = 2  # walls: oriented rectangles (Frame.walls), drawn under the entities
# Read back RGB, not RGBA: Mesa's RGB repack costs ~2 ms at 2048², but dropping the alpha byte in
# numpy's strided tile split costs ~14 ms, while splitting RGB rows copies whole w*3-byte runs (<1 ms).
_READ_COMPONENTS = 3


def build_instances(frame: Frame, world_of_tile: np.ndarray, cameras: np.ndarray, origins: np.ndarray,
                    shape_id: int) -> np.ndarray:
    """Instance records ``[K, 11]`` float32 for every alive entity of ``shape_id`` in every tile.

    Tile t shows world ``world_of_tile[t]`` through ``cameras[t]`` with its bottom-left corner at
    ``origins[t]`` (pixels). Whole-array gathers only: cost grows with T×N, not with Python calls.
    """
    ents = np.flatnonzero(frame.shape == shape_id)
    if ents.size == 0 or world_of_tile.size == 0:
        return np.empty((0, _INSTANCE_FLOATS), dtype=np.float32)
    tile, j = np.nonzero(frame.alive[world_of_tile[:, None], ents[None, :]])
    world = world_of_tile[tile]
    ent = ents[j]
    inst = np.empty((tile.size, _INSTANCE_FLOATS), dtype=np.float32)
    inst[:, 0:2] = frame.pos[world, ent]
    inst[:, 2] = frame.radius[world, ent]
    inst[:, 3:6] = frame.color[world, ent]
    inst[:, 6:9] = cameras[tile]
    inst[:, 9:11] = origins[tile]
    inst[:, 11:13] = inst[:, 2:3]
    inst[:, 13], inst[:, 14] = 1.0, 0.0
    return inst


def _disk_rects(disks: np.ndarray) -> np.ndarray:
    """Disks ``[D, 3]`` (x, y, r) as the ``[D, 6]`` records of :func:`build_wall_instances`."""
    out = np.zeros((len(disks), 6), dtype=np.float32)
    out[:, 0:2], out[:, 2:4], out[:, 4] = disks[:, 0:2], disks[:, 2:3], 1.0
    return out


def build_wall_instances(walls: np.ndarray, color: np.ndarray, cameras: np.ndarray, origins: np.ndarray,
                         radius: np.ndarray | None = None) -> np.ndarray:
    """Instance records ``[T·W, 15]`` for walls ``[W, 6]`` (centre x, y, half sides, cos, sin) in T tiles
    (``radius``: draw them as circles of these radii instead)."""
    t, w = cameras.shape[0], walls.shape[0]
    if t == 0 or w == 0:
        return np.empty((0, _INSTANCE_FLOATS), dtype=np.float32)
    inst = np.empty((t, w, _INSTANCE_FLOATS), dtype=np.float32)
    inst[..., 0:2] = walls[:, 0:2]
    # the quad covers the turned rectangle (its half diagonal), or the circle
    inst[..., 2] = np.hypot(walls[:, 2], walls[:, 3]) if radius is None else radius
    inst[..., 3:6] = color
    inst[..., 6:9] = cameras[:, None]
    inst[..., 9:11] = origins[:, None]
    inst[..., 11:15] = walls[:, 2:6]
    return inst.reshape(t * w, _INSTANCE_FLOATS)


def build_tile_instances(tiles: np.ndarray, world_of_tile: np.ndarray, cameras: np.ndarray, origins: np.ndarray,
                         shape: float) -> np.ndarray:
    """Instance records ``[K', 15]`` for the per-world ``tiles [B, K, 10]`` of one shape, in every view tile."""
    recs = tiles[world_of_tile]  # [T, K, 10]
    keep = (recs[..., 9] == shape) & (recs[..., 2] > 0)
    t, k = np.nonzero(keep)
    r = recs[t, k]
    inst = np.empty((len(t), _INSTANCE_FLOATS), dtype=np.float32)
    inst[:, 0:2] = r[:, 0:2]
    inst[:, 2] = np.hypot(r[:, 2], r[:, 3]) if shape == SHAPE_RECT else r[:, 2]
    inst[:, 3:6] = r[:, 6:9]
    inst[:, 6:9] = cameras[t]
    inst[:, 9:11] = origins[t]
    inst[:, 11:15] = r[:, 2:6]
    return inst


class _InstanceBatch:
    """A growable instance buffer and its VAO for one shape type (re-created only when it grows)."""

    def __init__(self, ctx: moderngl.Context, program: moderngl.Program, quad: moderngl.Buffer,
                 capacity: int) -> None:
        self.ctx, self.program, self.quad = ctx, program, quad
        self.capacity = 0
        self.buffer: moderngl.Buffer | None = None
        self.vao: moderngl.VertexArray | None = None
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.release()
        self.capacity = capacity
        self.buffer = self.ctx.buffer(reserve=capacity * _INSTANCE_FLOATS * 4, dynamic=True)
        self.vao = self.ctx.vertex_array(
            self.program,
            [(self.quad, "2f", "in_corner"), (self.buffer, _INSTANCE_FORMAT, *_INSTANCE_ATTRS)],
        )

    def draw(self, instances: np.ndarray) -> None:
        import moderngl

        count = instances.shape[0]
        if count == 0:
            return
        if count > self.capacity:
            self._allocate(max(count, 2 * self.capacity))
        self.buffer.write(instances)
        self.vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=count)

    def release(self) -> None:
        if self.vao is not None:
            self.vao.release()
            self.buffer.release()
        self.vao = self.buffer = None


class Renderer:
    """Draws a :class:`Frame` with moderngl: offscreen images, batched tiles, or into a window.

    Give it any moderngl context (a headless EGL one from ``create_headless_context()`` or a window's).
    World coordinates are y up; a camera ``(cx, cy, half_extent)`` shows ``half_extent`` world units
    from its centre to the nearer image edge, so non-square images keep circles round.

    >>> from engine.render import Frame, RenderStyle, Renderer, create_headless_context
    >>> renderer = Renderer(create_headless_context(), RenderStyle(width=128, height=128))
    >>> frame = Frame(pos=[[[0.0, 0.0]]], radius=[[0.2]], color=[[[1.0, 0.0, 0.0]]])
    >>> image = renderer.render(frame)               # [128, 128, 3] uint8, rows top-first
    >>> tiles = renderer.render_tiles(frame, (32, 32), cameras=[[0, 0, 0.5]], world_of_tile=[0])
    >>> image[64, 64].tolist(), tiles.shape
    ([255, 0, 0], (1, 32, 32, 3))
    """

    def __init__(self, ctx: moderngl.Context, style: RenderStyle | None = None, *,
                 shaders: Path | None = None, max_framebuffer_size: int | None = None) -> None:
        self.ctx = ctx
        self.style = style if style is not None else RenderStyle()
        self._program = load_program(ctx, "entities.glsl", shaders)
        corners = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype=np.float32)
        self._quad = ctx.buffer(corners.tobytes())
        self._batches = {shape: _InstanceBatch(ctx, self._program, self._quad, 1024) for shape in SHAPES}
        self._walls = _InstanceBatch(ctx, self._program, self._quad, 64)
        info = ctx.info
        limit = min(min(info["GL_MAX_VIEWPORT_DIMS"]), info["GL_MAX_RENDERBUFFER_SIZE"])
        self.max_framebuffer_size = min(limit, max_framebuffer_size or limit)
        self._fbo: moderngl.Framebuffer | None = None
        self._color: moderngl.Renderbuffer | None = None
        self._readback = np.empty(0, dtype=np.uint8)

    # ----------------------------------------------------------------------------------------- public

    def render(self, frame: Frame, world: int = 0, camera: Any = None, *,
               out: np.ndarray | None = None) -> np.ndarray:
        """Render world ``world`` to a ``[H, W, 3]`` uint8 image (``style`` size), rows top-first.

        ``camera`` is ``(cx, cy, half_extent)`` in world units; by default [-1, 1]² plus
        ``style.margin`` fits the shorter side. This is ``render_tiles`` with one tile, so the two agree.
        """
        h, w = self.style.height, self.style.width
        cam = self.style.default_camera if camera is None else camera
        tiles = self.render_tiles(frame, (h, w), cameras=[cam], world_of_tile=[world],
                                  out=None if out is None else out[None])
        return tiles[0]

    def render_tiles(self, frame: Frame, tile_size: tuple[int, int] = (64, 64), cameras: Any = None,
                     world_of_tile: Any = None, *, out: np.ndarray | None = None) -> np.ndarray:
        """Render T views as tiles of one framebuffer; return ``[T, h, w, 3]`` uint8, rows top-first.

        ``cameras`` ``[T, 3]`` and ``world_of_tile`` ``[T]`` say what tile t shows. Defaults: if both are
        None, ``frame.cameras`` flattened world-major (see ``Frame.tile_cameras``), else one default
        camera per world (T = B); ``world_of_tile`` may be omitted when T == B.

        One draw call per shape type and one read-back per framebuffer; only when T tiles exceed the
        GL framebuffer size limit is the work split into several passes.
        """
        h, w = int(tile_size[0]), int(tile_size[1])
        if h <= 0 or w <= 0:
            raise ValueError(f"render_tiles: tile_size must be positive (h, w), got {tile_size}")
        cams, wot = self._resolve_tiles(frame, cameras, world_of_tile)
        t_count = cams.shape[0]
        if out is None:
            out = np.empty((t_count, h, w, 3), dtype=np.uint8)
        elif out.shape != (t_count, h, w, 3) or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(f"render_tiles: out must be a C-contiguous uint8 array {(t_count, h, w, 3)}, "
                             f"got {out.dtype} {out.shape} (contiguous={out.flags.c_contiguous})")
        cols_max = self.max_framebuffer_size // w
        rows_max = self.max_framebuffer_size // h
        if cols_max == 0 or rows_max == 0:
            raise ValueError(f"render_tiles: tile {h}x{w} exceeds the GL framebuffer limit "
                             f"{self.max_framebuffer_size}px")
        per_pass = cols_max * rows_max
        for start in range(0, t_count, per_pass):  # one pass unless T is huge
            stop = min(t_count, start + per_pass)
            self._render_pass(frame, cams[start:stop], wot[start:stop], h, w, cols_max, rows_max,
                              out[start:stop])
        return out

    def render_into(self, target: moderngl.Framebuffer, frame: Frame, world: int = 0, camera: Any = None,
                    viewport: tuple[int, int, int, int] | None = None, *, rows_top_first: bool = False,
                    clear: bool = True) -> None:
        """Draw one world into ``target`` (``ctx.screen`` of a window, or any framebuffer).

        ``viewport`` ``(x, y, w, h)`` in GL pixels (origin bottom-left) defaults to the whole target.
        ``rows_top_first=True`` lays rows out so a read-back gives the image top row first (what
        ``render`` uses); a window wants the default, which shows world y up on screen.
        """
        vx, vy, vw, vh = viewport if viewport is not None else (0, 0, *target.size)
        cam = np.asarray([self.style.default_camera if camera is None else camera], dtype=np.float32)
        self._check_world(frame, np.asarray([world]))
        self._draw(target, (vx, vy, vw, vh), (vh, vw), np.zeros((1, 2), np.float32), cam,
                   np.asarray([world], dtype=np.int64), frame, rows_top_first, clear)

    def release(self) -> None:
        """Free the GL objects; the renderer cannot draw afterwards."""
        for batch in (*self._batches.values(), self._walls):
            batch.release()
        for obj in (self._fbo, self._color, self._quad, self._program):
            if obj is not None:
                obj.release()
        self._fbo = self._color = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # --------------------------------------------------------------------------------------- internals

    def _check_world(self, frame: Frame, worlds: np.ndarray) -> None:
        if worlds.size and (worlds.min() < 0 or worlds.max() >= frame.num_worlds):
            raise IndexError(f"world index out of range: frame has {frame.num_worlds} worlds (0.."
                             f"{frame.num_worlds - 1}), got {sorted(set(worlds.tolist()))[:8]}")

    def _resolve_tiles(self, frame: Frame, cameras: Any, world_of_tile: Any) -> tuple[np.ndarray, np.ndarray]:
        if cameras is None and world_of_tile is None and frame.cameras is not None:
            cams, wot = frame.tile_cameras()
        else:
            if world_of_tile is None:
                wot = np.arange(frame.num_worlds, dtype=np.int64)
            else:
                wot = to_numpy(world_of_tile, np.int64, "world_of_tile").reshape(-1)
            if cameras is None:
                cams = np.tile(np.asarray(self.style.default_camera, np.float32), (wot.size, 1))
            else:
                cams = to_numpy(cameras, np.float32, "cameras").reshape(-1, 3)
                if world_of_tile is None and cams.shape[0] != frame.num_worlds:
                    raise ValueError(f"render_tiles: {cams.shape[0]} cameras for {frame.num_worlds} worlds; "
                                     "pass world_of_tile [T] to say which world each camera shows")
        if cams.shape[0] != wot.size:
            raise ValueError(f"render_tiles: cameras has {cams.shape[0]} rows but world_of_tile has "
                             f"{wot.size} entries; expected one camera per tile")
        if not (cams[:, 2] > 0).all():
            raise ValueError("render_tiles: camera half_extent (last column) must be > 0")
        self._check_world(frame, wot)
        return cams, wot

    def _ensure_fbo(self, width: int, height: int) -> moderngl.Framebuffer:
        if self._fbo is None or width > self._fbo.size[0] or height > self._fbo.size[1]:
            old = self._fbo.size if self._fbo is not None else (0, 0)
            size = (max(width, old[0]), max(height, old[1]))
            if self._fbo is not None:
                self._fbo.release()
                self._color.release()
            self._color = self.ctx.renderbuffer(size, components=4)
            self._fbo = self.ctx.framebuffer(color_attachments=[self._color])
        return self._fbo

    def _render_pass(self, frame: Frame, cams: np.ndarray, wot: np.ndarray, h: int, w: int,
                     cols_max: int, rows_max: int, out: np.ndarray) -> None:
        t_count = cams.shape[0]
        # Near-square grid that still fits the framebuffer limit in both directions.
        cols = min(cols_max, max(math.ceil(math.sqrt(t_count)), math.ceil(t_count / rows_max)))
        rows = math.ceil(t_count / cols)
        tiles = np.arange(t_count)
        origins = np.empty((t_count, 2), dtype=np.float32)
        origins[:, 0] = (tiles % cols) * w
        origins[:, 1] = (tiles // cols) * h
        fb_w, fb_h = cols * w, rows * h
        fbo = self._ensure_fbo(fb_w, fb_h)
        self._draw(fbo, (0, 0, fb_w, fb_h), (h, w), origins, cams, wot, frame, True, True)

        nbytes = fb_w * fb_h * _READ_COMPONENTS
        if self._readback.size < nbytes:
            self._readback = np.empty(nbytes, dtype=np.uint8)
        buf = self._readback[:nbytes]
        fbo.read_into(buf, viewport=(0, 0, fb_w, fb_h), components=_READ_COMPONENTS, alignment=1)
        # GL row 0 is the first row in memory and holds tile row 0's image top (u_flip = -1).
        # Pixels of one tile row are kept together as one w*3-byte run so the copy moves whole runs.
        grid = buf.reshape(rows, h, cols, w * 3).transpose(0, 2, 1, 3)
        flat = out.reshape(t_count, h, w * 3)
        full = t_count // cols
        if full:
            flat[: full * cols].reshape(full, cols, h, w * 3)[...] = grid[:full]
        rest = t_count - full * cols
        if rest:
            flat[full * cols:] = grid[full, :rest]

    def _draw(self, target: moderngl.Framebuffer, viewport: tuple[int, int, int, int],
              tile_hw: tuple[int, int], origins: np.ndarray, cams: np.ndarray, wot: np.ndarray, frame: Frame,
              rows_top_first: bool, clear: bool) -> None:
        import moderngl

        ctx, prog, style = self.ctx, self._program, self.style
        vx, vy, vw, vh = viewport
        target.use()
        ctx.viewport = viewport
        if clear:
            target.clear(*style.background, 1.0, viewport=viewport)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        prog["u_target_size"].value = (float(vw), float(vh))
        prog["u_tile_size"].value = (float(tile_hw[1]), float(tile_hw[0]))
        prog["u_flip"].value = -1.0 if rows_top_first else 1.0
        prog["u_viewport_origin"].value = (float(vx), float(vy))
        prog["u_outline_width"].value = float(style.outline_width)
        prog["u_outline_color"].value = tuple(float(c) for c in style.outline_color)
        prog["u_opacity"].value = 1.0
        if frame.tiles is not None:  # a grid world's cells, per world, under everything else
            for shape in (SHAPE_RECT, 0):
                inst = build_tile_instances(frame.tiles, wot, cams, origins, float(shape))
                if len(inst):
                    prog["u_shape"].value = shape
                    self._walls.draw(inst)
        for rects, disks, rgb, opacity in frame.zones or ():  # translucent, under everything else
            prog["u_opacity"].value = float(opacity)
            if len(rects):
                prog["u_shape"].value = SHAPE_RECT
                self._walls.draw(build_wall_instances(rects, np.asarray(rgb, np.float32), cams, origins))
            if len(disks):
                prog["u_shape"].value = 0
                self._walls.draw(build_wall_instances(_disk_rects(disks), np.asarray(rgb, np.float32), cams,
                                                      origins, radius=disks[:, 2]))
        prog["u_opacity"].value = 1.0
        if frame.walls is not None and len(frame.walls):
            prog["u_shape"].value = SHAPE_RECT
            self._walls.draw(build_wall_instances(frame.walls, frame.wall_color, cams, origins))
        for shape, batch in self._batches.items():
            instances = build_instances(frame, wot, cams, origins, shape)
            if instances.shape[0]:
                prog["u_shape"].value = shape
                batch.draw(instances)
