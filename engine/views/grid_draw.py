"""Grid worlds as drawable records: each world's cells (walls, doors, keys, balls, boxes, goals, lava) and
each agent's heading as :class:`engine.render.Frame` ``tiles``, the grid lines as static walls, and an
agent's egocentric view (MiniGrid's ``image``) as tiles of a small inset.

Whole-array numpy: one world of 25 × 25 cells or 4,096 worlds of 8 × 8 are converted by the same few
gathers. Colours are MiniGrid's (``minigrid.core.constants.COLORS``); shapes are simplified (a key is a
bar, a ball a disk, a box and a closed door an outlined square, an open door a bar along its edge).
"""

from __future__ import annotations

import numpy as np

from engine.grid.view import BALL, BOX, DOOR, EMPTY, FLOOR, GOAL, KEY, LAVA, UNSEEN, WALL

#: MiniGrid's colours (0-255) by index: red, green, blue, purple, yellow, grey
PALETTE = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [112, 39, 195], [255, 255, 0], [100, 100, 100]],
                   dtype=np.float32) / 255.0
LAVA_RGB = np.array([1.0, 0.5, 0.0], np.float32)
FLOOR_RGB = np.array([0.0, 0.0, 0.5], np.float32)
DARK = np.array([0.0, 0.0, 0.0], np.float32)
UNSEEN_RGB = np.array([0.16, 0.16, 0.16], np.float32)
RECT, CIRCLE = 2.0, 0.0
#: records per cell: up to two (an outlined square is a colour square, then a dark one inside it)
PER_CELL = 2
TILE_FLOATS = 10  # x, y, half_x, half_y, cos, sin, r, g, b, shape (2 rect, 0 circle)


def _records(kind: np.ndarray, color: np.ndarray, state: np.ndarray, cx: np.ndarray, cy: np.ndarray,
             cell: float, unseen: bool = False) -> np.ndarray:
    """``[..., K]`` cells → ``[..., K·2, 10]`` records (half sides 0: nothing drawn)."""
    rgb = PALETTE[np.clip(color, 0, 5)]
    out = np.zeros(kind.shape + (PER_CELL, TILE_FLOATS), np.float32)
    out[..., 0], out[..., 1] = cx[..., None], cy[..., None]
    out[..., 4], out[..., 9] = 1.0, RECT
    h = 0.5 * cell

    def put(mask, i, hx, hy, col, shape=RECT, dx=0.0):
        rec = out[..., i, :]
        rec[..., 2] = np.where(mask, hx, rec[..., 2])
        rec[..., 3] = np.where(mask, hy, rec[..., 3])
        rec[..., 0] = np.where(mask, cx + dx, rec[..., 0])
        rec[..., 6:9] = np.where(mask[..., None], col, rec[..., 6:9])
        rec[..., 9] = np.where(mask, shape, rec[..., 9])

    put(kind == WALL, 0, h, h, PALETTE[5])
    put(kind == GOAL, 0, h * 0.96, h * 0.96, PALETTE[1])
    put(kind == LAVA, 0, h * 0.96, h * 0.96, LAVA_RGB)
    put(kind == FLOOR, 0, h * 0.94, h * 0.94, FLOOR_RGB)
    door = kind == DOOR
    put(door & (state == 2), 0, h * 0.96, h * 0.96, rgb)  # locked: filled
    put(door & (state == 2), 1, h * 0.12, h * 0.3, DARK, dx=h * 0.4)  # its key slot
    put(door & (state == 1), 0, h * 0.96, h * 0.96, rgb)  # closed: outlined
    put(door & (state == 1), 1, h * 0.8, h * 0.8, DARK)
    put(door & (state == 0), 0, h * 0.12, h * 0.96, rgb, dx=h * 0.84)  # open: a bar along its edge
    put(kind == KEY, 0, h * 0.18, h * 0.55, rgb)
    put(kind == BALL, 0, h * 0.55, h * 0.55, rgb, CIRCLE)
    put(kind == BOX, 0, h * 0.7, h * 0.7, rgb)
    put(kind == BOX, 1, h * 0.55, h * 0.55, DARK)
    if unseen:
        put(kind == UNSEEN, 0, h, h, UNSEEN_RGB)
    hidden = (kind == EMPTY) | ((kind == UNSEEN) if not unseen else np.zeros_like(kind, dtype=bool))
    out[..., 2:4] *= ~hidden[..., None, None]
    return out.reshape(kind.shape[:-1] + (-1, TILE_FLOATS))


def grid_tiles(cells: np.ndarray, pos: np.ndarray, direction: np.ndarray, agent_rgb: np.ndarray,
               cell: float) -> np.ndarray:
    """``[B, W·H·2 + A, 10]`` records: every cell of every world (``cells [B, W, H, 3]``, y down), then each
    agent's nose — a bar from its cell's centre to the edge it faces, in its colour (``agent_rgb [A, 3]``),
    poking out of the agent's disk so the heading shows."""
    B, W, H, _ = cells.shape
    xs = (np.arange(W, dtype=np.float32) + 0.5) * cell
    ys = (H - np.arange(H, dtype=np.float32) - 0.5) * cell
    cx = np.broadcast_to(xs[:, None], (W, H)).reshape(-1)
    cy = np.broadcast_to(ys[None, :], (W, H)).reshape(-1)
    flat = cells.reshape(B, W * H, 3).astype(np.int64)
    recs = _records(flat[..., 0], flat[..., 1], flat[..., 2], np.broadcast_to(cx, (B, W * H)),
                    np.broadcast_to(cy, (B, W * H)), cell)
    A = pos.shape[1]
    vec = np.array([[1, 0], [0, -1], [-1, 0], [0, 1]], np.float32)[direction]  # y up
    nose = np.zeros((B, A, TILE_FLOATS), np.float32)
    nose[..., 0] = (pos[..., 0] + 0.5) * cell + vec[..., 0] * 0.25 * cell
    nose[..., 1] = (H - pos[..., 1] - 0.5) * cell + vec[..., 1] * 0.25 * cell
    nose[..., 2] = np.where(vec[..., 0] != 0, 0.24, 0.1) * cell
    nose[..., 3] = np.where(vec[..., 0] != 0, 0.1, 0.24) * cell
    nose[..., 4] = 1.0
    nose[..., 6:9] = agent_rgb[None, :A]
    nose[..., 9] = RECT
    return np.concatenate((recs, nose), 1)


def grid_lines(width: int, height: int, cell: float) -> list[list[float]]:
    """The lines between cells as segments ``[x0, y0, x1, y1]`` (drawn as thin static walls)."""
    return ([[i * cell, 0.0, i * cell, height * cell] for i in range(width + 1)]
            + [[0.0, j * cell, width * cell, j * cell] for j in range(height + 1)])


def view_tiles(image: np.ndarray, cell: float = 1.0) -> np.ndarray:
    """An egocentric view ``[v, v, 3]`` (MiniGrid's ``image``: ``[i, j]``, the agent at ``(v // 2, v − 1)``
    looking up) → ``[1, v·v·2 + 1, 10]`` records in a ``v × v`` square (y up), unseen cells dark, the
    agent as a red triangle-ish marker (a bar pointing up) in its cell."""
    v = image.shape[0]
    ii, jj = np.meshgrid(np.arange(v), np.arange(v), indexing="ij")
    cx = ((ii + 0.5) * cell).reshape(1, -1).astype(np.float32)
    cy = ((v - jj - 0.5) * cell).reshape(1, -1).astype(np.float32)
    flat = image.reshape(1, v * v, 3).astype(np.int64)
    recs = _records(flat[..., 0], flat[..., 1], flat[..., 2], cx, cy, cell, unseen=True)
    me = np.zeros((1, 1, TILE_FLOATS), np.float32)
    me[..., 0], me[..., 1] = (v // 2 + 0.5) * cell, 0.5 * cell
    me[..., 2], me[..., 3], me[..., 4], me[..., 9] = 0.12 * cell, 0.4 * cell, 1.0, RECT
    me[..., 6:9] = (1.0, 0.2, 0.2)
    return np.concatenate((recs, me), 1)
