"""Distil a policy by behaviour cloning: recorded observations → the actions a group really took.

The teacher is whatever drove the group in the recording (scripted chase/flee controllers, a trained
policy, a human); the student is a ``PolicyMLP`` trained with cross-entropy on discrete actions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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
from engine.distill.modules import PolicyMLP
from engine.distill.plugin import snippet_path, write_plugin
from engine.errors import UserError
from engine.record.format import Recording


def distill_policy(data: list[str | os.PathLike], out: str | os.PathLike, opts: TrainOptions, *, group: str,
                   world_dir: str | os.PathLike | None = None,
                   progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Clone the recorded actions of ``group`` into ``out/<group>.onnx`` (obs → 5 logits)."""
    gen = seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    obs_l, act_l, teacher = [], [], set()
    for folder in data:
        m = Recording.open(folder).manifest
        g = m["groups"].get(group)
        if g is None:
            raise UserError(f"--group: {folder} has no agent group {group!r}; groups: {', '.join(m['groups'])}")
        if g["action_type"] != "discrete":
            raise UserError(f"--group {group}: behaviour cloning handles discrete actions; this group's are "
                            f"{g['action_type']}")
        teacher.add(g["controlled_by"] or "random actions")
        a = Recording.open(folder).load(["obs." + group, "action." + group])
        obs_l.append(a["obs." + group])
        act_l.append(a["action." + group])
    obs = torch.from_numpy(np.concatenate(obs_l, 0)).float()  # [S, B, A, F]
    act = torch.from_numpy(np.concatenate(act_l, 0)).long()  # [S, B, A]
    S, B, A, F = obs.shape
    train_w, val_w = split_worlds(B, opts.val_fraction, opts.seed)
    xt, yt = obs[:, train_w].reshape(-1, F), act[:, train_w].reshape(-1)
    xv, yv = obs[:, val_w].reshape(-1, F), act[:, val_w].reshape(-1)
    model = PolicyMLP(F)
    model.obs_mean.copy_(xt.mean(0))
    model.obs_std.copy_(xt.std(0).clamp_min(1e-3))
    bs = opts.batch_size
    total = max(1, int(opts.epochs * len(xt) / bs))
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    budget = Budget(total, opts.max_seconds)
    sched = cosine_schedule(optim, budget)
    lossf = torch.nn.CrossEntropyLoss()

    def step_fn(i: int) -> float:
        pick = torch.from_numpy(rng.integers(0, len(xt), bs))
        loss = lossf(model(xt[pick]), yt[pick])
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        return float(loss.detach())

    def val_fn() -> dict[str, float]:
        with torch.no_grad():
            logits = model(xv)
        return {"accuracy": float((logits.argmax(-1) == yv).float().mean()), "cross_entropy": float(lossf(logits, yv))}

    before = val_fn()
    logger = Logger(opts.logdir, opts.run_name)
    metrics = train_loop(opts, total, step_fn, val_fn, logger, progress, val_every=500)
    logger.close()
    metrics = {"before_accuracy": before["accuracy"]} | metrics
    out = Path(out)
    model_path = out / f"{group}.onnx"
    rel = snippet_path(model_path, world_dir)
    yaml = (f"plugins:\n  {group}_bc:\n    kind: policy\n    model: {rel}\n    agents: {group}\n"
            f"    inputs: {{obs: observation}}\n    outputs: {{logits: action}}\n")
    contract = {
        "kind": "policy",
        "summary": (f"Behaviour-cloned policy of the agent group `{group}` (teacher: {', '.join(sorted(teacher))}): "
                    f"its observation → logits of the 5 discrete actions (no-op, -x, +x, -y, +y); the engine "
                    "takes the argmax (or samples with `sample: sample`). Observation normalisation is inside "
                    "the model."),
        "inputs": [{"name": "obs", "shape": f"[agents, {F}]", "dtype": "float32",
                    "meaning": f"the `{group}` observation exactly as the world file defines it"}],
        "outputs": [{"name": "logits", "shape": "[agents, 5]", "dtype": "float32",
                     "meaning": "unnormalised action scores"}],
        "group": group, "metrics": metrics, "data": [str(d) for d in data],
        "command": opts.extra.get("command", ""), "yaml": yaml, "logdir": str(logger.path) if logger.path else None,
    }

    return write_plugin(out, group, model, {"obs": torch.randn(8, F, generator=gen)}, ["logits"], contract,
                 {"obs_size": F})
