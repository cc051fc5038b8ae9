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


def visibility(opaque: torch.Tensor) -> torch.Tensor:
    """``opaque [..., v, v]`` (view cells ``[i, j]``) → ``[..., v, v]`` bool: MiniGrid's ``process_vis`` from the
    agent at ``(v // 2, v - 1)``, sweeping each row right then left and spilling into the row ahead."""
    v = opaque.shape[-1]
    clear = ~opaque
    seen = [[torch.zeros_like(opaque[..., 0, 0]) for _ in range(v)] for _ in range(v)]  # seen[i][j]
    seen[v // 2][v - 1] = torch.ones_like(seen[0][0])
    for j in reversed(range(v)):
        for i in range(v - 1):
            go = seen[i][j] & clear[..., i, j]
            seen[i + 1][j] = seen[i + 1][j] | go
            if j > 0:
                seen[i + 1][j - 1] = seen[i + 1][j - 1] | go
                seen[i][j - 1] = seen[i][j - 1] | go
        for i in reversed(range(1, v)):
            go = seen[i][j] & clear[..., i, j]
            seen[i - 1][j] = seen[i - 1][j] | go
            if j > 0:
                seen[i - 1][j - 1] = seen[i - 1][j - 1] | go
                seen[i][j - 1] = seen[i][j - 1] | go
    return torch.stack([torch.stack(col, -1) for col in seen], -2)


def egocentric(grid: torch.Tensor, pos: torch.Tensor, direction: torch.Tensor, carrying: torch.Tensor,
               offsets: torch.Tensor, see_through_walls: bool = False) -> torch.Tensor:
    """``[B, A, v, v, 3]`` MiniGrid images. ``grid [B, W, H, 3]``, ``pos [B, A, 2]`` (x, y), ``direction
    [B, A]``, ``carrying [B, A, 3]`` (the carried object's encoding, type 0 when nothing),
    ``offsets = view_offsets(v)``; ``see_through_walls`` (MiniGrid's flag, set by Empty) sees every cell."""
    B, W, H, _ = grid.shape
    v = offsets.shape[1]
    off = offsets[direction]  # [B, A, v, v, 2]
    gx = pos[..., 0].view(B, -1, 1, 1) + off[..., 0]
    gy = pos[..., 1].view(B, -1, 1, 1) + off[..., 1]
    inside = (gx >= 0) & (gx < W) & (gy >= 0) & (gy < H)
    flat = (gx.clamp(0, W - 1) * H + gy.clamp(0, H - 1)).reshape(B, -1)  # [B, A·v·v]
    cells = grid.reshape(B, W * H, 3).gather(1, flat.unsqueeze(-1).expand(-1, -1, 3)).view(off.shape[:-1] + (3,))
    wall = torch.tensor([WALL, GREY, 0], dtype=grid.dtype, device=grid.device)
    cells = torch.where(inside.unsqueeze(-1), cells, wall)
    kind, state = cells[..., 0], cells[..., 2]
    opaque = (kind == WALL) | ((kind == DOOR) & (state != OPEN))
    seen = torch.ones_like(opaque) if see_through_walls else visibility(opaque)
    held = torch.where((carrying[..., 0] != UNSEEN).unsqueeze(-1), carrying,
                       torch.tensor([EMPTY, 0, 0], dtype=grid.dtype, device=grid.device))  # [B, A, 3]
    me = torch.zeros(v, v, dtype=torch.bool, device=grid.device)
    me[v // 2, v - 1] = True
    cells = torch.where(me.view(1, 1, v, v, 1), held.view(B, -1, 1, 1, 3).to(cells.dtype), cells)
    return torch.where(seen.unsqueeze(-1), cells, torch.zeros_like(cells))
