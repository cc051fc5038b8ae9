# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or
# `python -m engine.distill.vendoring PLUGIN_DIR`). Do not edit by hand: regenerate it.
"""The PyTorch source of ``SplatRenderer``,
for the weights in this folder's ``.pt`` files.

Each ``<stem>.pt`` holds ``{"class", "init", "state_dict"}``: build ``class(**init)`` (list arguments that
are tensors become ``torch.tensor``), then ``load_state_dict``; ``engine.distill.vendoring.load_vendored``
does both.
"""

from __future__ import annotations

import torch
from torch import nn


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
