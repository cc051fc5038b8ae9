"""Static zones (``zones:``): named regions of boxes, disks, polygons and map cells, tested per point.

A zone is built once into small tensors; ``inside(pos)`` says, for every position of every world,
whether it lies in the zone — a handful of comparisons per primitive, no per-entity loop. The rules'
``inside: {zones: [...]}`` condition, the ``in_zone`` observation term (and through them any reward's
``when:``) read it; the renderer draws the zone translucent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Zone:
    """One zone's primitives on the world's device."""

    boxes: torch.Tensor  # [X, 4] x_min, y_min, x_max, y_max
    disks: torch.Tensor  # [D, 3] x, y, r
    edges: torch.Tensor  # [E, 4] polygon edges x0, y0, x1, y1
    polygon_of_edge: torch.Tensor  # [E] which polygon an edge belongs to
    polygons: int

    @staticmethod
    def build(spec, dtype: torch.dtype, device: torch.device) -> Zone:
        edges, owner = [], []
        for k, poly in enumerate(spec.polygons):
            for a, b in zip(poly, poly[1:] + poly[:1]):
                edges.append([*map(float, a), *map(float, b)])
                owner.append(k)

        def t(rows, width):
            return torch.tensor(rows, dtype=dtype, device=device).reshape(-1, width)
        return Zone(t(spec.all_boxes(), 4), t([list(map(float, d)) for d in spec.disks], 3), t(edges, 4),
                    torch.tensor(owner, dtype=torch.int64, device=device), len(spec.polygons))

    def inside(self, pos: torch.Tensor) -> torch.Tensor:
        """``pos [..., 2]`` → ``[...]`` bool: the point lies in the zone (boundaries of boxes count in)."""
        x, y = pos[..., 0:1], pos[..., 1:2]
        hit = torch.zeros(pos.shape[:-1], dtype=torch.bool, device=pos.device)
        if len(self.boxes):
            b = self.boxes
            hit = hit | ((x >= b[:, 0]) & (x <= b[:, 2]) & (y >= b[:, 1]) & (y <= b[:, 3])).any(-1)
        if len(self.disks):
            d = self.disks
            hit = hit | ((x - d[:, 0]) ** 2 + (y - d[:, 1]) ** 2 < d[:, 2] ** 2).any(-1)
        if self.polygons:  # crossing number: a ray to +x crosses an odd number of a polygon's edges
            e = self.edges
            up = (e[:, 1] > y) != (e[:, 3] > y)
            t = (y - e[:, 1]) / torch.where(e[:, 3] != e[:, 1], e[:, 3] - e[:, 1], torch.ones_like(e[:, 1]))
            crosses = up & (x < e[:, 0] + t * (e[:, 2] - e[:, 0]))  # [..., E]
            counts = torch.zeros(pos.shape[:-1] + (self.polygons,), dtype=torch.int64, device=pos.device)
            counts = counts.index_add(-1, self.polygon_of_edge, crosses.to(torch.int64))
            hit = hit | (counts % 2 == 1).any(-1)
        return hit


def build_zones(app, names: list[str], path: tuple) -> list[Zone]:
    """The zones named (located error for an unknown one), built once per world and shared."""
    import difflib

    zones = app.loaded.spec.zones
    cache = app.__dict__.setdefault("_zones", {})
    out = []
    for i, name in enumerate(names):
        if not isinstance(name, str) or name not in zones:
            close = difflib.get_close_matches(str(name), list(zones), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise app.ctx.error(path + (i,), f"unknown zone {name!r}{hint}; declared: {', '.join(zones) or 'none'} "
                                             "(zones:)")
        if name not in cache:
            cache[name] = Zone.build(zones[name], app.layout.float_dtype, app.device)
        out.append(cache[name])
    return out
