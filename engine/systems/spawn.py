"""Spawn draws: fresh values of the components that have spawn rules, for every entity of B worlds.

Used at reset (a reset hook) and before ticks in which entities may respawn (``lifecycle``), always
from the Sim's generator and in the same order, so runs and recordings are reproducible.
"""

from __future__ import annotations

import torch


def _kind_mask(kind: torch.Tensor, k: int, like: torch.Tensor) -> torch.Tensor:
    return (kind == k).view((1, -1) + (1,) * (like.dim() - 2))


def draw_spawn(plans: list, B: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``component → [B, N, ...]`` fresh spawn values (constants, uniform and normal draws)."""
    out = {}
    for sp in plans:
        shape = (B,) + tuple(sp.a.shape)
        val = sp.a.expand(shape)
        if bool((sp.kind == 2).any()):
            u = torch.rand(shape, generator=generator, device=sp.a.device, dtype=sp.a.dtype)
            val = torch.where(_kind_mask(sp.kind, 2, val), sp.a + (sp.b - sp.a) * u, val)
        if bool((sp.kind == 3).any()):
            z = torch.randn(shape, generator=generator, device=sp.a.device, dtype=sp.a.dtype)
            val = torch.where(_kind_mask(sp.kind, 3, val), sp.a + sp.b * z, val)
        out[sp.component] = val.contiguous()
    return out
