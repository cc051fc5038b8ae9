"""Inverse dynamics from pixels: learn each agent's action from frames t − 1 … t + 2, and label frames with it.

``worldloom distill WORLD --subsystem inverse --data REC`` trains :class:`~engine.distill.modules.InverseDynamics`
on recordings with frames and actions; ``worldloom label`` runs it over frames that have no actions (a
recording's frames, or an ``.mp4`` of play) so a world model can learn from them (``engine.record.labelled``).

Training sees frames and actions only. The agents' ground-truth state is read for one thing: the held-out
accuracy on the agents whose action *can* show in the frames — visible in all four frames, not touching
another entity (contact forces mix into the motion) and below max speed (the speed clip hides the push).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.distill.common import Logger, TrainOptions, seed_everything, split_worlds
from engine.distill.modules import InverseDynamics
from engine.distill.world_model import PixelData, agent_slots, disk_radii, labelable, load_pixel_data, palette

#: frames around the labelled step t: t − 1 … t + 2
WINDOW = (-1, 2)
#: frames (tracking) or windows (labelling) per model call: the tracker's per-pixel, per-slot tensors of a
#: larger call outgrow the caches (1,024 took twice as long per frame)
CHUNK = 64


@dataclass
class InverseOptions:
    iterations: int = 6000
    batch_size: int = 256
    lr: float = 2e-3


def windows(frames: torch.Tensor, done: torch.Tensor, t: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[M, 4, …]``: frames (or tracks) t − 1 … t + 2 of worlds ``b``; at an episode's first frame (``done[t − 1]``)
    frame t stands in for t − 1 (its entities' motion into the episode is unknown), at the recording's ends
    the nearest frame stands in."""
    S = frames.shape[0]
    prev = torch.where((t > 0) & ~done[(t - 1).clamp_min(0), b], t - 1, t)
    idx = torch.stack([prev, t, (t + 1).clamp_max(S - 1), (t + 2).clamp_max(S - 1)], 1)
    return frames[idx, b.unsqueeze(1)]


def track_all(model: InverseDynamics, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every frame's slot centroids ``[S, B, K, 2]`` and seen flags ``[S, B, K]``, in chunks."""
    S, B = frames.shape[:2]
    flat = frames.reshape(S * B, 1, *frames.shape[2:])
    xy, seen = [], []
    with torch.no_grad():
        for i in range(0, S * B, CHUNK):
            a, s = model.tracks(flat[i:i + CHUNK])
            xy.append(a[:, 0])
            seen.append(s[:, 0])
    return torch.cat(xy).reshape(S, B, model.k, 2), torch.cat(seen).reshape(S, B, model.k)


def visible_free_below_max(state: dict[str, np.ndarray], rows: list[int], arena: list[float]) -> torch.Tensor:
    """``[S, B, A]`` for the agents' entity ``rows``, from recorded state (measurement only): the agent is inside
    the arena (so in the frame) in frames t − 1 … t + 2, touches nothing at t and t + 1, and is below max speed
    after the step."""
    p = torch.from_numpy(state["state.pos"])
    r = torch.from_numpy(state["state.radius"])
    v = torch.from_numpy(state["state.vel"])
    ms = torch.from_numpy(state["state.max_speed"])
    S = p.shape[0]
    lo, hi = torch.tensor([arena[0], arena[2]]), torch.tensor([arena[1], arena[3]])
    inside = ((p - r.unsqueeze(-1) > lo) & (p + r.unsqueeze(-1) < hi)).all(-1)
    dist = (p.unsqueeze(3) - p.unsqueeze(2)).norm(dim=-1)
    touch = ((dist < r.unsqueeze(3) + r.unsqueeze(2) + 0.01) & ~torch.eye(p.shape[2], dtype=torch.bool)).any(-1)
    ok = torch.zeros(p.shape[:3], dtype=torch.bool)
    ok[1:S - 2] = (inside[:S - 3] & inside[1:S - 2] & inside[2:S - 1] & inside[3:]
                   & ~touch[1:S - 2] & ~touch[2:S - 1] & (v[2:S - 1].norm(dim=-1) < 0.99 * ms[2:S - 1]))
    return ok[..., rows]


def train_inverse(model: InverseDynamics, pix: PixelData, tracks: tuple[torch.Tensor, torch.Tensor], worlds: np.ndarray,
                  io: InverseOptions, rng: np.random.Generator, log: Callable[[str, float, int], None],
                  progress: Callable[[int, int, str], None] | None = None, deadline: float | None = None) -> float:
    """Cross-entropy on the actions of labelable steps, plus the episode-cut logit on every step; on the
    frames' tracks (``track_all``), which is the same as on the frames: the tracker has no weights."""
    xy, seen = tracks
    S = pix.frames.shape[0]
    ok = labelable(pix.done)
    target = pix.actions.argmax(-1)  # [S, B, A]
    opt = torch.optim.Adam(model.parameters(), io.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, io.iterations)
    loss_v = float("nan")
    for it in range(io.iterations):
        t = torch.from_numpy(rng.integers(0, S - 1, io.batch_size))
        b = torch.from_numpy(worlds[rng.integers(0, len(worlds), io.batch_size)])
        logits, cut = model.heads(windows(xy, pix.done, t, b), windows(seen, pix.done, t, b))
        m = ok[t, b]
        act = F.cross_entropy(logits[m].reshape(-1, model.n), target[t, b][m].reshape(-1)) if m.any() else 0.0
        cut_loss = F.binary_cross_entropy_with_logits(cut, pix.done[t, b].float())
        loss = act + cut_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_v = float(loss.detach())
        if it % 100 == 0:
            log("inverse/loss", loss_v, it)
        if progress is not None:
            progress(it + 1, io.iterations, f"loss {loss_v:.3f}")
        if deadline is not None and time.perf_counter() > deadline:
            break
    return loss_v


@torch.no_grad()
def predict(model, frames: torch.Tensor, done: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Actions ``[S, B, A]`` (argmax) and episode ends ``[S, B]`` for every step of ``frames [S, B, H, W, 3]``.

    ``done`` (a recording's) is used as given; without it (a video) the model's cut logit decides. ``model``
    is an ``InverseDynamics`` or its ONNX twin (``engine.learned.inverse_model.OnnxInverseModel``)."""
    S, B = frames.shape[:2]
    if done is None:
        none = torch.zeros(S, B, dtype=torch.bool)
        done = none.clone()
        t_all = torch.arange(S - 1).repeat_interleave(B)
        b_all = torch.arange(B).repeat(S - 1)
        for i in range(0, len(t_all), CHUNK):
            t, b = t_all[i:i + CHUNK], b_all[i:i + CHUNK]
            done[t, b] = model(windows(frames, none, t, b))[1] > 0
    actions = torch.zeros(S, B, model.a, dtype=torch.long)
    t_all = torch.arange(S).repeat_interleave(B)
    b_all = torch.arange(B).repeat(S)
    for i in range(0, len(t_all), CHUNK):
        t, b = t_all[i:i + CHUNK], b_all[i:i + CHUNK]
        actions[t, b] = model(windows(frames, done, t, b))[0].argmax(-1)
    return actions, done


def accuracy(pred: torch.Tensor, true: torch.Tensor, done: torch.Tensor, mask: torch.Tensor | None) -> dict[str, float]:
    """Share of agents' labelable steps whose predicted action is the recorded one; also on ``mask``'s."""
    ok = labelable(done).unsqueeze(-1).expand_as(true)
    out = {"accuracy": float((pred == true)[ok].float().mean())}
    if mask is not None:
        m = ok & mask
        out["accuracy_visible_free"] = float((pred == true)[m].float().mean())
        out["visible_free_share"] = float(m.float().sum() / ok.float().sum())
    return out


def state_mask(folder: str | os.PathLike, arena: list[float]) -> torch.Tensor | None:
    """:func:`visible_free_below_max` of a recording that holds state (None for one that does not): its agents
    are the entity types named like its agent groups, in group order."""
    from engine.record.format import Recording

    rec = Recording.open(folder)
    keys = ["state.pos", "state.radius", "state.vel", "state.max_speed"]
    types, groups = rec.manifest["entity_types"], rec.manifest["groups"]
    if not set(keys) <= set(rec.arrays()) or not all(g in types for g in groups):
        return None
    rows = [i for g in groups for i in range(*types[g])]
    return visible_free_below_max(rec.load(keys), rows, arena)


def distill_inverse(data: list[str | os.PathLike], out: str | os.PathLike, opts: TrainOptions, io: InverseOptions,
                    num_actions: dict[str, int], arena: list[float], *, world_dir: str | os.PathLike | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Train the inverse model on ``data`` and export it into the plugin folder ``out``."""
    t0 = time.perf_counter()
    seed_everything(opts.seed)
    rng = np.random.default_rng(opts.seed)
    pix = load_pixel_data(data, num_actions)
    S, B = pix.frames.shape[:2]
    k, n = pix.num_entities, pix.actions.shape[3]
    train_w, val_w = split_worlds(B, opts.val_fraction, opts.seed)
    pal = palette(pix.frames[::max(1, S // 64), train_w[:16]].numpy(), k)
    colors = np.concatenate([pal[1:], pal[:1]]).tolist()  # slots, then the background
    probe = InverseDynamics(colors, list(range(min(k, pix.actions.shape[2]))), n, pix.size)
    radius = disk_radii(probe.slot_colors, probe.background, pix.frames[::max(1, S // 64), train_w[:16]],
                        probe.tolerance, probe.min_pixels)
    probe = InverseDynamics(colors, list(range(min(k, pix.actions.shape[2]))), n, pix.size, radius=radius)
    xy, seen = track_all(probe, pix.frames)
    if progress is not None:
        progress(0, io.iterations, "frames tracked")
    slots = agent_slots(xy[:, train_w], seen[:, train_w], pix.actions[:, train_w], pix.done[:, train_w])
    model = InverseDynamics(colors, slots, n, pix.size, radius=radius)
    logger = Logger(opts.logdir, opts.run_name)
    deadline = t0 + opts.minutes * 60 if opts.minutes else None
    try:
        loss = train_inverse(model, pix, (xy, seen), train_w, io, rng, logger.scalar, progress, deadline)
    finally:
        logger.close()
    model.eval()
    pred, _ = predict(model, pix.frames[:, val_w], pix.done[:, val_w])
    masks = [state_mask(d, arena) for d in data]
    mask = torch.cat(masks, 1)[:, val_w] if all(m is not None for m in masks) else None
    metrics = {"loss": loss, **accuracy(pred, pix.actions[:, val_w].argmax(-1), pix.done[:, val_w], mask),
               "seconds": time.perf_counter() - t0}
    from engine.distill.inverse_export import export_inverse

    return export_inverse(model, out, pix, metrics, data, opts, world_dir)
