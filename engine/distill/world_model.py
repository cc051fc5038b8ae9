"""Distil a pixel world model: encoder, latent dynamics and decoder learned from frames and joint actions.

The recordings give frames (``worldloom record --frames``), the joint action of every agent and where
episodes end — never the engine's state. Three stages, each with its own loss:

1. **Palette.** The ``K + 1`` most common colours of the frames, at least ``PALETTE_GAP`` apart
   (flat-shaded disks are exact colours; antialiased edges are spread over many), the first being
   the background. Each pixel's nearest palette colour is its pseudo-label.
2. **Encoder and decoder.** The encoder (``CoverageEncoder``) finds each slot by its palette colour's
   coverage — antialiased rims count with their share — and its keypoints are the slots' centroids.
   (A CNN trained on the same coverage as pseudo-labels, ``KeypointEncoder``, placed them ≈ 0.3 px off;
   its decoder rebuilt frames at 35.9 dB against 40 from exact keypoints.)
   The decoder is fitted to rebuild each frame from those keypoints. (Trained together with a CNN
   encoder through the centroids, it fell into minima where one slot held several disks.)
3. **Dynamics.** Keypoints of every frame are computed once; a least-squares probe finds which slot
   each agent is (``agent_slots``: the slot whose motion best predicts the agent's action), and the
   latent dynamics (``SlotDynamics``: per slot and pairwise, like the physics, with a per-slot speed
   limit started from the speeds seen, ``speed_limits``, and its linear path from a least-squares fit,
   ``fit_linear_motion``) learns their motion from windows that never cross an episode's end:
   ``horizon = 1`` is one-step teacher forcing, more is an open-loop rollout loss over that many steps,
   ``noise`` adds Gaussian noise (image units) to the latents it starts from.

``evaluate_world_model`` measures the exported ONNX models on held-out recordings against the two
trivial baselines; see docs/world-models.md.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.distill.common import Budget, Logger, TrainOptions, cosine_schedule, seed_everything, split_worlds
from engine.distill.modules import CoverageEncoder, KeypointDecoder, SlotDynamics, color_coverage
from engine.distill.pixel_metrics import agent_colors, open_loop_curves, window_starts
from engine.errors import UserError
from engine.record.format import Recording

#: palette colours differ by more than this in some channel (0..1): tag's colours are ≥ 0.2 apart
PALETTE_GAP = 0.12


@dataclass
class WorldModelOptions:
    """What the dynamics stage optimises (the encoder and decoder stages are the same for all)."""

    horizon: int = 1
    noise: float = 0.0
    trim: float = 0.1  # the fraction of (window, slot) losses left out of each batch: the worst ones
    decoder_iters: int = 600  # after a first fit of half as many, which sets the draw order
    dynamics_iters: int = 3000


@dataclass
class PixelData:
    """Frames ``[S, B, H, W, 3]`` uint8, joint actions ``[S, B, A, n]`` float and ``done [S, B]``."""

    frames: torch.Tensor
    actions: torch.Tensor
    done: torch.Tensor
    groups: dict[str, int]
    num_entities: int

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[3]), int(self.frames.shape[2])


def joint_action(arrays: dict[str, np.ndarray], groups: dict[str, int], num_actions: dict[str, int]) -> np.ndarray:
    """``[T, B, A, n]`` float32: every group's recorded action, discrete ones one-hot, groups in order."""
    n = max(num_actions.values())
    parts = []
    for g in groups:
        a = arrays[f"action.{g}"]
        if a.ndim == 3:  # discrete [T, B, A]
            if a.size and (a.min() < 0 or a.max() >= num_actions[g]):
                raise UserError(f"action.{g}: recorded actions outside 0..{num_actions[g] - 1}")
            out = np.zeros(a.shape + (n,), np.float32)
            np.put_along_axis(out, a[..., None].astype(np.int64), 1.0, -1)
        else:
            out = np.zeros(a.shape[:3] + (n,), np.float32)
            out[..., :a.shape[-1]] = a
        parts.append(out)
    return np.concatenate(parts, 2)


def load_pixel_data(data: list[str | os.PathLike], num_actions: dict[str, int]) -> PixelData:
    """Frames, joint actions and episode ends of recordings (concatenated along worlds)."""
    frames, actions, done, layout = [], [], [], None
    for folder in data:
        rec = Recording.open(folder)
        m = rec.manifest
        if not m.get("frames"):
            raise UserError(f"{folder}: the recording has no frames; record it with --frames")
        groups = {g: int(v["size"]) for g, v in m["groups"].items()}
        this = (groups, m["frames"]["width"], m["frames"]["height"], m["num_entities"])
        if layout is not None and this != layout:
            raise UserError(f"{folder}: its agents, entities or frame size differ from {data[0]}'s")
        missing = [g for g in groups if g not in num_actions]
        if missing:
            raise UserError(f"{folder}: groups {missing} are not in the world's agents ({sorted(num_actions)})")
        layout = this
        a = rec.load(["frames", "done"] + [f"action.{g}" for g in groups])
        frames.append(torch.from_numpy(a["frames"]))
        actions.append(torch.from_numpy(joint_action(a, groups, num_actions)))
        done.append(torch.from_numpy(a["done"]))
    steps = {f.shape[0] for f in frames}
    if len(steps) > 1:
        raise UserError(f"the recordings hold different numbers of steps ({sorted(steps)}); record them alike")
    return PixelData(torch.cat(frames, 1), torch.cat(actions, 1), torch.cat(done, 1), layout[0], layout[3])


def palette(frames: np.ndarray, k: int, gap: float = PALETTE_GAP) -> np.ndarray:
    """``[k + 1, 3]`` in 0..1: the most common colour (the background), then the next ``k`` most common
    that differ from every one picked by more than ``gap``."""
    px = frames.reshape(-1, 3)
    code = (px[:, 0].astype(np.int64) << 16) | (px[:, 1].astype(np.int64) << 8) | px[:, 2]
    vals, counts = np.unique(code, return_counts=True)
    cols = np.stack([(vals >> 16) & 255, (vals >> 8) & 255, vals & 255], -1)[np.argsort(-counts)] / 255.0
    picked: list[np.ndarray] = []
    for c in cols:
        if all(np.abs(c - p).max() > gap for p in picked):
            picked.append(c)
            if len(picked) == k + 1:
                return np.stack(picked).astype(np.float32)
    raise UserError(f"the frames show {len(picked) - 1} distinct colours besides the background, fewer than the "
                    f"{k} slots: entities must look different to be told apart (give each its own colour)")


#: a pixel is labelled when its colour is within this (every channel, 0..1) of a palette colour, or of a
#: blend of one slot's colour with the background (an antialiased edge)
LABEL_TOLERANCE = 0.04


def pseudo_labels(img: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` soft targets over ``colors [C, 3]`` (slots, then the background last) for the pixels of
    ``img [N, 3, H, W]``: a pixel of a palette colour is that class; a blend ``α · slot + (1 − α) ·
    background`` (a disk's antialiased rim) is the slot with weight α — so a slot's mask is its coverage
    and its centroid is sub-pixel exact. Pixels that are neither (two disks' rims) are all zero: ignored."""
    bg, slots = colors[-1].view(1, 1, 3, 1, 1), colors[:-1].view(1, -1, 3, 1, 1)
    x = img.unsqueeze(1)  # [N, 1, 3, H, W]
    d = slots - bg
    alpha = (((x - bg) * d).sum(2) / d.square().sum(2).clamp_min(1e-6)).clamp(0.0, 1.0)  # [N, K, H, W]
    resid = (x - (bg + alpha.unsqueeze(2) * d)).abs().amax(2)  # [N, K, H, W]
    best, k = resid.min(1)
    a = alpha.gather(1, k.unsqueeze(1)).squeeze(1)
    target = torch.zeros(img.shape[0], colors.shape[0], *img.shape[2:])
    target.scatter_(1, k.unsqueeze(1), a.unsqueeze(1))
    target[:, -1] = 1.0 - a
    return target * (best <= LABEL_TOLERANCE).unsqueeze(1)


#: a slot's disk radius is read from this quantile of its coverage (in pixels) over the frames it is seen in:
#: most of the time a disk shows whole, and its coverage is then its area
RADIUS_QUANTILE = 0.9
#: frames per call when reading coverage
_CHUNK = 1024


@torch.no_grad()
def disk_radii(slot_colors: torch.Tensor, background: torch.Tensor, frames: torch.Tensor,
               tolerance: float = LABEL_TOLERANCE, min_pixels: float = 2.0) -> list[float]:
    """Each slot's disk radius in pixels, from the coverage it shows in ``frames [..., H, W, 3]`` uint8 (0 for
    a slot never seen): what the trackers need to place a disk that another one, or the border, partly hides."""
    flat = frames.reshape(-1, *frames.shape[-3:])
    mass = []
    for i in range(0, len(flat), _CHUNK):
        x = flat[i:i + _CHUNK].float() / 255.0
        mass.append(color_coverage(x, slot_colors, background, tolerance).sum((1, 2)))
    m = torch.cat(mass)
    out = []
    for k in range(m.shape[1]):
        shown = m[:, k][m[:, k] >= min_pixels]
        out.append(math.sqrt(_quantile(shown, RADIUS_QUANTILE) / math.pi) if len(shown) else 0.0)
    return out


def labelable(done: torch.Tensor) -> torch.Tensor:
    """``[S, B]``: steps whose action shows in the frames: frames t, t + 1, t + 2 exist and are of one episode."""
    S = done.shape[0]
    ok = torch.zeros_like(done)
    ok[:S - 2] = ~done[:S - 2] & ~done[1:S - 1]
    return ok


def agent_slots(xy: torch.Tensor, seen: torch.Tensor, actions: torch.Tensor, done: torch.Tensor) -> list[int]:
    """Which colour slot is which agent: per agent, the slot whose motions (t − 1 → t, t → t + 1, t + 1 → t + 2)
    best predict its action in a least-squares probe. Raises when two agents pick one slot."""
    S = xy.shape[0]
    ok = labelable(done)[1:S - 2] & ~done[:S - 3]
    mot = torch.stack([xy[i + 1:S - 2 + i] - xy[i:S - 3 + i] for i in range(3)], 2)  # [S-3, B, 3, K, 2]
    vis = seen[:S - 3] * seen[1:S - 2] * seen[2:S - 1] * seen[3:]
    target = actions[1:S - 2]  # [S-3, B, A, n]
    picked = []
    for a in range(actions.shape[2]):
        scores = []
        for k in range(xy.shape[2]):
            m = ok & (vis[..., k] > 0)
            if int(m.sum()) < 50:
                scores.append(-1.0)
                continue
            x = torch.cat([mot[..., k, :].flatten(2)[m], torch.ones(int(m.sum()), 1)], 1).double()
            y = target[..., a, :][m].double()
            w = torch.linalg.lstsq(x, y).solution
            scores.append(float(((x @ w).argmax(1) == y.argmax(1)).double().mean()))
        picked.append(int(np.argmax(scores)))
    if len(set(picked)) < len(picked):
        raise UserError(f"agents {picked} share colour slots: every agent must look different (give each its own "
                        "colour)")
    return picked


#: the speed limit a slot starts from: this quantile of its observed speeds. Speeds pile up at a game's
#: limit (tag's adversaries run at it most of the time), so a high quantile sits on it; training refines it
SPEED_QUANTILE = 0.95


def _quantile(x: torch.Tensor, q: float) -> float:
    """``torch.quantile`` without its 16 M-element limit (a large recording's steps exceed it)."""
    return float(x.flatten().kthvalue(min(len(x.flatten()), max(1, round(q * len(x.flatten()))))).values)


def speed_limits(xy: torch.Tensor, seen: torch.Tensor, done: torch.Tensor, q: float = SPEED_QUANTILE) -> list[float]:
    """Per slot, the ``q`` quantile of its speed between consecutive frames of one episode (image units per
    step; ``xy [S, B, K, 2]``, ``seen [S, B, K]``), a small floor where a slot was seen too rarely."""
    v = (xy[1:] - xy[:-1]).norm(dim=-1)
    ok = (seen[1:] > 0) & (seen[:-1] > 0) & ~done[:-1].bool().unsqueeze(-1)
    out = []
    for k in range(xy.shape[2]):
        m = ok[..., k]
        out.append(max(_quantile(v[..., k][m], q), 1e-3) if int(m.sum()) >= 100 else 1e-3)
    return out


@torch.no_grad()
def fit_linear_motion(dyn: SlotDynamics, xy: torch.Tensor, seen: torch.Tensor, actions: torch.Tensor,
                      done: torch.Tensor, trim: float = 0.8, rounds: int = 3) -> float:
    """Start the dynamics' linear path (damping, each action's push, per slot) from a least-squares fit of
    one-step motion changes, refitted on the best ``trim`` of the steps (contacts and speed limits are
    what the rest of the model learns). Gradient descent alone left it ≈ 1 % off, which 25 open-loop
    steps turn into half a pixel. Returns the fraction of steps kept."""
    s, k = dyn.motion_scale, dyn.k
    d0, d1 = xy[1:-1] - xy[:-2], xy[2:] - xy[1:-1]  # motions t − 1 → t and t → t + 1
    ok = (seen[:-2] > 0) & (seen[1:-1] > 0) & (seen[2:] > 0) & ~done[:-2].bool().unsqueeze(-1) \
        & ~done[1:-1].bool().unsqueeze(-1)
    own = torch.einsum("ka,sban->sbkn", dyn.slot_of, actions[:-2].float())
    inp = dyn.linear_features(torch.cat([d0 / s, own, dyn.onehot.expand(*d0.shape[:2], k, k)], -1))[ok].double()
    x = inp  # no constant column: the slot one-hot is each slot's bias
    y = ((d1 - d0) / s)[ok].double()
    if len(x) < 10 * x.shape[1]:
        return 0.0  # too few steps to fit: the linear path starts at zero
    keep = torch.ones(len(x), dtype=torch.bool)
    for _ in range(rounds):
        w = torch.linalg.lstsq(x[keep], y[keep], driver="gelsd").solution  # SVD: one-hots make x rank-deficient
        r = (x @ w - y).norm(dim=-1)
        keep = r <= _quantile(r[keep], trim) * 1.5
    dyn.self_lin.weight.copy_(w.T.float())
    dyn.self_lin.bias.zero_()
    return float(keep.double().mean())


def _images(frames: torch.Tensor, t: np.ndarray, b: np.ndarray) -> torch.Tensor:
    return frames[t, b].permute(0, 3, 1, 2).float() / 255.0


def train_decoder(enc: CoverageEncoder, dec: KeypointDecoder, data: PixelData, worlds: np.ndarray, iters: int,
                  rng: np.random.Generator, log: Callable[[str, float, int], None], bs: int = 32,
                  progress: Callable[[int, int, str], None] | None = None) -> float:
    """Stage 2b: the decoder's radii, edges and colours fitted to rebuild frames from the encoder's keypoints."""
    S, k = data.frames.shape[0], enc.k
    optim = torch.optim.Adam(dec.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, max(1, iters))
    loss = torch.zeros(())
    for i in range(iters):
        img = _images(data.frames, rng.integers(0, S, bs), worlds[rng.integers(0, len(worlds), bs)])
        with torch.no_grad():
            kp = enc.locate(img)[0].reshape(bs, 2 * k)
        out = dec(torch.cat([kp, torch.zeros_like(kp)], -1)).permute(0, 3, 1, 2)
        loss = (out - img).square().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        if i % 20 == 0:
            log("decoder/mse", float(loss.detach()), i)
            if progress is not None:
                progress(i + 20, iters, f"decoder PSNR {10 * np.log10(1 / max(float(loss.detach()), 1e-10)):.1f} dB")
    return float(loss.detach())


@torch.no_grad()
def draw_order(enc: CoverageEncoder, dec: KeypointDecoder, data: PixelData, worlds: np.ndarray,
               colors: torch.Tensor, rng: np.random.Generator, n: int = 512) -> list[int]:
    """Which slot is drawn over which, read from the frames: where two slots' disks (the decoder's radii at
    the encoder's keypoints) overlap, the colour the frame shows there is the one on top. Slots are
    drawn in order of how many others they cover (fewest first)."""
    img = _images(data.frames, rng.integers(0, data.frames.shape[0], n), worlds[rng.integers(0, len(worlds), n)])
    k = enc.k
    kp = enc.locate(img)[0]  # [n, K, 2]
    dist = ((dec.grid_x - kp[..., 0, None, None]).square() + (dec.grid_y - kp[..., 1, None, None]).square()).sqrt()
    inside = dist < (dec.radius0 * dec.log_radius.exp()).view(1, k, 1, 1) - dec.pixel  # [n, K, H, W]
    shows = pseudo_labels(img, torch.cat([colors[1:], colors[:1]]))[:, :k] > 0.9
    over = torch.zeros(k, k)  # over[i, j]: pixels inside both i and j that show i
    for i in range(k):
        both = inside & inside[:, i:i + 1]
        over[i] = (both & shows[:, i:i + 1]).sum((0, 2, 3)).float()
    wins = (over > over.T).sum(1)
    return sorted(range(k), key=lambda i: (int(wins[i]), i))


#: a slot holding less than this many pixels (beyond even odds) is not in the frame: off screen or hidden
MIN_SLOT_PIXELS = 2.0


@torch.no_grad()
def keypoint_tracks(enc: CoverageEncoder, frames: torch.Tensor, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """``[S, B, 2K]`` the encoder's keypoints of every frame, and ``[S, B, K]`` whether each slot is seen."""
    S, B = frames.shape[:2]
    flat = frames.reshape(S * B, *frames.shape[2:])
    kps, seen = [], []
    for i in range(0, S * B, chunk):
        kp, m = enc.locate(flat[i:i + chunk].permute(0, 3, 1, 2).float() / 255.0)
        kps.append(kp.flatten(1))
        seen.append((m[:, :enc.k] - enc.floor).clamp_min(0).sum((2, 3)) > MIN_SLOT_PIXELS)
    return torch.cat(kps).reshape(S, B, -1), torch.cat(seen).reshape(S, B, -1)


def rollout(dyn: nn.Module, latent: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``latent [N, 4K]`` advanced by ``actions [N, T, A, n]``: ``[N, T, 4K]`` (the latents after each step)."""
    out = []
    for t in range(actions.shape[1]):
        latent = dyn(latent, actions[:, t])
        out.append(latent)
    return torch.stack(out, 1)


def train_dynamics(dyn: nn.Module, tracks: torch.Tensor, seen: torch.Tensor, data: PixelData, worlds: np.ndarray,
                   wm: WorldModelOptions, opts: TrainOptions, rng: np.random.Generator,
                   log: Callable[[str, float, int], None], progress=None) -> float:
    """Stage 3: from the latent of frames (t − 1, t), after the actions t − 1 … t + h − 1 the keypoints
    must be those of frames t + 1 … t + h (the first step only moves by the encoded motion). A slot
    that leaves the frame or hides in some frame of a window is left out of that window's loss."""
    h = wm.horizon
    starts = window_starts(data.done, h + 1)
    starts = starts[torch.from_numpy(np.isin(starts[:, 1].numpy(), worlds))]
    if len(starts) == 0:
        raise UserError(f"no episode holds {h + 2} frames: record longer episodes (--set episode.max_steps=100)")
    optim = torch.optim.Adam(dyn.parameters(), lr=1e-3)
    budget = Budget(wm.dynamics_iters, opts.max_seconds)
    sched = cosine_schedule(optim, budget)
    bs = 256
    steps = torch.arange(h + 2)
    loss = torch.zeros(())
    for i in range(wm.dynamics_iters):
        pick = starts[torch.from_numpy(rng.integers(0, len(starts), bs))]
        t = pick[:, :1] + steps  # frames t − 1 … t + h
        kp = tracks[t, pick[:, 1:2]]  # [bs, h + 2, 2K]
        act = data.actions[t[:, :-1], pick[:, 1:2]]  # actions t − 1 … t + h − 1
        latent = torch.cat([kp[:, 0], kp[:, 1] - kp[:, 0]], -1)
        if wm.noise > 0:
            latent = latent + wm.noise * torch.randn_like(latent)
        pred = rollout(dyn, latent, act)[:, 1:, :kp.shape[-1]]
        err = (pred - kp[:, 2:]).square().sum(1).view(bs, -1, 2).sum(-1)  # [bs, K]: per window and slot
        use = seen[t, pick[:, 1:2]].all(1)  # [bs, K]: the slot is in every frame of the window
        if wm.trim > 0 and bool(use.any()):  # the worst windows: wrong labels, chaos no model follows
            use = use & (err.detach() <= err.detach()[use].quantile(1.0 - wm.trim))
        loss = (err * use).sum() / (2 * h * use.sum()).clamp_min(1.0)
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
        if i % 20 == 0:
            log("dynamics/mse", float(loss.detach()), i)
        if progress is not None:
            progress(i + 1, wm.dynamics_iters, f"dynamics mse {float(loss.detach()):.3g}")
        if budget.fraction(i) >= 1.0:
            break
    return float(loss.detach())


class TorchWorldModel:
    """The three modules behind one interface (``OnnxWorldModel`` is the exported twin): encode a frame
    pair, step a latent by a joint action, decode a latent to a frame."""

    def __init__(self, enc: CoverageEncoder, dyn: nn.Module, dec: KeypointDecoder) -> None:
        self.enc, self.dyn, self.dec = enc, dyn, dec

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.enc(frames)

    @torch.no_grad()
    def step(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.dyn(latent, action)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.dec(latent)


def distill_world_model(data: list[str | os.PathLike], out: str | os.PathLike, opts: TrainOptions,
                        wm: WorldModelOptions, num_actions: dict[str, int], *,
                        world_dir: str | os.PathLike | None = None,
                        progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Train encoder, latent dynamics and decoder on ``data``; export them into the plugin folder ``out``."""
    t0 = time.perf_counter()
    seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    pix = load_pixel_data(data, num_actions)
    S, B = pix.frames.shape[:2]
    k, A, n = pix.num_entities, pix.actions.shape[2], pix.actions.shape[3]
    train_w, val_w = split_worlds(B, opts.val_fraction, opts.seed)
    pal = torch.from_numpy(palette(pix.frames[::max(1, S // 64), train_w[:16]].numpy(), k))
    colors = torch.cat([pal[1:], pal[:1]])
    radius = disk_radii(colors[:-1], colors[-1], pix.frames[::max(1, S // 64), train_w[:16]])
    enc, dec = CoverageEncoder(colors.tolist(), pix.size, radius=radius), KeypointDecoder(k, pix.size)
    dec.background.data[:] = pal[0]
    dec.color.data[:] = pal[1:]
    logger = Logger(opts.logdir, opts.run_name)
    try:
        train_decoder(enc, dec, pix, train_w, wm.decoder_iters // 2, rng, logger.scalar, progress=progress)
        dec.order = draw_order(enc, dec, pix, train_w, pal, rng)
        mse = train_decoder(enc, dec, pix, train_w, wm.decoder_iters, rng, logger.scalar, progress=progress)
        tracks, seen = keypoint_tracks(enc, pix.frames)
        xy = tracks[:, train_w].reshape(S, len(train_w), k, 2)
        slots = agent_slots(xy, seen[:, train_w].float(), pix.actions[:, train_w], pix.done[:, train_w])
        dyn = SlotDynamics(k, A, n, slots, speed_limit=speed_limits(xy, seen[:, train_w], pix.done[:, train_w]),
                           per_slot_linear=True)
        fit_linear_motion(dyn, xy, seen[:, train_w], pix.actions[:, train_w], pix.done[:, train_w])
        dyn_mse = train_dynamics(dyn, tracks, seen, pix, train_w, wm, opts, rng, logger.scalar, progress)
    finally:
        logger.close()
    model = TorchWorldModel(enc.eval(), dyn.eval(), dec.eval())
    curves = open_loop_curves(model, pix.frames[:, val_w], pix.actions[:, val_w], pix.done[:, val_w],
                              horizon=25, background=pal[0], targets=agent_colors(data[0]))
    metrics = {"decoder_psnr": float(10 * np.log10(1 / max(mse, 1e-10))),
               "dynamics_mse": dyn_mse, **curves.summary([1, 25]), "seconds": time.perf_counter() - t0}
    from engine.distill.world_model_export import export_world_model

    return export_world_model(model, out, pix, metrics, data, opts, wm, world_dir)
