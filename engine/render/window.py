"""Window backends for interactive play: a real glfw window, or an offscreen stand-in.

A backend owns a moderngl context and a target framebuffer, turns input into :class:`InputEvent`
records, and presents frames. Headless is just another backend (like moderngl-window's), chosen by
name, so the play loop (``engine.views.play``) never branches on whether a display exists.
glfw and moderngl are imported only when a backend is created.

>>> win = open_window("headless", (320, 200), "demo")
>>> win.framebuffer_size
(320, 200)
>>> win.close()
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import moderngl


@dataclass(frozen=True)
class InputEvent:
    """One input event in backend-neutral form.

    ``kind``: ``key`` (``key`` a glfw key name such as ``RIGHT``, ``W``, ``F12``; ``action`` one of
    ``press``/``release``/``repeat``), ``scroll`` (``dy`` wheel steps, up positive), ``button``
    (``button`` 0 left / 1 right / 2 middle, ``action`` press/release, ``x``/``y`` window pixels from
    the top-left), ``cursor`` (``x``/``y``), ``resize`` (``x``/``y`` = new framebuffer width/height),
    or ``close``.
    """

    kind: str
    key: str = ""
    action: str = ""
    button: int = -1
    x: float = 0.0
    y: float = 0.0
    dy: float = 0.0


def key_names() -> dict[int, str]:
    """glfw key code → name without the ``KEY_`` prefix (``RIGHT``, ``A``, ``F12``, ``KP_8``, …)."""
    import glfw

    return {getattr(glfw, n): n[4:] for n in dir(glfw) if n.startswith("KEY_") and n != "KEY_UNKNOWN"}


class HeadlessWindow:
    """An offscreen "window": a framebuffer in a standalone EGL context, no display, no input.

    Used by ``worldloom play --headless`` (scripted input, recordings, benchmarks on machines
    without X) and by tests of the play loop.
    """

    def __init__(self, size: tuple[int, int], title: str = "worldloom") -> None:
        from .offscreen import create_headless_context

        self.title = title
        self.ctx: moderngl.Context = create_headless_context()
        self._size = (int(size[0]), int(size[1]))
        self._color = self.ctx.renderbuffer(self._size, components=4)
        self.screen: moderngl.Framebuffer = self.ctx.framebuffer(color_attachments=[self._color])
        self._closed = False

    @property
    def framebuffer_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels of the drawable area."""
        return self._size

    @property
    def window_size(self) -> tuple[int, int]:
        """``(width, height)`` in screen units (cursor coordinates); equal to the framebuffer here."""
        return self._size

    @property
    def should_close(self) -> bool:
        return self._closed

    def poll(self) -> list[InputEvent]:
        """No input devices offscreen; scripted input comes from the player."""
        return []

    def swap(self) -> None:
        # Wait for the GPU (llvmpipe) so frame timings measure the finished frame, like a real swap.
        self.ctx.finish()

    def set_title(self, title: str) -> None:
        self.title = title

    def request_close(self) -> None:
        self._closed = True

    def close(self) -> None:
        if self.ctx is not None:
            self.screen.release()
            self._color.release()
            self.ctx.release()
            self.ctx = None
        self._closed = True


class GlfwWindow:
    """A resizable glfw window with an OpenGL 3.3 core context wrapped by moderngl.

    Input arrives through glfw callbacks into a queue that :meth:`poll` drains, so the player handles
    events in order, once per frame, without callbacks reaching into its state.
    """

    def __init__(self, size: tuple[int, int], title: str = "worldloom", *, vsync: bool = True) -> None:
        try:
            import glfw
            import moderngl
        except ImportError as exc:
            raise UserError(f"the play window needs glfw and moderngl ({exc}); `pip install glfw moderngl`, "
                            "or use --headless") from exc
        self._glfw = glfw
        self._queue: list[InputEvent] = []
        self._names = key_names()
        self._window = None
        ok, why = _quiet(glfw.init)
        if not ok:
            raise UserError(f"could not open a window: {why}. A display is needed (set DISPLAY, e.g. run "
                            "under `Xvfb :99 &` with DISPLAY=:99), or use `worldloom play --headless`")
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        glfw.window_hint(glfw.RESIZABLE, True)
        window, why = _quiet(glfw.create_window, int(size[0]), int(size[1]), title, None, None)
        if not window:
            glfw.terminate()
            raise UserError(f"could not create a {size[0]}x{size[1]} window with OpenGL 3.3: {why}")
        self._window = window
        glfw.make_context_current(window)
        glfw.swap_interval(1 if vsync else 0)
        self.ctx: moderngl.Context = moderngl.create_context(require=330)
        self.screen: moderngl.Framebuffer = self.ctx.screen
        self.title = title
        glfw.set_key_callback(window, self._on_key)
        glfw.set_scroll_callback(window, self._on_scroll)
        glfw.set_mouse_button_callback(window, self._on_button)
        glfw.set_cursor_pos_callback(window, self._on_cursor)
        glfw.set_framebuffer_size_callback(window, self._on_resize)
        glfw.set_window_close_callback(window, self._on_close)

    # ------------------------------------------------------------------------------------- backend API
    @property
    def framebuffer_size(self) -> tuple[int, int]:
        return tuple(self._glfw.get_framebuffer_size(self._window))

    @property
    def window_size(self) -> tuple[int, int]:
        return tuple(self._glfw.get_window_size(self._window))

    @property
    def should_close(self) -> bool:
        return bool(self._glfw.window_should_close(self._window))

    def poll(self) -> list[InputEvent]:
        self._glfw.poll_events()
        events, self._queue = self._queue, []
        return events

    def swap(self) -> None:
        self._glfw.swap_buffers(self._window)

    def set_title(self, title: str) -> None:
        if title != self.title:
            self._glfw.set_window_title(self._window, title)
            self.title = title

    def request_close(self) -> None:
        self._glfw.set_window_should_close(self._window, True)

    def close(self) -> None:
        if self._window is not None:
            self.ctx.release()
            self._glfw.destroy_window(self._window)
            self._glfw.terminate()
            self._window = None

    # ------------------------------------------------------------------------------------- callbacks
    def _on_key(self, _win: Any, key: int, _scancode: int, action: int, _mods: int) -> None:
        glfw = self._glfw
        name = self._names.get(key)
        if name is None:
            return
        kind = {glfw.PRESS: "press", glfw.RELEASE: "release", glfw.REPEAT: "repeat"}.get(action, "press")
        self._queue.append(InputEvent("key", key=name, action=kind))

    def _on_scroll(self, _win: Any, _dx: float, dy: float) -> None:
        self._queue.append(InputEvent("scroll", dy=float(dy)))

    def _on_button(self, _win: Any, button: int, action: int, _mods: int) -> None:
        x, y = self._glfw.get_cursor_pos(self._window)
        kind = "press" if action == self._glfw.PRESS else "release"
        self._queue.append(InputEvent("button", button=int(button), action=kind, x=float(x), y=float(y)))

    def _on_cursor(self, _win: Any, x: float, y: float) -> None:
        self._queue.append(InputEvent("cursor", x=float(x), y=float(y)))

    def _on_resize(self, _win: Any, width: int, height: int) -> None:
        self._queue.append(InputEvent("resize", x=float(width), y=float(height)))

    def _on_close(self, _win: Any) -> None:
        self._queue.append(InputEvent("close"))


def _quiet(fn: Any, *args: Any) -> tuple[Any, str]:
    """Call a glfw function; return ``(result, why)`` with glfw's own error text instead of a warning."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args)
        except Exception as exc:  # glfw raises GLFWError when its error reporting is set to "raise"
            return None, str(exc)
    why = str(caught[-1].message) if caught else f"{fn.__name__} failed"
    return result, re.sub(r"^\(\d+\) b['\"](.*)['\"]$", r"\1", why)  # "(65550) b'X11: …'" → "X11: …"


BACKENDS = {"glfw": GlfwWindow, "headless": HeadlessWindow}


def open_window(backend: str, size: tuple[int, int], title: str = "worldloom", **options: Any
                ) -> GlfwWindow | HeadlessWindow:
    """Open a window with the named backend (``glfw`` or ``headless``)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown window backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend == "headless":
        options.pop("vsync", None)
    return BACKENDS[backend](size, title, **options)


def monotonic() -> float:
    """The clock the play loop runs on (seconds)."""
    return time.perf_counter()
