"""Write a distilled inverse model as a plugin folder: ``inverse.onnx`` (kind ``inverse_dynamics``), its ``.pt``
weights, ``.json`` contract, the vendored ``module.py`` and a README (engine/distill/plugin.py).
``engine.learned.inverse_model.OnnxInverseModel`` loads it and checks the model against the contract.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from engine.distill.common import TrainOptions

KIND = "inverse_dynamics"
STEM = "inverse"


def export_inverse(model, out: str | os.PathLike, pix, metrics: dict[str, float], data: list, opts: TrainOptions,
                   world_dir: str | os.PathLike | None) -> dict[str, Any]:
    """Export ``model`` (an ``InverseDynamics``) into ``out``; returns its contract."""
    from engine.distill.plugin import write_plugin

    out = Path(out)
    (w, h), A, n = pix.size, model.a, model.n
    agents = ", ".join(f"{g} × {s}" for g, s in pix.groups.items())
    colors = torch.cat([model.slot_colors, model.background.view(1, 3)]).tolist()
    contract = {
        "kind": KIND,
        "summary": f"Inverse dynamics from pixels: frames t − 1 … t + 2 → every agent's action at t ({agents}) and "
                   "whether frames t and t + 1 belong to different episodes. Learned from frames and actions.",
        "inputs": [{"name": "frames", "shape": f"[batch, 4, {h}, {w}, 3]", "dtype": "uint8",
                    "meaning": "frames t − 1, t, t + 1, t + 2, RGB, rows top-first (the GL frame)"}],
        "outputs": [{"name": "logits", "shape": f"[batch, {A}, {n}]", "dtype": "float32",
                     "meaning": f"every agent's action logits at t ({agents}, in that order)"},
                    {"name": "cut", "shape": "[batch]", "dtype": "float32",
                     "meaning": "logit that frame t + 1 starts a new episode (> 0: it does)"}],
        "size": [w, h], "agents": dict(pix.groups), "num_actions": n, "window": [-1, 2],
        "agent_slots": model.agent_slots.tolist(), "colors": colors, "radius": model.radius.tolist(),
        "metrics": metrics, "data": [str(d) for d in data], "command": opts.extra.get("command", ""),
        "usage": f"worldloom label WORLD --inverse {out} --data FRAMES_RECORDING_OR_VIDEO --out LABELLED_RECORDING",
    }
    init = {"colors": colors, "agent_slots": model.agent_slots.tolist(), "num_actions": n, "size": [w, h]}
    if model.refine > 0:
        init.update(radius=model.radius.tolist(), refine=model.refine)
    example = {"frames": torch.zeros(2, 4, h, w, 3, dtype=torch.uint8)}
    return write_plugin(out, STEM, model, example, ["logits", "cut"], contract, init)
