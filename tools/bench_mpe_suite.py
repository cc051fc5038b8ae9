"""Time every MPE scenario of mpe2 against worldloom's YAML version of it (and JaxMARL where it ships one).

For each scenario, one run after the other (never in parallel: 2 cores), with the defaults a user
gets (``worldloom bench``: compiled tick, default threads) and random discrete actions:

* worldloom at 4096 worlds, then JaxMARL (``lax.scan`` of 100 steps, 4096 envs) — target ≥ 5× (the
  mpe2 additions collect_treasure, simple_formation and simple_line have no JaxMARL version);
* worldloom at 1 world, then mpe2 (one env) — target ≥ 4× where mpe2 takes ≥ 150 µs per step,
  else ≤ 40 µs per tick.

    .venv/bin/python tools/bench_mpe_suite.py --out docs/bench/mpe_suite.jsonl

Writes every JSON line to --out and a markdown table to stdout. Scenarios without a world in
``worlds/mpe/`` are listed as such. Needs the anchors' venvs (``bash ../shared/anchors/setup.sh``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from bench_vs_peers import peer_pythons, run_json  # noqa: E402


def _list(cmd: list[str], cwd: Path) -> list[str]:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=True).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"))
    p.add_argument("--seconds", default="3")
    p.add_argument("--repeats", default="3")
    p.add_argument("--warmup", default="2")
    p.add_argument("--out", default=None)
    p.add_argument("--envs", default=None, help="comma-separated mpe2 names to run only those (simple_tag_v3,…)")
    a = p.parse_args()
    anchors = Path(a.anchors).resolve()
    pys = peer_pythons(anchors)
    mpe2_envs = _list([pys["PY"], "bench_mpe2.py", "--list-envs"], anchors)
    jax_envs = [e[4:] for e in _list([pys["JAX_PY"], "bench_jaxmarl.py", "--list-envs"], anchors)
                if e.startswith("MPE_")]
    both = sorted(mpe2_envs)
    if a.envs:
        both = [e for e in both if e in a.envs.split(",")]
    common = ["--seconds", a.seconds, "--repeats", a.repeats, "--warmup", a.warmup]
    wl = [str(ROOT / ".venv" / "bin" / "worldloom"), "bench"]
    results, rows = [], []
    for env in both:
        name = env.rsplit("_v", 1)[0]
        world = ROOT / "worlds" / "mpe" / f"{name}.yaml"
        if not world.is_file():
            rows.append(f"| {name} | not yet in YAML | | | | | |")
            continue
        big = run_json(wl + [f"mpe/{name}", "--worlds", "4096"] + common + ["--json"], ROOT)
        jax = run_json([pys["JAX_PY"], "bench_jaxmarl.py", "--env", f"MPE_{env}", "--num-envs", "4096",
                        "--mode", "scan"] + common, anchors) if env in jax_envs else None
        one = run_json(wl + [f"mpe/{name}", "--worlds", "1"] + common + ["--json"], ROOT)
        ref = run_json([pys["PY"], "bench_mpe2.py", "--env", env] + common, anchors)
        for r, label in ((big, "worldloom 4096"), (jax, "JaxMARL scan 4096"), (one, "worldloom 1"), (ref, "mpe2")):
            if r is not None:
                results.append(r | {"scenario": name, "config": label})
        vs_mpe2 = one["agent_steps_per_s_median"] / ref["agent_steps_per_s_median"]
        tick_us = 1e6 / one["env_steps_per_s_median"]
        mpe2_us = 1e6 / ref["env_steps_per_s_median"]
        if jax is None:
            peer = "— (not in JaxMARL) | —"
        else:
            peer = (f"{jax['agent_steps_per_s_median']:,.0f} | "
                    f"**{big['agent_steps_per_s_median'] / jax['agent_steps_per_s_median']:.1f}×**")
        rows.append(f"| {name} | {big['agent_steps_per_s_median']:,.0f} | {peer} | {tick_us:.0f} µs | {mpe2_us:.0f} µs "
                    f"| **{vs_mpe2:.1f}×** |")
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    print("| scenario | worldloom 4096 worlds (agent-steps/s) | JaxMARL scan 4096 | ratio | worldloom 1 world, "
          "per tick | mpe2, per step | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
