"""Frames per second of the ``worldloom play`` loop: simulation + render + HUD + swap, in a real window.

Usage: ``python tools/bench_play.py [--world worlds/swarm.yaml] [--seconds 10] [--size 800x500] [--headless]
[--dream DIR] [--tick-rate R] [--json]``.

``--dream DIR`` plays with a pixel world model dreaming beside the world (``worldloom play --dream``): each
tick then also renders world 0 at the model's size, steps the dream and decodes it. ``--tick-rate R``
overrides the world's ``render.tick_rate``: set it above the frame rate to see how many ticks (dream
frames) per second the loop sustains.

Starts a private ``Xvfb`` (Mesa llvmpipe renders the window's GL), runs ``worldloom play`` uncapped
(``--max-fps 0 --no-vsync``) with a script that holds Right for the controlled pilot, and prints the
loop's statistics: frames/s, median and p95 frame time, and the ticks/s the fixed-rate clock achieved
(``render.tick_rate``; ticks run inside frames, so their cost is part of the frame rate).
``--headless`` draws offscreen (EGL) instead, for machines without Xvfb. Stops only the X server it
started (its PID from ``/tmp/.X<N>-lock``).

Benchmarks are not tests: run it by hand, quote the numbers with the command that produced them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_xvfb(width: int, height: int) -> tuple[str, int, subprocess.Popen]:
    """Start ``Xvfb :N`` on a free display; return (DISPLAY, server PID from its lock file, process)."""
    if shutil.which("Xvfb") is None:
        sys.exit("bench_play: Xvfb is not installed (Debian: apt-get install xvfb), or pass --headless")
    tmp = Path(tempfile.gettempdir())
    n = next(n for n in range(120, 500) if not (tmp / f".X{n}-lock").exists()
             and not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{width + 64}x{height + 64}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lock = tmp / f".X{n}-lock"
    end = time.monotonic() + 10
    while time.monotonic() < end:
        if lock.is_file() and lock.read_text().strip().isdigit() and Path(f"/tmp/.X11-unix/X{n}").exists():
            return f":{n}", int(lock.read_text().strip()), proc
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"bench_play: Xvfb :{n} did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--world", default=str(ROOT / "worlds" / "swarm.yaml"))
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the timed run (default 10)")
    ap.add_argument("--size", default="800x500", help="window size WxH (default 800x500)")
    ap.add_argument("--headless", action="store_true", help="offscreen EGL instead of a window under Xvfb")
    ap.add_argument("--dream", default=None, metavar="DIR", help="play with this pixel world model dreaming beside")
    ap.add_argument("--tick-rate", type=float, default=None, metavar="R", help="override render.tick_rate")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "keys.txt"
        script.write_text(f"0.0 down RIGHT\n{args.seconds * 0.5:.2f} up RIGHT\n{args.seconds * 0.5:.2f} down UP\n")
        exe = Path(sys.executable).with_name("worldloom")
        cmd = [str(exe) if exe.is_file() else sys.executable, *([] if exe.is_file() else ["-m", "engine.cli.main"]),
               "play", args.world, "--max-seconds", str(args.seconds), "--max-fps", "0", "--no-vsync",
               "--size", args.size, "--script", str(script), "--out", tmp, "--json"]
        if args.dream:
            cmd += ["--dream", args.dream]
        if args.tick_rate:
            cmd += ["--set", f"render.tick_rate={args.tick_rate:g}"]
        env = dict(os.environ)
        server = None
        if args.headless:
            cmd.append("--headless")
        else:
            display, pid, proc = start_xvfb(w, h)
            env["DISPLAY"] = display
            server = (pid, proc)
        try:
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.seconds + 120)
        finally:
            if server is not None:
                try:
                    os.kill(server[0], signal.SIGTERM)
                except ProcessLookupError:
                    pass
                server[1].wait(timeout=10)
    if out.returncode != 0:
        sys.exit(f"bench_play: worldloom play failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    stats.update({"backend": "headless EGL" if args.headless else "glfw under Xvfb",
                  "ticks_per_s": stats["ticks"] / stats["seconds"]})
    if args.json:
        print(json.dumps(stats))
    else:
        print(f"{stats['world']}: {stats['entities']} entities, {stats['size'][0]}x{stats['size'][1]}, "
              f"{stats['backend']}")
        print(f"  frames/s {stats['fps']:.1f}   frame ms median {stats['frame_ms_median']:.2f} "
              f"p95 {stats['frame_ms_p95']:.2f}   ticks/s {stats['ticks_per_s']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
