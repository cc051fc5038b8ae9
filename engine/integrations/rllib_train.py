"""``worldloom train WORLD --ray``: RLlib PPO over batched worlds, on a local Ray instance or a cluster.

The driver packs the world (``engine.integrations.bundle``: world text, overrides, the code and models
it uses), starts ``--num-env-runners`` RLlib env runners (``WorldEnvRunner``, each stepping
``--worlds`` worlds at once) wherever the cluster has room, and runs ``--iterations`` PPO iterations:
sample on every runner → RLlib's learner pipeline (episodes → batch, GAE) → SGD on the driver →
weights broadcast to the runners. It checks after training that every runner holds the learner's
weights, writes RLlib checkpoints (``Algorithm.save_to_path``) under ``--out``, and reports where the
time went per iteration:

* ``sample``: the runners' ``sample()`` calls and the episodes' trip to the driver, split into the
  runners' own ``sim`` (``Sim.step``), ``policy`` (module forward + action sampling) and ``episodes``
  (cutting the buffers into RLlib episodes) — summed over runners, so parallel runners can add up to
  more than the wall time — and the rest (Ray transfer, scheduling);
* ``learner_connector``: RLlib's episode bookkeeping on the learner (episodes → train batch, GAE);
* ``learn``: PPO's SGD epochs; ``sync``: the weight broadcast; ``other``: metrics and the rest.

``collect_agent_steps_per_s`` is agent-steps sampled over the ``sample`` wall time.

Runs in the Ray venv (``tools/ray/.venv``); from the main venv, ``worldloom train … --ray`` re-runs
itself there.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from engine.errors import UserError


class _Timed:
    """A callable proxy that adds its wall time to ``box[key]`` (everything else is the wrapped object's)."""

    def __init__(self, fn, box: dict, key: str) -> None:
        self._fn, self._box, self._key = fn, box, key

    def __call__(self, *a, **kw):
        t = time.perf_counter()
        try:
            return self._fn(*a, **kw)
        finally:
            self._box[self._key] += time.perf_counter() - t

    def __getattr__(self, name):
        return getattr(self._fn, name)


def _digest(state: dict) -> dict[str, str]:
    import numpy as np

    out = {}
    for mid, sd in state.items():
        h = hashlib.sha1()
        for k in sorted(sd):
            h.update(k.encode())
            h.update(np.ascontiguousarray(np.asarray(sd[k], dtype=np.float32)).tobytes())
        out[mid] = h.hexdigest()
    return out


def weights_in_sync(algo) -> tuple[bool, dict]:
    """Whether every remote runner's modules hold the learner's (inference-only) weights; with the digests."""
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    learner = algo.learner_group.get_state(components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}",
                                           inference_only=True)[COMPONENT_LEARNER][COMPONENT_RL_MODULE]
    want = _digest({m: _numpy_state(s) for m, s in learner.items()})
    runners = algo.env_runner_group.foreach_env_runner(
        lambda r: _digest({m: _numpy_state(s) for m, s in r.module.get_state(inference_only=True).items()}),
        local_env_runner=algo.env_runner_group.num_remote_env_runners() == 0)
    return all(r == want for r in runners), {"learner": want, "runners": runners}


def _numpy_state(sd: dict) -> dict:
    import numpy as np

    return {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)) for k, v in sd.items()}


def _instrument(algo, box: dict) -> None:
    """Time RLlib's learner update, its learner connector (local learner) and the weight broadcast."""
    lg = algo.learner_group
    lg.update = _Timed(lg.update, box, "update")
    learner = getattr(lg, "_learner", None)
    if learner is not None and getattr(learner, "_learner_connector", None) is not None:
        learner._learner_connector = _Timed(learner._learner_connector, box, "learner_connector")
    erg = algo.env_runner_group
    erg.sync_weights = _Timed(erg.sync_weights, box, "sync")


def _row(i: int, wall: float, box: dict, result: dict, agents_per_env_step: int, trained_per_env_step: int) -> dict:
    er = result.get("env_runners", {})
    env_steps = int(er.get("num_env_steps_sampled", 0))
    agent_steps = env_steps * agents_per_env_step
    learn = box["update"] - box["learner_connector"]
    sample = max(1e-9, wall - box["update"] - box["sync"])
    runner = {k.replace("worldloom_", "").replace("_s", ""): float(er.get(k, 0.0))
              for k in ("worldloom_sim_s", "worldloom_policy_s", "worldloom_episodes_s")}
    return {"iteration": i, "wall_s": wall, "env_steps": env_steps, "agent_steps": agent_steps,
            "trained_agent_steps": env_steps * trained_per_env_step,
            "collect_agent_steps_per_s": agent_steps / sample, "agent_steps_per_s": agent_steps / wall,
            "time_s": {"sample": sample, "learner_connector": box["learner_connector"], "learn": learn,
                       "sync": box["sync"]},
            "runner_s": runner, "episode_return_mean": _float(er.get("episode_return_mean")),
            "module_return_mean": {k: _float(v) for k, v in (er.get("module_episode_returns_mean") or {}).items()},
            "weights_seq_no": _float(er.get("weights_seq_no"))}


def _float(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _print_row(row: dict) -> None:
    t = row["time_s"]
    r = row["runner_s"]
    ret = row["episode_return_mean"]
    print(f"iter {row['iteration']:>3}: {row['agent_steps']:,} agent-steps in {row['wall_s']:.2f} s — collecting "
          f"{row['collect_agent_steps_per_s']:,.0f}/s, overall {row['agent_steps_per_s']:,.0f}/s; time: sample "
          f"{t['sample']:.2f} (runners: sim {r['sim']:.2f}, policy {r['policy']:.2f}, episodes {r['episodes']:.2f}), "
          f"learner connector {t['learner_connector']:.2f}, learn {t['learn']:.2f}, sync {t['sync']:.2f}"
          + (f"; return {ret:.2f}" if ret is not None else ""), flush=True)


def _init_ray(args) -> None:
    import ray

    address = args.address or os.environ.get("RAY_ADDRESS")
    kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if address:
        kw["address"] = address
    elif args.num_cpus:
        kw["num_cpus"] = args.num_cpus
    if args.ship_engine:
        import engine

        kw["runtime_env"] = {"py_modules": [str(Path(engine.__file__).parent)]}
    ray.init(**kw)


def run(args) -> int:
    """The ``--ray`` branch of ``worldloom train`` (arguments from ``engine.cli.train``)."""
    import ray

    from engine.cli.common import parse_overrides
    from engine.integrations.bundle import world_bundle
    from engine.integrations.rllib_env import ppo_config
    from engine.paths import resolve_world
    from engine.train.config import load_config

    world_file = resolve_world(args.world)
    cfg = load_config(args.config, world=world_file, overrides=parse_overrides(args.cfg_overrides))
    overrides = {**cfg.overrides, **parse_overrides(args.overrides)}
    bundle = world_bundle(world_file, overrides=overrides, trust=getattr(args, "trust", None) or None)
    worlds = args.worlds or cfg.worlds
    runners = args.num_env_runners
    batch_env_steps = cfg.rollout * worlds * max(1, runners)
    iterations = args.iterations or max(1, (args.steps or cfg.total_steps) // batch_env_steps)
    out = Path(args.out) if args.out else Path("runs") / f"{world_file.stem}-rllib-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    groups = [g.strip() for g in args.groups.split(",")] if args.groups else (list(cfg.groups) or None)
    threads = None if args.threads == "auto" else int(args.threads)
    config = ppo_config(bundle, num_env_runners=runners, worlds_per_runner=worlds, rollout=cfg.rollout,
                        hidden=tuple(cfg.hidden), lr=cfg.lr, epochs=cfg.epochs, minibatches=cfg.minibatches,
                        gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, compile=args.compile, threads=threads,
                        seed=args.seed, groups=groups, opponents=cfg.opponents)
    _init_ray(args)
    try:
        return _train(args, config, bundle, iterations, out, worlds, runners)
    finally:
        ray.shutdown()


def _train(args, config, bundle, iterations: int, out: Path, worlds: int, runners: int) -> int:
    from engine.integrations.bundle import make_sim_from_bundle

    t_build = time.perf_counter()
    algo = config.build_algo()
    resumed = None
    if args.resume:
        algo.restore_from_path(str(Path(args.resume).resolve()))
        resumed = int(algo.iteration)
    build_s = time.perf_counter() - t_build
    sim = make_sim_from_bundle(bundle, 1)
    trained = sorted(config.policies)
    agents = sim.agent_steps_per_tick  # every agent of a world, trained or not: the bench's agent-step
    trained_agents = sum(sim.groups[g].size for g in trained)
    if not args.json:
        print(f"train {bundle['name']!r} with RLlib PPO: {', '.join(trained)}; {max(1, runners)} env runner(s) × "
              f"{worlds} worlds × {config.rollout_fragment_length} ticks per iteration, {iterations} iterations; "
              f"built in {build_s:.1f} s; checkpoints in {out / 'checkpoints'}", flush=True)
    box = {"update": 0.0, "learner_connector": 0.0, "sync": 0.0}
    _instrument(algo, box)
    rows = []
    every = args.checkpoint_every or 0
    with open(out / "metrics.jsonl", "a") as log:
        for i in range(1, iterations + 1):
            for k in box:
                box[k] = 0.0
            t = time.perf_counter()
            result = algo.train()
            row = _row(int(algo.iteration), time.perf_counter() - t, box, result, agents, trained_agents)
            rows.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()
            if not args.json:
                _print_row(row)
            if every and i % every == 0 and i < iterations:
                algo.save_to_path(str((out / "checkpoints" / f"iter_{row['iteration']:05d}").resolve()))
    synced, digests = weights_in_sync(algo)
    ckpt = (out / "checkpoints" / "final").resolve()
    algo.save_to_path(str(ckpt))
    summary = _summary(rows, synced, digests, ckpt, build_s, bundle, runners, worlds)
    summary["resumed_at_iteration"] = resumed
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    algo.stop()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"done: {summary['iterations']} iterations, {summary['agent_steps']:,} agent-steps; collecting "
              f"{summary['collect_agent_steps_per_s']:,.0f} agent-steps/s, overall "
              f"{summary['agent_steps_per_s']:,.0f}/s (after the first iteration); weights on every runner = "
              f"learner's: {synced}; checkpoint: {ckpt}")
    return 0 if synced else 1


def _summary(rows: list, synced: bool, digests: dict, ckpt: Path, build_s: float, bundle: dict, runners: int,
             worlds: int) -> dict:
    import ray

    steady = rows[1:] or rows  # the first iteration pays for warm-up (first forward, allocations)
    agent_steps = sum(r["agent_steps"] for r in steady)
    sample = sum(r["time_s"]["sample"] for r in steady)
    wall = sum(r["wall_s"] for r in steady)
    share = {k: sum(r["time_s"][k] for r in steady) / wall for k in ("sample", "learner_connector", "learn", "sync")}
    runner = {k: sum(r["runner_s"][k] for r in steady) for k in ("sim", "policy", "episodes")}
    trained = sum(r["trained_agent_steps"] for r in steady)
    return {"world": bundle["name"], "iterations": len(rows), "agent_steps": sum(r["agent_steps"] for r in rows),
            "collect_trained_agent_steps_per_s": trained / sample,
            "env_runners": max(1, runners), "worlds_per_runner": worlds,
            "collect_agent_steps_per_s": agent_steps / sample, "agent_steps_per_s": agent_steps / wall,
            "time_share": share, "runner_s": runner, "build_s": build_s, "weights_synced": synced,
            "weight_digests": digests, "checkpoint": str(ckpt), "ray": ray.__version__,
            "last_episode_return_mean": rows[-1]["episode_return_mean"] if rows else None}


def python_for_ray() -> str | None:
    """The interpreter of the Ray venv (``WORLDLOOM_RAY_PYTHON``, else ``tools/ray/.venv`` of this checkout)."""
    env = os.environ.get("WORLDLOOM_RAY_PYTHON")
    if env:
        return env
    cand = Path(__file__).resolve().parents[2] / "tools" / "ray" / ".venv" / "bin" / "python"
    return str(cand) if cand.is_file() else None


def run_or_delegate(args, argv: list[str]) -> int:
    """Run here when Ray imports; else re-run ``worldloom`` with the same arguments in the Ray venv."""
    try:
        import ray  # noqa: F401
        import ray.rllib  # noqa: F401
    except ImportError:
        py = python_for_ray()
        if py is None or not Path(py).is_file():
            raise UserError("--ray needs Ray, which lives in its own virtual environment: run bash tools/setup.sh "
                            "(it builds tools/ray/.venv), or point WORLDLOOM_RAY_PYTHON at a Python with ray[rllib] "
                            f"and worldloom installed{f' (not found: {py})' if py else ''}") from None
        import subprocess

        return subprocess.call([py, "-m", "engine", *argv])
    return run(args)
