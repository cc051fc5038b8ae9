"""``tag`` through the PettingZoo ParallelEnv, with the anchors' protocol: one JSON line per config.

Run it right after (or before) ``../shared/anchors/bench_mpe2.py`` in the same session, on an idle
machine, and compare the medians (never run two benchmarks at once on 2 cores)::

    .venv/bin/python tools/bench_pettingzoo.py --seconds 5 --repeats 3 --warmup 2 --out docs/bench/pettingzoo.jsonl
    (cd ../shared/anchors && <anchors' python> bench_mpe2.py --seconds 5 --repeats 3 --warmup 2)
    (cd ../shared/anchors && <anchors' python> bench_mpe2.py --sample-space --seconds 5 --repeats 3 --warmup 2)

Configs (``--configs``, comma-separated; default all), each a PettingZoo user's loop over one world of
``tag`` (3 adversaries, 1 prey, 2 obstacles; episodes of ``--max-cycles`` ticks, ``reset()`` when
``agents`` is empty) with ``parallel_env``'s defaults (compiled tick, one thread):

* ``parallel``: random joint actions drawn up front with ``action_space(a).sample()`` (a pool of 1024,
  cycled), as ``bench_mpe2.py`` does by default — compare with it;
* ``parallel_sample``: ``{a: env.action_space(a).sample() for a in env.agents}`` every step, as
  ``bench_mpe2.py --sample-space`` does — compare with that;
* ``raw``: ``sim.step`` of the same world (``engine.make(..., compile=True, threads=1)``, otherwise
  defaults: what ``worldloom bench --worlds 1`` times) with torch actions from a pool: the price of
  the PettingZoo layer is ``parallel`` against it.

The compile happens before the warm-up (the first ``step``); ``--eager`` times the eager tick,
``--threads N`` another thread count. Each JSON line has the anchors' fields
(``agent_steps_per_s_median`` …) plus ``config``, ``compiled`` and ``threads``; a summary in µs per
``env.step`` goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

CONFIGS = ("parallel", "parallel_sample", "raw")
CHUNK = 100  # env.step() calls between clock checks, as bench_mpe2.py


def load_harness(anchors: Path):
    path = anchors / "harness.py"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; pass --anchors DIR (the peers' folder, ../shared/anchors)")
    spec = importlib.util.spec_from_file_location("anchors_harness", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parser(harness) -> argparse.ArgumentParser:
    p = harness.base_parser(__doc__.split("\n\n")[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {', '.join(CONFIGS)}")
    p.add_argument("--eager", action="store_true", help="eager tick (default: compiled, parallel_env's default)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: parallel_env's, 1)")
    p.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"), help="folder holding harness.py")
    return p


def make_kwargs(args) -> dict:
    overrides = {"entities.adversary.count": args.num_adversaries, "entities.prey.count": args.num_good,
                 "entities.obstacle.count": args.num_obstacles}
    if args.continuous:
        overrides["agents.*.action"] = "continuous"
    kw = {"overrides": overrides, "seed": args.seed, "max_cycles": args.max_cycles}
    if args.eager:
        kw["compile"] = False
    if args.threads is not None:
        kw["threads"] = args.threads
    return kw


def parallel_chunk(env, args, sample_space: bool):
    """bench_mpe2.py's loop: a pool of joint actions (or sampling every step), reset when agents is empty."""
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(args.seed + i)
    pool = [{a: env.action_space(a).sample() for a in env.possible_agents} for _ in range(1024)]
    state = {"i": 0}

    def chunk() -> int:
        i = state["i"]
        for _ in range(CHUNK):
            if sample_space:
                acts = {a: env.action_space(a).sample() for a in env.agents}
            else:
                acts = pool[i % 1024]
                i += 1
            env.step(acts)
            if not env.agents:
                env.reset()
        state["i"] = i
        return CHUNK

    return chunk


def raw_chunk(sim):
    import torch

    gen = torch.Generator().manual_seed(0)
    pool = [sim.sample_actions(gen) for _ in range(64)]
    state = {"i": 0}

    def chunk() -> int:
        i = state["i"]
        for _ in range(CHUNK):
            sim.step(pool[i % 64])  # the Sim resets finished worlds itself (same-step autoreset)
            i += 1
        state["i"] = i
        return CHUNK

    return chunk


def run_config(name: str, args, harness) -> dict:
    import torch

    import engine
    from engine.pettingzoo import parallel_env

    kw = make_kwargs(args)
    n_agents = args.num_adversaries + args.num_good
    kind = "continuous" if args.continuous else "discrete"
    if name == "raw":
        kw.pop("max_cycles")
        kw["overrides"]["episode.max_steps"] = args.max_cycles
        kw.setdefault("compile", True)
        kw.setdefault("threads", 1)
        sim = engine.make("tag", num_worlds=1, **kw)
        sim.reset(seed=args.seed)
        chunk, timed = raw_chunk(sim), sim
    else:
        env = parallel_env("tag", **kw)
        env.reset(seed=args.seed)
        chunk, timed = parallel_chunk(env, args, sample_space=name == "parallel_sample"), env.sim
    chunk()  # the first step compiles (before the harness's warm-up and windows)
    label = f"worldloom pettingzoo {name} 1 env {args.num_adversaries}adv+{args.num_good}good {kind}"
    res = harness.run_windows(chunk, n_agents, args, label, extra={
        "sim": "worldloom", "sim_version": _version(), "config": name, "num_envs": 1, "n_agents": n_agents,
        "num_adversaries": args.num_adversaries, "num_good": args.num_good, "num_obstacles": args.num_obstacles,
        "continuous": args.continuous, "max_cycles": args.max_cycles, "sample_space": name == "parallel_sample",
        "env": "tag", "compiled": bool(timed._tick.compiled), "threads": torch.get_num_threads()})
    res["us_per_step_median"] = 1e6 * n_agents / res["agent_steps_per_s_median"]  # (for the summary)
    return res


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("worldloom")
    except Exception:  # a checkout that is not installed
        return "checkout"


def main() -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"))
    harness = load_harness(Path(pre.parse_known_args()[0].anchors))
    args = parser(harness).parse_args()
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in names if c not in CONFIGS]
    if bad:
        raise SystemExit(f"--configs: unknown {bad}; choose from {list(CONFIGS)}")
    results = [run_config(name, args, harness) for name in names]
    for r in results:
        print(f"# {r['config']:>16}: {r['us_per_step_median']:7.1f} µs/step, "
              f"{r['agent_steps_per_s_median']:>10,.0f} agent-steps/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
