"""Distil a world's dynamics from recordings: a learned replacement for the ``physics`` system.

Trained on open-loop rollouts of the model itself (up to ``horizon`` steps inside one episode, the
horizon growing over training), fed the recorded action forces, against the recorded states: the
multi-step loss teaches the model to stay on the data manifold where its own errors put it, which a
one-step loss never sees (compounding error).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.distill.common import (
    Budget,
    Logger,
    TrainOptions,
    cosine_schedule,
    seed_everything,
    split_worlds,
    train_loop,
)
from engine.distill.modules import EntityDynamics, WorldDynamics
from engine.distill.plugin import snippet_path, write_plugin
from engine.errors import UserError
from engine.record.format import Recording


@dataclass
class Episodes:
    """One recording's bound entities as tensors ``[S, B, K, 2]`` plus ``done [S, B]``."""

    pos: torch.Tensor
    vel: torch.Tensor
    force: torch.Tensor
    next_pos: torch.Tensor
    next_vel: torch.Tensor
    done: np.ndarray

    def starts(self, horizon: int, worlds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(t, b)`` of every window of ``horizon`` transitions inside one episode, for ``worlds``."""
        S = self.done.shape[0]
        if horizon > S:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        c = np.concatenate([np.zeros((1, self.done.shape[1]), np.int64), np.cumsum(self.done, 0)], 0)
        ok = (c[horizon:] - c[:-horizon]) == 0  # [S - H + 1, B]: no done among t..t+H-1
        ok = ok[:, worlds]
        t, j = np.nonzero(ok)
        return t, worlds[j]


def load_episodes(folders: list[str | os.PathLike], types: list[str] | None) -> tuple[list[Episodes], dict[str, Any]]:
    """Load the bound entities of every recording; check they share one entity layout."""
    eps, layout = [], None
    for folder in folders:
        rec = Recording.open(folder)
        m = rec.manifest
        this = m["entity_types"]
        if layout is None:
            layout = this
        elif this != layout:
            raise UserError(f"{folder}: entity layout {this} differs from the first recording's {layout}")
        names = types or list(this)
        unknown = [t for t in names if t not in this]
        if unknown:
            raise UserError(f"--entities: unknown entity types {unknown}; the recording has {list(this)}")
        idx = np.concatenate([np.arange(*this[t]) for t in names])
        keys = ["state.pos", "state.vel", "action_force", "next.pos", "next.vel", "done", "state.radius",
                "state.max_speed", "state.movable", "state.alive"]
        a = rec.load(keys)
        if not a["state.alive"].all():
            raise UserError(f"{folder}: entities die in this recording; dynamics distillation handles worlds "
                            "whose entities stay alive")

        t = {k: torch.from_numpy(np.ascontiguousarray(a[k][:, :, idx])).float()
             for k in ("state.pos", "state.vel", "action_force", "next.pos", "next.vel")}
        eps.append(Episodes(t["state.pos"], t["state.vel"], t["action_force"], t["next.pos"], t["next.vel"],
                            a["done"]))
        consts = {"radius": a["state.radius"][0, 0, idx], "max_speed": a["state.max_speed"][0, 0, idx],
                  "movable": a["state.movable"][0, 0, idx],
                  "type_id": np.concatenate([np.full(this[n][1] - this[n][0], i) for i, n in enumerate(names)]),
                  "types": names}
    return eps, consts


def _scales(eps: list[Episodes], movable: torch.Tensor) -> dict[str, float]:
    m = movable.bool()
    vel = torch.cat([e.vel[:, :, m].reshape(-1) for e in eps])
    force = torch.cat([e.force[:, :, m].reshape(-1) for e in eps])
    dpos = torch.cat([(e.next_pos - e.pos)[:, :, m][torch.from_numpy(~e.done)].reshape(-1) for e in eps])
    dvel = torch.cat([(e.next_vel - e.vel)[:, :, m][torch.from_numpy(~e.done)].reshape(-1) for e in eps])
    return {"vel_scale": float(vel.std()) + 1e-6, "force_scale": float(force.std()) + 1e-6,
            "dpos_scale": float(dpos.std()) + 1e-6, "dvel_scale": float(dvel.std()) + 1e-6}


def rollout_error(model, ep: Episodes, t: np.ndarray, b: np.ndarray, horizon: int,
                  movable: torch.Tensor) -> torch.Tensor:
    """Open-loop position error ``[n, horizon]`` (mean L2 over movable slots) from starts ``(t, b)``."""
    pos, vel = ep.pos[t, b], ep.vel[t, b]
    m = movable.bool()
    out = []
    for h in range(horizon):
        dpos, dvel = model.step(pos, vel, ep.force[t + h, b])
        pos, vel = pos + dpos, vel + dvel
        out.append((pos - ep.next_pos[t + h, b])[:, m].square().sum(-1).sqrt().mean(-1))
    return torch.stack(out, 1)


def distill_dynamics(data: list[str | os.PathLike], out: str | os.PathLike, opts: TrainOptions, *,
                     types: list[str] | None = None, rows: str = "world", horizon: int = 20,
                     world_dir: str | os.PathLike | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Train a dynamics model on the recordings ``data`` and export it to ``out/model.onnx``.

    Returns the contract (metrics, YAML snippet) that is also written next to the model.
    """
    gen = seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    eps, consts = load_episodes(data, types)
    B = eps[0].pos.shape[1]
    train_w, val_w = split_worlds(B, opts.val_fraction, opts.seed)
    movable = torch.from_numpy(consts["movable"]).float()
    K = int(movable.numel())
    scales = _scales(eps, movable)
    model, init = _make_model(rows, consts, movable, scales)
    iters_per_epoch = max(1, sum(int((~e.done).sum()) for e in eps) // opts.batch_size)
    total = max(1, int(opts.epochs * iters_per_epoch))
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    budget = Budget(total, opts.max_seconds)
    sched = cosine_schedule(optim, budget)
    sample = _window_sampler(eps, data, train_w, rng, opts.batch_size)
    sp, sv = scales["dpos_scale"], scales["dvel_scale"]
    m = movable.bool()

    def step_fn(i: int) -> float:
        h = 1 + int((horizon - 1) * min(1.0, budget.fraction(i) / 0.6))
        ep, t, b = sample(h)
        pos, vel = ep.pos[t, b], ep.vel[t, b]
        loss = torch.zeros(())
        for s in range(h):
            dpos, dvel = model.step(pos, vel, ep.force[t + s, b])
            pos, vel = pos + dpos, vel + dvel
            loss = loss + ((pos - ep.next_pos[t + s, b])[:, m].square().mean() / sp ** 2
                           + (vel - ep.next_vel[t + s, b])[:, m].square().mean() / sv ** 2)
        loss = loss / h
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        sched.step()
        return float(loss.detach())

    val_fn = _validator(model, eps, val_w, horizon, movable, opts.seed)
    before = val_fn()
    logger = Logger(opts.logdir, opts.run_name)
    metrics = train_loop(opts, total, step_fn, val_fn, logger, progress)
    logger.close()
    metrics = {"before_" + k: v for k, v in before.items()} | metrics
    out = Path(out)
    k4 = K * 4 if rows == "world" else 4
    k2 = K * 2 if rows == "world" else 2
    contract = _contract(out / "model.onnx", world_dir, consts["types"], rows, k4, k2, horizon, metrics, scales,
                         data, opts, logger)
    ex_rows = 8
    example = {"state": torch.randn(ex_rows, k4, generator=gen) * 0.5, "act": torch.randn(ex_rows, k2, generator=gen)}
    init_args = {k: (v.tolist() if isinstance(v, torch.Tensor) else v) for k, v in init.items()}
    return write_plugin(out, "model", model, example, ["delta"], contract, init_args)


def _make_model(rows: str, consts: dict[str, Any], movable: torch.Tensor,
                scales: dict[str, float]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The untrained model for ``rows`` (world or entity) with the data's scales, and its constructor arguments.

    Its last layers start scaled down so the model starts near "no change" and the first rollouts
    stay bounded.
    """
    if rows == "world":
        init = {"radius": torch.from_numpy(consts["radius"]).float(), "max_speed": torch.from_numpy(
            consts["max_speed"]).float(), "movable": movable, "type_id": torch.from_numpy(consts["type_id"]).long(),
            "num_types": len(consts["types"])}
        model = WorldDynamics(**init)
        model.dist_scale.fill_(float(model.rsum.mean()))
    elif rows == "entity":
        init = {}
        model = EntityDynamics()
    else:
        raise UserError(f"--rows: expected world or entity, got {rows!r}")
    for k, v in scales.items():
        getattr(model, k).fill_(v)
    with torch.no_grad():  # start near "no change": the first rollouts stay bounded
        last = model.self_net[-1] if rows == "world" else model.net[-1]
        last.weight.mul_(0.1)
        if rows == "world":
            model.pair_net[-1].weight.mul_(0.1)
            model.self_lin.weight.mul_(0.1)
    return model, init


def _window_sampler(eps: list[Episodes], data: list, train_w: np.ndarray, rng: np.random.Generator,
                    batch_size: int) -> Callable[[int], tuple[Episodes, np.ndarray, np.ndarray]]:
    """``sample(h)``: a recording (weighted by its training windows) and ``batch_size`` starts of ``h`` steps."""
    weights = np.array([max(1, len(e.starts(1, train_w)[0])) for e in eps], np.float64)
    weights /= weights.sum()
    cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def sample(h: int) -> tuple[Episodes, np.ndarray, np.ndarray]:
        d = int(rng.choice(len(eps), p=weights))
        if (d, h) not in cache:
            cache[(d, h)] = eps[d].starts(h, train_w)
        t, b = cache[(d, h)]
        if len(t) == 0:
            raise UserError(f"no window of {h} steps inside one episode in {data[d]}; lower --horizon")
        pick = rng.integers(0, len(t), batch_size)
        return eps[d], t[pick], b[pick]

    return sample


def _validator(model, eps: list[Episodes], val_w: np.ndarray, horizon: int, movable: torch.Tensor,
               seed: int) -> Callable[[], dict[str, float]]:
    """``val_fn()``: open-loop position errors after ``horizon`` steps (up to 1024 fixed held-out starts
    per recording) and after one step (every held-out start)."""
    val_h = horizon
    val_starts = []
    for ep in eps:
        t, b = ep.starts(val_h, val_w)
        sel = np.random.default_rng(seed + 1).permutation(len(t))[:1024]
        val_starts.append((ep, t[sel], b[sel]))

    def val_fn() -> dict[str, float]:
        with torch.no_grad():
            errs = [rollout_error(model, ep, t, b, val_h, movable) for ep, t, b in val_starts if len(t)]
            one = [rollout_error(model, ep, *ep.starts(1, val_w), 1, movable) for ep in eps]
        e = torch.cat(errs)
        o = torch.cat([x.reshape(-1) for x in one])
        return {f"median_pos_error_{val_h}": float(e[:, -1].median()), f"mean_pos_error_{val_h}": float(
            e[:, -1].mean()), "one_step_pos_error": float(o.mean())}

    return val_fn


def _contract(model_path: Path, world_dir, types_list: list[str], rows: str, k4: int, k2: int, horizon: int,
              metrics: dict[str, float], scales: dict[str, float], data: list, opts: TrainOptions,
              logger: Logger) -> dict[str, Any]:
    """The model's I/O contract, metrics and the world-file snippet that binds it (``model.json``)."""
    rel = snippet_path(model_path, world_dir)
    yaml = (f"plugins:\n  learned_physics:\n    kind: dynamics\n    model: {rel}\n"
            f"    entities: [{', '.join(types_list)}]\n    rows: {rows}\n"
            f"    inputs: {{state: [pos, vel], act: action_force}}\n"
            f"    outputs: {{delta: {{write: [pos, vel], mode: add}}}}\n    replaces: physics\n    shadow: true\n"
            f"    constraints: [max_speed]\n")
    per = "per world" if rows == "world" else "per entity"
    return {
        "kind": "dynamics",
        "summary": (f"Learned dynamics of the entity types {', '.join(types_list)} ({per}, "
                    f"{'the model sees every bound entity: contacts' if rows == 'world' else 'no contacts'}); "
                    "returns the change of position and velocity over one tick. Positions in world units, "
                    "velocities in world units per second, forces as the `action_force` component. Immovable "
                    "slots get a zero delta; velocity is projected onto each slot's max speed inside the model."),
        "inputs": [{"name": "state", "shape": f"[rows, {k4}]", "dtype": "float32",
                    "meaning": "per entity (pos x, pos y, vel x, vel y), entities in binding order"},
                   {"name": "act", "shape": f"[rows, {k2}]", "dtype": "float32",
                    "meaning": "per entity the action force (x, y)"}],
        "outputs": [{"name": "delta", "shape": f"[rows, {k4}]", "dtype": "float32",
                     "meaning": "per entity (Δpos x, Δpos y, Δvel x, Δvel y), added to the state"}],
        "entities": types_list, "rows": rows, "horizon": horizon, "metrics": metrics, "scales": scales,
        "data": [str(d) for d in data], "command": opts.extra.get("command", ""), "yaml": yaml,
        "logdir": str(logger.path) if logger.path else None,
    }
