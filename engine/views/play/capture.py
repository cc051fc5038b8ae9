"""What the play loop writes: screenshots (F12), videos (V) and the ``--state-log`` JSON lines.

Screenshots are written atomically; a video gets one frame per tick, played at the tick rate, and is
discarded when it has no frame or fails; the state log is line-buffered so a test (or ``tail -f``)
sees every tick as it happens.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from engine.render.video import VideoWriter
    from engine.sim import Sim


def read_screen(screen: moderngl.Framebuffer, size: tuple[int, int]) -> np.ndarray:
    """The ``[H, W, 3]`` uint8 contents of ``screen``, rows top-first."""
    w, h = size
    data = screen.read(viewport=(0, 0, w, h), components=3, alignment=1)
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()


def save_screenshot(screen: moderngl.Framebuffer, size: tuple[int, int], path: Path) -> Path:
    """Write ``screen`` as a PNG to ``path`` (atomically); return the path."""
    from PIL import Image

    from engine.fileio import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(read_screen(screen, size)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path


def screenshot_path(out_dir: Path, name: str, tick: int, steps: int) -> Path:
    """``<out>/<world>-<date>-t<tick>-s<steps>.png``."""
    return out_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-t{tick}-s{steps}.png"


class VideoCapture:
    """Start/stop recording of the window: one frame per tick (:meth:`tick` then :meth:`capture`).

    ``say`` shows a message to the player (HUD and terminal).
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.writer: VideoWriter | None = None
        self.path: Path | None = None
        self._pending = False

    @property
    def recording(self) -> bool:
        return self.writer is not None

    @property
    def frames(self) -> int:
        return self.writer.frames if self.writer is not None else 0

    def start(self, out_dir: Path, name: str, fps: float) -> None:
        """Record ``<out>/<world>-<date>.mp4`` at ``fps`` (the tick rate); the next drawn frame is the first."""
        from engine.render.video import VideoWriter

        self.path = out_dir / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        self.writer = VideoWriter(self.path, fps=fps)
        self._pending = True
        self.say(f"recording {self.path}")

    def tick(self) -> None:
        """A tick ran: the next drawn frame is recorded."""
        if self.writer is not None:
            self._pending = True

    def capture(self, screen: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        """Append the drawn frame if a tick ran since the last one; stop on a resize or an error."""
        if self.writer is None or not self._pending:
            return
        self._pending = False
        try:
            self.writer.append(read_screen(screen, size))
        except ValueError:  # the window was resized: a video keeps one size
            self.stop(" (stopped: the window was resized)")
        except Exception as exc:
            self.writer.abort()
            self.writer = None
            self.say(f"video failed: {exc}")

    def stop(self, note: str = "") -> None:
        """Finish the recording (a video without frames is discarded)."""
        writer, self.writer = self.writer, None
        if writer is None:
            return
        try:
            if writer.frames:
                path = writer.close()
                self.say(f"saved {path} ({writer.frames} frames){note}")
            else:
                writer.abort()
        except Exception as exc:
            self.say(f"video failed: {exc}")


class StateLog:
    """``--state-log``: one JSON line per tick interval of the fixed-rate clock, also while paused.

    Fields: ``tick``, ``steps`` (ticks run by the player), ``paused``, ``agent``, its ``pos`` and
    ``action``, the ``held`` direction keys, and what the player adds (``extra``: with ``--dream``,
    ``dream_psnr`` in dB, ``dream_steps`` since the last re-anchor and ``real_hidden``).
    """

    def __init__(self, path: str | Path) -> None:
        # Line-buffered so a test (or `tail -f`) sees every tick as it happens.
        self._file = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115

    def write(self, sim: Sim, controlled: tuple[str, int] | None, steps: int, paused: bool, held: list[str],
              extra: dict[str, Any] | None = None) -> None:
        rec: dict[str, Any] = {"tick": int(sim.state["tick"][0]), "steps": steps, "paused": paused,
                               "agent": None, "pos": None, "action": None}
        if controlled is not None:
            g, i = controlled
            slot = sim.groups[g].slice.start + i
            rec["agent"] = f"{g}_{i}"
            rec["pos"] = [round(float(v), 6) for v in sim.state["pos"][0, slot]]
            act = sim.state["action." + g][0, i]
            rec["action"] = act.tolist() if act.dim() else int(act)
        rec["held"] = list(held)
        rec.update(extra or {})
        self._file.write(json.dumps(rec) + "\n")

    def close(self) -> None:
        self._file.close()
