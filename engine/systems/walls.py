"""Static walls of continuous worlds: line segments, boxes and ASCII maps, and disks kept outside them.

Walls are not entities: they are one ``[W, 4]`` tensor of segments (``x0, y0, x1, y1``) built when
the world loads — a box is its four edges, a map's ``#`` cells contribute their outline only —
so no contact work is spent on wall–wall pairs and a maze costs ``movers × segments``, not entity
pairs. After each integration step (``physics``) every moving, colliding disk is:

1. stopped where its centre's path crossed a wall (no tunnelling at any speed): it is put back just
   before the crossing, on the side it came from;
2. pushed out to ``radius`` from the closest point of every wall it overlaps (two passes: corners),
   and its velocity into the wall removed (``restitution`` 0: it slides along) or reflected; a push
   never carries its centre across a wall either.

So a disk never ends a tick closer to a wall than its radius (tests/systems/test_walls.py) — unless it
is squeezed into a gap narrower than itself, where it overlaps but its centre stays out — and one that
starts inside a box (spawned there) leaves it through the nearest free face on its first tick.
"""

from __future__ import annotations

import torch

_EPS = 1e-6


def box_edges(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """The four edges of an axis-aligned box, counter-clockwise."""
    return [[x0, y0, x1, y0], [x1, y0, x1, y1], [x1, y1, x0, y1], [x0, y1, x0, y0]]


def map_boxes(rows: list[str], cell: float, origin: tuple[float, float], wall: str = "#") -> list[list[float]]:
    """``[x0, y0, x1, y1]`` boxes covering a map's wall cells, runs of a row merged into one box.

    Row 0 is the top of the map; ``origin`` is the map's bottom-left corner in world units."""
    boxes = []
    height = len(rows)
    for r, line in enumerate(rows):
        y0 = origin[1] + (height - 1 - r) * cell
        c = 0
        while c < len(line):
            if line[c] != wall:
                c += 1
                continue
            start = c
            while c < len(line) and line[c] == wall:
                c += 1
            boxes.append([origin[0] + start * cell, y0, origin[0] + c * cell, y0 + cell])
    return boxes


def map_segments(rows: list[str], cell: float, origin: tuple[float, float], wall: str = "#") -> list[list[float]]:
    """The outline of a map's wall cells: only the sides between a wall cell and a free one (or the map's
    edge), runs merged, each oriented with the free side on its right (the outward normal)."""
    height, width = len(rows), max(len(r) for r in rows)

    def is_wall(r: int, c: int) -> bool:
        return 0 <= r < height and 0 <= c < len(rows[r]) and rows[r][c] == wall

    def x(c: int) -> float:
        return origin[0] + c * cell

    def y(r: int) -> float:  # the top of row r
        return origin[1] + (height - r) * cell

    out: list[list[float]] = []
    for r in range(height + 1):  # the line above row r: a wall below it (row r) or above it (row r - 1)
        for below_is_wall in (True, False):
            c = 0
            while c < width:
                if not (is_wall(r, c) == below_is_wall and is_wall(r - 1, c) != below_is_wall):
                    c += 1
                    continue
                start = c
                while c < width and is_wall(r, c) == below_is_wall and is_wall(r - 1, c) != below_is_wall:
                    c += 1
                # wall below: free side up, so run right to left; wall above: left to right
                out.append([x(c), y(r), x(start), y(r)] if below_is_wall else [x(start), y(r), x(c), y(r)])
    for c in range(width + 1):  # the line left of column c
        for right_is_wall in (True, False):
            r = 0
            while r < height:
                if not (is_wall(r, c) == right_is_wall and is_wall(r, c - 1) != right_is_wall):
                    r += 1
                    continue
                start = r
                while r < height and is_wall(r, c) == right_is_wall and is_wall(r, c - 1) != right_is_wall:
                    r += 1
                # wall on the right: free side left, so run downwards; wall on the left: upwards
                out.append([x(c), y(start), x(c), y(r)] if right_is_wall else [x(c), y(r), x(c), y(start)])
    return out


def _cross(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor) -> torch.Tensor:
    return ax * by - ay * bx


def stop_crossings(p0: torch.Tensor, p1: torch.Tensor, seg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``p1`` moved back to just before the first wall the path ``p0 → p1`` crosses, and ``[B, M]`` whether
    it crossed one. ``p0``, ``p1``: ``[B, M, 2]``; ``seg``: ``[W, 4]``."""
    ax, ay, ex, ey = seg[:, 0], seg[:, 1], seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]  # [W]
    dx, dy = (p1 - p0)[..., 0:1], (p1 - p0)[..., 1:2]  # [B, M, 1]
    qx, qy = ax - p0[..., 0:1], ay - p0[..., 1:2]  # [B, M, W]: a - p0
    denom = _cross(dx, dy, ex, ey)
    safe = torch.where(denom.abs() > 1e-12, denom, torch.ones_like(denom))
    t = _cross(qx, qy, ex, ey) / safe  # along the path
    u = _cross(qx, qy, dx, dy) / safe  # along the wall
    hit = (denom.abs() > 1e-12) & (t >= 0) & (t <= 1) & (u >= 0) & (u <= 1)
    t_first = torch.where(hit, t, torch.full_like(t, 2.0)).min(-1).values  # [B, M]
    crossed = t_first <= 1
    length = (p1 - p0).norm(dim=-1).clamp_min(1e-12)
    back = (t_first - _EPS / length).clamp_min(0.0)  # a hair before the wall, on the side it came from
    stopped = p0 + (p1 - p0) * back.unsqueeze(-1)
    return torch.where(crossed.unsqueeze(-1), stopped, p1), crossed


def push_out(pos: torch.Tensor, vel: torch.Tensor, radius: torch.Tensor, seg: torch.Tensor, restitution: float
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Disks ``[B, M]`` overlapping walls moved out to their radius from the closest wall point, and their
    velocity into the walls removed (or reflected by ``restitution``)."""
    a, e = seg[:, 0:2], seg[:, 2:4] - seg[:, 0:2]  # [W, 2]
    ee = (e * e).sum(-1).clamp_min(1e-12)  # [W]
    rel = pos.unsqueeze(-2) - a  # [B, M, W, 2]
    s = ((rel * e).sum(-1) / ee).clamp(0.0, 1.0)  # closest point's parameter
    off = rel - s.unsqueeze(-1) * e  # from the closest point to the centre
    dist = off.norm(dim=-1)
    r = radius.unsqueeze(-1)
    over = dist < r
    # a centre exactly on the wall: push along the wall's normal, right of a → b (outwards for a box's edges)
    perp = torch.stack((e[:, 1], -e[:, 0]), -1) / ee.sqrt().unsqueeze(-1)  # [W, 2]
    normal = torch.where((dist > 1e-9).unsqueeze(-1), off / dist.clamp_min(1e-12).unsqueeze(-1), perp)
    depth = torch.where(over, r - dist, torch.zeros_like(dist))
    pos = pos + (normal * depth.unsqueeze(-1)).sum(-2)
    into = (vel.unsqueeze(-2) * normal).sum(-1)  # [B, M, W]: velocity along each normal
    hit = over & (into < 0)
    vel = vel - ((1.0 + restitution) * torch.where(hit, into, torch.zeros_like(into))).unsqueeze(-1).mul(
        normal).sum(-2)
    return pos, vel


def leave_boxes(pos: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Centres inside a box (an entity spawned there) moved onto its nearest face; ``push_out`` then puts
    them a radius outside. ``boxes``: ``[X, 4]`` (x_min, y_min, x_max, y_max)."""
    x, y = pos[..., 0:1], pos[..., 1:2]  # [B, M, 1]
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    gaps = torch.stack((x - x0, x1 - x, y - y0, y1 - y), -1)  # [B, M, X, 4]: to the left/right/bottom/top face
    inside = (gaps > 0).all(-1)  # [B, M, X]
    out = 1e-6  # a hair outside the face, so that push_out sees which side the centre is on
    xx, yy = x.unsqueeze(-1).expand_as(gaps), y.unsqueeze(-1).expand_as(gaps)  # [B, M, X, 4]
    ex = torch.stack((x0 - out, x1 + out), -1).expand(gaps.shape[:-1] + (2,))
    ey = torch.stack((y0 - out, y1 + out), -1).expand(gaps.shape[:-1] + (2,))
    exit_x = torch.cat((ex, xx[..., 2:]), -1)  # each face's exit point: [B, M, X, 4]
    exit_y = torch.cat((yy[..., :2], ey), -1)
    # an exit into another box (adjacent cells of a map) is no exit
    blocked = ((exit_x.unsqueeze(-1) > x0) & (exit_x.unsqueeze(-1) < x1) & (exit_y.unsqueeze(-1) > y0)
               & (exit_y.unsqueeze(-1) < y1)).any(-1)
    cost = torch.where(blocked | ~inside.unsqueeze(-1), torch.full_like(gaps, float("inf")), gaps).flatten(-2)
    best = cost.argmin(-1, keepdim=True)  # [B, M, 1]: over every box the disk is in × its faces
    moved = torch.cat((exit_x.flatten(-2).gather(-1, best), exit_y.flatten(-2).gather(-1, best)), -1)
    return torch.where(torch.isfinite(cost.gather(-1, best)), moved, pos)


def resolve_walls(p0: torch.Tensor, p1: torch.Tensor, vel: torch.Tensor, radius: torch.Tensor, seg: torch.Tensor,
                  restitution: float, boxes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The positions and velocities of moving disks after the walls (see the module docstring)."""
    p1, _ = stop_crossings(p0, p1, seg)
    if boxes is not None:
        p1 = leave_boxes(p1, boxes)
    for _ in range(2):
        pushed, vel = push_out(p1, vel, radius, seg, restitution)
        p1, _ = stop_crossings(p1, pushed, seg)  # a push never carries a centre across a wall (into a box)
    return p1, vel
