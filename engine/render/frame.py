"""What one draw needs, as plain arrays: the renderer's input contract, independent of the Sim.

Everything is converted once to contiguous numpy arrays of fixed dtypes (torch tensors are detached
and copied to the host in one call each), so the renderer builds instance data with whole-array ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SHAPE_CIRCLE = 0
SHAPE_SQUARE = 1
SHAPES = (SHAPE_CIRCLE, SHAPE_SQUARE)


def to_numpy(value: Any, dtype: np.dtype | type, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or sequence to a contiguous numpy array of ``dtype``.

    torch is never imported here: a tensor is recognised by its ``detach``/``cpu`` methods, so
    ``import engine.render`` stays light.
    """
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    try:
        return np.ascontiguousarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Frame.{name}: expected an array convertible to {np.dtype(dtype)}, "
                        f"got {type(value).__name__}") from exc


def _expect_shape(arr: np.ndarray, shape: tuple[int | None, ...], name: str, meaning: str) -> None:
    ok = arr.ndim == len(shape) and all(want is None or want == got for want, got in zip(shape, arr.shape))
    if not ok:
        want = "[" + ", ".join("?" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"Frame.{name}: expected shape {want} ({meaning}), got {list(arr.shape)}")


@dataclass(frozen=True, eq=False)
class Frame:
    """Entity state of B worlds with N entity slots, ready to draw.

    Fields (converted on construction; torch tensors or numpy arrays accepted):

    - ``pos`` ``[B, N, 2]`` float32, world units, y up.
    - ``radius`` ``[B, N]`` float32, world units (a square's half side); ``[N]`` is broadcast over B.
    - ``color`` ``[B, N, 3]`` float32 RGB in 0..1; ``[N, 3]`` is broadcast over B.
    - ``alive`` ``[B, N]`` bool; dead slots are not drawn. Default: all alive.
    - ``shape`` ``[N]`` int8, :data:`SHAPE_CIRCLE` (0) or :data:`SHAPE_SQUARE` (1). Default: circles.
    - ``cameras`` optional ``[B, C, 3]`` float32 ``(cx, cy, half_extent)``: C views per world (e.g. one
      per agent, see :func:`agent_cameras`), used by ``Renderer.render_tiles`` when it is given no
      cameras. ``half_extent`` is the world distance from the view's centre to its shorter edge.
    - ``walls`` optional ``[W, 6]`` float32 static rectangles, the same in every world: centre x, y, half
      sides, direction (cos, sin) of the first side (:func:`wall_rects` makes them from segments and
      boxes), drawn in ``wall_color`` under the entities.
    - ``zones`` optional tuple of ``(rects [K, 6], disks [D, 3], rgb, opacity)``: static regions drawn
      translucent under the walls (rectangles as ``walls``, disks as x, y, radius).
    - ``tiles`` optional ``[B, K, 10]`` float32 per-world records drawn first (a grid world's cells): centre
      x, y, half sides, direction (cos, sin), RGB, shape (2 rectangle, 0 circle of radius half_x); records
      with half sides 0 are skipped. Within a world, later records draw over earlier ones.

    >>> f = Frame(pos=np.zeros((2, 3, 2)), radius=np.full(3, 0.1), color=np.ones((3, 3)))
    >>> f.num_worlds, f.num_entities, f.radius.shape
    (2, 3, (2, 3))
    """

    pos: np.ndarray
    radius: np.ndarray
    color: np.ndarray
    alive: np.ndarray | None = None
    shape: np.ndarray | None = None
    cameras: np.ndarray | None = None
    walls: np.ndarray | None = None
    wall_color: tuple[float, float, float] = (0.3, 0.3, 0.32)
    zones: tuple | None = None
    tiles: np.ndarray | None = None

    def __post_init__(self) -> None:
        pos = to_numpy(self.pos, np.float32, "pos")
        _expect_shape(pos, (None, None, 2), "pos", "worlds B, entities N, xy")
        b, n = pos.shape[:2]
        radius = to_numpy(self.radius, np.float32, "radius")
        if radius.ndim == 1:
            radius = np.broadcast_to(radius, (b, n))
        _expect_shape(radius, (b, n), "radius", "B, N like pos")
        color = to_numpy(self.color, np.float32, "color")
        if color.ndim == 2:
            color = np.broadcast_to(color, (b, n, 3))
        _expect_shape(color, (b, n, 3), "color", "B, N, RGB like pos")
        if self.alive is None:
            alive = np.ones((b, n), dtype=bool)
        else:
            alive = to_numpy(self.alive, bool, "alive")
            _expect_shape(alive, (b, n), "alive", "B, N like pos")
        if self.shape is None:
            shape = np.zeros(n, dtype=np.int8)
        else:
            shape = to_numpy(self.shape, np.int8, "shape")
            _expect_shape(shape, (n,), "shape", "one shape id per entity slot, shared by all worlds")
            if not np.isin(shape, SHAPES).all():
                bad = sorted(set(np.unique(shape).tolist()) - set(SHAPES))
                raise ValueError(f"Frame.shape: ids must be 0 (circle) or 1 (square), found {bad}")
        cameras = None
        if self.cameras is not None:
            cameras = to_numpy(self.cameras, np.float32, "cameras")
            if cameras.ndim == 2:
                cameras = cameras[:, None, :]
            _expect_shape(cameras, (b, None, 3), "cameras", "B worlds, C views, (cx, cy, half_extent)")
            if not (cameras[..., 2] > 0).all():
                raise ValueError("Frame.cameras: half_extent (last column) must be > 0")
        walls = None
        if self.walls is not None:
            walls = to_numpy(self.walls, np.float32, "walls")
            _expect_shape(walls, (None, 6), "walls", "W walls, (x, y, half_x, half_y, cos, sin)")
        tiles = None
        if self.tiles is not None:
            tiles = to_numpy(self.tiles, np.float32, "tiles")
            _expect_shape(tiles, (b, None, 10), "tiles", "B worlds, K records, (x, y, half_x, half_y, cos, sin, "
                                                         "r, g, b, shape)")
        for name, value in (("pos", pos), ("radius", radius), ("color", color), ("alive", alive),
                            ("shape", shape), ("cameras", cameras), ("walls", walls), ("tiles", tiles)):
            object.__setattr__(self, name, value)

    @property
    def num_worlds(self) -> int:
        """B, the number of worlds."""
        return self.pos.shape[0]

    @property
    def num_entities(self) -> int:
        """N, the entity capacity of each world."""
        return self.pos.shape[1]

    def tile_cameras(self) -> tuple[np.ndarray, np.ndarray]:
        """Flatten ``cameras [B, C, 3]`` into ``(cameras [B*C, 3], world_of_tile [B*C])``, world-major.

        This is the argument pair ``Renderer.render_tiles`` takes, so tile ``b*C + c`` is view c of
        world b.
        """
        if self.cameras is None:
            raise ValueError("Frame.cameras is None; pass cameras=[B, C, 3] (see agent_cameras) "
                             "to tile views")
        b, c = self.cameras.shape[:2]
        return self.cameras.reshape(b * c, 3), np.repeat(np.arange(b, dtype=np.int64), c)


def agent_cameras(pos: Any, agent_index: Any, half_extent: float) -> np.ndarray:
    """Cameras ``[B, A, 3]`` centred on each agent, for agent-centred pixel observations.

    ``pos`` is ``[B, N, 2]`` (numpy or torch), ``agent_index`` the A entity slots of the agents.

    >>> cams = agent_cameras(np.zeros((4, 10, 2)), [0, 1], half_extent=0.5)
    >>> cams.shape
    (4, 2, 3)
    """
    p = to_numpy(pos, np.float32, "pos")
    _expect_shape(p, (None, None, 2), "pos", "worlds B, entities N, xy")
    idx = to_numpy(agent_index, np.int64, "agent_index").reshape(-1)
    if half_extent <= 0:
        raise ValueError(f"agent_cameras: half_extent must be > 0 world units, got {half_extent}")
    out = np.empty((p.shape[0], idx.size, 3), dtype=np.float32)
    out[..., :2] = p[:, idx]
    out[..., 2] = half_extent
    return out


def fit_camera(arena: Sequence[float], width: int, height: int, margin: float = 0.05) -> tuple[float, float, float]:
    """Camera ``(cx, cy, half_extent)`` showing the whole ``arena`` (x0, x1, y0, y1) in a w×h image.

    ``half_extent`` is measured along the image's shorter side (the renderer's convention), so the
    longer side shows ``aspect`` times more; the arena is fitted in both directions, plus ``margin``.

    >>> fit_camera([-1, 1, -1, 1], 200, 100, margin=0.0)
    (0.0, 0.0, 1.0)
    >>> fit_camera([-2, 2, -1, 1], 100, 100, margin=0.0)
    (0.0, 0.0, 2.0)
    """
    x0, x1, y0, y1 = (float(v) for v in arena)
    hx, hy = (x1 - x0) / 2, (y1 - y0) / 2
    w, h = max(int(width), 1), max(int(height), 1)
    # Visible half sizes are (he * w/s, he * h/s) with s = min(w, h); both must cover the arena.
    s = min(w, h)
    half_extent = max(hx * s / w, hy * s / h) * (1.0 + margin)
    return ((x0 + x1) / 2, (y0 + y1) / 2, half_extent)


def wall_rects(segments: list[list[float]], boxes: list[list[float]], width: float = 0.01) -> np.ndarray:
    """``[W, 6]`` rectangles for :class:`Frame` ``walls``: each segment ``[x0, y0, x1, y1]`` as a bar
    ``width`` thick (world units), each box ``[x_min, y_min, x_max, y_max]`` filled."""
    rows = []
    for x0, y0, x1, y1 in segments:
        length = float(np.hypot(x1 - x0, y1 - y0))
        rows.append([(x0 + x1) / 2, (y0 + y1) / 2, length / 2 + width / 2, width / 2, (x1 - x0) / length,
                     (y1 - y0) / length])
    for x0, y0, x1, y1 in boxes:
        rows.append([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2, 1.0, 0.0])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 6)

