# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or
# `python -m engine.distill.vendoring PLUGIN_DIR`). Do not edit by hand: regenerate it.
"""The PyTorch source of ``KeypointEncoder``, ``KeypointDynamics``, ``KeypointDecoder``, for the weights in this folder's ``.pt`` files.

Each ``<stem>.pt`` holds ``{"class", "init", "state_dict"}``: build ``class(**init)`` (list arguments that
are tensors become ``torch.tensor``), then ``load_state_dict``; ``engine.distill.vendoring.load_vendored``
does both.
"""

from __future__ import annotations

import torch
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
