"""Benchmark the renderer on this machine: one large image and many small batched observations.

Usage: ``python tools/bench_render.py [--seconds 2] [--json]``. Prints median milliseconds per call
and observations per second for

- ``single``: 1 world, 1,000 circles, 512×512 (``Renderer.render``);
- ``tiles``: 256 worlds × 4 agent-centred views at 64×64, 6 entities per world, 2 circles for each
  square (``render_tiles``, 1,024 tiles in one framebuffer, read back once).

Benchmarks are not tests: run it by hand, quote the numbers with the command that produced them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.render import Frame, Renderer, RenderStyle, agent_cameras, create_headless_context  # noqa: E402


def _time(fn: Callable[[], object], seconds: float, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def _random_frame(rng: np.random.Generator, worlds: int, entities: int, radius: float,
                  squares: bool) -> Frame:
    return Frame(
        pos=rng.uniform(-1, 1, (worlds, entities, 2)),
        radius=np.full((worlds, entities), radius),
        color=rng.uniform(0, 1, (worlds, entities, 3)),
        alive=np.ones((worlds, entities), bool),
        shape=(squares & (np.arange(entities) % 3 == 2)).astype(np.int8),  # every third a square
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per case")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    ctx = create_headless_context()
    results = {"gl_renderer": ctx.info["GL_RENDERER"]}

    renderer = Renderer(ctx, RenderStyle(width=512, height=512))
    single = _random_frame(rng, 1, 1000, 0.02, squares=False)
    out = np.empty((512, 512, 3), np.uint8)
    s = _time(lambda: renderer.render(single, out=out), args.seconds)
    results["single_1000_circles_512_ms"] = 1e3 * statistics.median(s)

    worlds, agents = 256, 4
    batch = _random_frame(rng, worlds, 6, 0.05, squares=True)
    cams, world_of_tile = Frame(batch.pos, batch.radius, batch.color,
                                cameras=agent_cameras(batch.pos, np.arange(agents), 0.5)).tile_cameras()
    tiles_out = np.empty((worlds * agents, 64, 64, 3), np.uint8)
    s = _time(lambda: renderer.render_tiles(batch, (64, 64), cams, world_of_tile, out=tiles_out),
              args.seconds)
    med = statistics.median(s)
    results["tiles_1024x64x64_ms"] = 1e3 * med
    results["tiles_observations_per_s"] = worlds * agents / med

    if args.json:
        print(json.dumps(results))
    else:
        print(f"GL: {results['gl_renderer']}")
        single_ms = results["single_1000_circles_512_ms"]
        print(f"single world, 1,000 circles, 512x512: {single_ms:.2f} ms (median)")
        print(f"256 worlds x 4 agents, 64x64 tiles:   {results['tiles_1024x64x64_ms']:.2f} ms (median) = "
              f"{results['tiles_observations_per_s']:,.0f} observations/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
