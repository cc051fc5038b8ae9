"""Contacts for worlds of thousands of colliding disks: a uniform-grid broad phase, whole-tensor.

Every tick each colliding entity is binned into a square cell of side ``cell`` (at least the largest
contact distance, 2 × the largest radius), the entities are sorted by cell, and a ``[B, cells,
per_cell]`` table of who sits where is filled by one scatter. Each moving entity then looks only at
the ``9 × per_cell`` slots of its own and the 8 neighbouring cells: the work is ``N × 9 × per_cell``
instead of ``N²``, with the same soft-contact force as the all-pairs formulation for every pair
closer than ``cell`` (tests/systems/test_broadphase.py checks it against it). An entity that finds its
cell full (more than ``per_cell`` entities in one cell: only in a pile denser than disks overlapping by
10 % can pack) is not seen by the others for that tick — it still feels them — and is counted in
``physics.crowded``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class UniformGrid:
    """The grid over the arena, decided when the world is built."""

    x0: float
    y0: float
    cell: float
    nx: int
    ny: int
    per_cell: int

    @property
    def cells(self) -> int:
        return self.nx * self.ny

    @staticmethod
    def build(arena: list[float], max_radius: float, per_cell: int, cell: float | None = None) -> UniformGrid:
        """A grid whose cells are at least the largest contact distance (``2 × max_radius``) wide."""
        side = max(float(cell or 0.0), 2.0 * max_radius, 1e-6)
        nx = max(1, math.ceil((arena[1] - arena[0]) / side))
        ny = max(1, math.ceil((arena[3] - arena[2]) / side))
        return UniformGrid(float(arena[0]), float(arena[2]), side, nx, ny, per_cell)

    def cell_xy(self, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, N]`` integer cell coordinates, clamped into the grid (entities outside the arena share the
        border cells: still exact, as candidates are checked by distance)."""
        cx = ((pos[..., 0] - self.x0) / self.cell).floor().clamp(0, self.nx - 1).to(torch.int64)
        cy = ((pos[..., 1] - self.y0) / self.cell).floor().clamp(0, self.ny - 1).to(torch.int64)
        return cx, cy


def cell_table(grid: UniformGrid, cx: torch.Tensor, cy: torch.Tensor, active: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, cells + 1, per_cell]`` entity index per slot (``N``: empty; the last cell is always empty) and
    ``[B, N]`` bool: the active entities that found no free slot in their cell."""
    B, N = cx.shape
    C, K = grid.cells, grid.per_cell
    cid = torch.where(active, cy * grid.nx + cx, C)  # inactive entities go to the spare cell C
    order = torch.sort(cid, dim=1, stable=True).indices  # [B, N]
    sorted_cid = cid.gather(1, order)
    counts = torch.zeros(B, C + 1, dtype=torch.int64, device=cx.device).scatter_add_(
        1, sorted_cid, torch.ones_like(sorted_cid))
    starts = counts.cumsum(1) - counts  # first sorted position of each cell
    rank = torch.arange(N, device=cx.device).unsqueeze(0) - starts.gather(1, sorted_cid)  # [B, N]
    fits = (rank < K) & (sorted_cid < C)
    slot = torch.where(fits, sorted_cid * K + rank, (C + 1) * K)  # overflow and inactive: a spare slot
    table = torch.full((B, (C + 1) * K + 1), N, dtype=torch.int64, device=cx.device)
    table = table.scatter(1, slot, order)[:, :-1].view(B, C + 1, K)
    table[:, C] = N  # the spare cell stays empty (inactive entities were binned there)
    crowded = torch.zeros_like(active).scatter(1, order, (rank >= K) & (sorted_cid < C))
    return table, crowded


def neighbour_cells(grid: UniformGrid, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """``[B, R, 9]`` the cell ids of each entity's 3 × 3 neighbourhood (``cells``, the empty cell, off-grid)."""
    offsets = torch.tensor([-1, 0, 1], device=cx.device)
    nx_ = cx.unsqueeze(-1) + offsets  # [B, R, 3]
    ny_ = cy.unsqueeze(-1) + offsets
    ok = ((nx_ >= 0) & (nx_ < grid.nx)).unsqueeze(-2) & ((ny_ >= 0) & (ny_ < grid.ny)).unsqueeze(-1)  # [B,R,3,3]
    ids = ny_.unsqueeze(-1) * grid.nx + nx_.unsqueeze(-2)
    return torch.where(ok, ids, grid.cells).flatten(-2)


def grid_contact_forces(pos: torch.Tensor, radius: torch.Tensor, active: torch.Tensor, rows: torch.Tensor | None,
                        grid: UniformGrid, contact_force: float, margin: float
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft contact forces ``[B, R, 2]`` on the ``rows`` entities (all when None) from every active entity
    within reach, found through the grid; and ``[B]`` the number of crowded entities left out.

    ``pos [B, N, 2]``, ``radius``/``active [B, N]`` cover the colliding entities only. The cells hold
    copies of their entities' x, y and radius (empty slots far away, radius 0: they exert no force), so
    each entity reads its 9 neighbouring cells as contiguous blocks rather than one index at a time."""
    B, N = active.shape
    K = grid.per_cell
    cx, cy = grid.cell_xy(pos)
    table, crowded = cell_table(grid, cx, cy, active)  # [B, C + 1, K]
    far = torch.full_like(pos[:, :1, 0], 1e9)
    kept = active & ~crowded
    px = torch.cat([torch.where(kept, pos[..., 0], 1e9), far], 1)  # [B, N + 1]; slot N: empty
    py = torch.cat([torch.where(kept, pos[..., 1], 1e9), far], 1)
    pr = torch.cat([radius, torch.zeros_like(far)], 1)
    flat = table.flatten(1)
    cell_x = px.gather(1, flat).view_as(table)  # [B, C + 1, K]
    cell_y = py.gather(1, flat).view_as(table)
    cell_r = pr.gather(1, flat).view_as(table)
    if rows is not None:
        cx, cy = cx[:, rows], cy[:, rows]
    cells = neighbour_cells(grid, cx, cy)  # [B, R, 9]
    R = cells.shape[1]
    where = cells.reshape(B, R * 9, 1).expand(-1, -1, K)

    def around(t: torch.Tensor) -> torch.Tensor:
        return t.gather(1, where).view(B, R, 9 * K)

    me = torch.arange(N, device=pos.device) if rows is None else rows
    mx, my, mr = (pos[..., 0], pos[..., 1], radius) if rows is None else \
        (pos[:, rows, 0], pos[:, rows, 1], radius[:, rows])
    dx, dy = mx.unsqueeze(-1) - around(cell_x), my.unsqueeze(-1) - around(cell_y)
    dist = (dx * dx + dy * dy).sqrt()
    penetration = torch.nn.functional.softplus(-(dist - mr.unsqueeze(-1) - around(cell_r)) / margin) * margin
    mine = active if rows is None else active[:, rows]  # a crowded entity is not seen, but still feels the others
    pair = mine.unsqueeze(-1) & (around(table) != me.view(1, -1, 1))
    scale = torch.where(pair, contact_force * penetration / dist.clamp_min(1e-12), 0.0)
    force = torch.stack(((dx * scale).sum(-1), (dy * scale).sum(-1)), dim=-1)
    return force, crowded.sum(1)
