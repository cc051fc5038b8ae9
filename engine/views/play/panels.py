"""Images beside the GL render: a renderer plugin's image, or a pixel world model's dream.

When a world has a ``renderer`` plugin the play window is split: the GL image on the left, the
plugin's image (``sim.render_learned``) as a texture on the right, letterboxed, with the PSNR against
the GL render at the plugin's resolution in the HUD. ``play --dream DIR`` shows the dream
(:class:`~engine.views.dream.Dream`) on the right the same way, through :class:`ImagePanel`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from engine.sim import Sim
    from engine.views.sim_view import SimView


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of one shape (inf when equal).

    >>> a = np.zeros((2, 2, 3), np.uint8)
    >>> psnr(a, a), round(psnr(a, a + 255), 6)
    (inf, 0.0)
    """
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2)) / (255.0 ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def learned_to_uint8(image: Any) -> np.ndarray:
    """A renderer plugin's ``[C, H, W]`` float image in 0..1 → ``[H, W, 3]`` uint8 (C = 1, 3 or 4).

    >>> learned_to_uint8(np.ones((1, 2, 4))).shape
    (2, 4, 3)
    """
    arr = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, np.float32)
    if arr.ndim != 3 or arr.shape[0] not in (1, 3, 4):
        raise ValueError(f"renderer plugin image: expected [C, H, W] with C in 1, 3, 4; got {list(arr.shape)}")
    arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr[:3]
    return np.ascontiguousarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0))


def describe_psnr(value: float | None) -> str:
    """``"n/a"``, ``"inf"`` or ``"31.25 dB"``."""
    return "n/a" if value is None else ("inf" if math.isinf(value) else f"{value:.2f} dB")


class ImagePanel:
    """An ``[H, W, 3]`` uint8 image (``image``; None draws nothing) drawn as a texture, letterboxed."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.image: np.ndarray | None = None
        self._prog = self._tex = self._vao = self._quad = None

    def draw(self, screen: moderngl.Framebuffer, vp: tuple[int, int, int, int]) -> None:
        """The image as a texture, letterboxed into ``vp`` (nothing before a successful refresh)."""
        import moderngl

        image = self.image
        if image is None:
            return
        ih, iw = image.shape[:2]
        self._upload(image)
        x, y, w, h = vp
        scale = min(w / iw, h / ih)
        dw, dh = max(int(iw * scale), 1), max(int(ih * scale), 1)
        screen.use()
        self.ctx.viewport = (x + (w - dw) // 2, y + (h - dh) // 2, dw, dh)
        self._tex.use(0)
        self._prog["u_image"].value = 0
        self._vao.render(moderngl.TRIANGLE_STRIP)

    def _upload(self, image: np.ndarray) -> None:
        """Compile ``image.glsl`` on first use; (re)create the texture for the image's size; write it."""
        import moderngl

        from engine.render.resources import load_program

        ih, iw = image.shape[:2]
        if self._prog is None:
            self._prog = load_program(self.ctx, "image.glsl")
            self._quad = self.ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype=np.float32).tobytes())
            self._vao = self.ctx.vertex_array(self._prog, [(self._quad, "2f", "in_corner")])
        if self._tex is None or self._tex.size != (iw, ih):
            if self._tex is not None:
                self._tex.release()
            self._tex = self.ctx.texture((iw, ih), 3, alignment=1)
            self._tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._tex.write(image.tobytes())

    def release(self) -> None:
        """Free the GL objects (``image.glsl`` is compiled again on the next draw that needs it)."""
        for obj in (self._vao, self._quad, self._tex, self._prog):
            if obj is not None:
                obj.release()
        self._vao = self._quad = self._tex = self._prog = None


class LearnedPanel(ImagePanel):
    """The renderer plugin's image, drawn as a texture; refreshed once per state (see :meth:`invalidate`).

    ``image`` is the last ``[H, W, 3]`` uint8 image (None before the first draw or after a failure),
    ``psnr`` its PSNR against the GL render of the same state (None when the sizes differ).
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        super().__init__(ctx)
        self.psnr: float | None = None
        self._stale = True

    def invalidate(self) -> None:
        """The state changed: the next draw asks the plugin again."""
        self._stale = True

    def reset(self) -> None:
        """A new world: forget the image and its PSNR."""
        self.image, self.psnr, self._stale = None, None, True

    def refresh(self, sim: Sim, plugin: str, reference: SimView, say: Callable[[str], None]) -> None:
        """Ask the plugin for its image of the current state (at most once per state) and compare it."""
        if not self._stale:
            return
        self._stale = False
        try:
            learned = learned_to_uint8(sim.render_learned(plugin)[0])
            ref = reference.render(0)
            self.psnr = psnr(learned, ref) if learned.shape == ref.shape else None
            self.image = learned
        except Exception as exc:
            self.image = None
            say(f"renderer plugin {plugin!r} failed: {exc}")
