"""The Gymnasium vector env against the raw batched API, with the anchors' protocol (one JSON line each).

Usage (on an idle machine; configs run one after the other, never in parallel)::

    .venv/bin/python tools/bench_gymnasium.py --worlds 1024 --seconds 5 --repeats 3 --warmup 2 \\
        --out docs/bench/gymnasium.jsonl

Configs (``--configs``, comma-separated; default all):

* ``raw``: ``sim.step({"adversary": actions})`` — the batched API, torch actions from a pool of 8;
* ``numpy_next``: ``VectorWorldEnv`` as Gymnasium users get it (numpy, ``NEXT_STEP``), numpy actions
  from a pool of 8 (what ``action_space.sample()`` would give, without its cost);
* ``numpy_same``: the same in ``SAME_STEP`` (``final_obs`` object arrays at episode ends);
* ``torch_next``: ``numpy=False`` (torch tensors in and out, no host copies);
* ``numpy_next_stats``: ``numpy_next`` under ``gymnasium.wrappers.vector.RecordEpisodeStatistics``.

The world is ``worlds/tag.yaml`` with the prey run by ``scripted_flee`` inside the tick (``--prey
scripted``, default), so every config steps the same single external group and the difference is the
adapter; ``--prey random`` keeps the prey external: the raw config then samples its actions from the
pool too and the vector env drives it with the ``random`` controller. Agent-steps count every agent of
every world per call (``NEXT_STEP`` spends one call per episode on the held reset step: 1 in 26 calls at
``--max-cycles 25``; ``env_steps_per_s`` counts calls × worlds). Each JSON line has the anchors' fields
(``agent_steps_per_s_median`` …); a last line ``{"label": "worldloom gymnasium ratios", "ratio_to_raw": …}``
gives each config's median over ``raw``'s, and a summary table goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

CONFIGS = ("raw", "numpy_next", "numpy_same", "torch_next", "numpy_next_stats")


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
    p.add_argument("--worlds", type=int, default=1024, help="worlds = num_envs (default 1024)")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated subset of {', '.join(CONFIGS)}")
    p.add_argument("--prey", choices=("scripted", "random"), default="scripted")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="auto", help="torch intra-op threads (default auto, as worldloom bench)")
    p.add_argument("--eager", action="store_true", help="run the tick eagerly (default: compiled, as worldloom bench)")
    p.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"), help="folder holding harness.py")
    return p


def make_kwargs(args) -> dict:
    overrides = {"entities.adversary.count": args.num_adversaries, "entities.prey.count": args.num_good,
                 "entities.obstacle.count": args.num_obstacles, "episode.max_steps": args.max_cycles}
    if args.continuous:
        overrides["agents.*.action"] = "continuous"
    if args.prey == "scripted":
        overrides["systems"] = [{"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]
    threads = args.threads if args.threads == "auto" else int(args.threads)
    return {"device": args.device, "seed": args.seed, "overrides": overrides, "compile": not args.eager,
            "threads": threads}


def chunk_runner(step, pool: list, chunk_n: int):
    box = {"i": 0}

    def chunk() -> int:
        i = box["i"]
        for _ in range(chunk_n):
            step(pool[i % len(pool)])
            i += 1
        box["i"] = i
        return chunk_n

    return chunk


def build(config: str, args):
    """(step function, action pool, Sim) for one config."""
    import numpy as np
    import torch

    import engine
    from engine.vector import VectorWorldEnv

    kw = make_kwargs(args)
    if config == "raw":
        sim = engine.make("tag", num_worlds=args.worlds, **kw)
        sim.reset(seed=args.seed)
        gen = torch.Generator(device=sim.device).manual_seed(args.seed)
        return sim.step, [sim.sample_actions(gen) for _ in range(8)], sim
    mode = "same_step" if config == "numpy_same" else "next_step"
    env = VectorWorldEnv("tag", num_envs=args.worlds, numpy=not config.startswith("torch"), autoreset_mode=mode, **kw)
    env.reset(seed=args.seed)
    gen = torch.Generator(device=env.sim.device).manual_seed(args.seed)
    pool = [env.sim.sample_actions(gen)["adversary"] for _ in range(8)]
    pool = [a if config.startswith("torch") else np.ascontiguousarray(a.cpu().numpy()) for a in pool]
    if env.sim.groups["adversary"].size == 1:
        pool = [a[:, 0] for a in pool]  # one agent per env: [B] (or [B, n]) actions, as Gymnasium users pass
    if config.endswith("_stats"):
        from gymnasium.wrappers.vector import RecordEpisodeStatistics

        env = RecordEpisodeStatistics(env)
    return env.step, pool, env.unwrapped.sim


def main() -> int:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--anchors", default=str(ROOT.parent / "shared" / "anchors"))
    harness = load_harness(Path(pre.parse_known_args()[0].anchors))
    args = parser(harness).parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"--configs: unknown {unknown}; expected some of {list(CONFIGS)}")
    import gymnasium
    import torch

    import engine

    chunk_n = max(1, min(100, 4096 // args.worlds))
    results = {}
    for config in configs:
        step, pool, sim = build(config, args)
        chunk = chunk_runner(step, pool, chunk_n)
        chunk()  # the first call compiles
        label = (f"worldloom gymnasium {config} tag {args.device} num_envs={args.worlds} "
                 f"{args.num_adversaries}adv+{args.num_good}prey prey={args.prey}")
        extra = {"num_envs": args.worlds, "sim": "worldloom", "sim_version": engine.__version__, "config": config,
                 "gymnasium": gymnasium.__version__, "torch": torch.__version__,
                 "torch_threads": torch.get_num_threads(), "compiled": not args.eager, "prey": args.prey,
                 "n_agents": args.num_adversaries + args.num_good, "device": args.device}
        res = harness.run_windows(chunk, sim.agent_steps_per_tick, args, label, extra)
        results[config] = res["agent_steps_per_s_median"]
        sim.close()
    if "raw" in results:
        ratios = {c: r / results["raw"] for c, r in results.items()}
        line = json.dumps({"label": "worldloom gymnasium ratios", "num_envs": args.worlds, "ratio_to_raw": ratios,
                           "agent_steps_per_s_median": results})
        print(line)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")
        print("# config             agent-steps/s   ratio to raw", file=sys.stderr)
        for config, rate in results.items():
            print(f"# {config:<18} {rate:>14,.0f}   {ratios[config]:.3f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
