"""PettingZoo's ``render_mode="human"``: world 0 of the env's Sim in a glfw window, at the world's pace.

The window is the play window's drawing surface (:class:`engine.render.window.GlfwWindow`) showing
the same :class:`~engine.views.sim_view.SimView` frame as ``worldloom play`` and ``rgb_array``. It
opens on the first frame (a ``human`` env that is never stepped opens nothing), shows one frame per
``reset``/``step`` and waits so that frames are at least ``1 / render_fps`` apart (the world's
``render.tick_rate``, default ``1 / dt``: real time). Closing it (the window's close button) stops the
drawing; the env goes on without it. It needs a display (``DISPLAY``; e.g. ``Xvfb :99 &``).
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from engine.sim import Sim


class HumanWindow:
    """A window drawing world 0 of ``sim`` at most ``fps`` frames per second."""

    def __init__(self, sim: Sim, fps: float, title: str) -> None:
        from engine.render.window import open_window
        from engine.views.sim_view import SimView

        self.sim = sim
        size = tuple(int(v) for v in sim.plan.spec.render.size)
        with _egl_released():  # creating the window makes its (GLX) context current: set it down after
            self.window = open_window("glfw", size, title, vsync=False)  # paced here, not by the display
            _glfw().make_context_current(None)
        self.view = SimView(sim, ctx=self.window.ctx)
        self.background = tuple(float(c) for c in sim.plan.spec.render.background)
        self.period = 1.0 / fps
        self._due = 0.0
        self.closed = False

    def show(self) -> None:
        """Draw the current state, wait for the frame's time, present it, handle window events."""
        if self.closed:
            return
        win = self.window
        with _current(win):
            win.poll()
            if win.should_close:
                self._close()
                return
            w, h = win.framebuffer_size
            if w > 0 and h > 0:  # not minimised
                screen = win.screen
                screen.use()
                win.ctx.viewport = (0, 0, w, h)
                screen.clear(*self.background, 1.0)
                self.view.draw_into(screen, 0)
            now = time.perf_counter()
            if now < self._due:
                time.sleep(self._due - now)
            win.swap()
            self._due = max(now, self._due) + self.period

    def close(self) -> None:
        if not self.closed:
            with _current(self.window):
                self._close()

    def _close(self) -> None:
        self.closed = True
        self.view.release()
        self.window.close()


@contextmanager
def _current(window: Any) -> Iterator[None]:
    """The window's GL context current on this thread for the block, and the thread's previous contexts
    (an offscreen EGL one: ``rgb_array``, pixel observations; another glfw window's) current again after.

    One thread cannot hold an EGL and a GLX context at once (making the GLX one current while an EGL
    one is fails with ``BadAccess``), and the offscreen renderer expects its context to stay current,
    so every frame borrows the thread and gives it back as it found it.
    """
    glfw = _glfw()
    with _egl_released():
        previous = glfw.get_current_context()
        glfw.make_context_current(window._window)
        try:
            yield
        finally:
            if window._window is not None:  # (closing the window destroyed it and its context)
                glfw.make_context_current(previous if previous else None)


@contextmanager
def _egl_released() -> Iterator[None]:
    """No EGL context current on this thread for the block; the one that was is current again after."""
    egl = _egl()
    saved = None
    if egl is not None and egl.eglGetCurrentContext():
        saved = (egl.eglGetCurrentDisplay(), egl.eglGetCurrentSurface(_EGL_DRAW), egl.eglGetCurrentSurface(_EGL_READ),
                 egl.eglGetCurrentContext())
        egl.eglMakeCurrent(saved[0], None, None, None)
    try:
        yield
    finally:
        if saved is not None:
            egl.eglMakeCurrent(*saved)  # (fails harmlessly if that context was destroyed meanwhile)


def _glfw():
    import glfw

    return glfw


_EGL_DRAW, _EGL_READ = 0x3059, 0x305A
_egl_lib: list = []


def _egl() -> ctypes.CDLL | None:
    """libEGL with the four functions used here typed, or None where it is not installed."""
    if not _egl_lib:
        try:
            lib = ctypes.CDLL("libEGL.so.1")
        except OSError:
            lib = None
        if lib is not None:
            for name in ("eglGetCurrentContext", "eglGetCurrentDisplay", "eglGetCurrentSurface"):
                getattr(lib, name).restype = ctypes.c_void_p
            lib.eglGetCurrentSurface.argtypes = [ctypes.c_int]
            lib.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
            lib.eglMakeCurrent.restype = ctypes.c_uint
        _egl_lib.append(lib)
    return _egl_lib[0]
