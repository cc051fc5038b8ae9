"""The optimal-assignment reward: agents matched one-to-one to target points at the least total distance.

MPE's newer scenarios score a formation this way (``simple_formation``: points on a circle around a
landmark; ``simple_line``: points evenly spaced between two landmarks), with scipy's Hungarian
algorithm per world. Here the matching is whole-tensor: the N! permutations of N agents are a
constant table ``[P, N]``; each tick computes the ``[B, N, N]`` distances, the total cost of every
permutation (one gather and a sum) and keeps the cheapest — exact, compile-friendly, and cheap for the
formation sizes these tasks use. More than ``MAX_AGENTS`` is a located error.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch

from engine.world.env import BuildEnv, GroupPlan
from engine.world.validation import fld

#: Largest formation: 8! = 40,320 permutations per world and tick.
MAX_AGENTS = 8


@dataclass(kw_only=True)
class FormationReward:
    """``scale`` × the mean, over the agents of ``of``, of their distance (clipped to ``clip``) to the
    target point they are optimally assigned to; the same for every agent of the group."""

    of: list[str] = fld(min_items=1, doc="Entity types of the entities that form up (at most 8 in all).")
    shape: Literal["circle", "line", "entities"] = fld(
        doc="circle: evenly spaced around the first entity of `around`, starting at the smallest angle "
            "of any member (MPE simple_formation); line: evenly spaced from the first to the second entity "
            "of `around` (MPE simple_line); entities: the positions of the entities of `around` themselves.")
    around: list[str] = fld(min_items=1, doc="Entity types the targets are built from (see shape).")
    radius: float = fld(0.5, gt=0, doc="circle: its radius.")
    clip: float = fld(2.0, gt=0, doc="Each assigned distance counts at most this much.")
    scale: float = fld(-1.0, doc="Reward per unit of mean distance.")


def _targets(shape: str, n: int, radius: float):
    """``fn(members [B, N, 2], anchors [B, K, 2]) -> [B, N, 2]`` target points."""
    if shape == "entities":
        return lambda members, anchors: anchors
    steps = torch.arange(n)
    if shape == "line":
        frac = steps / max(n - 1, 1)

        def line(members: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
            a, b = anchors[:, :1], anchors[:, 1:2]
            return a + frac.to(members).view(1, n, 1) * (b - a)

        return line
    sep = 2 * math.pi / n

    def circle(members: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
        center = anchors[:, :1]  # [B, 1, 2]
        rel = members - center
        angle = torch.atan2(rel[..., 1], rel[..., 0])
        angle = torch.where(angle < 0, angle + 2 * math.pi, angle)  # [0, 2π), as MPE's _find_angle
        theta = angle.min(1, keepdim=True).values + steps.to(members).view(1, n) * sep  # [B, N]
        return center + radius * torch.stack([theta.cos(), theta.sin()], -1)

    return circle


def formation(env: BuildEnv, group: GroupPlan, p: FormationReward, path: tuple):
    """MPE simple_formation / simple_line's global reward: an optimal assignment of agents to points."""
    env.check_types(p.of, path + ("of",))
    env.check_types(p.around, path + ("around",))
    members = env.layout.indices(p.of).to(env.device)
    anchors = env.layout.indices(p.around).to(env.device)
    n = len(members)
    if not 1 <= n <= MAX_AGENTS:
        raise env.ctx.error(path + ("of",), f"expected 1 to {MAX_AGENTS} entities to form up (the assignment "
                                            f"tries every permutation), got {n}")
    need = {"circle": (1, None), "line": (2, 2), "entities": (n, n)}[p.shape]
    if len(anchors) < need[0] or (need[1] is not None and len(anchors) != need[1]):
        want = f"exactly {need[1]}" if need[1] is not None else f"at least {need[0]}"
        raise env.ctx.error(path + ("around",), f"shape {p.shape!r} needs {want} entities in `around`, got "
                                                f"{len(anchors)}")
    env.reserve(math.factorial(n) * n * (2 * env.float_size + 8), f"the formation reward ({math.factorial(n):,} "
                f"permutations of {n} entities)", path, "form up fewer entities (at most 8)")
    perms = torch.tensor(list(itertools.permutations(range(n))), device=env.device)  # [P, N]
    rows = torch.arange(n, device=env.device)
    targets, clip, scale, A = _targets(p.shape, n, p.radius), p.clip, p.scale, group.size

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        pos = state["pos"]
        here = pos[:, members]  # [B, N, 2]
        goal = targets(here, pos[:, anchors])  # [B, N, 2]
        d = (here.unsqueeze(2) - goal.unsqueeze(1)).square().sum(-1).sqrt()  # [B, N(agent), N(target)]
        cost = d[:, rows.unsqueeze(0), perms]  # [B, P, N]: agent i → target perms[p, i]
        best = cost.sum(-1).argmin(-1)  # [B]
        chosen = torch.gather(cost, 1, best.view(-1, 1, 1).expand(-1, 1, n)).squeeze(1)  # [B, N]
        r = chosen.clamp(0, clip).mean(-1) * scale
        return r.unsqueeze(1).expand(-1, A)

    return term
