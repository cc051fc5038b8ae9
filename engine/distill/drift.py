"""Open-loop drift of a learned dynamics plugin against the hand-coded system it replaces.

From many starting states, the world is advanced by the learned model while its shadow twin is
advanced by the hand-coded system with the same actions; the position error between the two at
horizon steps 1..K is the model's open-loop k-step error. Starting states come from the world itself:
each round resets every world (a new seed) and runs a random number of hand-coded ticks (the plugin
switched off), so starts cover whole episodes; the twin is then set to the world's state and the
plugin switched on. The episode length is raised for the measurement so no autoreset cuts a horizon.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import UserError

PERCENTILES = (10, 25, 50, 75, 90)


@dataclass
class DriftResult:
    """Errors ``[starts, horizon]`` (mean position error over the bound movable entities) and summaries."""

    plugin: str
    world: str
    errors: np.ndarray

    def summary(self) -> dict[str, Any]:
        e = self.errors
        per = {f"p{p}": np.percentile(e, p, axis=0).tolist() for p in PERCENTILES}
        return {"plugin": self.plugin, "world": self.world, "starts": int(e.shape[0]), "horizon": int(e.shape[1]),
                "step": list(range(1, e.shape[1] + 1)), "median": per["p50"], **per,
                "mean": e.mean(0).tolist(), "max": e.max(0).tolist(),
                "median_at_horizon": float(np.median(e[:, -1]))}


def measure_drift(world: str | os.PathLike, plugin: str, horizon: int, starts: int = 256, worlds: int = 64,
                  seed: int = 0, overrides: dict[str, Any] | None = None, device: str = "cpu",
                  threads: int | None = None, progress: Callable[[int, int], None] | None = None) -> DriftResult:
    """Measure the open-loop k-step position error of dynamics plugin ``plugin`` of ``world``.

    Example:
        >>> r = measure_drift("worlds/tag_learned.yaml", "learned_physics", horizon=25, starts=128)
        >>> r.summary()["median_at_horizon"] < 0.04
        True
    """
    from engine.sim import make
    from engine.world.loader import load_world

    if horizon < 1 or starts < 1 or worlds < 1:
        raise UserError(f"--horizon, --starts and --worlds must be >= 1 (got {horizon}, {starts}, {worlds})")
    overrides = dict(overrides or {})
    spec = load_world(world, overrides, origin="overrides").spec
    if plugin not in spec.plugins:
        raise UserError(f"{world}: no plugin named {plugin!r}; plugins: {', '.join(spec.plugins) or '(none)'}")
    if spec.plugins[plugin].kind != "dynamics":
        raise UserError(f"plugin {plugin!r} is a {spec.plugins[plugin].kind} plugin; drift measures dynamics plugins")
    warm_max = max(0, spec.episode.max_steps - 1)
    overrides.update({f"plugins.{plugin}.shadow": True, f"plugins.{plugin}.enabled": True,
                      "episode.max_steps": warm_max + horizon + 1})
    sim = make(world, num_worlds=worlds, device=device, seed=seed, overrides=overrides, threads=threads)
    host = sim.plugins[plugin]
    idx = host.idx
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=sim.device).manual_seed(seed)
    rounds = math.ceil(starts / worlds)
    out = []
    total = rounds * (horizon + warm_max // 2)
    done = 0
    for r in range(rounds):
        sim.reset(seed=seed + 1000 * r)
        host.enabled = False
        warm = int(rng.integers(0, warm_max + 1))
        for _ in range(warm):
            sim.step(sim.sample_actions(gen))
        st = sim.state
        st[f"shadow.{plugin}.pos"] = st["pos"].clone()
        st[f"shadow.{plugin}.vel"] = st["vel"].clone()
        host.enabled = True
        errs = []
        for _ in range(horizon):
            sim.step(sim.sample_actions(gen))
            st = sim.state
            moving = (st["movable"] & st["alive"])[:, idx].to(st["pos"].dtype)
            d = (st["pos"][:, idx] - st[f"shadow.{plugin}.pos"][:, idx]).square().sum(-1).sqrt()
            errs.append((d * moving).sum(1) / moving.sum(1).clamp_min(1))
            done += 1
            if progress is not None:
                progress(min(done, total), total)
        out.append(torch.stack(errs, 1).double().cpu().numpy())
    host.enabled = True
    errors = np.concatenate(out, 0)[:starts]
    return DriftResult(plugin, str(world), errors)


def plot_drift(summary: dict[str, Any], path: str | os.PathLike, size: tuple[int, int] = (720, 440)) -> None:
    """A PNG of error vs horizon: median line, p25–p75 and p10–p90 bands (drawn with PIL, no matplotlib)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    from engine.fileio import atomic_write_bytes

    w, h = size
    left, right, top, bottom = 70, 20, 46, 50
    img = Image.new("RGB", (w, h), (255, 255, 255))
    dr = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    steps = summary["step"]
    ymax = max(max(summary["p90"]), 1e-9) * 1.1
    exp = math.floor(math.log10(ymax))
    unit = 10 ** exp
    tick = next(t * unit for t in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10) if ymax / (t * unit) <= 6)
    ymax = math.ceil(ymax / tick) * tick
    n = len(steps)

    def xy(i: float, v: float) -> tuple[float, float]:
        x = left + (i - 1) / max(n - 1, 1) * (w - left - right) if n > 1 else (left + w - right) / 2
        return x, top + (1 - v / ymax) * (h - top - bottom)

    y = 0.0
    while y <= ymax + 1e-12:
        _, py = xy(1, y)
        dr.line([(left, py), (w - right, py)], fill=(230, 230, 230))
        dr.text((5, py - 6), f"{y:.3g}", fill=(60, 60, 60), font=font)
        y += tick
    for lo, hi, col in (("p10", "p90", (205, 220, 245)), ("p25", "p75", (150, 185, 235))):
        poly = [xy(s, v) for s, v in zip(steps, summary[lo])] + [xy(s, v) for s, v in
                                                                 reversed(list(zip(steps, summary[hi])))]
        if n > 1:
            dr.polygon(poly, fill=col)
    med = [xy(s, v) for s, v in zip(steps, summary["median"])]
    if n > 1:
        dr.line(med, fill=(20, 60, 160), width=3)
    for s in range(1, n + 1, max(1, n // 10)):
        px, _ = xy(s, 0)
        dr.line([(px, h - bottom), (px, h - bottom + 4)], fill=(0, 0, 0))
        dr.text((px - 4, h - bottom + 8), str(s), fill=(60, 60, 60), font=font)
    dr.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    dr.text((left, 10), f"open-loop position error of {summary['plugin']} vs hand-coded ({summary['starts']} starts): "
                        "median, p25-p75, p10-p90", fill=(0, 0, 0), font=font)
    dr.text(((w - 120) / 2, h - 20), "horizon step (ticks)", fill=(0, 0, 0), font=font)
    dr.text((5, top - 14), "error (world units)", fill=(60, 60, 60), font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def write_drift(result: DriftResult, out: str | os.PathLike) -> dict[str, Any]:
    """``out/drift.json`` (summary + raw errors) and ``out/drift.png``; returns the summary."""
    from engine.fileio import atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    s = result.summary()
    atomic_write_text(out / "drift.json", json.dumps({**s, "errors": result.errors.tolist()}) + "\n")
    plot_drift(s, out / "drift.png")
    return s
