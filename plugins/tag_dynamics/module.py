# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or
# `python -m engine.distill.vendoring PLUGIN_DIR`). Do not edit by hand: regenerate it.
"""The PyTorch source of ``WorldDynamics``,
for the weights in this folder's ``.pt`` files.

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
