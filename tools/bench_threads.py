"""The thread policy on a busy machine: `auto` against 1 and 2 fixed threads while another process runs.

A second process runs `worldloom bench worlds/tag.yaml --threads 1` for the whole measurement (a
training machine always runs something else); then, for each batch size, `worldloom bench` with
`--threads auto` (the default), `1` and `2` runs one after the other. The ratio reported is
auto / the better of 1 and 2 (target ≥ 0.8). `--idle` measures without the second process.

    .venv/bin/python tools/bench_threads.py --out docs/bench/threads.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WL = [str(ROOT / ".venv" / "bin" / "worldloom"), "bench", "worlds/tag.yaml"]


def bench(worlds: int, threads: str, a) -> dict:
    cmd = WL[:2] + [a.world, "--worlds", str(worlds), "--threads", threads, "--seconds", a.seconds,
                    "--repeats", a.repeats, "--warmup", a.warmup, "--json"]
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", default="worlds/tag.yaml", help="world to time (the busy process always runs tag)")
    p.add_argument("--worlds", default="1,64,4096")
    p.add_argument("--seconds", default="3")
    p.add_argument("--repeats", default="3")
    p.add_argument("--warmup", default="2")
    p.add_argument("--idle", action="store_true", help="no second process")
    p.add_argument("--out", default=None)
    a = p.parse_args()
    load = None
    if not a.idle:
        load = subprocess.Popen(WL + ["--worlds", "4096", "--threads", "1", "--seconds", "100000", "--repeats", "1",
                                      "--warmup", "0"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    rows, results = [], []
    try:
        for w in [int(x) for x in a.worlds.split(",")]:
            r = {t: bench(w, t, a) for t in ("auto", "1", "2")}
            # agent-steps/s, or ticks/s for a world without agents (swarm_10k)
            unit = "agent_steps_per_s_median" if r["auto"]["agent_steps_per_s_median"] else "env_steps_per_s_median"
            rate = {t: v[unit] for t, v in r.items()}
            ratio = rate["auto"] / max(rate["1"], rate["2"])
            rows.append((w, rate, ratio, r["auto"].get("thread_policy", "")))
            results += [v | {"threads_requested": t, "busy": not a.idle} for t, v in r.items()]
    finally:
        if load is not None:
            os.killpg(load.pid, signal.SIGTERM)
            load.wait()
    if a.out:
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print(f"| worlds | auto | 1 thread | 2 threads | auto / best | auto chose ({'idle' if a.idle else 'busy'}) |")
    print("|---:|---:|---:|---:|---:|---|")
    for w, rate, ratio, how in rows:
        print(f"| {w} | {rate['auto']:,.0f} | {rate['1']:,.0f} | {rate['2']:,.0f} | **{ratio:.2f}** | {how} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
