"""Ray casting for the ``lidar`` observation term: rays against disks and wall segments, whole-tensor.

Each returns ``[B, A, R]``: for every agent and ray, the distance to the first hit, ``range`` when
the ray hits nothing within it (tests/terms/test_lidar.py checks both against a float64 reference).
"""

from __future__ import annotations

import torch


def disk_hits(origin: torch.Tensor, u: torch.Tensor, centre: torch.Tensor, radius: torch.Tensor,
              hidden: torch.Tensor, rng: float) -> torch.Tensor:
    """Rays from ``origin [B, A, 2]`` along ``u [R, 2]`` against disks ``centre [B, K, 2]``, ``radius [B, K]``;
    ``hidden [B, A|1, K]`` disks are not hit. An origin inside a disk reads 0."""
    m = origin.unsqueeze(2) - centre.unsqueeze(1)  # [B, A, K, 2]: from the disk to the origin
    b = torch.einsum("bakd,rd->bakr", m, u)  # [B, A, K, R]
    c = (m * m).sum(-1) - (radius * radius).unsqueeze(1)  # [B, A, K]
    disc = b * b - c.unsqueeze(-1)
    t = -b - disc.clamp_min(0).sqrt()  # the nearer crossing
    hit = (disc >= 0) & (t >= 0)
    inside = (c < 0).unsqueeze(-1)
    t = torch.where(inside, torch.zeros_like(t), t)
    ok = (hit | inside) & ~hidden.unsqueeze(-1)
    t = torch.where(ok, t, torch.full_like(t, rng))
    return t.amin(2).clamp_max(rng) if t.shape[2] else origin.new_full(origin.shape[:2] + (u.shape[0],), rng)


def segment_hits(origin: torch.Tensor, u: torch.Tensor, seg: torch.Tensor, rng: float) -> torch.Tensor:
    """Rays from ``origin [B, A, 2]`` along ``u [R, 2]`` against segments ``seg [W, 4]``."""
    a, e = seg[:, 0:2], seg[:, 2:4] - seg[:, 0:2]  # [W, 2]
    denom = u[:, 0:1] * e[:, 1] - u[:, 1:2] * e[:, 0]  # [R, W]: cross(u, e)
    q = a.view(1, 1, -1, 2) - origin.unsqueeze(2)  # [B, A, W, 2]: from the origin to the segment's start
    qe = (q[..., 0] * e[:, 1] - q[..., 1] * e[:, 0]).unsqueeze(2)  # [B, A, 1, W]: cross(q, e)
    qu = q[..., 0].unsqueeze(2) * u[:, 1].view(1, 1, -1, 1) - q[..., 1].unsqueeze(2) * u[:, 0].view(1, 1, -1, 1)
    safe = torch.where(denom.abs() > 1e-12, denom, torch.ones_like(denom))
    t = qe / safe  # [B, A, R, W] along the ray
    s = qu / safe  # along the segment
    hit = (denom.abs() > 1e-12) & (t >= 0) & (s >= 0) & (s <= 1)
    return torch.where(hit, t, torch.full_like(t, rng)).amin(-1).clamp_max(rng)
