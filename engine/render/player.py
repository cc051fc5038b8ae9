"""The interactive play loop behind ``worldloom play``: one world (B=1, eager), a window, a keyboard.

The loop is the classic game loop: poll events → advance the simulation by the accumulated real time
at the world's fixed tick rate → clear → draw the world → draw the HUD → swap. Simulation and frame
rate are decoupled: a slow frame runs several ticks (at most ``MAX_TICKS_PER_FRAME``), a fast frame
none, so the world runs at ``render.tick_rate`` ticks per second (default ``1/dt``) whatever the
frame rate.

Control: one agent of an externally controlled group follows the keyboard; every other external
agent takes random actions; groups a world file gives to a policy plugin or a scripted system keep
their controller. Commands (see :data:`HELP`): TAB next agent, P pause, N step, R reset, L learned ↔
hand-coded, F5/F9 snapshot/restore, F6 reload world + shaders, F12 screenshot, V video, H help,
Esc quit; mouse wheel zooms, left-drag pans.

>>> from engine.render.window import open_window
>>> window = open_window("headless", (320, 240))
>>> player = Player("tag", window, max_seconds=0.2)
>>> player.run()["frames"] > 0
True
>>> window.close()
"""

from __future__ import annotations

import io
import json
import math
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import UserError

from .window import InputEvent, monotonic

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from engine.sim import Sim

    from .window import GlfwWindow, HeadlessWindow

#: Cap on ticks run in one frame: beyond it the backlog is dropped (slow motion, not a freeze).
MAX_TICKS_PER_FRAME = 5
#: Longest real time one frame may add to the accumulator (e.g. after dragging the window).
MAX_FRAME_SECONDS = 0.25
DIRECTIONS = ("left", "right", "down", "up")
DEFAULT_CONTROLS = {"up": ["UP", "W"], "down": ["DOWN", "S"], "left": ["LEFT", "A"], "right": ["RIGHT", "D"]}
#: Discrete action of each direction (0 no-op, 1 -x, 2 +x, 3 -y, 4 +y).
DISCRETE = {"left": 1, "right": 2, "down": 3, "up": 4}
COMMAND_KEYS = {"TAB": "next_agent", "P": "pause", "N": "step", "R": "reset", "L": "learned", "F5": "snapshot",
                "F9": "restore", "F6": "reload", "F12": "screenshot", "V": "video", "H": "help", "ESCAPE": "quit"}
HELP = [
    "Arrows / WASD: move the controlled agent (render.controls)",
    "TAB: control the next agent of the external groups",
    "P: pause   N: single step while paused   R: reset",
    "L: learned <-> hand-coded subsystems",
    "F5: snapshot   F9: restore   F6: reload world + shaders",
    "F12: screenshot (PNG)   V: start/stop video",
    "Mouse wheel: zoom   left drag: pan",
    "H: close this help   Esc: quit",
]


class Controls:
    """Key bindings for the controlled agent and the action the held keys mean.

    ``bindings`` is the world file's ``render.controls`` (direction → key names, several separated by
    commas); a direction it names replaces that direction's defaults (arrows + WASD).

    >>> c = Controls({"up": "I"})
    >>> c.direction_of("I"), c.direction_of("W"), c.direction_of("RIGHT")
    ('up', None, 'right')
    """

    def __init__(self, bindings: Mapping[str, str] | None = None, valid_keys: set[str] | None = None) -> None:
        keys = {d: list(v) for d, v in DEFAULT_CONTROLS.items()}
        for direction, value in (bindings or {}).items():
            if direction not in DEFAULT_CONTROLS:
                raise UserError(f"render.controls: unknown direction {direction!r}; expected up, down, left, right")
            names = [k.strip().upper() for k in str(value).replace("/", ",").split(",") if k.strip()]
            if not names:
                raise UserError(f"render.controls.{direction}: expected a key name such as W or UP, got {value!r}")
            for name in names:
                if valid_keys is not None and name not in valid_keys:
                    examples = "A..Z, 0..9, UP, DOWN, LEFT, RIGHT, SPACE, KP_8, F1.."
                    raise UserError(f"render.controls.{direction}: unknown key {value!r}; expected a glfw key "
                                    f"name ({examples})")
            keys[direction] = names
        self._direction = {k: d for d, names in keys.items() for k in names}
        self.keys = keys

    def direction_of(self, key: str) -> str | None:
        return self._direction.get(key)

    def describe(self) -> str:
        return " ".join(f"{d}:{'/'.join(k)}" for d, k in self.keys.items())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two uint8 images of one shape (inf when equal)."""
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2)) / (255.0 ** 2)
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def learned_to_uint8(image: Any) -> np.ndarray:
    """A renderer plugin's ``[C, H, W]`` float image in 0..1 → ``[H, W, 3]`` uint8 (C = 1, 3 or 4)."""
    arr = image.detach().cpu().float().numpy() if hasattr(image, "detach") else np.asarray(image, np.float32)
    if arr.ndim != 3 or arr.shape[0] not in (1, 3, 4):
        raise ValueError(f"renderer plugin image: expected [C, H, W] with C in 1, 3, 4; got {list(arr.shape)}")
    arr = np.repeat(arr, 3, axis=0) if arr.shape[0] == 1 else arr[:3]
    return np.ascontiguousarray((np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0))


@dataclass
class ScriptedEvent:
    at: float
    event: InputEvent


def load_script(path: str | Path) -> list[ScriptedEvent]:
    """Parse a ``--script`` file: one ``SECONDS ACTION [KEY]`` per line (``#`` comments).

    ACTION is ``down``/``up`` (hold/release a key), ``tap`` (press then release on the next frame)
    or ``quit``. Times are seconds since the loop started; keys are glfw names (``RIGHT``, ``P``)::

        0.5 down RIGHT
        1.5 up RIGHT
        2.0 tap P
        3.0 quit
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"--script {path}: cannot read it ({exc.strerror})") from None
    out: list[ScriptedEvent] = []
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            at = float(parts[0])
        except ValueError:
            raise UserError(f"{p}:{no}: expected SECONDS ACTION [KEY], got {raw.strip()!r}") from None
        action = parts[1].lower() if len(parts) > 1 else ""
        if action == "quit" and len(parts) == 2:
            out.append(ScriptedEvent(at, InputEvent("close")))
        elif action in ("down", "up", "tap") and len(parts) == 3:
            key = parts[2].upper()
            if action == "tap":
                out.append(ScriptedEvent(at, InputEvent("key", key=key, action="press")))
                out.append(ScriptedEvent(at + 1e-6, InputEvent("key", key=key, action="release")))
            else:
                out.append(ScriptedEvent(at, InputEvent("key", key=key,
                                                        action="press" if action == "down" else "release")))
        else:
            raise UserError(f"{p}:{no}: expected SECONDS down|up|tap KEY or SECONDS quit, got {raw.strip()!r}")
    out.sort(key=lambda e: e.at)
    return out


@dataclass
class _Camera:
    """Zoom and pan on top of the arena-fitting camera."""

    zoom: float = 1.0
    pan: list[float] = field(default_factory=lambda: [0.0, 0.0])

    def apply(self, base: tuple[float, float, float]) -> tuple[float, float, float]:
        return (base[0] + self.pan[0], base[1] + self.pan[1], base[2] / self.zoom)


class Player:
    """Runs one world interactively in a window backend (see :mod:`engine.render.window`).

    ``world`` and ``overrides`` are what ``engine.make`` takes; the Sim is always B=1 and eager for
    a fast start. ``state_log`` gets one JSON line per tick interval of the fixed-rate clock (also
    while paused), ``max_seconds`` ends the loop, ``script`` feeds scripted key events, ``out_dir``
    receives screenshots and videos, ``max_fps`` (> 0) caps the frame rate by sleeping.
    """

    def __init__(self, world: str | Path, window: GlfwWindow | HeadlessWindow, *,
                 overrides: Mapping[str, Any] | None = None, seed: int = 0, device: str = "cpu",
                 state_log: str | Path | None = None, max_seconds: float | None = None,
                 script: list[ScriptedEvent] | None = None, out_dir: str | Path = ".",
                 hud: bool = True, max_fps: float = 0.0) -> None:
        from .text import TextRenderer

        self.world_arg, self.overrides, self.seed, self.device = world, dict(overrides or {}), seed, device
        self.window = window
        self.ctx: moderngl.Context = window.ctx
        self.max_seconds = max_seconds
        self.script = deque(script or [])
        self.out_dir = Path(out_dir)
        self.show_hud = hud
        self.min_frame_seconds = 1.0 / max_fps if max_fps and max_fps > 0 else 0.0
        self.help = False
        self.paused = False
        self.learned = True
        self.message, self.message_until = "", 0.0
        self.messages: deque[str] = deque(maxlen=50)
        self.camera = _Camera()
        self._drag: tuple[float, float] | None = None
        self._cursor: tuple[float, float] | None = None  # window coordinates, once the mouse moved
        self._held: list[str] = []  # held direction keys, most recent last
        self._snapshot = None
        self._video = None
        self._video_path: Path | None = None
        self._want_screenshot = False
        self._quit = False
        self._steps = 0
        self._acc = 0.0
        self.fps = 0.0
        self._record_next = False
        self._adopt(self._prepare(self._make_sim()))
        # Line-buffered so a test (or `tail -f`) sees every tick as it happens.
        self._log = open(state_log, "w", buffering=1, encoding="utf-8") if state_log else None  # noqa: SIM115
        self.text = TextRenderer(self.ctx)
        self._image_prog = None
        self._image_tex = None
        self._image_vao = None
        self._image_quad = None

    # ------------------------------------------------------------------------------------ world setup
    def _make_sim(self) -> Sim:
        from engine.sim import make

        sim = make(self.world_arg, num_worlds=1, device=self.device, seed=self.seed, overrides=self.overrides,
                   compile=False, threads=1)
        sim.reset(seed=self.seed)
        return sim

    def _prepare(self, sim: Sim) -> dict[str, Any]:
        """Everything derived from a world, built without touching the running one (reload-safe)."""
        from .sim_view import SimView
        from .window import key_names

        spec = sim.plan.spec
        try:
            valid = set(key_names().values())
        except ImportError:  # no glfw: key names cannot be checked, scripted keys still work
            valid = None
        controls = Controls(spec.render.controls, valid)
        view = SimView(sim, ctx=self.ctx)
        _ = view.renderer  # compile the shaders now: a broken shader fails the (re)load, not a frame
        renderers = [n for n, h in sim.plugins.items() if h.kind == "renderer"]
        ref_view = None
        if renderers:
            h, w = sim.plugins[renderers[0]].image_shape[1:3]
            ref_view = SimView(sim, size=(max(int(w), 16), max(int(h), 16)), ctx=self.ctx)
        tick_rate = float(spec.render.tick_rate or 1.0 / spec.world.dt)
        return {"sim": sim, "name": spec.name, "controls": controls, "view": view, "ref_view": ref_view,
                "renderer_plugin": renderers[0] if renderers else None, "tick_rate": tick_rate,
                "tick_dt": 1.0 / tick_rate,
                "agents": [(g, i) for g in sim.external_groups for i in range(sim.groups[g].size)]}

    def _adopt(self, prepared: dict[str, Any]) -> None:
        """Make a prepared world the running one."""
        for k, v in prepared.items():
            setattr(self, k, v)
        self.agent_index = 0 if self.agents else -1
        self._learned_image: np.ndarray | None = None
        self._psnr: float | None = None
        self._panel_key: Any = None
        self.returns = {g: 0.0 for g in self.sim.groups}
        self.last_returns: dict[str, float] = {}
        self.metrics: dict[str, float] = {}

    @property
    def controlled(self) -> tuple[str, int] | None:
        return self.agents[self.agent_index] if self.agent_index >= 0 else None

    # -------------------------------------------------------------------------------------- the loop
    def run(self) -> dict[str, Any]:
        """Run until Esc, the window closes, or ``max_seconds``; return frame statistics."""
        start = last = monotonic()
        frames, frame_times = 0, deque(maxlen=1 << 17)  # bounded: a session may run for hours
        fps_count, fps_t0, self.fps = 0, start, 0.0
        try:
            while not self._quit and not self.window.should_close:
                now = monotonic()
                elapsed = now - start
                if self.max_seconds is not None and elapsed >= self.max_seconds:
                    break
                for event in self.window.poll() + self._scripted(elapsed):
                    self.handle(event)
                dt, last = now - last, now
                self.advance(dt)
                self.draw()
                self.window.swap()
                frames += 1
                fps_count += 1
                frame_times.append(monotonic() - now)
                if self.min_frame_seconds:  # frame cap: leave the CPU to others (Xvfb has no vsync)
                    spare = now + self.min_frame_seconds - monotonic()
                    if spare > 0:
                        time.sleep(spare)
                if now - fps_t0 >= 0.5:
                    self.fps, fps_count, fps_t0 = fps_count / (now - fps_t0), 0, now
            seconds = monotonic() - start
        finally:
            self.close()
        ft = np.asarray(list(frame_times)[1:] or [0.0]) * 1e3
        return {"world": self.name, "frames": frames, "seconds": seconds, "fps": frames / max(seconds, 1e-9),
                "ticks": self._steps, "frame_ms_median": float(np.median(ft)),
                "frame_ms_p95": float(np.percentile(ft, 95)), "entities": int(self.sim.layout.n),
                "size": list(self.window.framebuffer_size)}

    def _scripted(self, elapsed: float) -> list[InputEvent]:
        out = []
        while self.script and self.script[0].at <= elapsed:
            out.append(self.script.popleft().event)
        return out

    def advance(self, dt: float) -> int:
        """Run the ticks the accumulated real time ``dt`` pays for; return how many ran."""
        self._acc += min(max(dt, 0.0), MAX_FRAME_SECONDS)
        n = 0
        while self._acc >= self.tick_dt and n < MAX_TICKS_PER_FRAME:
            self._acc -= self.tick_dt
            n += 1
            if not self.paused:
                self.step()
            else:
                self._write_log()
        if n == MAX_TICKS_PER_FRAME:
            self._acc = min(self._acc, self.tick_dt)  # drop the backlog instead of spiralling
        return n

    def step(self) -> None:
        """One tick: keyboard action for the controlled agent, random for other external agents."""
        sim = self.sim
        actions = sim.sample_actions()
        ctl = self.controlled
        if ctl is not None:
            g, i = ctl
            actions[g][0, i] = self._key_action(actions[g].dtype.is_floating_point, actions[g])
        _, rewards, _, _, info = sim.step(actions)
        self._steps += 1
        for g, r in rewards.items():
            self.returns[g] += float(r[0].mean())  # per agent: groups of different sizes compare
        if "episode_return" in info:
            self.last_returns = {g: float(v[0].mean()) for g, v in info["episode_return"].items()}
            self.returns = {g: 0.0 for g in sim.groups}
        self.metrics = {k: float(v) for k, v in info.get("metrics", {}).items()}
        self._panel_key = None
        self._write_log()
        if self._video is not None:
            self._record_next = True

    def _key_action(self, continuous: bool, like: Any) -> Any:
        import torch

        if continuous:
            a = torch.zeros(5, dtype=like.dtype)
            for d in self._held:
                a[DISCRETE[d]] = 1.0
            return a
        return torch.tensor(DISCRETE[self._held[-1]] if self._held else 0, dtype=like.dtype)

    def _write_log(self) -> None:
        if self._log is None:
            return
        ctl = self.controlled
        rec: dict[str, Any] = {"tick": int(self.sim.state["tick"][0]), "steps": self._steps, "paused": self.paused,
                               "agent": None, "pos": None, "action": None}
        if ctl is not None:
            g, i = ctl
            slot = self.sim.groups[g].slice.start + i
            rec["agent"] = f"{g}_{i}"
            rec["pos"] = [round(float(v), 6) for v in self.sim.state["pos"][0, slot]]
            act = self.sim.state["action." + g][0, i]
            rec["action"] = act.tolist() if act.dim() else int(act)
        rec["held"] = list(self._held)
        self._log.write(json.dumps(rec) + "\n")

    # -------------------------------------------------------------------------------------- input
    def handle(self, event: InputEvent) -> None:
        """Apply one input event (keys, mouse, resize, close)."""
        if event.kind == "close":
            self._quit = True
        elif event.kind == "key":
            self._on_key(event.key, event.action)
        elif event.kind == "scroll":
            self._zoom(1.15 ** event.dy)
        elif event.kind == "button" and event.button == 0:
            self._drag = (event.x, event.y) if event.action == "press" else None
        elif event.kind == "cursor":
            if self._drag is not None:
                self._pan(event.x - self._drag[0], event.y - self._drag[1])
                self._drag = (event.x, event.y)
            self._cursor = (event.x, event.y)

    def _on_key(self, key: str, action: str) -> None:
        direction = self.controls.direction_of(key)
        if direction is not None:  # movement bindings win over command keys
            if action == "press" and direction not in self._held:
                self._held.append(direction)
            elif action == "release" and direction in self._held:
                self._held.remove(direction)
            return
        if action != "press":
            return
        command = COMMAND_KEYS.get(key)
        if command is not None:
            getattr(self, f"cmd_{command}")()

    def _world_scale(self) -> float:
        vp = self._world_viewport()
        return min(vp[2], vp[3]) / (2.0 * self.camera.apply(self.view.camera(vp[2], vp[3]))[2])

    def _cursor_world(self) -> tuple[float, float] | None:
        """The world point under the mouse cursor (None before the cursor was seen)."""
        if self._cursor is None:
            return None
        vp = self._world_viewport()
        cam = self.camera.apply(self.view.camera(vp[2], vp[3]))
        win = self.window.window_size
        ratio = self.window.framebuffer_size[0] / max(win[0], 1)  # cursor units → pixels (HiDPI)
        px = self._cursor[0] * ratio - vp[0]
        py = (win[1] - self._cursor[1]) * ratio - vp[1]  # GL pixels, y up
        s = min(vp[2], vp[3]) / (2.0 * cam[2])
        return cam[0] + (px - vp[2] / 2) / s, cam[1] + (py - vp[3] / 2) / s

    def _zoom(self, factor: float) -> None:
        """Zoom by ``factor`` keeping the world point under the cursor in place."""
        before = self._cursor_world()
        self.camera.zoom = float(np.clip(self.camera.zoom * factor, 0.05, 100.0))
        after = self._cursor_world()
        if before is not None and after is not None:
            self.camera.pan[0] += before[0] - after[0]
            self.camera.pan[1] += before[1] - after[1]

    def _pan(self, dx: float, dy: float) -> None:
        fb, win = self.window.framebuffer_size, self.window.window_size
        ratio = fb[0] / max(win[0], 1)  # cursor units → framebuffer pixels (HiDPI)
        s = self._world_scale()
        self.camera.pan[0] -= dx * ratio / s
        self.camera.pan[1] += dy * ratio / s

    def _say(self, text: str, seconds: float = 4.0) -> None:
        """Show ``text`` in the HUD for ``seconds`` and print it (the terminal keeps the history)."""
        self.message, self.message_until = text, monotonic() + seconds
        self.messages.append(text)
        print(text, flush=True)

    # ------------------------------------------------------------------------------------- commands
    def cmd_next_agent(self) -> None:
        if not self.agents:
            self._say("no externally controlled agent group: every group has a controller in the world file")
            return
        self.agent_index = (self.agent_index + 1) % len(self.agents)
        g, i = self.agents[self.agent_index]
        self._say(f"controlling {g}_{i}")

    def cmd_pause(self) -> None:
        self.paused = not self.paused

    def cmd_step(self) -> None:
        if self.paused:
            self.step()

    def cmd_reset(self) -> None:
        self.sim.reset()
        self.returns = {g: 0.0 for g in self.sim.groups}
        self._panel_key = None
        self._say("reset")

    def cmd_learned(self) -> None:
        if not self.sim.plugins:
            self._say("this world has no learned plugins")
            return
        self.learned = not self.learned
        self.sim.set_learned(self.learned)
        self._say("learned subsystems on" if self.learned else "hand-coded subsystems on")

    def cmd_snapshot(self) -> None:
        self._snapshot = self.sim.snapshot()
        self._say(f"snapshot at tick {int(self.sim.state['tick'][0])}")

    def cmd_restore(self) -> None:
        if self._snapshot is None:
            self._say("no snapshot yet (F5 takes one)")
            return
        self.sim.restore(self._snapshot)
        self._panel_key = None
        self._say(f"restored tick {int(self.sim.state['tick'][0])}")

    def cmd_reload(self) -> None:
        """Rebuild the world from its file and recompile shaders; on any error keep the running world."""
        from .text import TextRenderer

        prepared = None
        try:
            prepared = self._prepare(self._make_sim())
            text = TextRenderer(self.ctx)
        except Exception as exc:  # a world error or a shader compile error is shown, never fatal
            if prepared is not None:
                _release_views(prepared)
            lines = str(exc).strip().splitlines()
            self._say(f"reload failed: {lines[0] if lines else type(exc).__name__}", seconds=10.0)
            return
        old_agent = self.controlled
        _release_views({"view": self.view, "ref_view": self.ref_view})
        self._release_panel()  # image.glsl is compiled again on the next frame that needs it
        self.text.release()
        self._adopt(prepared)
        self.text = text
        self.learned = True
        if old_agent in self.agents:
            self.agent_index = self.agents.index(old_agent)
        self._snapshot = None
        self._say(f"reloaded {self.sim.plan.loaded.path}")

    def cmd_screenshot(self) -> None:
        self._want_screenshot = True

    def cmd_video(self) -> None:
        if self._video is None:
            from .video import VideoWriter

            self._video_path = self.out_dir / f"{self.name}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
            self._video = VideoWriter(self._video_path, fps=self.tick_rate)
            self._record_next = True
            self._say(f"recording {self._video_path}")
        else:
            self._stop_video()

    def cmd_help(self) -> None:
        self.help = not self.help

    def cmd_quit(self) -> None:
        self._quit = True

    def _stop_video(self, note: str = "") -> None:
        video, self._video = self._video, None
        if video is None:
            return
        try:
            if video.frames:
                path = video.close()
                self._say(f"saved {path} ({video.frames} frames){note}")
            else:
                video.abort()
        except Exception as exc:
            self._say(f"video failed: {exc}")

    # ------------------------------------------------------------------------------------- drawing
    def _world_viewport(self) -> tuple[int, int, int, int]:
        w, h = self.window.framebuffer_size
        if self.renderer_plugin is not None:
            return (0, 0, max(w // 2, 1), max(h, 1))
        return (0, 0, max(w, 1), max(h, 1))

    def draw(self) -> None:
        """Clear, draw the world (and the learned renderer's image), the HUD; capture if asked."""
        w, h = self.window.framebuffer_size
        if w <= 0 or h <= 0:  # minimised
            return
        screen = self.window.screen
        bg = tuple(float(c) for c in self.sim.plan.spec.render.background)
        screen.use()
        self.ctx.viewport = (0, 0, w, h)
        screen.clear(*bg, 1.0)
        vp = self._world_viewport()
        cam = self.camera.apply(self.view.camera(vp[2], vp[3]))
        ctl = self.controlled
        slot = self.sim.groups[ctl[0]].slice.start + ctl[1] if ctl is not None else None
        self.view.draw_into(screen, 0, cam, vp, highlight=slot)
        if self.renderer_plugin is not None:
            self._draw_panel(screen, (w - vp[2], 0, vp[2], h))
        if self.show_hud:
            self._draw_hud(screen, (0, 0, w, h))
        if self._want_screenshot:
            self._want_screenshot = False
            self._screenshot(screen, (w, h))
        if self._video is not None and getattr(self, "_record_next", False):
            self._record_next = False
            try:
                self._video.append(self._read_screen(screen, (w, h)))
            except ValueError:  # the window was resized: a video keeps one size
                self._stop_video(" (stopped: the window was resized)")
            except Exception as exc:
                self._video.abort()
                self._video = None
                self._say(f"video failed: {exc}")

    def _read_screen(self, screen: moderngl.Framebuffer, size: tuple[int, int]) -> np.ndarray:
        w, h = size
        data = screen.read(viewport=(0, 0, w, h), components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()

    def _screenshot(self, screen: moderngl.Framebuffer, size: tuple[int, int]) -> None:
        from PIL import Image

        from engine.fileio import atomic_write_bytes

        image = self._read_screen(screen, size)
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.out_dir / f"{self.name}-{stamp}-t{int(self.sim.state['tick'][0])}-s{self._steps}.png"
        atomic_write_bytes(path, buf.getvalue())
        self._say(f"screenshot {path}")

    def _draw_panel(self, screen: moderngl.Framebuffer, vp: tuple[int, int, int, int]) -> None:
        """The learned renderer's image as a texture, letterboxed into ``vp``; PSNR against GL."""
        import moderngl

        if self._panel_key is None:
            self._panel_key = True
            try:
                learned = learned_to_uint8(self.sim.render_learned(self.renderer_plugin)[0])
                reference = self.ref_view.render(0)
                self._psnr = psnr(learned, reference) if learned.shape == reference.shape else None
                self._learned_image = learned
            except Exception as exc:
                self._learned_image = None
                self._say(f"renderer plugin {self.renderer_plugin!r} failed: {exc}")
        image = self._learned_image
        if image is None:
            return
        ih, iw = image.shape[:2]
        if self._image_prog is None:
            from .resources import load_program

            self._image_prog = load_program(self.ctx, "image.glsl")
            self._image_quad = self.ctx.buffer(np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype=np.float32).tobytes())
            self._image_vao = self.ctx.vertex_array(self._image_prog, [(self._image_quad, "2f", "in_corner")])
        if self._image_tex is None or self._image_tex.size != (iw, ih):
            if self._image_tex is not None:
                self._image_tex.release()
            self._image_tex = self.ctx.texture((iw, ih), 3, alignment=1)
            self._image_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._image_tex.write(image.tobytes())
        x, y, w, h = vp
        scale = min(w / iw, h / ih)
        dw, dh = max(int(iw * scale), 1), max(int(ih * scale), 1)
        screen.use()
        self.ctx.viewport = (x + (w - dw) // 2, y + (h - dh) // 2, dw, dh)
        self._image_tex.use(0)
        self._image_prog["u_image"].value = 0
        self._image_vao.render(moderngl.TRIANGLE_STRIP)

    def hud_lines(self) -> list[str]:
        """The HUD's text: what a player needs to read at a glance."""
        sim = self.sim
        tick = int(sim.state["tick"][0])
        state = "PAUSED (N: step)" if self.paused else f"{self.tick_rate:g} ticks/s"
        lines = [f"{self.name}  FPS {self.fps:5.1f}  tick {tick}  {state}"]
        ctl = self.controlled
        lines.append(f"controlling {ctl[0]}_{ctl[1]} (TAB: next)" if ctl else "spectating (no external agents)")
        rets = []
        for g in sim.groups:
            last = self.last_returns.get(g)
            rets.append(f"{g} {self.returns[g]:+.2f}" + (f" (last {last:+.2f})" if last is not None else ""))
        lines.append("return " + "  ".join(rets))
        if sim.plugins:
            parts = []
            for name, host in sim.plugins.items():
                mode = "learned" if host.enabled else "hand-coded"
                parts.append(f"{name}[{host.kind}]: {mode}")
            lines.append("plugins " + "  ".join(parts) + "  (L: flip)")
        drift = {k: v for k, v in self.metrics.items() if "drift" in k}
        if drift:
            lines.append("drift " + "  ".join(f"{k} {v:.4f}" for k, v in drift.items()))
        if self.renderer_plugin is not None:
            p = self._psnr
            lines.append(f"learned renderer {self.renderer_plugin}: PSNR "
                         + ("n/a" if p is None else ("inf" if math.isinf(p) else f"{p:.2f} dB")) + " (right)")
        if self._video is not None:
            lines.append(f"REC {self._video.frames} frames -> {self._video_path}")
        if self.message and monotonic() < self.message_until:
            lines.append(self.message)
        lines.append("H: help")
        return lines

    def _draw_hud(self, screen: moderngl.Framebuffer, vp: tuple[int, int, int, int]) -> None:
        lines = self.hud_lines()
        self.text.draw(screen, lines, pos=(6, 6), viewport=vp)
        if self.help:
            box_w, box_h = self.text.measure(HELP)
            x = max((vp[2] - box_w) // 2, 0)
            y = max((vp[3] - box_h) // 2, 0)
            self.text.draw(screen, HELP, pos=(x, y), viewport=vp, background=(0.0, 0.0, 0.0, 0.8))
        self.window.set_title(f"worldloom play: {self.name} (tick {int(self.sim.state['tick'][0])})")

    # ------------------------------------------------------------------------------------- teardown
    def close(self) -> None:
        """Finish a recording, close the state log, free GL objects (the window stays open)."""
        self._stop_video()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._release_panel()

    def _release_panel(self) -> None:
        for obj in (self._image_vao, self._image_quad, self._image_tex, self._image_prog):
            if obj is not None:
                obj.release()
        self._image_vao = self._image_quad = self._image_tex = self._image_prog = None


def _release_views(prepared: Mapping[str, Any]) -> None:
    for key in ("view", "ref_view"):
        if prepared.get(key) is not None:
            prepared[key].release()
