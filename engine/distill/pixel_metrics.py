"""How far a pixel world model's open-loop frames drift from the real ones: PSNR, SSIM, disk centroids.

Every number comes with the two trivial baselines measured on the same frames: *copy the last frame*
(the last real frame the model was given, held still) and *the empty arena* (the background colour
everywhere). A model is only interesting where it beats both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch


class WorldModel(Protocol):
    """Encode a frame pair ``[N, 2, H, W, 3]`` uint8, step a latent by ``action [N, A, n]``, decode ``[N, H, W, 3]``."""

    def encode(self, frames: torch.Tensor) -> torch.Tensor: ...

    def step(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor: ...

    def decode(self, latent: torch.Tensor) -> torch.Tensor: ...


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[N]`` PSNR in dB of images ``[N, H, W, 3]`` in 0..1."""
    mse = (pred - target).square().flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """``[N]`` SSIM (Wang et al. 2004: 11 × 11 Gaussian window, σ 1.5, K1 0.01, K2 0.03, range 1) of
    images ``[N, H, W, 3]`` in 0..1, averaged over channels and the valid window positions."""
    x, y = pred.permute(0, 3, 1, 2).float(), target.permute(0, 3, 1, 2).float()
    g = torch.exp(-(torch.arange(window, dtype=torch.float32) - window // 2) ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    rows, cols = g.view(1, 1, -1, 1).expand(3, 1, window, 1), g.view(1, 1, 1, -1).expand(3, 1, 1, window)

    def blur(z: torch.Tensor) -> torch.Tensor:  # the 2-D Gaussian as two 1-D passes
        return torch.nn.functional.conv2d(torch.nn.functional.conv2d(z, rows, groups=3), cols, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)


def centroids(images: torch.Tensor, colors: torch.Tensor, tolerance: float = 0.1) -> torch.Tensor:
    """``[N, M, 2]`` (column, row) in pixels of the pixels within ``tolerance`` (every channel) of each of
    ``colors [M, 3]``; NaN where no pixel has that colour (off screen, hidden, or not drawn)."""
    near = ((images.unsqueeze(1) - colors.view(1, -1, 1, 1, 3)).abs() <= tolerance).all(-1).float()  # [N, M, H, W]
    h, w = images.shape[1:3]
    cols = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
    rows = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
    mass = near.sum((2, 3))
    c = torch.stack([(near * cols).sum((2, 3)), (near * rows).sum((2, 3))], -1) / mass.unsqueeze(-1)
    return torch.where(mass.unsqueeze(-1) > 0, c, torch.nan)


def agent_colors(recording: str | os.PathLike) -> torch.Tensor:
    """``[M, 3]`` the agents' colours in a recording (its first world and step): the disks whose centroids are
    compared. Agents are the entity types named like the recording's agent groups. (Measurement only: the
    world model never sees the recorded state.)"""
    from engine.errors import UserError
    from engine.record.format import Recording

    rec = Recording.open(recording)
    if rec.manifest.get("labelled"):  # no state: the inverse model's colours of the agents (worldloom label)
        colors = rec.manifest.get("label_facts", {}).get("agent_colors")
        if not colors:
            raise UserError(f"{recording}: a labelled recording without label_facts.agent_colors; label it again")
        return torch.tensor(colors, dtype=torch.float32)
    types, groups = rec.manifest["entity_types"], rec.manifest["groups"]
    color = rec.load(["state.color"])["state.color"][0, 0]
    rows = [i for g in groups if g in types for i in range(*types[g])]
    if not rows:
        raise UserError(f"{recording}: no entity type is named like an agent group ({', '.join(groups)})")
    return torch.from_numpy(color[rows]).float()


@dataclass
class Curves:
    """Per open-loop step ``k = 1 … horizon``: the mean over windows of each metric, and the centroid errors."""

    horizon: int
    windows: int
    metrics: dict[str, np.ndarray] = field(default_factory=dict)  # name → [horizon]

    def summary(self, steps: list[int]) -> dict[str, float]:
        """The metrics at the given steps, as ``<name>_<k>``."""
        return {f"{name}_{k}": float(v[k - 1]) for k in steps if k <= self.horizon for name, v in self.metrics.items()}

    def table(self, steps: list[int]) -> str:
        names = list(self.metrics)
        lines = ["step  " + "  ".join(f"{n:>22}" for n in names)]
        for k in steps:
            if k <= self.horizon:
                lines.append(f"{k:>4}  " + "  ".join(f"{self.metrics[n][k - 1]:>22.4g}" for n in names))
        return "\n".join(lines)


def window_starts(done: torch.Tensor, span: int) -> torch.Tensor:
    """``[M, 2]`` (t, b): every window of frames ``t … t + span`` inside one episode (no ``done`` before its
    last frame: ``done[t]`` ends the episode between frames ``t`` and ``t + 1``)."""
    S = done.shape[0]
    if S <= span:
        return torch.zeros(0, 2, dtype=torch.int64)
    ends = torch.cat([torch.zeros(1, done.shape[1], dtype=torch.int64), done.long().cumsum(0)])  # [S + 1, B]
    ok = ends[span:S] == ends[:S - span]  # no done in t … t + span − 1
    return ok.nonzero()


def eval_windows(done: torch.Tensor, horizon: int, stride: int) -> torch.Tensor:
    """``[M, 2]`` (t, b): windows of frames ``t … t + horizon + 1`` inside one episode, at most one every
    ``stride`` steps of a world (so windows overlap little)."""
    w = window_starts(done, horizon + 1)
    return w[w[:, 0] % stride == 0]


@torch.no_grad()
def open_loop_curves(model: WorldModel, frames: torch.Tensor, actions: torch.Tensor, done: torch.Tensor,
                     horizon: int, background: torch.Tensor, targets: torch.Tensor | None = None,
                     stride: int = 12, max_windows: int = 512) -> Curves:
    """Open-loop rollouts of ``model`` from real frame pairs, scored against the real frames after them.

    For each window ``t − 1 … t + horizon``: the latent of frames (t − 1, t), stepped by the recorded
    actions ``t − 1 …``, decoded at ``t + k`` for ``k = 1 … horizon``. ``frames [S, B, H, W, 3]`` uint8,
    ``actions [S, B, A, n]``, ``done [S, B]``; ``background [3]`` the empty arena's colour; ``targets
    [M, 3]`` colours whose disk centroids are compared (pixels): ``centroid_px_median`` over every agent the
    real frame shows, ``centroid_px_start_seen_median`` over those also shown in both frames the rollout
    starts from (an agent off screen or hidden there cannot be placed by any model)."""
    win = eval_windows(done, horizon, stride)[:max_windows]
    if len(win) == 0:
        raise ValueError(f"no episode holds {horizon + 2} frames to score a {horizon}-step rollout")
    steps = torch.arange(horizon + 2)
    t, b = win[:, :1] + steps, win[:, 1:2]
    real = frames[t, b].float() / 255.0  # [M, h + 2, H, W, 3]
    latent = model.encode(frames[t[:, :2], b])
    empty = background.float().view(1, 1, 1, 3).expand_as(real[:, 0])
    names = ["psnr", "psnr_copy_last", "psnr_empty", "ssim", "ssim_copy_last", "ssim_empty"]
    if targets is not None:
        names += ["centroid_px_median", "centroid_px_copy_last_median", "centroid_px_start_seen_median"]
        # agents in both frames a rollout starts from: the ones a model can place at all
        start_seen = ~(centroids(real[:, 0], targets).isnan().any(-1) | centroids(real[:, 1], targets).isnan().any(-1))
    out: dict[str, list[float]] = {n: [] for n in names}
    latent = model.step(latent, actions[t[:, 0], b[:, 0]])  # now at frame t
    for k in range(1, horizon + 1):
        latent = model.step(latent, actions[t[:, k], b[:, 0]])
        pred, truth, last = model.decode(latent).clamp(0, 1), real[:, k + 1], real[:, 1]
        for name, img in (("", pred), ("_copy_last", last), ("_empty", empty)):
            out["psnr" + name].append(float(psnr(img, truth).mean()))
            out["ssim" + name].append(float(ssim(img, truth).mean()))
        if targets is not None:
            c_real = centroids(truth, targets)
            for name, img in (("", pred), ("_copy_last", last)):
                err = (centroids(img, targets) - c_real).norm(dim=-1)  # NaN where missing in the real frame
                err = torch.where(c_real[..., 0].isnan(), torch.nan, torch.nan_to_num(err, nan=float("inf")))
                out[f"centroid_px{name}_median"].append(float(err[~err.isnan()].median()))
                if not name:
                    seen = ~err.isnan() & start_seen
                    out["centroid_px_start_seen_median"].append(float(err[seen].median()) if seen.any() else
                                                                float("nan"))
    return Curves(horizon, len(win), {n: np.asarray(v) for n, v in out.items()})


PALETTE = [(20, 60, 160), (200, 60, 40), (40, 150, 60), (150, 60, 170), (120, 120, 120), (200, 150, 20)]


def plot_lines(series: dict[str, np.ndarray], path, title: str, size: tuple[int, int] = (720, 440)) -> None:
    """A PNG of one line per series over steps 1 … len (drawn with PIL, no matplotlib), written atomically."""
    import io
    import math

    from PIL import Image, ImageDraw, ImageFont

    from engine.fileio import atomic_write_bytes

    w, h = size
    left, right, top, bottom = 60, 170, 36, 40
    img = Image.new("RGB", (w, h), (255, 255, 255))
    dr = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    vals = np.concatenate([np.asarray(v, dtype=float) for v in series.values()])
    vals = vals[np.isfinite(vals)]
    lo, hi = (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)
    lo, hi = math.floor(lo / 5) * 5, math.ceil(hi / 5) * 5 + (5 if math.ceil(hi / 5) * 5 == hi else 0)
    n = max(len(v) for v in series.values())

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i - 1) / max(n - 1, 1) * (w - left - right)
        return x, top + (1 - (v - lo) / max(hi - lo, 1e-9)) * (h - top - bottom)

    for y in range(int(lo), int(hi) + 1, 5):
        _, py = xy(1, y)
        dr.line([(left, py), (w - right, py)], fill=(230, 230, 230))
        dr.text((8, py - 6), f"{y}", fill=(60, 60, 60), font=font)
    for s in range(1, n + 1, max(1, n // 10)):
        px, _ = xy(s, lo)
        dr.text((px - 4, h - bottom + 8), str(s), fill=(60, 60, 60), font=font)
    for j, (name, v) in enumerate(series.items()):
        col = PALETTE[j % len(PALETTE)]
        pts = [xy(i + 1, float(x)) for i, x in enumerate(v) if np.isfinite(x)]
        if len(pts) > 1:
            dr.line(pts, fill=col, width=3 if j == 0 else 2)
        dr.line([(w - right + 10, top + 16 * j + 6), (w - right + 30, top + 16 * j + 6)], fill=col, width=3)
        dr.text((w - right + 36, top + 16 * j), name[:22], fill=(30, 30, 30), font=font)
    dr.text((left, 10), title, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
