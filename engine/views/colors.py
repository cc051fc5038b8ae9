"""What the renderer draws besides the entities' own colour: colours by value and the walls.

Colours by value (``render.color_by``): an entity type drawn in the colour of an int component's value.

Only the drawing changes — the ``color`` component in the state stays what the world says — so the
window, offscreen frames, videos and pixel observations all show the value (what a collector holds, a
treasure's type) without a rule rewriting colours every tick.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def check_render(app) -> None:
    """Located errors at load for ``render.shapes`` / ``render.color_by`` naming unknown types or components."""
    render = app.loaded.spec.render
    types, comps = app.layout.types, app.layout.components
    for section, table in (("shapes", render.shapes), ("color_by", render.color_by)):
        for tname in table:
            if tname not in types:
                raise app.ctx.error(("render", section, tname), app.lookup(types, tname, "entity type"))
    for tname, cb in render.color_by.items():
        path = ("render", "color_by", tname)
        c = comps.get(cb.component)
        if c is None:
            raise app.ctx.error(path + ("component",), app.lookup(comps, cb.component, "component"))
        if c.dtype.startswith("float") or c.dtype == "bool" or c.shape:
            raise app.ctx.error(path + ("component",), f"expected an int component with one value per entity, got "
                                                       f"{cb.component!r} ({c.dtype}, shape {list(c.shape)})")
        for i, rgb in enumerate(cb.colors):
            if len(rgb) != 3:
                raise app.ctx.error(path + ("colors", i), f"expected an RGB triple, got {len(rgb)} numbers")


def color_by(sim) -> Callable[[dict], torch.Tensor] | None:
    """``fn(state) → [B, N, 3]`` the colours to draw, or None when the world colours nothing by value."""
    rules = sim.plan.spec.render.color_by
    if not rules:
        return None
    parts = []
    for tname, cb in rules.items():
        sl = sim.layout.types[tname].sl
        palette = torch.tensor(cb.colors, dtype=sim.layout.float_dtype, device=sim.device)
        parts.append((sl, cb.component, palette))

    def colors(state: dict) -> torch.Tensor:
        out = state["color"].clone()
        for sl, comp, palette in parts:
            v = state[comp][:, sl]
            known = (v >= 0) & (v < len(palette))
            drawn = palette[v.clamp(0, len(palette) - 1)]
            out[:, sl] = torch.where(known.unsqueeze(-1), drawn.to(out.dtype), out[:, sl])
        return out
    return colors


def wall_frame_rects(sim):
    """``[W, 6]`` rectangles of the world's walls for :class:`engine.render.Frame` (None: no walls): the
    segments as bars 1 % of the arena thick, boxes and map cells filled."""
    from engine.render.frame import wall_rects

    walls = sim.plan.spec.walls
    if not walls.segments and not walls.all_boxes():
        return None
    arena = sim.plan.spec.world.arena
    width = 0.01 * min(arena[1] - arena[0], arena[3] - arena[2]) / 2
    return wall_rects([list(map(float, s)) for s in walls.segments], walls.all_boxes(), width)


def zone_frame_parts(sim) -> tuple | None:
    """The world's zones for :class:`engine.render.Frame` ``zones`` (None: no zones): boxes and map cells as
    rectangles, disks as disks, polygons as their outline (bars 1 % of the arena thick)."""
    import numpy as np

    from engine.render.frame import wall_rects

    zones = sim.plan.spec.zones
    if not zones:
        return None
    arena = sim.plan.spec.world.arena
    width = 0.01 * min(arena[1] - arena[0], arena[3] - arena[2]) / 2
    parts = []
    for z in zones.values():
        outline = [[*map(float, a), *map(float, b)] for poly in z.polygons for a, b in zip(poly, poly[1:] + poly[:1])]
        rects = wall_rects(outline, z.all_boxes(), width)
        disks = np.asarray(z.disks, dtype=np.float32).reshape(-1, 3)
        parts.append((rects, disks, tuple(z.color), float(z.opacity)))
    return tuple(parts)

