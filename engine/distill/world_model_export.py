"""Write a distilled pixel world model as one plugin folder of three ONNX models with their contracts.

``encoder.onnx`` (kind ``encoder``), ``latent_dynamics.onnx`` (``latent_dynamics``) and ``decoder.onnx``
(``decoder``), each beside its ``.pt`` weights and ``.json`` contract, plus the shared ``module.py`` and
``README.md`` (engine/distill/plugin.py). ``engine.learned.world_model.OnnxWorldModel`` loads the folder
and checks each model against its contract.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from engine.distill.common import TrainOptions


def _usage(out: Path) -> str:
    return (f"worldloom drift WORLD --world-model {out} --data HELD_OUT_RECORDING --horizon 50\n"
            f"python -c \"from engine.learned.world_model import OnnxWorldModel; m = OnnxWorldModel('{out}')\"")


def export_world_model(model, out: str | os.PathLike, pix, metrics: dict[str, float], data: list,
                       opts: TrainOptions, wm, world_dir: str | os.PathLike | None) -> dict[str, Any]:
    """Export the three modules of ``model`` (a ``TorchWorldModel``) into ``out``; returns the dynamics' contract
    (with ``parameters`` and ``onnx_bytes`` summed over the three)."""
    from engine.distill.plugin import write_plugin

    out = Path(out)
    enc, dyn, dec = model.enc, model.dyn, model.dec
    k, (w, h) = enc.k, pix.size
    A, n = dyn.a, dyn.n
    D = 4 * k
    shared = {
        "slots": k, "size": [w, h], "agents": dict(pix.groups), "num_actions": n, "latent": D,
        "training": {"horizon": wm.horizon, "noise": wm.noise, "trim": wm.trim,
                     "decoder_iters": wm.decoder_iters, "dynamics_iters": wm.dynamics_iters},
        "background": dec.colors()[k].tolist(), "slot_colors": dec.colors()[:k].tolist(),
        "metrics": metrics, "data": [str(d) for d in data], "command": opts.extra.get("command", ""),
        "usage": _usage(out),
    }
    latent_meaning = (f"[x, y] of {k} slots then their [dx, dy] motion to the next frame, image units "
                      "(-1 left/top … 1 right/bottom)")
    agents = ", ".join(f"{g} × {s}" for g, s in pix.groups.items())
    ex_frames = torch.zeros(2, 2, h, w, 3, dtype=torch.uint8)
    ex_latent = torch.zeros(2, D)
    ex_action = torch.zeros(2, A, n)
    specs = [
        ("encoder", enc, {"frames": ex_frames}, ["latent"], {
            "summary": "Pixel world model, encoder: two consecutive frames → the latent of the first (its "
                       "slots' keypoints — the centres of each palette colour's disk, found from its coverage "
                       "and its radius where another disk or the border hides part of it — and their motion to "
                       "the second). The palette and the radii are learned from the frames.",
            "inputs": [{"name": "frames", "shape": f"[batch, 2, {h}, {w}, 3]", "dtype": "uint8",
                        "meaning": "frames t − 1 and t, RGB, rows top-first (the GL frame)"}],
            "outputs": [{"name": "latent", "shape": f"[batch, {D}]", "dtype": "float32", "meaning": latent_meaning}],
            "radius": enc.radius.tolist(),
        }, {"colors": torch.cat([enc.slot_colors, enc.background.view(1, 3)]).tolist(), "size": [w, h],
            **({"radius": enc.radius.tolist(), "refine": enc.refine} if enc.refine > 0 else {})}),
        ("latent_dynamics", dyn, {"latent": ex_latent, "action": ex_action}, ["next_latent"], {
            "summary": f"Pixel world model, latent dynamics: a latent and the joint action of every agent "
                       f"({agents}) → the next latent.",
            "inputs": [{"name": "latent", "shape": f"[batch, {D}]", "dtype": "float32", "meaning": latent_meaning},
                       {"name": "action", "shape": f"[batch, {A}, {n}]", "dtype": "float32",
                        "meaning": f"every agent's action ({agents}, in that order): discrete ones one-hot"}],
            "outputs": [{"name": "next_latent", "shape": f"[batch, {D}]", "dtype": "float32",
                         "meaning": "the latent one step later"}],
        }, {"num_slots": k, "num_agents": A, "num_actions": n, "agent_slots": list(dyn.agent_slots),
            **({"speed_limit": dyn.log_speed_limit.exp().tolist()} if dyn.log_speed_limit is not None else {}),
            "per_slot_linear": dyn.per_slot_linear}),
        ("decoder", dec, {"latent": ex_latent}, ["frame"], {
            "summary": "Pixel world model, decoder: a latent → the frame, each slot a disk over the background.",
            "inputs": [{"name": "latent", "shape": f"[batch, {D}]", "dtype": "float32", "meaning": latent_meaning}],
            "outputs": [{"name": "frame", "shape": f"[batch, {h}, {w}, 3]", "dtype": "float32",
                         "meaning": "RGB in 0..1, rows top-first"}],
        }, {"num_slots": k, "size": [w, h], "order": list(dec.order)}),
    ]
    contracts = {}
    for stem, module, example, outputs, contract, init in specs:
        contracts[stem] = write_plugin(out, stem, module, example, outputs, {"kind": stem, **contract, **shared}, init)
    total = dict(contracts["latent_dynamics"])
    total["parameters"] = sum(c["parameters"] for c in contracts.values())
    total["onnx_bytes"] = sum(c["onnx_bytes"] for c in contracts.values())
    total["onnx"] = "encoder.onnx, latent_dynamics.onnx, decoder.onnx"
    return total
