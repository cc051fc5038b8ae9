"""MiniGrid's egocentric view — the 7 × 7 × 3 ``image`` observation — for every agent of every world at once.

The grid is a ``[B, W, H, 3]`` integer tensor in MiniGrid's encoding (object type, colour, state per
cell, indexed ``[x, y]`` like ``Grid.encode()``). An agent at ``(x, y)`` facing ``dir`` (0 right, 1
down, 2 left, 3 up) sees the ``view × view`` square ahead of it, turned so that it looks up from the
bottom-middle cell; cells outside the grid read as walls. Visibility follows MiniGrid's
``Grid.process_vis`` exactly (a row-by-row sweep from the agent outwards that stops behind walls and
closed doors); what is not visible reads as 0 ("unseen"). The agent's own cell shows what it carries
(or "empty"). ``tests/grid/test_view.py`` checks every cell against the ``minigrid`` package itself.
"""

from __future__ import annotations

import torch

#: MiniGrid's encodings (minigrid.core.constants)
UNSEEN, EMPTY, WALL, FLOOR, DOOR, KEY, BALL, BOX, GOAL, LAVA = range(10)
GREY = 5
OPEN, CLOSED, LOCKED = range(3)


def view_offsets(view: int) -> torch.Tensor:
    """``[4, view, view, 2]``: for each facing direction and view cell ``(i, j)``, the grid offset
    ``(dx, dy)`` from the agent — MiniGrid's ``get_view_exts``, ``slice`` and ``rotate_left`` composed."""
    tops = [(0, -(view // 2)), (-(view // 2), 0), (-view + 1, -(view // 2)), (-(view // 2), -view + 1)]
    out = torch.empty(4, view, view, 2, dtype=torch.int64)
    for d, (tx, ty) in enumerate(tops):
        cells = [[(tx + i, ty + j) for j in range(view)] for i in range(view)]  # [i][j] before turning
        for _ in range(d + 1):  # rotate_left: new[j][n - 1 - i] = old[i][j]
            turned = [[None] * view for _ in range(view)]
            for i in range(view):
                for j in range(view):
                    turned[j][view - 1 - i] = cells[i][j]
            cells = turned
        out[d] = torch.tensor(cells)
    return out


def _sweep_row(r: torch.Tensor, c: torch.Tensor, v: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One row of ``process_vis``: ``r`` the row's visible bits so far, ``c`` its clear cells → (the row's
    visible bits, the bits it makes visible in the next row out).

    A visible clear cell shows its neighbour: a fill through runs of clear cells, done in ``log2(v)``
    doubling steps each way (Kogge–Stone, as chess engines fill sliding-piece rays) rather than ``v − 1``
    single shifts, so a wide view's compiled graph stays small."""
    full = (1 << v) - 1
    right = _fill(r, (c << 1) & full, v, 1)  # cell i + 1 is entered from i when i is clear
    left = _fill(right, c >> 1, v, -1)  # then leftward, from what the rightward pass saw
    go_r = right & c & (full >> 1)  # the last cell has no right neighbour to spill from
    go_l = left & c & (full - 1)  # nor the first a left one
    return left, (go_r | (go_r << 1) | go_l | (go_l >> 1)) & full


def _fill(seen: torch.Tensor, enter: torch.Tensor, v: int, way: int) -> torch.Tensor:
    """``seen`` spread along ``way`` (+1: up the bits) into every bit reachable through ``enter`` bits."""
    full, step = (1 << v) - 1, 1
    while step < v:
        moved = (seen << step) & full if way > 0 else seen >> step
        seen = seen | (enter & moved)
        enter = enter & ((enter << step) & full if way > 0 else enter >> step)
        step *= 2
    return seen


#: the widest view whose rows are swept by table lookup (2^(2·9) entries, 2 MiB); wider ones shift
TABLE_MAX_VIEW = 9


def row_table(view: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """Every row sweep of a ``view``-wide view precomputed: entry ``r | c << view`` holds ``visible | spill <<
    view`` (see ``_sweep_row``), so a view costs ``view`` lookups instead of ~``5 · view²`` shifts — and a
    compiled tick a graph that small. None for views wider than ``TABLE_MAX_VIEW``."""
    if view > TABLE_MAX_VIEW:
        return None
    idx = torch.arange(1 << (2 * view), dtype=torch.int64)
    left, spill = _sweep_row(idx & ((1 << view) - 1), idx >> view, view)
    return (left | (spill << view)).to(device)


def visibility(opaque: torch.Tensor, table: torch.Tensor | None = None) -> torch.Tensor:
    """``opaque [..., v, v]`` (view cells ``[i, j]``) → ``[..., v, v]`` bool: MiniGrid's ``process_vis`` from the
    agent at ``(v // 2, v - 1)``: each row, from the agent's outwards, is swept right then left — a visible
    clear cell shows its neighbour in the row, and the cells straight and diagonally ahead in the next row.

    ``table = row_table(v)`` looks each row's sweep up. Without it (views wider than ``TABLE_MAX_VIEW``)
    the sweep runs as one opaque op, ``worldloom::grid_visibility``: inlined, its ``v`` dependent rows of
    shifts make a graph that inductor takes minutes to compile (view 31: 5 min)."""
    if table is None:
        return _visibility_op(opaque)
    return _sweep(opaque, table)


def _sweep(opaque: torch.Tensor, table: torch.Tensor | None) -> torch.Tensor:
    """``visibility``: each row a bit mask (bit ``i``: cell ``i``), swept by ``table`` or by shifts."""
    v = opaque.shape[-1]
    full = (1 << v) - 1
    bit = 1 << torch.arange(v, device=opaque.device, dtype=torch.int64)  # [v]
    clear = ((~opaque).to(torch.int64) * bit.view(v, 1)).sum(-2)  # [..., j]: row j's clear cells as bits
    incoming = torch.full_like(clear[..., 0], 1 << (v // 2))  # the agent's own cell
    rows = [incoming] * v
    for j in reversed(range(v)):
        if table is not None:
            both = table[incoming | (clear[..., j] << v)]
            rows[j], incoming = both & full, both >> v
        else:
            rows[j], incoming = _sweep_row(incoming, clear[..., j], v)
    packed = torch.stack(rows, -1)  # [..., j]
    return (packed.unsqueeze(-2) & bit.view(v, 1)) != 0  # [..., i, j]


@torch.library.custom_op("worldloom::grid_visibility", mutates_args=())
def _visibility_op(opaque: torch.Tensor) -> torch.Tensor:
    return _sweep(opaque, None)


@_visibility_op.register_fake
def _(opaque: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(opaque)


def egocentric(grid: torch.Tensor, pos: torch.Tensor, direction: torch.Tensor, carrying: torch.Tensor,
               offsets: torch.Tensor, see_through_walls: bool = False,
               table: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, A, v, v, 3]`` MiniGrid images. ``grid [B, W, H, 3]``, ``pos [B, A, 2]`` (x, y), ``direction
    [B, A]``, ``carrying [B, A, 3]`` (the carried object's encoding, type 0 when nothing),
    ``offsets = view_offsets(v)``; ``see_through_walls`` (MiniGrid's flag, set by Empty) sees every cell;
    ``table = row_table(v)`` makes the visibility sweep a few lookups."""
    B, W, H, _ = grid.shape
    v = offsets.shape[1]
    # each cell as one int32 (type | colour << 8 | state << 16): one gather per view cell, not three
    code = pack(grid.reshape(B, W * H, 3))  # [B, W·H]
    off = offsets[direction]  # [B, A, v, v, 2]
    gx = pos[..., 0].view(B, -1, 1, 1) + off[..., 0]
    gy = pos[..., 1].view(B, -1, 1, 1) + off[..., 1]
    inside = (gx >= 0) & (gx < W) & (gy >= 0) & (gy < H)
    flat = (gx.clamp(0, W - 1) * H + gy.clamp(0, H - 1)).reshape(B, -1)  # [B, A·v·v]
    seen_code = torch.where(inside.reshape(B, -1), code.gather(1, flat), WALL | GREY << 8)
    seen_code = seen_code.view(off.shape[:-1])  # [B, A, v, v]
    kind, state = seen_code & 0xFF, seen_code >> 16
    opaque = (kind == WALL) | ((kind == DOOR) & (state != OPEN))
    held = pack(carrying)  # [B, A]: the agent's own cell shows what it carries, or "empty"
    held = torch.where(held == UNSEEN, EMPTY, held)
    seen_code[:, :, v // 2, v - 1] = held
    if not see_through_walls:
        seen_code = seen_code * visibility(opaque, table)
    return unpack(seen_code, grid.dtype)


def pack(cells: torch.Tensor) -> torch.Tensor:
    """``[..., 3]`` (type, colour, state) → ``[...]`` int32 ``type | colour << 8 | state << 16``."""
    c = cells.to(torch.int32)
    return c[..., 0] | (c[..., 1] << 8) | (c[..., 2] << 16)


def unpack(code: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The inverse of ``pack``, as ``dtype``."""
    return torch.stack((code & 0xFF, (code >> 8) & 0xFF, code >> 16), -1).to(dtype)
