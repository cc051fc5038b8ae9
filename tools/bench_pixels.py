"""Pixel-observation throughput beside the vector-only step rate of the same world.

Usage: ``python tools/bench_pixels.py [--worlds 256] [--size 64] [--seconds 3] [--json]``.

The world is ``worlds/tag.yaml`` (3 adversaries + 1 prey = 4 agents per world) with a ``pixels``
term (agent-centred, ``size``×``size``) added to both agent groups, written to a temporary file.
It reports

- ``vector``: ``sim.step`` of the unchanged world (vector observations only): steps/s, agent-steps/s;
- ``pixels``: ``sim.step`` of the pixel world, whose observations include every agent's image
  (all B×A views as tiles of one framebuffer, one draw per shape, one read-back): observations/s;
- ``render``: the pixel render alone (``PixelObserver.observe`` on a fresh state), observations/s.

Eager tick, torch threads by batch size (``threads="auto"``). Benchmarks are not tests: run by hand
and quote the numbers with the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import engine  # noqa: E402


def timed(fn: Callable[[], object], seconds: float, warmup: int = 3) -> float:
    """Median seconds per call over ``seconds`` of repeated calls."""
    for _ in range(warmup):
        fn()
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def pixel_world(folder: Path, size: int) -> Path:
    data = yaml.safe_load((ROOT / "worlds" / "tag.yaml").read_text())
    for group in data["agents"].values():
        group["observation"] = list(group["observation"]) + [
            {"pixels": {"size": [size, size], "view": "agent", "half_extent": 0.5}}]
    path = folder / "tag_pixels.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worlds", type=int, default=256)
    ap.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per case (default 3)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    vec = engine.make(ROOT / "worlds" / "tag.yaml", num_worlds=args.worlds, threads="auto")
    vec.reset()
    agents = vec.agent_steps_per_tick // args.worlds
    t_vec = timed(lambda: vec.step(vec.sample_actions()), args.seconds)

    with tempfile.TemporaryDirectory() as tmp:
        sim = engine.make(pixel_world(Path(tmp), args.size), num_worlds=args.worlds, threads="auto")
    sim.reset()
    t_pix = timed(lambda: sim.step(sim.sample_actions()), args.seconds)
    observer = sim._pixels

    def render_fresh() -> None:
        sim.state["pos"] = sim.state["pos"].clone()  # a new state: the observer's cache must miss
        observer.observe(sim.state)

    t_render = timed(render_fresh, args.seconds)
    obs_per_tick = args.worlds * agents
    result = {
        "worlds": args.worlds, "agents_per_world": agents, "image": [args.size, args.size, 3],
        "vector_steps_per_s": 1 / t_vec, "vector_agent_steps_per_s": obs_per_tick / t_vec,
        "pixel_steps_per_s": 1 / t_pix, "pixel_obs_per_s": obs_per_tick / t_pix,
        "render_ms": 1e3 * t_render, "render_obs_per_s": obs_per_tick / t_render,
        "gl_renderer": observer.ctx.info.get("GL_RENDERER"),
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"tag, {args.worlds} worlds x {agents} agents, {args.size}x{args.size} RGB agent views, "
          f"{result['gl_renderer']}")
    print(f"  vector only   step {1e3 * t_vec:7.2f} ms   {result['vector_steps_per_s']:8.1f} steps/s   "
          f"{result['vector_agent_steps_per_s']:10,.0f} agent-steps/s")
    print(f"  with pixels   step {1e3 * t_pix:7.2f} ms   {result['pixel_steps_per_s']:8.1f} steps/s   "
          f"{result['pixel_obs_per_s']:10,.0f} pixel obs/s")
    print(f"  render only        {result['render_ms']:7.2f} ms   {'':17}   {result['render_obs_per_s']:10,.0f} obs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
