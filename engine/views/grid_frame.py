"""What a :class:`~engine.views.sim_view.SimView` of a grid world adds to its frames: the cells as per-world
tiles and the grid lines as static walls (``engine.views.grid_draw`` makes the records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: state entries a grid world's frame is drawn from (the view's frame cache watches them)
GRID_KEYS = ("grid.cells", "grid.pos", "grid.dir")


@dataclass
class GridFrame:
    lines: np.ndarray
    agent_rgb: np.ndarray  # [A, 3]
    cell: float

    def tiles(self, state: dict, worlds: slice | None = None) -> np.ndarray:
        from engine.views.grid_draw import grid_tiles

        sl = worlds if worlds is not None else slice(None)
        cells = state["grid.cells"][sl].cpu().numpy()
        return grid_tiles(cells, state["grid.pos"][sl].cpu().numpy(), state["grid.dir"][sl].cpu().numpy(),
                          self.agent_rgb, self.cell)


def grid_frame(sim: Any) -> GridFrame | None:
    """The grid part of a Sim's frames (None when the world has no grid)."""
    from engine.render.frame import wall_rects
    from engine.views.grid_draw import grid_lines

    layout = getattr(sim.plan.app, "_grid_layout", None)
    if layout is None:
        return None
    W, H = layout.size
    lines = wall_rects(grid_lines(W, H, layout.cell), [], 0.015 * layout.cell)
    rgb = sim.state["color"][0, layout.slots].cpu().numpy().astype(np.float32)
    return GridFrame(lines, rgb, layout.cell)
