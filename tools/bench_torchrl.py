"""TorchRL over the batched Sim against the raw batched API, in one process, one after the other.

Protocol (../shared/anchors/harness.py): build → warm up ``--warmup`` s → ``--repeats`` windows of at
least ``--seconds`` each → median/min/max agent-steps/s, one JSON line per variant:

- ``raw``: ``sim.step`` with actions cycled from a pool of 8 random batches (``worldloom bench``'s protocol);
- ``raw_sampled``: ``sim.step(sim.sample_actions())``: a fresh random batch every tick;
- ``torchrl_rollout_pool``: ``env.rollout(T, policy, break_when_any_done=False)`` with a policy that
  writes actions from the same kind of pool: what TorchRL's step/reset bookkeeping costs;
- ``torchrl_rollout_random``: ``env.rollout(T, break_when_any_done=False)`` with TorchRL's own random
  policy (``action_spec.rand()`` each step);
- ``torchrl_collector`` (``--collector``): a ``torchrl.collectors.Collector`` with the pool policy.

The lead's target: ``torchrl_rollout_pool`` ≥ 50 % of ``raw`` at 1,024 worlds. Each line carries
``ratio_to_raw``. Run it on an idle machine:

    .venv/bin/python tools/bench_torchrl.py --worlds 1024 --compile --out bench-torchrl.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--world", default="tag")
    p.add_argument("--worlds", type=int, default=1024)
    p.add_argument("--compile", action="store_true", help="torch.compile the Sim's tick (both sides)")
    p.add_argument("--threads", default="auto", help="torch intra-op threads (default: auto, as worldloom bench)")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rollout", type=int, default=100, help="steps per env.rollout call (default 100)")
    p.add_argument("--collector", action="store_true", help="also time a torchrl Collector")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="append the JSON lines here")
    return p


def _windows(chunk, agents_per_call: int, worlds: int, args) -> dict:
    t_end = time.perf_counter() + args.warmup
    while time.perf_counter() < t_end:
        chunk()
    rates, cpu_ratio = [], []
    for _ in range(args.repeats):
        calls, c0, t0 = 0, time.process_time(), time.perf_counter()
        while True:
            calls += chunk()
            t = time.perf_counter()
            if t - t0 >= args.seconds:
                break
        rates.append(calls * agents_per_call / (t - t0))
        cpu_ratio.append((time.process_time() - c0) / (t - t0))
    med = statistics.median(rates)
    return {"agent_steps_per_s_median": med, "agent_steps_per_s_min": min(rates),
            "agent_steps_per_s_max": max(rates), "env_steps_per_s_median": med * worlds / agents_per_call,
            "agent_steps_per_s_all": rates, "cpu_time_over_wall": cpu_ratio}


class PoolPolicy:
    """Writes ``(group, "action")`` from a pool of 8 random batches, cycled: no sampling cost per step."""

    def __init__(self, sim) -> None:
        self.pool = [sim.sample_actions() for _ in range(8)]
        self.i = 0

    def __call__(self, td):
        acts = self.pool[self.i % 8]
        self.i += 1
        for g, a in acts.items():
            td.set((g, "action"), a)
        return td


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torchrl

    import engine
    from engine.integrations.torchrl_env import WorldTorchRLEnv

    threads = args.threads if args.threads == "auto" else int(args.threads)
    env = WorldTorchRLEnv(args.world, num_worlds=args.worlds, seed=args.seed, compile_sim=args.compile,
                          threads=threads)
    sim = env.sim
    per_tick = sim.agent_steps_per_tick
    B, T = args.worlds, args.rollout
    chunk_n = max(1, min(100, 4096 // B))
    pool = [sim.sample_actions() for _ in range(8)]
    box = {"i": 0}

    def raw() -> int:
        for _ in range(chunk_n):
            sim.step(pool[box["i"] % 8])
            box["i"] += 1
        return chunk_n

    def raw_sampled() -> int:
        for _ in range(chunk_n):
            sim.step(sim.sample_actions())
        return chunk_n

    policy = PoolPolicy(sim)

    def rollout_pool() -> int:
        env.rollout(T, policy, break_when_any_done=False)
        return T

    def rollout_random() -> int:
        env.rollout(T, break_when_any_done=False)
        return T

    variants = [("raw", raw), ("raw_sampled", raw_sampled), ("torchrl_rollout_pool", rollout_pool),
                ("torchrl_rollout_random", rollout_random)]
    if args.collector:
        from torchrl.collectors import Collector

        collector = Collector(env, policy, frames_per_batch=B * T, total_frames=-1)
        it = iter(collector)

        def collect() -> int:
            next(it)
            return T

        variants.append(("torchrl_collector", collect))
    t0 = time.perf_counter()
    raw()  # first call compiles
    compile_s = time.perf_counter() - t0
    base = None
    for label, fn in variants:
        sim.reset(seed=args.seed)
        res = {"label": f"worldloom_{label}", "variant": label, "world": args.world, "num_envs": B,
               **_windows(fn, per_tick, B, args)}
        base = base or res["agent_steps_per_s_median"]
        res.update({"ratio_to_raw": res["agent_steps_per_s_median"] / base, "compiled": args.compile,
                    "compile_s": compile_s, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "torchrl": torchrl.__version__, "worldloom": engine.__version__, "rollout_steps": T,
                    "seconds_per_window": args.seconds, "warmup_s": args.warmup, "repeats": args.repeats,
                    "python": platform.python_version(), "cpu_count": os.cpu_count(),
                    "loadavg_at_end": os.getloadavg()})
        line = json.dumps(res)
        print(line)
        print(f"# {label}: median {res['agent_steps_per_s_median']:,.0f} agent-steps/s "
              f"({100 * res['ratio_to_raw']:.0f}% of raw)", file=sys.stderr)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
