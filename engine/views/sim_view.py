"""Draw a :class:`~engine.sim.Sim`'s state: the bridge from component tensors to the renderer.

This is glue between the two layers below it: the simulation (``sim.state``, the world spec) and the
plain-array renderer (:mod:`engine.render`, which knows nothing of a Sim).

``SimView`` reads ``pos``, ``radius``, ``color`` and ``alive`` from ``sim.state``, the per-type shapes
and the background from the world file's ``render:`` section, and fits the camera to
``world.arena``. Offscreen images (``Sim.render``), batched tiles and the interactive window all go
through the same :class:`~engine.render.Renderer` and the same :class:`~engine.render.Frame`, so
what the window shows is what a recorded frame or a pixel observation shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.render.frame import SHAPE_CIRCLE, SHAPE_SQUARE, Frame, fit_camera
from engine.render.renderer import Renderer
from engine.render.style import RenderStyle
from engine.views.colors import color_by, wall_frame_rects, zone_frame_parts
from engine.views.grid_frame import GRID_KEYS, grid_frame

if TYPE_CHECKING:  # pragma: no cover - typing only; nothing GL is imported at module import
    import moderngl

    from engine.sim import Sim

__all__ = ["SimView", "fit_camera", "shape_ids"]

_SHAPE_IDS = {"circle": SHAPE_CIRCLE, "square": SHAPE_SQUARE}
#: Components a Frame is built from; their tensors (identity + in-place version) key the frame cache.
_FRAME_KEYS = ("pos", "radius", "color", "alive")


def shape_ids(sim: Sim) -> np.ndarray:
    """``[N]`` int8 shape id per entity slot from ``render.shapes`` (circle when a type is not listed)."""
    shapes = sim.plan.spec.render.shapes
    out = np.zeros(sim.layout.n, dtype=np.int8)
    for name, sl in sim.layout.types.items():
        out[sl.sl] = _SHAPE_IDS[shapes.get(name, "circle")]
    return out


class SimView:
    """Renders a Sim's current state with the shared moderngl renderer.

    ``size`` is ``(width, height)`` in pixels (default: the world's ``render.size``). With ``ctx=None``
    a headless EGL context is created on first use, so constructing a view costs nothing.

    >>> import engine
    >>> sim = engine.make("tag", num_worlds=4)
    >>> _ = sim.reset()
    >>> view = SimView(sim, size=(128, 96))
    >>> view.render(0).shape, view.render_all().shape
    ((96, 128, 3), (4, 96, 128, 3))
    """

    def __init__(self, sim: Sim, size: Sequence[int] | None = None, ctx: moderngl.Context | None = None,
                 *, margin: float = 0.05) -> None:
        self.sim = sim
        settings = sim.plan.spec.render
        width, height = (int(v) for v in (size if size is not None else settings.size))
        self.style = RenderStyle(background=tuple(float(c) for c in settings.background), width=width,
                                 height=height, margin=margin)
        self.arena = list(sim.plan.spec.world.arena)
        self.shapes = shape_ids(sim)
        self._colors = color_by(sim)
        self._walls = wall_frame_rects(sim)
        self._zones = zone_frame_parts(sim)
        self._grid = grid_frame(sim)
        if self._grid is not None:
            self._walls = self._grid.lines
        # the frame is rebuilt when any of these change (with color_by, the components it reads too)
        self._frame_keys = _FRAME_KEYS + tuple(cb.component for cb in sim.plan.spec.render.color_by.values()) + \
            (GRID_KEYS if self._grid is not None else ())
        self._ctx = ctx
        self._owns_ctx = ctx is None
        self._renderer: Renderer | None = None
        self._frame: Frame | None = None
        self._frame_key: tuple | None = None

    # --------------------------------------------------------------------------------------- public
    @property
    def ctx(self) -> moderngl.Context:
        """The GL context (created headless on first access when none was given)."""
        if self._ctx is None:
            from engine.render.offscreen import create_headless_context

            self._ctx = create_headless_context()
        return self._ctx

    @property
    def renderer(self) -> Renderer:
        """The renderer; its shader program is compiled from ``shaders/`` on first access."""
        if self._renderer is None:
            self._renderer = Renderer(self.ctx, self.style)
        return self._renderer

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of :meth:`render` images."""
        return self.style.width, self.style.height

    def camera(self, width: int | None = None, height: int | None = None) -> tuple[float, float, float]:
        """The camera fitting the arena into a ``width × height`` target (default: this view's size)."""
        return fit_camera(self.arena, width or self.style.width, height or self.style.height, self.style.margin)

    def frame(self, worlds: slice | None = None) -> Frame:
        """A :class:`Frame` of the current state (all worlds, or a slice of them).

        The all-worlds frame is cached until one of ``pos``/``radius``/``color``/``alive`` is replaced
        or modified in place, so a window drawing several frames per tick converts the state once.
        """
        st = self.sim.state
        if worlds is not None:
            color = self._colors(st) if self._colors is not None else st["color"]
            return Frame(pos=st["pos"][worlds], radius=st["radius"][worlds], color=color[worlds],
                         alive=st["alive"][worlds], shape=self.shapes, walls=self._walls, zones=self._zones,
                         tiles=self._grid.tiles(st, worlds) if self._grid is not None else None)
        tensors = tuple(st[k] for k in self._frame_keys)
        # Holding the tensors in the key keeps their ids from being reused while the key is alive.
        key = tuple((t, id(t), getattr(t, "_version", 0)) for t in tensors)
        if self._frame is None or not _same_key(key, self._frame_key):
            color = self._colors(st) if self._colors is not None else tensors[2]
            self._frame = Frame(pos=tensors[0], radius=tensors[1], color=color, alive=tensors[3],
                                shape=self.shapes, walls=self._walls, zones=self._zones,
                                tiles=self._grid.tiles(st) if self._grid is not None else None)
            self._frame_key = key
        return self._frame

    def render(self, world: int = 0) -> np.ndarray:
        """An ``[H, W, 3]`` uint8 image of world ``world``, rows top-first (only that world is copied)."""
        b = self.sim.num_worlds
        if not -b <= world < b:
            raise IndexError(f"world {world} out of range: this Sim has {b} worlds (0..{b - 1})")
        world %= b
        frame = self.frame() if b == 1 else self.frame(slice(world, world + 1))
        return self.renderer.render(frame, 0, self.camera())

    def render_all(self, *, out: np.ndarray | None = None) -> np.ndarray:
        """``[B, H, W, 3]`` uint8: every world as one tile of one framebuffer, drawn and read back once."""
        b = self.sim.num_worlds
        cams = np.tile(np.asarray(self.camera(), np.float32), (b, 1))
        return self.renderer.render_tiles(self.frame(), (self.style.height, self.style.width), cams,
                                          np.arange(b), out=out)

    def draw_into(self, target: moderngl.Framebuffer, world: int = 0, camera: Any = None,
                  viewport: tuple[int, int, int, int] | None = None, *, highlight: int | None = None,
                  highlight_color: Sequence[float] = (1.0, 0.8, 0.0)) -> None:
        """Draw world ``world`` into ``target`` (a window's ``ctx.screen``), world y up on screen.

        ``camera`` defaults to the arena fitted to ``viewport`` (default: the whole target); the window
        passes its zoomed/panned camera. ``highlight`` (an entity slot) draws a halo under that entity,
        e.g. the agent the keyboard controls. Same program and instance data as :meth:`render`.
        """
        vp = viewport if viewport is not None else (0, 0, *target.size)
        cam = camera if camera is not None else self.camera(vp[2], vp[3])
        frame = self.frame()
        clear = True
        if highlight is not None and frame.alive[world, highlight]:
            r = float(frame.radius[world, highlight])
            halo = Frame(pos=frame.pos[world:world + 1, highlight:highlight + 1],
                         radius=[[r * 1.45 + 0.004 * cam[2]]], color=[[list(highlight_color)]])
            self.renderer.render_into(target, halo, 0, cam, vp)
            clear = False
        self.renderer.render_into(target, frame, world, cam, vp, clear=clear)

    def release(self) -> None:
        """Free the renderer, and the context if this view created it."""
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None
        if self._owns_ctx and self._ctx is not None:
            self._ctx.release()
            self._ctx = None
        self._frame = self._frame_key = None


def _same_key(a: tuple, b: tuple | None) -> bool:
    return b is not None and all(x[0] is y[0] and x[2] == y[2] for x, y in zip(a, b))
