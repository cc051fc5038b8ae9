# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or
# `python -m engine.distill.vendoring PLUGIN_DIR`). Do not edit by hand: regenerate it.
"""The PyTorch source of ``KeypointDecoder``, ``CoverageEncoder``, ``SlotDynamics``,
for the weights in this folder's ``.pt`` files.

Each ``<stem>.pt`` holds ``{"class", "init", "state_dict"}``: build ``class(**init)`` (list arguments that
are tensors become ``torch.tensor``), then ``load_state_dict``; ``engine.distill.vendoring.load_vendored``
does both.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def mlp(sizes: list[int], act: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``act`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def pixel_grid(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[1, 1, H, W]`` x and y of the pixel centres in image units: -1 (left, top) … 1 (right, bottom)."""
    w, h = int(size[0]), int(size[1])
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    return xs.view(1, 1, 1, w).expand(1, 1, h, w).contiguous(), ys.view(1, 1, h, 1).expand(1, 1, h, w).contiguous()


ABSENT = 3.0


class KeypointDecoder(nn.Module):
    """Pixel world model, decoder: ``latent [N, 4K]`` → ``frame [N, H, W, 3]`` RGB in 0..1.

    Each slot is painted as a disk at its keypoint — a learned colour, radius and edge sharpness per
    slot, the coverage a ramp of the distance to the edge as in ``SplatRenderer`` — composited in
    ``order`` (later on top; learned from the frames, see ``engine.distill.world_model.draw_order``) over
    a learned background colour. The latent's motion half is not drawn.

    Example:
        >>> d = KeypointDecoder(num_slots=3, size=(16, 16))
        >>> d(torch.zeros(2, 12)).shape
        torch.Size([2, 16, 16, 3])
    """

    def __init__(self, num_slots: int, size: tuple[int, int], radius: float = 0.1,
                 order: list[int] | None = None) -> None:
        super().__init__()
        self.k, self.w, self.h = int(num_slots), int(size[0]), int(size[1])
        self.order = [int(i) for i in order] if order is not None else list(range(self.k))
        gx, gy = pixel_grid((self.w, self.h))
        self.register_buffer("grid_x", gx)
        self.register_buffer("grid_y", gy)
        self.register_buffer("pixel", torch.tensor(2.0 / min(self.w, self.h)))
        self.register_buffer("radius0", torch.tensor(float(radius)))
        self.log_radius = nn.Parameter(torch.zeros(self.k))
        self.log_sharpness = nn.Parameter(torch.zeros(self.k))
        self.color = nn.Parameter(torch.rand(self.k, 3, generator=torch.Generator().manual_seed(0)))
        self.background = nn.Parameter(torch.full((3,), 0.5))

    def colors(self) -> torch.Tensor:
        """``[K + 1, 3]``: the slot colours then the background's, in 0..1."""
        return torch.cat([self.color, self.background.view(1, 3)]).clamp(0.0, 1.0)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        n = latent.shape[0]
        p = latent[:, :2 * self.k].reshape(n, self.k, 2)
        dx = self.grid_x - p[..., 0].view(n, self.k, 1, 1)
        dy = self.grid_y - p[..., 1].view(n, self.k, 1, 1)
        dist = (dx.square() + dy.square()).clamp_min(1e-12).sqrt()  # [N, K, H, W]
        radius = (self.radius0 * self.log_radius.exp()).view(1, self.k, 1, 1)
        alpha = (0.5 + self.log_sharpness.exp().view(1, self.k, 1, 1) * (radius - dist) / self.pixel).clamp(0.0, 1.0)
        colors = self.colors()
        img = colors[self.k].view(1, 3, 1, 1).expand(n, 3, self.h, self.w)
        for i in self.order:  # K is fixed and small: unrolled in the exported graph
            a = alpha[:, i:i + 1]
            img = img * (1.0 - a) + colors[i].view(1, 3, 1, 1) * a
        return img.permute(0, 2, 3, 1)


def color_coverage(x: torch.Tensor, slot_colors: torch.Tensor, background: torch.Tensor,
                   tolerance: float) -> torch.Tensor:
    """``x [M, H, W, 3]`` RGB in 0..1 → each slot's coverage of each pixel ``[M, H, W, K]``: a pixel of a slot's
    colour counts 1, a blend ``α · colour + (1 − α) · background`` (an antialiased rim) counts α, a pixel
    that is neither within ``tolerance`` (every channel) of the nearest such line counts for nobody."""
    x = (x - background).unsqueeze(-2)  # [M, H, W, 1, 3]
    d = slot_colors - background  # [K, 3]
    alpha = ((x * d).sum(-1) / d.square().sum(-1).clamp_min(1e-6)).clamp(0.0, 1.0)  # [M, H, W, K]
    resid = (x - alpha.unsqueeze(-1) * d).abs().amax(-1)
    best = resid.amin(-1, keepdim=True)
    return alpha * ((resid <= best) & (best <= tolerance)).float()


def unexplained(x: torch.Tensor, slot_colors: torch.Tensor, background: torch.Tensor,
                tolerance: float) -> torch.Tensor:
    """``x [M, H, W, 3]`` → ``[M, H, W, 1]``: 1 where a pixel is no blend of one slot's colour with the background
    (:func:`color_coverage` gives it to nobody) — where two disks' rims meet."""
    x = (x - background).unsqueeze(-2)
    d = slot_colors - background
    alpha = ((x * d).sum(-1) / d.square().sum(-1).clamp_min(1e-6)).clamp(0.0, 1.0)
    resid = (x - alpha.unsqueeze(-1) * d).abs().amax(-1)
    return (resid.amin(-1, keepdim=True) > tolerance).float()


def disk_pad(radius: list[float]) -> int:
    """Pixels of margin around the image for :func:`disk_centres`: room for the largest disk past the border."""
    return int(math.ceil(max(radius, default=0.0))) + 2


def set_disk_radii(module: nn.Module, radius: list[float] | None, refine: int) -> None:
    """Give a tracker with ``module.k`` slots the disks' ``radius`` buffer, its ``pad`` and ``refine`` steps
    for :func:`disk_centres` (none without radii: the plain centroid)."""
    if radius is not None and len(radius) != module.k:
        raise ValueError(f"radius: expected {module.k} values (one per slot), got {len(radius)}")
    module.refine = int(refine) if radius is not None else 0
    module.register_buffer("radius", torch.as_tensor(radius if radius is not None else [0.0] * module.k,
                                                     dtype=torch.float32))
    module.pad = disk_pad(list(radius or []))


def disk_centres(cover: torch.Tensor, other: torch.Tensor, radius: torch.Tensor, iterations: int,
                 pad: int | None = None) -> torch.Tensor:
    """Each slot's disk centre ``[M, K, 2]`` (column, row in pixels) from its coverage ``cover [M, H, W, K]``,
    where a disk of ``radius [K]`` pixels may be partly hidden: by what ``other [M, H, W, K]`` says covers the
    pixel instead (another slot drawn on top, two rims blended) or by the image's border.

    The centroid of what shows is pulled away from whatever hides the rest — by up to 1.4 px on tag's 64 × 64
    frames where two disks overlap, which is where they collide, and which turned a quarter of the inverse
    model's labels there wrong. Each iteration adds to the visible coverage the hideable pixels (off the image
    all are) inside the disk around the current centre; the true centre is a fixed point (the visible and the
    hidden pixels inside it make the whole disk), and 6 iterations bring the 90th percentile error of
    overlapping disks from 1.4 px to 0.04 px. A slot with no coverage keeps the padding's centre."""
    m, h, w, k = cover.shape
    if pad is None:  # a caller that exports the graph passes it: reading the tensor is data-dependent there
        pad = disk_pad(radius.tolist())
    cover_p = F.pad(cover.permute(0, 3, 1, 2), (pad, pad, pad, pad)).permute(0, 2, 3, 1)
    other_p = F.pad(other.permute(0, 3, 1, 2), (pad, pad, pad, pad), value=1.0).permute(0, 2, 3, 1)
    cols = (torch.arange(w + 2 * pad, dtype=cover.dtype, device=cover.device) - (pad - 0.5)).view(1, 1, -1, 1)
    rows = (torch.arange(h + 2 * pad, dtype=cover.dtype, device=cover.device) - (pad - 0.5)).view(1, -1, 1, 1)

    def centroid(weight: torch.Tensor) -> torch.Tensor:
        s = weight.sum((1, 2)).clamp_min(1e-6)
        return torch.stack([(weight * cols).sum((1, 2)) / s, (weight * rows).sum((1, 2)) / s], -1)

    c = centroid(cover_p)
    for _ in range(iterations):  # few and fixed: unrolled in the exported graph
        dist = ((cols - c[:, None, None, :, 0]).square() + (rows - c[:, None, None, :, 1]).square()).sqrt()
        inside = (radius + 0.5 - dist).clamp(0.0, 1.0)  # an antialiased disk's coverage of each pixel
        c = centroid(cover_p + other_p * inside)
    return c


class CoverageEncoder(nn.Module):
    """Pixel world model, encoder: two consecutive frames ``[N, 2, H, W, 3]`` uint8 → ``latent [N, 4K]``.

    Each slot's keypoint is the centroid of its colour's coverage (:func:`color_coverage`, with the palette
    the frames showed, learned by ``engine.distill.world_model.palette``): exact to ≈ 0.05 px on tag's
    64 × 64 frames, where a CNN trained to imitate the same coverage was ≈ 0.3 px off — enough to cost the
    decoder 4 dB (it blurs what it cannot place) and the dynamics half a pixel after 25 steps. With the
    disks' ``radius`` (pixels per slot, ``engine.distill.world_model.disk_radii``) a disk that another covers in
    part, or that crosses the border, is placed at its centre (:func:`disk_centres`) instead of the centroid
    of what shows, which is up to 1.4 px off where agents collide: tag's own physics started from those
    keypoints drifted 1.8 px (median) in 25 chase steps, 0.5 px from the centres. A slot
    with less than ``min_pixels`` of coverage is absent and sits at ``ABSENT``, off the image. The latent
    is the first frame's keypoints and their motion to the second, ``[x, y] * K`` then ``[dx, dy] * K``.

    Example:
        >>> e = CoverageEncoder([[1, 0, 0], [0, 0, 1], [1, 1, 1]], size=(16, 16))
        >>> e(torch.zeros(2, 2, 16, 16, 3, dtype=torch.uint8)).shape
        torch.Size([2, 8])
    """

    def __init__(self, colors: list, size: tuple[int, int], tolerance: float = 0.04, min_pixels: float = 2.0,
                 radius: list[float] | None = None, refine: int = 6) -> None:
        super().__init__()
        c = torch.as_tensor(colors, dtype=torch.float32)
        self.k, self.w, self.h = c.shape[0] - 1, int(size[0]), int(size[1])
        self.tolerance, self.min_pixels, self.floor = float(tolerance), float(min_pixels), 0.0
        set_disk_radii(self, radius, refine)
        self.register_buffer("slot_colors", c[:-1].clone())
        self.register_buffer("background", c[-1].clone())
        gx, gy = pixel_grid((self.w, self.h))
        self.register_buffer("grid_x", gx)
        self.register_buffer("grid_y", gy)

    def masks(self, image: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in 0..1 → ``[N, K + 1, H, W]``: each slot's coverage, the background's last."""
        cover = color_coverage(image.permute(0, 2, 3, 1), self.slot_colors, self.background, self.tolerance)
        cover = cover.permute(0, 3, 1, 2)
        return torch.cat([cover, (1.0 - cover.sum(1, keepdim=True)).clamp_min(0.0)], 1)

    def keypoints(self, masks: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, K + 1, H, W]`` → ``[N, K, 2]`` centroids in image units (``ABSENT`` for an absent slot). With the
        disks' ``radius`` and the ``image`` the masks came from, a disk partly hidden by another or by the
        border is placed where it is (:func:`disk_centres`), not at the centroid of what shows."""
        m = masks[:, :self.k]
        mass = m.sum((2, 3))
        if self.refine > 0 and image is not None:
            cover = m.permute(0, 2, 3, 1)
            other = cover.sum(-1, keepdim=True) - cover + unexplained(image.permute(0, 2, 3, 1), self.slot_colors,
                                                                      self.background, self.tolerance)
            px = disk_centres(cover, other, self.radius, self.refine, self.pad)
            xy = px / torch.tensor([self.w, self.h], dtype=px.dtype, device=px.device) * 2 - 1
        else:
            safe = mass.clamp_min(1e-6)
            xy = torch.stack([(m * self.grid_x).sum((2, 3)) / safe, (m * self.grid_y).sum((2, 3)) / safe], -1)
        return torch.where((mass >= self.min_pixels).unsqueeze(-1), xy, torch.full_like(xy, ABSENT))

    def locate(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, 3, H, W]`` in 0..1 → keypoints ``[N, K, 2]`` and masks ``[N, K + 1, H, W]``."""
        masks = self.masks(image)
        return self.keypoints(masks, image), masks

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[0]
        img = frames.reshape(n * 2, self.h, self.w, 3).permute(0, 3, 1, 2).float() / 255.0
        kp = self.locate(img)[0].reshape(n, 2, self.k * 2)
        return torch.cat([kp[:, 0], kp[:, 1] - kp[:, 0]], -1)


class SlotDynamics(nn.Module):
    """Pixel world model, latent dynamics with the structure of contact physics: ``latent [N, 4K]``, joint
    ``action [N, A, n]`` → next latent (the same contract as :class:`KeypointDynamics`).

    Keypoints move by the latent's motion (``x' = x + dx``) and each slot's motion changes by what the slot
    does itself — an MLP plus a linear path of its motion, its own agent's action (``agent_slots`` says which
    slot each agent is; other slots get none) and which slot it is — plus forces along the lines between
    slots: a pair MLP of the distance and the two slots' identities, for pairs within ``cutoff`` that are
    both on the image (an absent slot sits at ``ABSENT``). Per-slot and pairwise like the physics it
    imitates, so the action of one agent cannot leak into another's motion, and contacts are learned once
    per kind of pair instead of for every place in the arena. With ``speed_limit`` (one per slot, image
    units per step, learned from there) the new motion is then clipped to each slot's limit, as games clip
    speeds *after* the forces: a sum of per-slot and pairwise terms cannot express that, and without it an
    adversary pressing into the prey at full speed drifted 6 px in 25 steps instead of 3.
    ``per_slot_linear`` gives each slot its own linear path (damping, push per action).

    Example:
        >>> d = SlotDynamics(num_slots=3, num_agents=2, num_actions=5, agent_slots=[2, 0])
        >>> d(torch.zeros(4, 12), torch.zeros(4, 2, 5)).shape
        torch.Size([4, 12])
    """

    def __init__(self, num_slots: int, num_agents: int, num_actions: int, agent_slots: list[int], hidden: int = 64,
                 pair_hidden: int = 32, motion_scale: float = 0.05, cutoff: float = 0.4,
                 speed_limit: list[float] | None = None, per_slot_linear: bool = False) -> None:
        super().__init__()
        k, a, n = int(num_slots), int(num_agents), int(num_actions)
        self.k, self.a, self.n, self.motion_scale = k, a, n, float(motion_scale)
        self.agent_slots = [int(s) for s in agent_slots]
        slot_of = torch.zeros(k, a)
        slot_of[self.agent_slots, torch.arange(a)] = 1.0
        self.register_buffer("slot_of", slot_of)  # [K, A]: slot k is agent a
        eye = torch.eye(k)
        self.register_buffer("onehot", eye)
        self.register_buffer("pair_ids", torch.cat([eye.unsqueeze(1).expand(k, k, k), eye.unsqueeze(0).expand(k, k, k)],
                                                   -1))
        self.register_buffer("not_self", 1.0 - eye)
        self.register_buffer("cutoff", torch.tensor(float(cutoff)))
        self.per_slot_linear = bool(per_slot_linear)
        self.self_lin = nn.Linear(k * (2 + n) + k if self.per_slot_linear else 2 + n + k, 2)
        self.self_net = mlp([2 + n + k, hidden, hidden, 2])
        self.pair_net = mlp([1 + 2 * k, pair_hidden, pair_hidden, 1], act=nn.ReLU)
        for layer in (self.self_lin, self.self_net[-1], self.pair_net[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.log_speed_limit = None
        if speed_limit is not None:
            limit = torch.as_tensor(speed_limit, dtype=torch.float32).clamp_min(1e-4)
            if limit.shape != (k,):
                raise ValueError(f"speed_limit: expected {k} values (one per slot), got {tuple(limit.shape)}")
            self.log_speed_limit = nn.Parameter(limit.log())

    def linear_features(self, inp: torch.Tensor) -> torch.Tensor:
        """``[..., K, 2 + n + K]`` (motion / scale, own action, slot one-hot) → the linear path's input: with
        ``per_slot_linear`` the motion and action placed in the slot's own block, so each slot has its own
        damping and push per action (tag's prey accelerates 4/3 as fast as its adversaries)."""
        if not self.per_slot_linear:
            return inp
        k = self.k
        motion_action, onehot = inp[..., :-k], inp[..., -k:]
        blocks = (onehot.unsqueeze(-1) * motion_action.unsqueeze(-2)).flatten(-2)  # [..., K, K * (2 + n)]
        return torch.cat([blocks, onehot], -1)

    def forward(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        b, k, s = latent.shape[0], self.k, self.motion_scale
        x, dx = latent[:, :2 * k].reshape(b, k, 2), latent[:, 2 * k:].reshape(b, k, 2)
        own_action = torch.matmul(self.slot_of, action.float())  # [B, K, n]
        inp = torch.cat([dx / s, own_action, self.onehot.expand(b, -1, -1)], -1)
        own = self.self_net(inp) + self.self_lin(self.linear_features(inp))
        delta = x.unsqueeze(2) - x.unsqueeze(1)  # [B, K, K, 2]: i - j
        dist = delta.square().sum(-1).clamp_min(1e-12).sqrt()
        present = (x.abs() < 1.5).all(-1).float()  # [B, K]: absent slots sit at ABSENT, off the image
        near = (dist < self.cutoff).float() * self.not_self * present.unsqueeze(2) * present.unsqueeze(1)
        feats = torch.cat([(dist / self.cutoff).unsqueeze(-1), self.pair_ids.expand(b, -1, -1, -1)], -1)
        push = (delta / dist.unsqueeze(-1) * (self.pair_net(feats).squeeze(-1) * near).unsqueeze(-1)).sum(2)
        new_dx = dx + s * (own + push)
        if self.log_speed_limit is not None:
            speed = new_dx.square().sum(-1, keepdim=True).clamp_min(1e-12).sqrt()
            new_dx = new_dx * torch.clamp(self.log_speed_limit.exp().view(1, k, 1) / speed, max=1.0)
        return torch.cat([(x + dx).reshape(b, 2 * k), new_dx.reshape(b, 2 * k)], -1)
