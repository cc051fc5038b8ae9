"""DoorKey-8x8 against the grid-world peers, one after the other in this session: worldloom's
``worlds/grid/doorkey.yaml`` (``worldloom bench``, the defaults a user gets: compiled, thread policy
auto, random actions, autoreset) at 1, 64 and 4096 worlds; ``minigrid`` at 1 env and its
``SyncVectorEnv`` at 64; ``navix`` and ``xminigrid`` (JAX on the CPU, each in its own venv, 100 steps
fused per jitted scan) at 4096. Unit: env-steps/s. Idle machine: run nothing else meanwhile.

    eval "$(bash tools/grid_peers/setup.sh)"     # the peers' venvs (once, ~2 min)
    .venv/bin/python tools/bench_grid.py --out docs/bench/session5/grid.jsonl

Prints the README's table (ratios: worldloom over the peer at the same number of worlds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from bench_vs_peers import run_json  # noqa: E402

PEERS = ROOT / "tools" / "grid_peers"


def _peer_pythons() -> dict[str, str]:
    out = subprocess.run(["bash", str(PEERS / "setup.sh")], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.split():
        line = line.removeprefix("export ")
        if "=" in line:
            k, v = line.split("=", 1)
            found[k] = v.strip("'\"")
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", default="10")
    p.add_argument("--repeats", default="3")
    p.add_argument("--warmup", default="2")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    pys = {k: os.environ.get(k) or v for k, v in _peer_pythons().items()}
    window = ["--seconds", a.seconds, "--repeats", a.repeats, "--warmup", a.warmup]
    ours = {}
    for n in (1, 64, 4096):
        ours[n] = run_json([str(ROOT / ".venv" / "bin" / "worldloom"), "bench", "grid/doorkey", "--worlds", str(n),
                            *window, "--json"], ROOT)
    peers = {
        ("minigrid", 1): [pys["MINIGRID_PY"], str(PEERS / "bench_minigrid.py"), "--num-envs", "1"],
        ("minigrid SyncVectorEnv", 64): [pys["MINIGRID_PY"], str(PEERS / "bench_minigrid.py"), "--num-envs", "64"],
        ("navix", 4096): [pys["NAVIX_PY"], str(PEERS / "bench_navix.py"), "--num-envs", "4096"],
        ("xminigrid", 4096): [pys["XMINIGRID_PY"], str(PEERS / "bench_xminigrid.py"), "--num-envs", "4096"],
    }
    theirs = {key: run_json(cmd + window, PEERS) for key, cmd in peers.items()}
    results = [r | {"config": f"worldloom doorkey, {n} worlds"} for n, r in ours.items()]
    results += [r | {"config": f"{name}, {n} worlds"} for (name, n), r in theirs.items()]
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print("| DoorKey-8x8, worlds | worldloom, env-steps/s | peer | peer, env-steps/s | worldloom / peer |")
    print("|---:|---:|---|---:|---:|")
    for (name, n), r in theirs.items():
        mine, other = ours[n]["env_steps_per_s_median"], r["env_steps_per_s_median"]
        print(f"| {n:,} | {mine:,.0f} | {name} | {other:,.0f} | **{mine / other:.1f}×** |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
