"""Run worldloom's benchmark and the peers' (../shared/anchors) one after the other, print ratios.

Never in parallel (2 cores): each pair runs back to back so machine drift hits both alike. Needs the
anchors' virtual environments (``bash ../shared/anchors/setup.sh`` creates them, ~2 min).

    .venv/bin/python tools/bench_vs_peers.py --anchors ../shared/anchors --out docs/bench/peers.jsonl

Writes every JSON line to --out and a markdown table (ratios = worldloom / peer) to stdout.

``--baseline DIR`` also times another checkout of worldloom (e.g. ``git worktree add /tmp/before
<commit>``) in the same run, right before each peer, with this venv: the table then gives the ratio
before and after a change, measured under the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, worldloom bench args, [(peer label, python var, script, args)])
CONFIGS = [
    ("tag, 4096 worlds", ["--worlds", "4096"],
     [("JaxMARL scan", "JAX_PY", "bench_jaxmarl.py", ["--num-envs", "4096", "--mode", "scan"]),
      ("VMAS, 1 thread", "PY", "bench_vmas.py", ["--num-envs", "4096", "--threads", "1"])]),
    ("tag, 1 world", ["--worlds", "1"],
     [("mpe2", "PY", "bench_mpe2.py", [])]),
    ("tag 16 adversaries + 16 prey, 1024 worlds",
     ["--worlds", "1024", "--set", "entities.adversary.count=16", "--set", "entities.prey.count=16"],
     [("JaxMARL loop", "JAX_PY", "bench_jaxmarl.py",
       ["--num-envs", "1024", "--num-adversaries", "16", "--num-good", "16"]),
      ("JaxMARL scan", "JAX_PY", "bench_jaxmarl.py",
       ["--num-envs", "1024", "--num-adversaries", "16", "--num-good", "16", "--mode", "scan"])]),
]


def run_json(cmd: list[str], cwd: Path, env: dict | None = None) -> dict:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peer_pythons(anchors: Path) -> dict[str, str]:
    """``{"PY": …, "JAX_PY": …}``: the anchors' virtual environments (``setup.sh`` creates them once)."""
    env_lines = subprocess.run(["bash", str(anchors / "setup.sh")], capture_output=True, text=True,
                               check=True).stdout.split()
    return dict(line.split("=", 1) for line in env_lines if "=" in line)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"))
    p.add_argument("--seconds", default="5")
    p.add_argument("--repeats", default="3")
    p.add_argument("--warmup", default="2")
    p.add_argument("--out", default=None)
    p.add_argument("--only", type=int, default=None, help="run only config number N (0-based)")
    p.add_argument("--baseline", default=None, help="another worldloom checkout to time the same way (before/after)")
    a = p.parse_args()
    anchors = Path(a.anchors).resolve()
    pys = peer_pythons(anchors)
    common = ["--seconds", a.seconds, "--repeats", a.repeats, "--warmup", a.warmup]
    wl = [str(ROOT / ".venv" / "bin" / "worldloom"), "bench", "worlds/tag.yaml"]
    base_env = None
    if a.baseline:
        base = Path(a.baseline).resolve()
        base_env = dict(os.environ, PYTHONPATH=str(base), WORLDLOOM_HOME=str(base))
        wl_base = [str(ROOT / ".venv" / "bin" / "python"), "-m", "engine.cli.main", "bench", "worlds/tag.yaml"]
    rows = []
    results = []
    for i, (name, ours_args, peers) in enumerate(CONFIGS):
        if a.only is not None and i != a.only:
            continue
        for label, var, script, peer_args in peers:
            ours = run_json(wl + ours_args + common + ["--json"], ROOT)
            before = run_json(wl_base + ours_args + common + ["--json"], base, base_env) if base_env else None
            env = dict(os.environ)
            peer = run_json([pys[var], script] + peer_args + common, anchors, env)
            ratio = ours["agent_steps_per_s_median"] / peer["agent_steps_per_s_median"]
            rows.append((name, label, ours, peer, ratio, before))
            results += [ours | {"config": name}, peer | {"config": name}]
            if before:
                results.append(before | {"config": name, "baseline": str(a.baseline)})
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")
    extra = " baseline ratio | change |" if a.baseline else ""
    print("| config | worldloom agent-steps/s (median) | peer | peer agent-steps/s (median) | ratio |" + extra)
    print("|---|---:|---|---:|---:|" + ("---:|---:|" if a.baseline else ""))
    for name, label, ours, peer, ratio, before in rows:
        line = (f"| {name} | {ours['agent_steps_per_s_median']:,.0f} ({ours['torch_threads']} thr, "
                f"{'compiled' if ours['compiled'] else 'eager'}) | {label} | "
                f"{peer['agent_steps_per_s_median']:,.0f} | **{ratio:.1f}×** |")
        if before:
            b = before["agent_steps_per_s_median"] / peer["agent_steps_per_s_median"]
            line += f" {b:.1f}× | {100 * (ratio / b - 1):+.0f} % |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
