"""Headless GL: a standalone EGL context (Mesa llvmpipe on machines without a GPU or display).

Headless is just another way to get a context; the renderer does not know which one it draws with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import moderngl


class GLUnavailableError(RuntimeError):
    """No OpenGL context could be created; the message says which packages to install."""


def create_headless_context(require: int = 330) -> moderngl.Context:
    """Create a standalone EGL OpenGL context (core ``require``, default 3.3) without a display.

    Fails loudly: a world that asks for pixels without GL must not silently get blank images.

    >>> ctx = create_headless_context()
    >>> ctx.version_code >= 330
    True
    """
    try:
        import moderngl
    except ImportError as exc:
        raise GLUnavailableError("moderngl is not installed; `pip install moderngl` to render") from exc
    try:
        return moderngl.create_standalone_context(backend="egl", require=require)
    except Exception as exc:  # moderngl/glcontext raise bare Exceptions ("libGL.so not loaded", ...)
        raise GLUnavailableError(
            f"could not create a headless OpenGL {require // 100}.{require % 100 // 10} context with EGL "
            f"({type(exc).__name__}: {exc}). On Debian/Ubuntu install the packages providing EGL and "
            "Mesa's software driver: `apt-get install libegl1 libgl1`."
        ) from exc
