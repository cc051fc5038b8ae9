"""How a frame looks: background colour, image size, optional entity outline. Plain data only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenderStyle:
    """Look of a rendered image, kept apart from the world state so one state can be drawn many ways.

    ``background`` and ``outline_color`` are linear RGB floats in 0..1. ``width``/``height`` are the
    size in pixels of :meth:`Renderer.render` images. ``outline_width`` (pixels, 0 = none) draws a
    ring of ``outline_color`` inside each entity's edge. ``margin`` is the fraction added around the
    [-1, 1]² box by the default camera.

    >>> style = RenderStyle(background=(0.1, 0.1, 0.1), width=256, height=128, outline_width=1.0)
    >>> style.aspect
    2.0
    """

    background: tuple[float, float, float] = (0.12, 0.12, 0.14)
    width: int = 512
    height: int = 512
    outline_width: float = 0.0
    outline_color: tuple[float, float, float] = (0.0, 0.0, 0.0)
    margin: float = 0.05

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"RenderStyle size must be positive, got width={self.width} "
                             f"height={self.height}")
        for name in ("background", "outline_color"):
            value = getattr(self, name)
            if len(value) != 3 or not all(0.0 <= float(c) <= 1.0 for c in value):
                raise ValueError(f"RenderStyle.{name} must be 3 floats in 0..1, got {value!r}")
        if self.outline_width < 0:
            raise ValueError(f"RenderStyle.outline_width must be >= 0 pixels, got {self.outline_width}")

    @property
    def aspect(self) -> float:
        """Width over height."""
        return self.width / self.height

    @property
    def default_camera(self) -> tuple[float, float, float]:
        """Camera ``(cx, cy, half_extent)`` fitting [-1, 1]² plus the margin along the shorter side."""
        return (0.0, 0.0, 1.0 + self.margin)
