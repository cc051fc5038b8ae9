"""The play window's camera: zoom and pan on top of the arena-fitting camera, driven by the mouse.

Cameras are ``(cx, cy, half_extent)`` in world units (see :func:`engine.render.fit_camera`); a
viewport is ``(x, y, width, height)`` in framebuffer pixels. Cursor positions come in window units
(top-left origin), which differ from framebuffer pixels on HiDPI screens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Camera = tuple[float, float, float]
Viewport = tuple[int, int, int, int]


@dataclass
class PlayCamera:
    """Zoom and pan on top of the arena-fitting camera.

    >>> cam = PlayCamera(zoom=2.0, pan=[0.5, 0.0])
    >>> cam.apply((0.0, 0.0, 1.0))
    (0.5, 0.0, 0.5)
    """

    zoom: float = 1.0
    pan: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def apply(self, base: Camera) -> Camera:
        return (base[0] + self.pan[0], base[1] + self.pan[1], base[2] / self.zoom)

    def cursor_world(self, base: Camera, vp: Viewport, cursor: tuple[float, float],
                     window_size: tuple[int, int], framebuffer_size: tuple[int, int]) -> tuple[float, float]:
        """The world point under ``cursor`` (window units, y down) in viewport ``vp``."""
        cam = self.apply(base)
        ratio = framebuffer_size[0] / max(window_size[0], 1)  # cursor units → pixels (HiDPI)
        px = cursor[0] * ratio - vp[0]
        py = (window_size[1] - cursor[1]) * ratio - vp[1]  # GL pixels, y up
        s = min(vp[2], vp[3]) / (2.0 * cam[2])
        return cam[0] + (px - vp[2] / 2) / s, cam[1] + (py - vp[3] / 2) / s

    def zoom_by(self, factor: float, point_under_cursor) -> None:
        """Zoom by ``factor`` keeping the world point under the cursor in place.

        ``point_under_cursor()`` gives that point with the current zoom (None before the cursor was seen).
        """
        before = point_under_cursor()
        self.zoom = float(np.clip(self.zoom * factor, 0.05, 100.0))
        after = point_under_cursor()
        if before is not None and after is not None:
            self.pan[0] += before[0] - after[0]
            self.pan[1] += before[1] - after[1]

    def pan_by(self, dx: float, dy: float, base: Camera, vp: Viewport, window_size: tuple[int, int],
               framebuffer_size: tuple[int, int]) -> None:
        """Follow a drag of ``(dx, dy)`` window units: the world moves with the cursor."""
        ratio = framebuffer_size[0] / max(window_size[0], 1)  # cursor units → framebuffer pixels (HiDPI)
        s = min(vp[2], vp[3]) / (2.0 * self.apply(base)[2])
        self.pan[0] -= dx * ratio / s
        self.pan[1] += dy * ratio / s
