"""The PyTorch modules that distillation trains and exports to ONNX (vendored next to each model).

Every module takes and returns *raw* engine units (positions in world units, velocities in units/s,
forces, observations as the world computes them); normalisation statistics are buffers inside the
module, so the exported ONNX file is self-contained and the world file binds it with no ``mean:``/
``std:``. The structure carries the inductive biases that keep open-loop error from compounding:

* ``WorldDynamics`` — one row per world (``rows: world``): a per-entity MLP of (velocity, action
  force) plus a pairwise MLP of (distance, overlap of the radii, both types) whose outputs are summed
  as forces along the line between centres — translation- and permutation-equivariant like the
  contact physics it imitates. Velocity is projected onto each slot's max speed and immovable slots
  get a zero delta, inside the module.
* ``EntityDynamics`` — one row per entity (``rows: entity``): an MLP of (velocity, action force);
  it cannot see other entities, so it cannot learn contacts (a baseline).
* ``SplatRenderer`` — a differentiable splatting decoder: per pixel and entity slot, the coverage is
  a ramp of the signed distance from the pixel centre to the entity's edge with a learned radius and
  edge sharpness per entity type; coverages are composited in slot order (later slots on top) over a
  learned background with learned per-type colours. (A per-pixel MLP profile was 30× slower to train
  on 2 CPU cores for no PSNR gain at 64×64.)
* ``PolicyMLP`` — observation → 5 logits (behaviour cloning of discrete actions).

Each plugin folder carries a generated ``module.py`` with the classes its ``.pt`` files use (and what
they need), so its weights still load after this file changes: see ``engine/distill/vendoring.py``.
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


class WorldDynamics(nn.Module):
    """Per-world learned dynamics: ``state [B, K*4]`` (pos, vel per entity), ``act [B, K*2]`` → ``delta [B, K*4]``.

    Constants per slot (``radius``, ``max_speed``, ``movable``, ``type_id``) are baked in, so the model
    serves the entity layout it was trained on.

    Example:
        >>> m = WorldDynamics(radius=torch.full((6,), 0.1), max_speed=torch.ones(6), movable=torch.ones(6),
        ...                   type_id=torch.zeros(6, dtype=torch.long), num_types=1)
        >>> m(torch.zeros(8, 24), torch.zeros(8, 12)).shape
        torch.Size([8, 24])
    """

    def __init__(self, radius: torch.Tensor, max_speed: torch.Tensor, movable: torch.Tensor, type_id: torch.Tensor,
                 num_types: int, hidden: int = 64, pair_hidden: int = 32, cutoff: float = 0.1) -> None:
        super().__init__()
        k = int(radius.numel())
        self.k, self.num_types = k, int(num_types)
        self.register_buffer("radius", radius.float().reshape(k))
        # immovable slots have max_speed inf; a finite stand-in keeps the projection's gradient finite
        self.register_buffer("max_speed", torch.nan_to_num(max_speed.float().reshape(k), posinf=1e6))
        self.register_buffer("movable", movable.float().reshape(k))
        onehot = torch.nn.functional.one_hot(type_id.long().reshape(k), self.num_types).float()
        self.register_buffer("onehot", onehot)
        self.register_buffer("pair_types", torch.cat([onehot.unsqueeze(1).expand(k, k, -1),
                                                      onehot.unsqueeze(0).expand(k, k, -1)], -1))
        self.register_buffer("not_self", 1.0 - torch.eye(k))
        self.register_buffer("rsum", radius.float().reshape(k, 1) + radius.float().reshape(1, k))
        # pairs farther apart than touching + cutoff exchange nothing (a connectivity radius, as in
        # graph-network simulators): the pair MLP never has to learn an exact zero at a distance
        self.register_buffer("cutoff", torch.tensor(float(cutoff)))
        # normalisation (set from data by the trainer; identity by default)
        self.register_buffer("vel_scale", torch.ones(()))
        self.register_buffer("force_scale", torch.ones(()))
        self.register_buffer("dpos_scale", torch.ones(()))
        self.register_buffer("dvel_scale", torch.ones(()))
        self.register_buffer("dist_scale", torch.ones(()))
        self.register_buffer("overlap_scale", torch.tensor(0.02))  # contacts act over a few hundredths
        # a linear path beside the MLP: most of the motion (Δpos = v·dt, damping, F/m·dt) is linear, and
        # an exact linear part keeps the one-step bias — which compounds open-loop — near zero
        self.self_lin = nn.Linear(4 + self.num_types, 4)
        self.self_net = mlp([4 + self.num_types, hidden, hidden, 4])
        # ReLU: the contact force is piecewise linear in the overlap (zero, then a stiff spring)
        self.pair_net = mlp([2 + 2 * self.num_types, pair_hidden, pair_hidden, 1], act=nn.ReLU)

    def step(self, pos: torch.Tensor, vel: torch.Tensor, force: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``pos, vel, force [B, K, 2]`` → ``(dpos, dvel) [B, K, 2]`` (the unflattened model)."""
        b = pos.shape[0]
        x = torch.cat([vel / self.vel_scale, force / self.force_scale, self.onehot.expand(b, -1, -1)], -1)
        own = self.self_net(x) + self.self_lin(x)
        delta = pos.unsqueeze(2) - pos.unsqueeze(1)  # [B, K, K, 2]: i - j
        dist = delta.square().sum(-1).clamp_min(1e-12).sqrt()  # ORT drops a '+ eps' here
        unit = delta / dist.unsqueeze(-1)
        feats = torch.cat([(dist / self.dist_scale).unsqueeze(-1),
                           ((self.rsum - dist) / self.overlap_scale).unsqueeze(-1),
                           self.pair_types.expand(b, -1, -1, -1)], -1)
        near = (self.rsum + self.cutoff - dist > 0).to(dist.dtype) * self.not_self
        mag = self.pair_net(feats).squeeze(-1) * near  # [B, K, K]
        push = (unit * mag.unsqueeze(-1)).sum(2)  # [B, K, 2]
        dpos = own[..., :2] * self.dpos_scale
        new_vel = vel + (own[..., 2:] + push) * self.dvel_scale
        speed = new_vel.square().sum(-1, keepdim=True).clamp_min(1e-12).sqrt()
        limit = self.max_speed.view(1, -1, 1)
        new_vel = torch.where(speed > limit, new_vel / speed * limit, new_vel)
        m = self.movable.view(1, -1, 1)
        return dpos * m, (new_vel - vel) * m

    def forward(self, state: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        b = state.shape[0]
        s = state.reshape(b, self.k, 4)
        dpos, dvel = self.step(s[..., :2], s[..., 2:], act.reshape(b, self.k, 2))
        return torch.cat([dpos, dvel], -1).reshape(b, self.k * 4)


class EntityDynamics(nn.Module):
    """Per-entity learned dynamics: ``state [R, 4]`` (pos, vel), ``act [R, 2]`` → ``delta [R, 4]``; no contacts.

    Example:
        >>> EntityDynamics()(torch.zeros(8, 4), torch.zeros(8, 2)).shape
        torch.Size([8, 4])
    """

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        for name in ("vel_scale", "force_scale", "dpos_scale", "dvel_scale"):
            self.register_buffer(name, torch.ones(()))
        self.net = mlp([4, hidden, hidden, 4])

    def step(self, pos: torch.Tensor, vel: torch.Tensor, force: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(torch.cat([vel / self.vel_scale, force / self.force_scale], -1))
        return out[..., :2] * self.dpos_scale, out[..., 2:] * self.dvel_scale

    def forward(self, state: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        dpos, dvel = self.step(state[..., :2], state[..., 2:], act)
        return torch.cat([dpos, dvel], -1)


class SplatRenderer(nn.Module):
    """Learned renderer: ``state [B, K*2]`` (positions of K slots) → ``image [B, 3, H, W]`` RGB in 0..1.

    ``camera`` is ``(cx, cy, half_extent)`` (world units from the centre to the shorter edge), the GL
    renderer's convention; pixel centres in world units are a buffer.

    Example:
        >>> r = SplatRenderer(type_id=torch.tensor([0, 1]), num_types=2, size=(16, 16), camera=(0., 0., 1.05))
        >>> r(torch.zeros(4, 4)).shape
        torch.Size([4, 3, 16, 16])
    """

    def __init__(self, type_id: torch.Tensor, num_types: int, size: tuple[int, int], camera: tuple[float, float, float],
                 radius: torch.Tensor | None = None) -> None:
        super().__init__()
        w, h = int(size[0]), int(size[1])
        self.k, self.w, self.h = int(type_id.numel()), w, h
        cx, cy, he = (float(c) for c in camera)
        px = 2.0 * he / min(w, h)  # world units per pixel
        xs = cx + (torch.arange(w, dtype=torch.float32) + 0.5 - w / 2) * px
        ys = cy - (torch.arange(h, dtype=torch.float32) + 0.5 - h / 2) * px  # rows top-first, y up
        self.register_buffer("grid_x", xs.view(1, 1, 1, w).expand(1, 1, h, w).contiguous())
        self.register_buffer("grid_y", ys.view(1, 1, h, 1).expand(1, 1, h, w).contiguous())
        self.register_buffer("pixel", torch.tensor(px))
        self.register_buffer("type_onehot", nn.functional.one_hot(type_id.long(), num_types).float())
        r0 = radius.float() if radius is not None else torch.full((self.k,), 0.1)
        # learned per type: radius (world units), colour (pre-sigmoid); the coverage profile is an MLP
        per_type_r = torch.stack([r0[type_id == t].mean() if bool((type_id == t).any()) else r0.mean()
                                  for t in range(num_types)])
        # radius and sharpness are positive: log-parametrised around the initial radius
        self.register_buffer("radius0", per_type_r.clamp_min(1e-3))
        self.type_log_radius = nn.Parameter(torch.zeros(num_types))
        self.type_log_sharpness = nn.Parameter(torch.zeros(num_types))
        # colours in 0..1, clamped in forward (a sigmoid would saturate before reaching a white background)
        self.type_color = nn.Parameter(torch.full((num_types, 3), 0.5))
        self.background = nn.Parameter(torch.full((3,), 0.5))

    def init_colors(self, state: torch.Tensor, images: torch.Tensor) -> None:
        """Start each type's colour at the mean image colour under its entities' centres (``images`` 0..1)."""
        b = state.shape[0]
        p = state.reshape(b, self.k, 2)
        col = ((p[..., 0:1] - self.grid_x[0, 0, 0].view(1, 1, -1)).abs().argmin(-1))  # [B, K]
        row = ((p[..., 1:2] - self.grid_y[0, 0, :, 0].view(1, 1, -1)).abs().argmin(-1))
        px = images[torch.arange(b).unsqueeze(1), :, row, col]  # [B, K, 3]
        for t in range(self.type_onehot.shape[1]):
            sel = self.type_onehot[:, t].bool()
            if bool(sel.any()):
                self.type_color.data[t] = px[:, sel].reshape(-1, 3).median(0).values
        self.background.data[:] = images.permute(1, 0, 2, 3).reshape(3, -1).median(1).values

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        b = state.shape[0]
        p = state.reshape(b, self.k, 2)
        dx = self.grid_x - p[..., 0].view(b, self.k, 1, 1)
        dy = self.grid_y - p[..., 1].view(b, self.k, 1, 1)
        dist = (dx.square() + dy.square()).clamp_min(1e-12).sqrt()  # [B, K, H, W]
        radius = self.type_onehot @ (self.radius0 * self.type_log_radius.exp())  # [K]
        sharp = (self.type_onehot @ self.type_log_sharpness.exp()).view(1, self.k, 1, 1)
        inside = (radius.view(1, self.k, 1, 1) - dist) / self.pixel  # pixels inside the edge
        alpha = (0.5 + sharp * inside).clamp(0.0, 1.0)  # [B, K, H, W]
        colors = (self.type_onehot @ self.type_color).clamp(0.0, 1.0)  # [K, 3]
        img = self.background.clamp(0.0, 1.0).view(1, 3, 1, 1).expand(b, 3, self.h, self.w)
        for i in range(self.k):  # K is fixed and small: unrolled in the exported graph
            a = alpha[:, i:i + 1]
            img = img * (1.0 - a) + colors[i].view(1, 3, 1, 1) * a
        return img


class PolicyMLP(nn.Module):
    """Behaviour-cloned policy: ``obs [R, F]`` → ``logits [R, 5]``, observation normalisation baked in.

    Example:
        >>> PolicyMLP(14)(torch.zeros(8, 14)).shape
        torch.Size([8, 5])
    """

    def __init__(self, obs_size: int, actions: int = 5, hidden: int = 128) -> None:
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_size))
        self.register_buffer("obs_std", torch.ones(obs_size))
        self.net = mlp([obs_size, hidden, hidden, actions])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net((obs - self.obs_mean) / self.obs_std)


def pixel_grid(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``[1, 1, H, W]`` x and y of the pixel centres in image units: -1 (left, top) … 1 (right, bottom)."""
    w, h = int(size[0]), int(size[1])
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    return xs.view(1, 1, 1, w).expand(1, 1, h, w).contiguous(), ys.view(1, 1, h, 1).expand(1, 1, h, w).contiguous()


#: where an absent slot's keypoint goes (image units: the image spans -1 … 1), off the image
ABSENT = 3.0
#: the weight that puts it there: 0.01 pixel of coverage moves a 20-pixel disk's centroid by 0.002 pixel
ABSENT_WEIGHT = 0.01


class KeypointEncoder(nn.Module):
    """Pixel world model, encoder: two consecutive frames ``[N, 2, H, W, 3]`` uint8 → ``latent [N, 4K]``.

    A small CNN labels every pixel with one of K slots or the background (a softmax over K + 1
    channels); a slot's keypoint is the centroid of its pixels, in image units (-1 … 1). The latent is
    the first frame's keypoints and their motion to the second, ``[x, y] * K`` then ``[dx, dy] * K``: in
    tag an entity moves with its velocity of the step before, so a frame pair is what the next step
    needs. Trained without positions: the slot masks, painted with the decoder's slot colours, must
    rebuild the frame. It sees colour, not identity — entities must be told apart by how they look.

    Example:
        >>> e = KeypointEncoder(num_slots=3, size=(16, 16))
        >>> e(torch.zeros(2, 2, 16, 16, 3, dtype=torch.uint8)).shape
        torch.Size([2, 12])
    """

    def __init__(self, num_slots: int, size: tuple[int, int], width: int = 24) -> None:
        super().__init__()
        self.k, self.w, self.h = int(num_slots), int(size[0]), int(size[1])
        self.floor = 0.05
        self.net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.SiLU(),
                                 nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.SiLU(),
                                 nn.Conv2d(width, self.k + 1, 1))
        gx, gy = pixel_grid((self.w, self.h))
        self.register_buffer("grid_x", gx)
        self.register_buffer("grid_y", gy)

    def masks(self, image: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in 0..1 → ``[N, K + 1, H, W]`` slot probabilities (the last is the background)."""
        return self.net(image * 2 - 1).softmax(1)

    def keypoints(self, masks: torch.Tensor) -> torch.Tensor:
        """``[N, K + 1, H, W]`` → ``[N, K, 2]``: each slot's centroid (off the image, at ``ABSENT``, when it is absent).

        A mask is the slot's coverage of each pixel (antialiased rims partly), so the centroid is sub-pixel;
        coverage below ``floor`` is dropped: a thin haze of probability over the 4,000 background pixels
        would otherwise outweigh a 20-pixel disk and pull it to the centre."""
        m = (masks[:, :self.k] - self.floor).clamp_min(0.0)
        mass = m.sum((2, 3)) + ABSENT_WEIGHT  # an absent slot lands at ABSENT, off the image: drawn nowhere
        return torch.stack([((m * self.grid_x).sum((2, 3)) + ABSENT_WEIGHT * ABSENT) / mass,
                            ((m * self.grid_y).sum((2, 3)) + ABSENT_WEIGHT * ABSENT) / mass], -1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[0]
        img = frames.reshape(n * 2, self.h, self.w, 3).permute(0, 3, 1, 2).float() / 255.0
        kp = self.keypoints(self.masks(img)).reshape(n, 2, self.k * 2)
        return torch.cat([kp[:, 0], kp[:, 1] - kp[:, 0]], -1)


class KeypointDynamics(nn.Module):
    """Pixel world model, latent dynamics: ``latent [N, 4K]``, joint ``action [N, A, n]`` one-hot → next latent.

    Keypoints move by the latent's motion (``x' = x + dx``, exactly as tag integrates positions with the
    last velocity) and the motion changes by an MLP of every slot's place and motion and every agent's
    action: ``dx' = dx + f(x, dx, a)``. Only the change is learned; a zero network keeps things moving.

    Example:
        >>> d = KeypointDynamics(num_slots=3, num_agents=2, num_actions=5)
        >>> d(torch.zeros(4, 12), torch.zeros(4, 2, 5)).shape
        torch.Size([4, 12])
    """

    def __init__(self, num_slots: int, num_agents: int, num_actions: int, hidden: int = 256,
                 motion_scale: float = 0.05) -> None:
        super().__init__()
        self.k, self.a, self.n = int(num_slots), int(num_agents), int(num_actions)
        self.motion_scale = float(motion_scale)
        self.net = mlp([4 * self.k + self.a * self.n, hidden, hidden, 2 * self.k])
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x, dx = latent[:, :2 * self.k], latent[:, 2 * self.k:]
        s = self.motion_scale
        inp = torch.cat([x, dx / s, action.reshape(action.shape[0], self.a * self.n)], -1)
        return torch.cat([x + dx, dx + s * self.net(inp)], -1)


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


class InverseDynamics(nn.Module):
    """Inverse dynamics from pixels: frames t − 1 … t + 2 ``[N, 4, H, W, 3]`` uint8 → every agent's action at t
    ``[N, A, n]`` (logits) and the logit ``[N]`` that frames t and t + 1 belong to different episodes.

    Each slot's disk is found by colour: a pixel of a slot's colour, or a blend of it with the background
    (an antialiased rim), counts with its coverage, so the slot's centroid is sub-pixel exact (≈0.05 px on
    tag's 64 × 64 frames). With the disks' ``radius`` (pixels, one per slot) a disk partly hidden by another
    or by the image's border is placed as exactly (:func:`disk_centres`, ``refine`` iterations). An action
    shows as a change of motion — in tag the position moves with the velocity of the step before, so the
    action at t moves the disk differently from frame t + 1 to t + 2 than from t to t + 1, by ≈1 pixel — so
    an MLP shared by the agents reads its agent's slot's three frame-to-frame motions, which frames it is
    seen in, where it is and which agent it is, and (with ``radius``) how the other disks overlap it
    (:meth:`overlap_push`), since a collision changes the motion too. Which slot
    is which agent (``agent_slots``) is found from the recordings before training (the slot whose motion
    best predicts the agent's action). A second MLP reads every slot's motion for the episode cut (autoreset
    teleports everything): a video has no ``done`` flags.

    Example:
        >>> m = InverseDynamics([[1, 0, 0], [0, 0, 1], [1, 1, 1]], agent_slots=[0, 1], num_actions=5, size=(16, 16))
        >>> [t.shape for t in m(torch.zeros(3, 4, 16, 16, 3, dtype=torch.uint8))]
        [torch.Size([3, 2, 5]), torch.Size([3])]
    """

    def __init__(self, colors: list, agent_slots: list[int], num_actions: int, size: tuple[int, int],
                 hidden: int = 64, tolerance: float = 0.04, min_pixels: float = 2.0,
                 radius: list[float] | None = None, refine: int = 6) -> None:
        super().__init__()
        c = torch.as_tensor(colors, dtype=torch.float32)
        self.k, self.a, self.n = c.shape[0] - 1, len(agent_slots), int(num_actions)
        self.w, self.h = int(size[0]), int(size[1])
        self.tolerance, self.min_pixels = float(tolerance), float(min_pixels)
        set_disk_radii(self, radius, refine)
        self.register_buffer("slot_colors", c[:-1].clone())
        self.register_buffer("background", c[-1].clone())
        self.register_buffer("agent_slots", torch.as_tensor(agent_slots, dtype=torch.long))
        self.register_buffer("cols", torch.arange(self.w, dtype=torch.float32).view(1, 1, self.w, 1) + 0.5)
        self.register_buffer("rows", torch.arange(self.h, dtype=torch.float32).view(1, self.h, 1, 1) + 0.5)
        self.register_buffer("agent_ids", torch.eye(self.a).unsqueeze(0))
        self.register_buffer("others", 1.0 - torch.eye(self.k)[self.agent_slots])  # [A, K]: every slot but its own
        self.act = mlp([6 + 4 + 2 + self.a + (6 if self.refine > 0 else 0), hidden, hidden, self.n])
        self.cut = mlp([self.k * 10, hidden, 1])

    def tracks(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, T, H, W, 3]`` uint8 → each slot's centroid ``[N, T, K, 2]`` (column, row in pixels; 0 where
        unseen) and whether it is seen ``[N, T, K]`` (at least ``min_pixels`` of coverage)."""
        n, t = frames.shape[:2]
        x = frames.reshape(n * t, self.h, self.w, 3).float() / 255.0
        cover = color_coverage(x, self.slot_colors, self.background, self.tolerance)  # [M, H, W, K]
        mass = cover.sum((1, 2))  # [M, K]
        seen = (mass >= self.min_pixels).float()
        if self.refine > 0:
            other = cover.sum(-1, keepdim=True) - cover + unexplained(x, self.slot_colors, self.background,
                                                                      self.tolerance)
            xy = disk_centres(cover, other, self.radius, self.refine, self.pad)
        else:
            safe = mass.clamp_min(1e-6)
            xy = torch.stack([(cover * self.cols).sum((1, 2)) / safe, (cover * self.rows).sum((1, 2)) / safe], -1)
        xy = xy * seen.unsqueeze(-1)
        return xy.reshape(n, t, self.k, 2), seen.reshape(n, t, self.k)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(*self.tracks(frames))

    def heads(self, xy: torch.Tensor, seen: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tracks of frames t − 1 … t + 2 (``[N, 4, K, 2]``, ``[N, 4, K]``) → action logits and the cut logit.
        (The tracker has no weights: training runs the heads on tracks computed once.)"""
        both = (seen[:, 1:] * seen[:, :-1]).unsqueeze(-1)
        motion = (xy[:, 1:] - xy[:, :-1]) * both / 4.0  # [N, 3, K, 2]: ≈ -1 … 1 at tag's top speeds
        n = xy.shape[0]
        idx = self.agent_slots
        per_agent = torch.cat([motion[:, :, idx].permute(0, 2, 1, 3).reshape(n, self.a, 6),
                               seen[:, :, idx].permute(0, 2, 1),
                               xy[:, 1, idx] / torch.tensor([self.w, self.h], dtype=xy.dtype) * 2 - 1,
                               self.agent_ids.expand(n, self.a, self.a)]
                              + ([self.overlap_push(xy, seen)] if self.refine > 0 else []), -1)
        cut = self.cut(torch.cat([motion.reshape(n, -1), seen.reshape(n, -1)], -1)).squeeze(-1)
        return self.act(per_agent), cut

    def overlap_push(self, xy: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
        """``[N, A, 6]``: in frames t, t + 1 and t + 2, the sum over the other disks of how deep each overlaps
        the agent's (pixels), along the line from it to the agent — the shape of a contact force. The action
        shows as a change of motion, and so does a collision: reading its own disk's motion alone (even
        placed exactly) the model got 76 % of the actions of overlapping agents right on held-out tag, with
        this 94 %."""
        idx = self.agent_slots
        pushes = []
        for f in (1, 2, 3):
            d = xy[:, f, idx].unsqueeze(2) - xy[:, f].unsqueeze(1)  # [N, A, K, 2]: from each slot to the agent
            dist = d.square().sum(-1).clamp_min(1e-6).sqrt()
            both = seen[:, f].unsqueeze(1) * seen[:, f, idx].unsqueeze(2) * self.others
            depth = (self.radius[idx].view(1, -1, 1) + self.radius.view(1, 1, -1) - dist).clamp_min(0.0) * both
            pushes.append((d / dist.unsqueeze(-1) * depth.unsqueeze(-1)).sum(2))
        return torch.cat(pushes, -1)


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
