"""Spawn draws: fresh values of the components that have spawn rules, for every entity of B worlds.

Used at reset (a reset hook) and before ticks in which entities may respawn (``lifecycle``), always
from the Sim's generator and in the same order, so runs and recordings are reproducible.
"""

from __future__ import annotations

import math

import torch


def _kind_mask(kind: torch.Tensor, k: int, like: torch.Tensor) -> torch.Tensor:
    return (kind == k).view((1, -1) + (1,) * (like.dim() - 2))


def draw_spawn(plans: list, B: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``component → [B, N, ...]`` fresh spawn values (constants, uniform, normal and whole-number draws)."""
    out = {}
    for sp in plans:
        shape = (B,) + tuple(sp.a.shape)
        val = sp.a.expand(shape)
        if bool((sp.kind == 5).any()):  # whole numbers in [a, b): drawn in float64, exact below 2**53
            u = torch.rand(shape, generator=generator, device=sp.a.device, dtype=torch.float64)
            drawn = (sp.a.double() + ((sp.b - sp.a).double() * u).floor()).to(sp.a.dtype)
            val = torch.where(_kind_mask(sp.kind, 5, val), drawn, val)
        if bool((sp.kind == 2).any()):
            u = torch.rand(shape, generator=generator, device=sp.a.device, dtype=sp.a.dtype)
            val = torch.where(_kind_mask(sp.kind, 2, val), sp.a + (sp.b - sp.a) * u, val)
        if bool((sp.kind == 3).any()):
            z = torch.randn(shape, generator=generator, device=sp.a.device, dtype=sp.a.dtype)
            val = torch.where(_kind_mask(sp.kind, 3, val), sp.a + sp.b * z, val)
        for slots, centre, radius, step, arena in sp.rings:
            val = _ring(val, slots, centre, radius, step, arena, generator)
        out[sp.component] = val.contiguous()
    return out


def _ring(val: torch.Tensor, slots: torch.Tensor, centre: int, radius: float, step: float, arena: tuple,
          generator: torch.Generator) -> torch.Tensor:
    """Positions at ``radius`` from entity ``centre`` in a uniform random direction; with ``step`` > 0 the
    direction turns by ``step`` until the point is strictly inside the arena (MPE simple_line), all
    candidates at once: the first inside wins (the first candidate when none is)."""
    B, K = val.shape[0], len(slots)
    theta = torch.rand((B, K), generator=generator, device=val.device, dtype=val.dtype) * (2 * math.pi)
    turns = int(math.ceil(2 * math.pi / step)) if step > 0 else 1
    cand = theta.unsqueeze(-1) + step * torch.arange(turns, device=val.device, dtype=val.dtype)  # [B, K, T]
    c = val[:, centre].view(B, 1, 1, 2)
    loc = c + radius * torch.stack((torch.cos(cand), torch.sin(cand)), -1)  # [B, K, T, 2]
    x, y = loc[..., 0], loc[..., 1]
    inside = (x > arena[0]) & (x < arena[1]) & (y > arena[2]) & (y < arena[3])
    first = inside.to(torch.int8).argmax(-1)  # 0 when none is inside
    chosen = loc.gather(2, first.view(B, K, 1, 1).expand(B, K, 1, 2)).squeeze(2)
    val = val.clone()
    val[:, slots] = chosen
    return val


#: Per-entity fresh spawn values, drawn before each tick for whoever brings entities back mid-episode.
FRESH = "_respawn."


def declare_fresh_spawn(env, path: tuple, owner: str) -> list[str]:
    """Declare ``_respawn.<component>`` (fresh spawn values of every spawned component, ``[B, N, ...]``)
    and the pre-tick hook that draws them; once per world, whoever asks first (lifecycle, rules).
    Returns the components it covers."""
    from engine.core.state import StateDecl

    plans = env.spawn_plans
    comps = env.layout.components
    names = [sp.component for sp in plans]
    if not names or FRESH + names[0] in env.state:
        return names
    for c in names:
        size = env.layout.n * env.layout.torch_dtype(comps[c]).itemsize
        for d in comps[c].shape:
            size *= d
        env.reserve(size, f"{owner}'s copy of fresh {c} values for respawns", path,
                    f"lower the entity counts/capacities or the shape of {c}", work=False)
        env.add_state(StateDecl(FRESH + c, "entity", comps[c].shape, env.layout.torch_dtype(comps[c]), 0,
                                reset="keep", owner=owner, doc=f"fresh spawn values of {c} for respawns"))

    def draw_fresh(state: dict, generator, B: int) -> None:
        fresh = draw_spawn(plans, B, generator)
        for c in names:
            state[FRESH + c] = fresh[c]

    env.add_pre_tick(draw_fresh)
    return names


def apply_fresh(state: dict, back: torch.Tensor, components: list[str]) -> None:
    """Give the entities where ``back`` (``[B, N]`` bool) is set their fresh spawn values and zero velocity."""
    for comp in components:
        fresh = state[FRESH + comp]
        state[comp] = torch.where(back.view(back.shape + (1,) * (fresh.dim() - 2)), fresh, state[comp])
    state["vel"] = torch.where(back.unsqueeze(-1), torch.zeros_like(state["vel"]), state["vel"])
