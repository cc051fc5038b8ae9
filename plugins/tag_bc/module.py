# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or
# `python -m engine.distill.vendoring PLUGIN_DIR`). Do not edit by hand: regenerate it.
"""The PyTorch source of ``PolicyMLP``,
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
