"""RLlib PPO over batched worlds: collection throughput and where the time goes, one JSON line per variant.

Each variant is one ``worldloom train WORLD --ray --json`` run (a fresh local Ray instance) in this
venv; its summary already holds the numbers: ``collect_agent_steps_per_s`` (agent-steps sampled over
the wall time of sampling, the episodes' trip to the driver included), ``agent_steps_per_s`` (the whole
iteration, learning included), ``time_share`` (sample / learner_connector / learn / sync) and
``runner_s`` (inside the runners: sim / policy / episodes), over the iterations after the first.
Agent-steps count every agent of every world, as ``worldloom bench`` does
(``collect_trained_agent_steps_per_s``: only the trained groups' agents, those RLlib sees; ``tag``'s
training config trains the adversaries against the scripted prey, ``--all-groups`` trains both). The
target: PPO on ``tag``
collecting ≥ 30,000 agent-steps/s on a 2-CPU machine. Run it on an idle machine:

    tools/ray/.venv/bin/python tools/ray/bench_rllib.py --out bench-rllib.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: (env runners, worlds per runner): one runner, and two runners (one per CPU) with half the worlds each
VARIANTS = [(1, 1024), (2, 512), (1, 256)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="tag")
    p.add_argument("--iterations", type=int, default=8)
    p.add_argument("--num-cpus", type=int, default=os.cpu_count() or 2)
    p.add_argument("--eager", action="store_true", help="do not compile the Sim's tick on the runners")
    p.add_argument("--variants", help="comma-separated RUNNERSxWORLDS, e.g. 1x1024,2x512 (default: %(default)s)",
                   default=",".join(f"{r}x{w}" for r, w in VARIANTS))
    p.add_argument("--all-groups", action="store_true",
                   help="train every external group (tag: the prey too) instead of the world's training config")
    p.add_argument("--out", help="append the JSON lines here")
    args = p.parse_args(argv)
    for item in args.variants.split(","):
        runners, worlds = (int(x) for x in item.lower().split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "engine", "train", args.world, "--ray", "--json", "--num-cpus",
                   str(args.num_cpus), "--num-env-runners", str(runners), "--worlds", str(worlds), "--iterations",
                   str(args.iterations), "--out", tmp, "--eager" if args.eager else "--compile"]
            if args.all_groups:
                cmd += ["--cfg", "groups=[]", "--cfg", "opponents={}"]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr[-4000:], file=sys.stderr)
                return r.returncode
            summary = json.loads(r.stdout.strip().splitlines()[-1])
        summary.pop("weight_digests", None)
        res = {"label": f"rllib_ppo_{args.world}_{runners}x{worlds}{'_all' if args.all_groups else ''}",
               "env_runners": runners, "all_groups": args.all_groups,
               "worlds_per_runner": worlds, "compiled": not args.eager, "num_cpus": args.num_cpus,
               "loadavg_at_end": os.getloadavg(), **summary}
        line = json.dumps(res)
        print(line, flush=True)
        share = res["time_share"]
        print(f"# {res['label']}: collecting {res['collect_agent_steps_per_s']:,.0f} agent-steps/s, overall "
              f"{res['agent_steps_per_s']:,.0f}/s; time: sample {100 * share['sample']:.0f}%, learner connector "
              f"{100 * share['learner_connector']:.0f}%, learn {100 * share['learn']:.0f}%, sync "
              f"{100 * share['sync']:.0f}%", file=sys.stderr)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
