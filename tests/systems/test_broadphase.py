"""The uniform-grid broad phase gives the all-pairs soft-contact forces (float64 reference), finds no
contact twice or not at all, counts the entities a full cell leaves out, and a world switched from
all_pairs to grid runs the same trajectory."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.systems.broadphase import UniformGrid, cell_table, grid_contact_forces
from engine.systems.physics import contact_forces


def _disks(n: int, side: float, r: float, seed: int, B: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    pos = (torch.rand(B, n, 2, generator=g, dtype=torch.float64) - 0.5) * side
    radius = r * (0.5 + torch.rand(B, n, generator=g, dtype=torch.float64))
    active = torch.rand(B, n, generator=g) < 0.9
    return pos, radius, active


@pytest.mark.parametrize("n, side", [(50, 1.0), (400, 4.0), (1000, 3.0)])
def test_grid_forces_equal_all_pairs(n: int, side: float) -> None:
    pos, radius, active = _disks(n, side, 0.05, seed=n)
    margin = 1e-3
    grid = UniformGrid.build([-side / 2, side / 2, -side / 2, side / 2], float(radius.max()) + 10 * margin, 16)
    want = contact_forces(pos, radius, active, 100.0, margin)
    got, crowded = grid_contact_forces(pos, radius, active, None, grid, 100.0, margin)
    assert int(crowded.sum()) == 0
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_grid_forces_on_a_subset_of_rows_and_outside_the_arena() -> None:
    pos, radius, active = _disks(300, 2.0, 0.05, seed=7)
    pos[0, :20] += 3.0  # 20 disks beyond the arena: binned into the border cells, still exact
    margin = 1e-3
    grid = UniformGrid.build([-1, 1, -1, 1], float(radius.max()) + 10 * margin, 32)
    rows = torch.arange(0, 300, 3)
    want = contact_forces(pos, radius, active, 100.0, margin)[:, rows]
    got, _ = grid_contact_forces(pos, radius, active, rows, grid, 100.0, margin)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_a_full_cell_leaves_the_extra_entities_out_and_counts_them() -> None:
    grid = UniformGrid(0.0, 0.0, 1.0, 2, 2, per_cell=2)
    pos = torch.tensor([[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [1.5, 1.5]]])
    cx, cy = grid.cell_xy(pos)
    table, crowded = cell_table(grid, cx, cy, torch.ones(1, 4, dtype=torch.bool))
    assert table[0, 0].tolist() == [0, 1] and table[0, 3].tolist() == [3, 4]  # 4: empty slot
    assert crowded[0].tolist() == [False, False, True, False]  # the third in cell 0 (stable: index order)
    assert bool((table[0, 4] == 4).all())  # the spare cell stays empty


SWARM = """\
version: 1
name: swarm
world: {dt: 0.05, damping: 0.1, arena: [-2.0, 2.0, -2.0, 2.0]}
entities:
  disk: {count: 600, components: {radius: 0.05}, spawn: {pos: {uniform: [-1.9, 1.9]}, vel: {normal: [0.0, 1.0]}}}
  post: {count: 30, components: {radius: 0.08, movable: false}, spawn: {pos: {uniform: [-1.9, 1.9]}}}
systems:
  - physics: {broadphase: BROADPHASE}
  - bounds: {mode: bounce}
"""


def test_a_world_on_the_grid_runs_the_all_pairs_trajectory(tmp_path: Path) -> None:
    sims = {}
    for bp in ("all_pairs", "grid"):
        f = tmp_path / f"{bp}.yaml"
        f.write_text(SWARM.replace("BROADPHASE", bp))
        sims[bp] = engine.make(str(f), num_worlds=2, seed=1, compile=False, overrides={"world.dtype": "float64"})
        sims[bp].reset(seed=1)
    start = sims["grid"].state["pos"].clone()
    for _ in range(40):
        for sim in sims.values():
            sim.step({})
    a, b = sims["all_pairs"].state, sims["grid"].state
    torch.testing.assert_close(b["pos"], a["pos"], rtol=1e-7, atol=1e-7)
    assert int(b["physics.crowded"].sum()) == 0
    assert (b["pos"] - start).norm(dim=-1).mean() > 0.5  # they really moved (630 disks in a 4 × 4 box collide)
