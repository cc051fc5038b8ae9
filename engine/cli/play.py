"""``worldloom play WORLD``: play a world in a window (keyboard control, live learned ↔ hand-coded)."""

from __future__ import annotations

import json

from engine.cli.common import add_world_args, parse_overrides
from engine.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "play", help="play a world interactively in an OpenGL window",
        description="Open a window on one copy of the world (B=1, eager tick). Arrows/WASD move the controlled "
                    "agent; TAB switches it; P pause, N step, R reset, L learned <-> hand-coded, F5/F9 snapshot/"
                    "restore, F6 reload the world file and shaders, F12 screenshot, V video, H help, Esc quit; "
                    "mouse wheel zooms, left-drag pans. With --dream DIR a pixel world model dreams beside the "
                    "world on the same actions: G re-anchors it on the real frames, X hides the real side.")
    add_world_args(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the Sim's generator (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="window size in pixels (default: the world's render.size)")
    p.add_argument("--script", default=None, metavar="FILE",
                   help="scripted key events, one 'SECONDS down|up|tap KEY' or 'SECONDS quit' per line")
    p.add_argument("--state-log", default=None, metavar="FILE",
                   help="write one JSON line per tick interval: tick, steps, paused, controlled agent, its position")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S", help="quit after S seconds")
    p.add_argument("--out", default=".", metavar="DIR", help="folder for screenshots and videos (default .)")
    p.add_argument("--headless", action="store_true",
                   help="no window: draw offscreen (EGL) and take input from --script only")
    p.add_argument("--no-vsync", dest="vsync", action="store_false", help="do not wait for vertical sync")
    p.add_argument("--max-fps", type=float, default=240.0, metavar="F",
                   help="cap the frame rate (default 240; 0 = uncapped, for benchmarks)")
    p.add_argument("--no-hud", dest="hud", action="store_false", help="hide the text overlay")
    p.add_argument("--dream", default=None, metavar="DIR",
                   help="a pixel world model folder (from `worldloom distill WORLD --subsystem world-model`): its "
                        "dream runs beside the world on the same joint actions, with the live PSNR in the HUD and "
                        "in --state-log")
    p.add_argument("--json", action="store_true", help="print frame statistics as one JSON line at exit")
    p.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    """``"800x600"`` → ``(800, 600)``; a ``UserError`` otherwise."""
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not sep or not (16 <= size[0] <= 8192 and 16 <= size[1] <= 8192):
        raise UserError(f"--size: expected WIDTHxHEIGHT with 16..8192 pixels each, e.g. 800x600; got {text!r}")
    return size


def run(args) -> int:
    from engine.render.offscreen import GLUnavailableError
    from engine.render.window import open_window
    from engine.views.play import Player, load_script
    from engine.world.loader import load_world

    if args.max_seconds is not None and args.max_seconds <= 0:
        raise UserError(f"--max-seconds: expected a number > 0, got {args.max_seconds}")
    overrides = parse_overrides(args.overrides)
    script = load_script(args.script) if args.script else None
    if args.headless and script is None and args.max_seconds is None:
        raise UserError("--headless has no keyboard: give --script FILE (ending with 'quit') or --max-seconds")
    loaded = load_world(args.world, overrides)  # validate before opening a window
    if args.dream is not None:  # read the model's contracts before opening a window (no code runs)
        from engine.learned.world_model import OnnxWorldModel

        OnnxWorldModel(args.dream, providers="cpu")
    size = parse_size(args.size) if args.size else tuple(loaded.spec.render.size)
    try:
        window = open_window("headless" if args.headless else "glfw", size, f"worldloom play: {loaded.spec.name}",
                             vsync=args.vsync)
    except GLUnavailableError as exc:
        raise UserError(str(exc)) from None
    try:
        player = Player(loaded.path, window, overrides=overrides, seed=args.seed, device=args.device,
                        state_log=args.state_log, max_seconds=args.max_seconds, script=script, out_dir=args.out,
                        hud=args.hud, max_fps=args.max_fps, dream=args.dream)
        stats = player.run()
    finally:
        window.close()
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"{stats['frames']} frames in {stats['seconds']:.1f} s: {stats['fps']:.1f} frames/s, "
              f"{stats['ticks']} ticks")
    return 0
