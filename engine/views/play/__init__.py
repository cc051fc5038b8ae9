"""``worldloom play``: run one world interactively in a window (or offscreen), split by concern.

- :mod:`~engine.views.play.loop`: :class:`Player`, the game loop (events → fixed-rate ticks → draw →
  swap) and its commands (pause, step, reset, snapshot/restore, reload, …).
- :mod:`~engine.views.play.input`: key bindings (:class:`Controls`), ``--script`` files
  (:func:`load_script`), held keys → the controlled agent's action through its group's action space.
- :mod:`~engine.views.play.camera`: zoom and pan on top of the arena-fitting camera.
- :mod:`~engine.views.play.hud`: the HUD text and the help overlay.
- :mod:`~engine.views.play.capture`: screenshots, video recording, ``--state-log`` lines.
- :mod:`~engine.views.play.panels`: the learned renderer's image beside the GL render, and its PSNR.

The window backends themselves (glfw, headless EGL) are plain drawing surfaces in
:mod:`engine.render.window`.
"""

from .input import Controls, ScriptedEvent, load_script
from .loop import Player

__all__ = ["Controls", "Player", "ScriptedEvent", "load_script"]
