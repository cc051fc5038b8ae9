"""Distil the renderer: a learned observation model from entity positions to the GL image.

Trained on the frames of a recording made with ``worldloom record --frames`` (each frame is the GL
render of the state recorded beside it); validated by PSNR on worlds held out of training.
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
from engine.distill.modules import SplatRenderer
from engine.distill.plugin import snippet_path, write_plugin
from engine.errors import UserError
from engine.record.format import Recording


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in 0..1 ``[B, 3, H, W]``."""
    mse = (pred - target).square().flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def distill_renderer(data: list[str | os.PathLike], out: str | os.PathLike, opts: TrainOptions, *,
                     arena: list[float], types: list[str] | None = None, world_dir: str | os.PathLike | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Train a ``SplatRenderer`` on recorded frames and export it to ``out/model.onnx``."""
    from engine.render import fit_camera

    gen = seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    pos, frames, layout, size, names = _load_frames(data, types)
    S, B, K = pos.shape[:3]
    type_id = torch.from_numpy(np.concatenate([np.full(layout[n][1] - layout[n][0], i) for i, n in enumerate(names)]))
    train_w, val_w = split_worlds(B, opts.val_fraction, opts.seed)
    camera = fit_camera(arena, size[0], size[1])
    init = {"type_id": type_id.tolist(), "num_types": len(names), "size": list(size), "camera": list(camera)}
    # every type starts as the same disk (radius 0.1, mid-grey): radii, edges and colours are learned
    model = SplatRenderer(type_id=type_id, num_types=len(names), size=size, camera=camera)
    bs = min(opts.batch_size, 32)
    total = max(1, int(opts.epochs * S * len(train_w) / bs))
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr)
    budget = Budget(total, opts.max_seconds)
    sched = cosine_schedule(optim, budget)

    def batch(worlds: np.ndarray, n: int, r: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        t = r.integers(0, S, n)
        b = worlds[r.integers(0, len(worlds), n)]
        img = frames[t, b].permute(0, 3, 1, 2).float() / 255.0
        return pos[t, b].reshape(n, K * 2), img

    def step_fn(i: int) -> float:
        x, y = batch(train_w, bs, rng)
        loss = (model(x) - y).square().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        return float(loss.detach())

    vr = np.random.default_rng(opts.seed + 1)
    val = [batch(val_w, 64, vr) for _ in range(4)]

    def val_fn() -> dict[str, float]:
        with torch.no_grad():
            p = torch.cat([psnr(model(x).clamp(0, 1), y) for x, y in val])
        return {"psnr_db": float(p.mean()), "psnr_db_p10": float(p.quantile(0.1)), "psnr_db_min": float(p.min())}

    before = val_fn()
    logger = Logger(opts.logdir, opts.run_name)
    metrics = train_loop(opts, total, step_fn, val_fn, logger, progress, val_every=100)
    logger.close()
    metrics = {"before_psnr_db": before["psnr_db"]} | metrics
    out = Path(out)
    contract = _contract(out / "model.onnx", world_dir, names, size, camera, K, metrics, data, opts, logger)
    example = {"state": torch.rand(4, K * 2, generator=gen) * 2 - 1}
    return write_plugin(out, "model", model, example, ["image"], contract, init)


def _load_frames(data: list[str | os.PathLike], types: list[str] | None):
    """Positions ``[S, B, K, 2]`` and frames ``[S, B, H, W, 3]`` uint8 of all recordings (concatenated in time),
    their entity layout, frame size ``(w, h)`` and the bound entity types; checks they agree."""
    pos_l, img_l, layout, size = [], [], None, None
    for folder in data:
        rec = Recording.open(folder)
        m = rec.manifest
        if not m.get("frames"):
            raise UserError(f"{folder}: the recording has no frames; record with --frames")
        this = m["entity_types"]
        fs = (m["frames"]["width"], m["frames"]["height"])
        if layout is None:
            layout, size = this, fs
        elif this != layout or fs != size:
            raise UserError(f"{folder}: entity layout or frame size differs from the first recording's")
        a = rec.load(["state.pos", "state.alive", "frames"])
        if not a["state.alive"].all():
            raise UserError(f"{folder}: entities die in this recording; the renderer binds positions only")
        names = types or list(this)
        idx = np.concatenate([np.arange(*this[t]) for t in names])
        pos_l.append(a["state.pos"][:, :, idx])
        img_l.append(a["frames"])
    pos = torch.from_numpy(np.concatenate(pos_l, 0)).float()  # [S, B, K, 2]
    frames = torch.from_numpy(np.concatenate(img_l, 0))  # [S, B, H, W, 3] uint8
    return pos, frames, layout, size, names


def _contract(model_path: Path, world_dir, names: list[str], size: tuple[int, int], camera, K: int,
              metrics: dict[str, float], data: list, opts: TrainOptions, logger: Logger) -> dict[str, Any]:
    """The model's I/O contract, metrics and the world-file snippet that binds it (``model.json``)."""
    rel = snippet_path(model_path, world_dir)
    w, h = size
    yaml = (f"plugins:\n  learned_renderer:\n    kind: renderer\n    model: {rel}\n    entities: [{', '.join(names)}]\n"
            f"    inputs: {{state: [pos]}}\n    outputs: {{image: image}}\n")
    return {
        "kind": "renderer",
        "summary": (f"Learned renderer: positions of the entity types {', '.join(names)} → a {w}×{h} RGB image of the "
                    f"arena with the GL renderer's camera (centre {camera[0]:g}, {camera[1]:g}, half extent "
                    f"{camera[2]:.3g} world units), values in 0..1 (multiply by 255 for the GL frame's uint8). "
                    "Run by `Sim.render_learned()`; not part of the tick."),
        "inputs": [{"name": "state", "shape": f"[worlds, {K * 2}]", "dtype": "float32",
                    "meaning": "per entity (pos x, pos y) in world units, entities in binding order"}],
        "outputs": [{"name": "image", "shape": f"[worlds, 3, {h}, {w}]", "dtype": "float32",
                     "meaning": "RGB in 0..1, rows top-first"}],
        "entities": names, "metrics": metrics, "data": [str(d) for d in data],
        "command": opts.extra.get("command", ""), "yaml": yaml, "logdir": str(logger.path) if logger.path else None,
    }
