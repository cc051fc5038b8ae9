"""The interactive play loop behind ``worldloom play``: one world (B=1, eager), a window, a keyboard.

The loop is the classic game loop: poll events → advance the simulation by the accumulated real time
at the world's fixed tick rate → clear → draw the world → draw the HUD → swap. Simulation and frame
rate are decoupled: a slow frame runs several ticks (at most ``MAX_TICKS_PER_FRAME``), a fast frame
none, so the world runs at ``render.tick_rate`` ticks per second (default ``1/dt``) whatever the
frame rate.

Control: one agent of an externally controlled group follows the keyboard (through its group's
action space); every other external agent takes random actions; groups a world file gives to a
policy plugin or a scripted system keep their controller. Commands (see
:data:`~engine.views.play.hud.HELP`): TAB next agent, P pause, N step, R reset, L learned ↔
hand-coded, F5/F9 snapshot/restore, F6 reload world + shaders, F12 screenshot, V video, H help,
Esc quit; mouse wheel zooms, left-drag pans. With ``dream`` (a pixel world model's folder) the dream
runs beside the world on the same actions (:class:`~engine.views.dream.Dream`): G re-anchors it on
the real frames, X hides the real side.

>>> from engine.render.window import open_window
>>> window = open_window("headless", (320, 240))
>>> player = Player("tag", window, max_seconds=0.2)
>>> player.run()["frames"] > 0
True
>>> window.close()
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.render.window import InputEvent, monotonic

from .camera import PlayCamera
from .capture import StateLog, VideoCapture, save_screenshot, screenshot_path
from .hud import draw_hud, hud_lines
from .input import Controls, ScriptedEvent, action_keys, apply_key, keyboard_action, valid_key_names
from .panels import ImagePanel, LearnedPanel

if TYPE_CHECKING:  # pragma: no cover
    import moderngl

    from engine.render.window import GlfwWindow, HeadlessWindow
    from engine.sim import Sim

#: Cap on ticks run in one frame: beyond it the backlog is dropped (slow motion, not a freeze).
MAX_TICKS_PER_FRAME = 5
#: Longest real time one frame may add to the accumulator (e.g. after dragging the window).
MAX_FRAME_SECONDS = 0.25


class Player:
    """Runs one world interactively in a window backend (see :mod:`engine.render.window`).

    ``world`` and ``overrides`` are what ``engine.make`` takes; the Sim is always B=1 and eager for
    a fast start. ``state_log`` gets one JSON line per tick interval of the fixed-rate clock (also
    while paused), ``max_seconds`` ends the loop, ``script`` feeds scripted key events, ``out_dir``
    receives screenshots and videos, ``max_fps`` (> 0) caps the frame rate by sleeping, ``dream`` names
    a pixel world model's folder to dream beside the world.
    """

    def __init__(self, world: str | Path, window: GlfwWindow | HeadlessWindow, *,
                 overrides: Mapping[str, Any] | None = None, seed: int = 0, device: str = "cpu",
                 state_log: str | Path | None = None, max_seconds: float | None = None,
                 script: list[ScriptedEvent] | None = None, out_dir: str | Path = ".",
                 hud: bool = True, max_fps: float = 0.0, dream: str | Path | None = None) -> None:
        from engine.render.text import TextRenderer

        self.world_arg, self.overrides, self.seed, self.device = world, dict(overrides or {}), seed, device
        self.window = window
        self.ctx: moderngl.Context = window.ctx
        self.max_seconds = max_seconds
        self.script = deque(script or [])
        self.out_dir = Path(out_dir)
        self.show_hud = hud
        self.min_frame_seconds = 1.0 / max_fps if max_fps and max_fps > 0 else 0.0
        self.help = self.paused = self._quit = self._want_screenshot = False
        self.learned = True
        self.message, self.message_until = "", 0.0
        self.messages: deque[str] = deque(maxlen=50)
        self.camera = PlayCamera()
        self._drag: tuple[float, float] | None = None
        self._cursor: tuple[float, float] | None = None  # window coordinates, once the mouse moved
        self.held: list[str] = []  # held direction keys, most recent last
        self._snapshot = None
        self._steps, self._acc, self.fps = 0, 0.0, 0.0
        self.video = VideoCapture(self._say)
        self.panel = LearnedPanel(self.ctx)
        self.dream_folder, self.real_hidden = dream, False
        self.dream_panel = ImagePanel(self.ctx)
        self._adopt(self._prepare(self._make_sim()))
        self.log = StateLog(state_log) if state_log else None
        self.text = TextRenderer(self.ctx)

    # ------------------------------------------------------------------------------------ world setup
    def _make_sim(self) -> Sim:
        from engine.sim import make

        sim = make(self.world_arg, num_worlds=1, device=self.device, seed=self.seed, overrides=self.overrides,
                   compile=False, threads=1)
        sim.reset(seed=self.seed)
        return sim

    def _prepare(self, sim: Sim) -> dict[str, Any]:
        """Everything derived from a world, built without touching the running one (reload-safe)."""
        from engine.views.sim_view import SimView

        spec = sim.plan.spec
        controls = Controls(spec.render.controls, valid_key_names(), action_keys(sim.groups))
        view = SimView(sim, ctx=self.ctx)
        _ = view.renderer  # compile the shaders now: a broken shader fails the (re)load, not a frame
        renderers = [n for n, h in sim.plugins.items() if h.kind == "renderer"]
        ref_view = None
        if renderers:
            h, w = sim.plugins[renderers[0]].image_shape[1:3]
            ref_view = SimView(sim, size=(max(int(w), 16), max(int(h), 16)), ctx=self.ctx)
        tick_rate = float(spec.render.tick_rate or 1.0 / spec.world.dt)
        from engine.views.play.grid_inset import is_grid_world

        dream = None
        if self.dream_folder is not None:
            from engine.views.dream import Dream

            dream = Dream(sim, self.dream_folder, ctx=self.ctx)
            dream.start()
        return {"sim": sim, "turn_based": is_grid_world(sim), "dream": dream,
                "name": spec.name, "controls": controls, "view": view, "ref_view": ref_view,
                "renderer_plugin": renderers[0] if renderers else None, "tick_rate": tick_rate,
                "tick_dt": 1.0 / tick_rate,
                "agents": [(g, i) for g in sim.external_groups for i in range(sim.groups[g].size)]}

    def _adopt(self, prepared: dict[str, Any]) -> None:
        """Make a prepared world the running one."""
        for k, v in prepared.items():
            setattr(self, k, v)
        self.agent_index = 0 if self.agents else -1
        self.panel.reset()
        self.returns = {g: 0.0 for g in self.sim.groups}
        self.last_returns: dict[str, float] = {}
        self.metrics: dict[str, float] = {}

    @property
    def controlled(self) -> tuple[str, int] | None:
        return self.agents[self.agent_index] if self.agent_index >= 0 else None

    # -------------------------------------------------------------------------------------- the loop
    def run(self) -> dict[str, Any]:
        """Run until Esc, the window closes, or ``max_seconds``; return frame statistics."""
        start = monotonic()
        frame_times: deque[float] = deque(maxlen=1 << 17)  # bounded: a session may run for hours
        frames = 0
        try:
            last = fps_t0 = start
            fps_count, self.fps = 0, 0.0
            while not self._quit and not self.window.should_close:
                now = monotonic()
                if self.max_seconds is not None and now - start >= self.max_seconds:
                    break
                self._frame(now - start, now - last)
                last = now
                frames += 1
                fps_count += 1
                frame_times.append(monotonic() - now)
                self._cap_frame_rate(now)
                if now - fps_t0 >= 0.5:
                    self.fps, fps_count, fps_t0 = fps_count / (now - fps_t0), 0, now
            seconds = monotonic() - start
        finally:
            self.close()
        return self._stats(frames, seconds, frame_times)

    def _frame(self, elapsed: float, dt: float) -> None:
        """One frame: input, ticks paid for by ``dt`` seconds of real time, draw, present."""
        for event in self.window.poll() + self._scripted(elapsed):
            self.handle(event)
        self.advance(dt)
        self.draw()
        self.window.swap()

    def _cap_frame_rate(self, frame_start: float) -> None:
        """Sleep away the frame's spare time under ``max_fps`` (leave the CPU to others: Xvfb has no vsync)."""
        if self.min_frame_seconds:
            spare = frame_start + self.min_frame_seconds - monotonic()
            if spare > 0:
                time.sleep(spare)

    def _stats(self, frames: int, seconds: float, frame_times: deque[float]) -> dict[str, Any]:
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
            if self.turn_based:  # a grid world ticks on key presses (handle)
                self._write_log()
            elif not self.paused:
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
            a = keyboard_action(sim.groups[g].action_space, self.held, actions[g])
            if sim.groups[g].mask_fns and not bool(sim.action_masks()[g][0, i, int(a)]):
                a = a * 0  # the world masks it now (a cooldown): do nothing instead
            actions[g][0, i] = a
        _, rewards, _, _, info = sim.step(actions)
        self._steps += 1
        if self.dream is not None:
            self.dream.after_step()
        for g, r in rewards.items():
            self.returns[g] += float(r[0].mean())  # per agent: groups of different sizes compare
        if "episode_return" in info:
            self.last_returns = {g: float(v[0].mean()) for g, v in info["episode_return"].items()}
            self.returns = {g: 0.0 for g in sim.groups}
        self.metrics = {k: float(v) for k, v in info.get("metrics", {}).items()}
        self.panel.invalidate()
        self._write_log()
        self.video.tick()

    def _write_log(self) -> None:
        if self.log is not None:
            extra = {}
            if self.dream is not None:
                d = self.dream
                extra = {"dream_psnr": round(d.psnr, 3) if np.isfinite(d.psnr) else None, "dream_steps": d.since,
                         "real_hidden": self.real_hidden}
            self.log.write(self.sim, self.controlled, self._steps, self.paused, self.held, extra)

    # -------------------------------------------------------------------------------------- input
    def handle(self, event: InputEvent) -> None:
        """Apply one input event (keys, mouse, resize, close)."""
        if event.kind == "close":
            self._quit = True
        elif event.kind == "key":
            command = apply_key(self.controls, self.held, event.key, event.action)
            if command is not None:
                getattr(self, f"cmd_{command}")()
            elif self.turn_based and event.action == "press" and not self.paused and self._is_action_key(event.key):
                self.step()  # one tick per action key press (MiniGrid's manual control)
        elif event.kind == "scroll":
            self.camera.zoom_by(1.15 ** event.dy, self.cursor_world)
        elif event.kind == "button" and event.button == 0:
            self._drag = (event.x, event.y) if event.action == "press" else None
        elif event.kind == "cursor":
            if self._drag is not None:
                vp = self._world_viewport()
                self.camera.pan_by(event.x - self._drag[0], event.y - self._drag[1], self.view.camera(vp[2], vp[3]),
                                   vp, self.window.window_size, self.window.framebuffer_size)
                self._drag = (event.x, event.y)
            self._cursor = (event.x, event.y)

    def _is_action_key(self, key: str) -> bool:
        ctl = self.controlled
        name = self.controls.direction_of(key)
        return ctl is not None and name is not None and name in self.sim.groups[ctl[0]].action_space.named

    def cursor_world(self) -> tuple[float, float] | None:
        """The world point under the mouse cursor (None before the cursor was seen)."""
        if self._cursor is None:
            return None
        vp = self._world_viewport()
        return self.camera.cursor_world(self.view.camera(vp[2], vp[3]), vp, self._cursor, self.window.window_size,
                                        self.window.framebuffer_size)

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
        self.panel.invalidate()
        if self.dream is not None:
            self.dream.start()
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
        self.panel.invalidate()
        if self.dream is not None:  # one frame of the restored state: a still pair
            self.dream.start()
        self._say(f"restored tick {int(self.sim.state['tick'][0])}")

    def cmd_reload(self) -> None:
        """Rebuild the world from its file (and the code beside it) and recompile shaders; on any error
        keep the running world."""
        from engine.core.resolver import forget_user_modules
        from engine.render.text import TextRenderer

        prepared = None
        forget_user_modules(self.sim.plan.loaded.base_dir)  # edited code beside the world is read again
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
        _release_views({"view": self.view, "ref_view": self.ref_view, "dream": self.dream})
        self.panel.release()  # image.glsl is compiled again on the next frame that needs it
        self.text.release()
        self._adopt(prepared)
        self.text = text
        self.learned = True
        if old_agent in self.agents:
            self.agent_index = self.agents.index(old_agent)
        self._snapshot = None
        self._say(f"reloaded {self.sim.plan.loaded.path}")

    def cmd_reanchor(self) -> None:
        if self.dream is None:
            self._say("no dream to re-anchor: start with `worldloom play WORLD --dream DIR`")
            return
        self.dream.reanchor()
        self._say(f"dream re-anchored on the real frames at tick {int(self.sim.state['tick'][0])}")

    def cmd_hide_real(self) -> None:
        if self.dream is None:
            self._say("no dream: start with `worldloom play WORLD --dream DIR`")
            return
        self.real_hidden = not self.real_hidden
        self._say("playing in the dream alone (X: show the real world)" if self.real_hidden
                  else "real world beside the dream")

    def cmd_screenshot(self) -> None:
        self._want_screenshot = True

    def cmd_video(self) -> None:
        if self.video.recording:
            self.video.stop()
        else:
            self.video.start(self.out_dir, self.name, self.tick_rate)

    def cmd_help(self) -> None:
        self.help = not self.help

    def cmd_quit(self) -> None:
        self._quit = True

    # ------------------------------------------------------------------------------------- drawing
    def _world_viewport(self) -> tuple[int, int, int, int]:
        w, h = self.window.framebuffer_size
        if self.renderer_plugin is not None or self.dream is not None:
            return (0, 0, max(w // 2, 1), max(h, 1))
        return (0, 0, max(w, 1), max(h, 1))

    def draw(self) -> None:
        """Clear, draw the world (and the learned renderer's image), the HUD; capture if asked."""
        w, h = self.window.framebuffer_size
        if w <= 0 or h <= 0:  # minimised
            return
        screen = self.window.screen
        screen.use()
        self.ctx.viewport = (0, 0, w, h)
        screen.clear(*(float(c) for c in self.sim.plan.spec.render.background), 1.0)
        vp = self._world_viewport()
        ctl = self.controlled
        if not self.real_hidden:
            cam = self.camera.apply(self.view.camera(vp[2], vp[3]))
            slot = self.sim.groups[ctl[0]].slice.start + ctl[1] if ctl is not None else None
            self.view.draw_into(screen, 0, cam, vp, highlight=slot)
        if self.turn_based:
            from engine.views.play.grid_inset import draw_inset

            self.inset_viewport = draw_inset(self.view.renderer, screen, self.sim, ctl, (w, h))
        if self.renderer_plugin is not None:
            self.panel.refresh(self.sim, self.renderer_plugin, self.ref_view, self._say)
            self.panel.draw(screen, (w - vp[2], 0, vp[2], h))
        if self.dream is not None:
            self.dream_panel.image = self.dream.dream
            self.dream_panel.draw(screen, (0, 0, w, h) if self.real_hidden else (w - vp[2], 0, vp[2], h))
        if self.show_hud:
            draw_hud(self, screen, (0, 0, w, h))
        if self._want_screenshot:
            self._want_screenshot = False
            path = screenshot_path(self.out_dir, self.name, int(self.sim.state["tick"][0]), self._steps)
            self._say(f"screenshot {save_screenshot(screen, (w, h), path)}")
        self.video.capture(screen, (w, h))

    def hud_lines(self) -> list[str]:
        """The HUD's text (see :func:`engine.views.play.hud.hud_lines`)."""
        return hud_lines(self)

    # ------------------------------------------------------------------------------------- teardown
    def close(self) -> None:
        """Finish a recording, close the state log, free GL objects (the window stays open)."""
        self.video.stop()
        if self.log is not None:
            self.log.close()
            self.log = None
        self.panel.release()
        self.dream_panel.release()
        if self.dream is not None:
            self.dream.release()
            self.dream = None


def _release_views(prepared: Mapping[str, Any]) -> None:
    for key in ("view", "ref_view", "dream"):
        if prepared.get(key) is not None:
            prepared[key].release()
