"""The networks PPO trains: one actor per agent group (shared by its agents) and a critic.

The actor maps one agent's observation ``[..., F]`` to one logit per choice of the group's action
space (discrete) or to the mean of a Gaussian over its continuous values (continuous, with a learned
state-independent log std). Parameter sharing is what makes a group's policy independent of its size: the exported ONNX
model serves 3 adversaries or 300 with the same weights.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.core.actions import ActionSpace, movement


def mlp(sizes: list[int], activation: str, out_gain: float) -> nn.Sequential:
    """Orthogonally initialised MLP (PPO's usual init: √2 hidden, ``out_gain`` on the last layer)."""
    act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        last = i == len(sizes) - 2
        nn.init.orthogonal_(lin.weight, out_gain if last else math.sqrt(2))
        nn.init.zeros_(lin.bias)
        layers.append(lin)
        if not last:
            layers.append(act())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """A group's policy: observation → action distribution.

    Example:
        >>> actor = Actor(16, "discrete", [64, 64])
        >>> actor.act(torch.zeros(8, 16), deterministic=True).shape
        torch.Size([8])
    """

    def __init__(self, obs_size: int, action: ActionSpace | str, hidden: list[int], activation: str = "tanh") -> None:
        super().__init__()
        if isinstance(action, str):
            if action not in ("discrete", "continuous"):
                raise ValueError(f"action_type: expected 'discrete' or 'continuous', got {action!r}")
            action = movement(action)
        self.space = action
        self.obs_size, self.action_type = obs_size, action.kind
        self.hidden, self.activation = list(hidden), activation
        self.net = mlp([obs_size, *hidden, action.n], activation, out_gain=0.01)
        if not action.discrete:
            self.log_std = nn.Parameter(torch.full((action.n,), -0.5))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (discrete) or the Gaussian mean (continuous), ``[..., n]``."""
        return self.net(obs)

    def distribution(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.distributions.Distribution:
        out = self.net(obs)
        if self.action_type == "discrete":
            return torch.distributions.Categorical(logits=masked_logits(out, mask))
        return torch.distributions.Normal(out, self.log_std.exp().expand_as(out))

    def log_prob_entropy(self, obs: torch.Tensor, action: torch.Tensor, mask: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        dist = self.distribution(obs, mask)
        if self.action_type == "discrete":
            return dist.log_prob(action), dist.entropy()
        return dist.log_prob(action).sum(-1), dist.entropy().sum(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None,
            deterministic: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Actions for env use: ints ``[...]`` in 0..n-1 (among the allowed ones where ``mask`` is given), or
        floats ``[..., n]`` clipped to the space's range."""
        out = self.net(obs)
        if self.action_type == "discrete":
            out = masked_logits(out, mask)
            if deterministic:
                return out.argmax(-1)
            return sample_categorical(out, generator)
        lo, hi = self.space.low, self.space.high
        if deterministic:
            return out.clamp(lo, hi)
        noise = torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        return (out + noise * self.log_std.exp()).clamp(lo, hi)

    def spec(self) -> dict:
        """What is needed to rebuild this actor from a checkpoint."""
        return {"obs_size": self.obs_size, "action_type": self.action_type, "n_actions": self.space.n,
                "hidden": self.hidden, "activation": self.activation}


def sample_categorical(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Seeded categorical sampling (Gumbel-max): ``torch.multinomial`` needs 2-D input and is slower."""
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    return (logits - torch.log(-torch.log(u.clamp_min(1e-20)))).argmax(-1)


def masked_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits with unavailable actions (``mask`` False, ``[..., n]``) pushed to a probability of ~0: the
    world's action masks, honoured in sampling, log-probabilities and entropy alike."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask, -1e9)


def sample_with_log_prob(actor: Actor, obs: torch.Tensor, generator: torch.Generator,
                         mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(env action, stored action, log prob): continuous actions are stored unclipped for the ratio;
    discrete ones are drawn among the actions ``mask`` allows."""
    out = actor.net(obs)
    if actor.action_type == "discrete":
        out = masked_logits(out, mask)
        a = sample_categorical(out, generator)
        logp = torch.log_softmax(out, -1).gather(-1, a.unsqueeze(-1)).squeeze(-1)
        return a, a, logp
    std = actor.log_std.exp()
    raw = out + torch.randn(out.shape, generator=generator, device=out.device, dtype=out.dtype) * std
    logp = torch.distributions.Normal(out, std.expand_as(out)).log_prob(raw).sum(-1)
    return raw.clamp(actor.space.low, actor.space.high), raw, logp


class Critic(nn.Module):
    """Value function: ``local`` reads one agent's observation; ``central`` reads the global state and
    the agent's one-hot index in its group (so agents of one group can have different values).

    Example:
        >>> Critic(16, [64, 64])(torch.zeros(8, 3, 16)).shape
        torch.Size([8, 3])
    """

    def __init__(self, in_size: int, hidden: list[int], activation: str = "tanh") -> None:
        super().__init__()
        self.net = mlp([in_size, *hidden, 1], activation, out_gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


class ExportedPolicy(nn.Module):
    """The deterministic part of an actor, as exported to ONNX: ``obs [batch, F]`` → ``[batch, n]``.

    Example:
        >>> actor = Actor(16, "discrete", [64, 64])
        >>> obs = torch.randn(4, 16)
        >>> bool((ExportedPolicy(actor)(obs).argmax(-1) == actor.act(obs, deterministic=True)).all())
        True


    Discrete: the logits (the policy plugin takes the argmax, or samples). Continuous: the mean action,
    clipped to [0, 1] — exactly what ``Actor.act(..., deterministic=True)`` returns.
    """

    def __init__(self, actor: Actor) -> None:
        super().__init__()
        self.net = actor.net
        self.continuous = actor.action_type == "continuous"
        self.low, self.high = actor.space.low, actor.space.high

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.net(obs)
        return out.clamp(self.low, self.high) if self.continuous else out


def build_actor(spec: dict) -> Actor:
    """An actor from ``Actor.spec()`` (checkpoints from before ``n_actions`` was stored use the movement space)."""
    space = movement(spec["action_type"])
    if spec.get("n_actions", space.n) != space.n:
        space = ActionSpace(space.kind, int(spec["n_actions"]), tuple(str(i) for i in range(int(spec["n_actions"]))))
    return Actor(spec["obs_size"], space, spec["hidden"], spec.get("activation", "tanh"))
