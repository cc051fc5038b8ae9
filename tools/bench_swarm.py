"""The broad phase's scaling curve: ticks/s of one world of N colliding disks, N = 100 … 10,000.

Packing fraction 0.3 at every N (the arena's side grows with √N: side = √(N·π·r² / 0.3)), compiled,
one thread, ``worldloom bench`` (idle machine: run nothing else meanwhile). A quadratic method would
lose 100× per 10× more disks; the grid loses about 10×.

    .venv/bin/python tools/bench_swarm.py --out docs/bench/session4/swarm.jsonl

Also times 64 non-colliding entities against the same world without them (``--collide-free``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from bench_vs_peers import run_json  # noqa: E402

RADIUS = 0.05


def _arena(n: int, fraction: float = 0.3) -> str:
    half = math.sqrt(n * math.pi * RADIUS ** 2 / fraction) / 2
    return f"[{-half:.4f}, {half:.4f}, {-half:.4f}, {half:.4f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--counts", default="100,300,1000,3000,10000")
    p.add_argument("--broadphase", default="auto", help="auto, grid or all_pairs")
    p.add_argument("--seconds", default="3")
    p.add_argument("--repeats", default="3")
    p.add_argument("--out", default=None)
    p.add_argument("--collide-free", action="store_true",
                   help="instead: tag with and without 64 extra non-colliding entities, at 1 and 4096 worlds")
    a = p.parse_args()
    if a.collide_free:
        return _collide_free(a)
    wl = [str(ROOT / ".venv" / "bin" / "worldloom"), "bench", "swarm_10k", "--worlds", "1", "--threads", "1",
          "--seconds", a.seconds, "--repeats", a.repeats, "--warmup", "1", "--json"]
    rows, results = [], []
    for n in (int(x) for x in a.counts.split(",")):
        half = math.sqrt(n * math.pi * RADIUS ** 2 / 0.3) / 2
        sets = ["--set", f"entities.disk.count={n}", "--set", f"world.arena={_arena(n)}",
                "--set", f"entities.disk.spawn.pos.uniform=[{-half + RADIUS:.4f}, {half - RADIUS:.4f}]",
                "--set", f"systems.0.physics.broadphase={a.broadphase}"]
        r = run_json(wl + sets, ROOT)
        tps = r["env_steps_per_s_median"]
        results.append(r | {"disks": n, "broadphase": a.broadphase})
        rows.append(f"| {n:,} | {tps:,.0f} | {1e3 / tps:.2f} ms |")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print(f"| disks (broadphase {a.broadphase}) | ticks/s | per tick |\n|---:|---:|---:|")
    print("\n".join(rows))
    return 0


def _collide_free(a) -> int:
    """tag, then tag with 64 non-colliding, immovable coins (nobody observes them): the coins should cost
    nothing in contacts (target: within 1.5× of tag)."""
    coins = ("entities.coin={count: 64, components: {collide: false, movable: false}, "
             "spawn: {pos: {uniform: [-1.0, 1.0]}}}")
    rows, results = [], []
    for worlds in ("1", "4096"):
        base = [str(ROOT / ".venv" / "bin" / "worldloom"), "bench", "tag", "--worlds", worlds, "--seconds",
                a.seconds, "--repeats", a.repeats, "--warmup", "2", "--json"]
        plain = run_json(base, ROOT)
        more = run_json(base + ["--set", coins], ROOT)
        results += [plain | {"config": f"tag, {worlds}"}, more | {"config": f"tag + 64 coins, {worlds}"}]
        ratio = plain["env_steps_per_s_median"] / more["env_steps_per_s_median"]
        rows.append(f"| {worlds} | {plain['env_steps_per_s_median']:,.0f} | {more['env_steps_per_s_median']:,.0f} | "
                    f"**{ratio:.2f}×** |")
    if a.out:
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print("| worlds | tag, ticks/s | tag + 64 non-colliding, ticks/s | slowdown (≤ 1.5×) |\n|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
