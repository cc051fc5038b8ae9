"""Play in a grid world: the controlled agent's egocentric view (MiniGrid's 7 × 7 ``image``, what its
policy sees) drawn in a corner, and turn-based ticks — one per action key press, as MiniGrid's
``manual_control`` — since a grid agent always acts (no key held would mean "turn left" every tick)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from engine.sim import Sim


def is_grid_world(sim: Sim) -> bool:
    return "grid.cells" in sim.state


def controlled_view(sim: Sim, controlled: tuple[str, int]) -> np.ndarray:
    """``[v, v, 3]``: the controlled agent's view in world 0, exactly its ``grid_view`` observation."""
    from engine.grid.view import egocentric, view_offsets
    from engine.grid.world import with_agents

    layout = sim.plan.app._grid_layout
    grid = sim.plan.spec.grid
    a = layout.offset(controlled[0])[0] + controlled[1]
    st = sim.state
    cells, pos, d = st["grid.cells"][:1], st["grid.pos"][:1], st["grid.dir"][:1]
    if layout.n > 1:
        cells = with_agents(cells, pos, d)
    img = egocentric(cells, pos[:, a:a + 1], d[:, a:a + 1], st["grid.carrying"][:1, a:a + 1],
                     view_offsets(grid.view), grid.see_through_walls)
    return img[0, 0].cpu().numpy()


def draw_inset(renderer: Any, screen: moderngl.Framebuffer, sim: Sim, controlled: tuple[str, int] | None,
               size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Draw the controlled agent's view in the bottom-right corner; returns its viewport (None: nothing)."""
    from engine.render.frame import Frame, fit_camera
    from engine.views.grid_draw import view_tiles

    if controlled is None:
        return None
    image = controlled_view(sim, controlled)
    v = image.shape[0]
    w, h = size
    side = max(min(w, h) // 4, 48)
    vp = (w - side - 8, 8, side, side)
    frame = Frame(pos=np.zeros((1, 0, 2), np.float32), radius=np.zeros((1, 0), np.float32),
                  color=np.zeros((1, 0, 3), np.float32), tiles=view_tiles(image))
    renderer.render_into(screen, frame, 0, fit_camera([0.0, v, 0.0, v], side, side, 0.02), vp)
    return vp
