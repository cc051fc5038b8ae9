"""Sampling-based trajectory optimisation — the cross-entropy method (CEM) and MPPI — batched over worlds.

A *plan* is a sequence of actions for every agent of a group: ``[B, H, A]`` choices for a discrete
action space, ``[B, H, A, n]`` values for a continuous one (B worlds, H ticks ahead, A agents). The
optimiser keeps a sampling distribution per world, factorised over ticks and agents (a categorical
per step and agent, or a clipped Gaussian), and repeats, ``iterations`` times:

1. sample ``C`` candidate plans per world — ``[B, C, H, A(, n)]``, one tensor for all worlds;
2. score them with ``score(candidates) -> [B, C]`` (the caller imagines them with a model, all
   ``B·C`` at once);
3. refit the distribution: CEM on the ``elites`` best candidates (equal weights), MPPI on all of
   them weighted by ``softmax(return / (temperature · spread))`` where ``spread`` is the standard
   deviation of the world's returns, so the temperature does not depend on the reward's scale.

Nothing here knows about worlds or models, so the same code is tested on toy problems whose optimum
is known (``tests/learned/test_planning.py``). Random numbers come from a ``Draws`` object — the
counter-based ``engine.core.random.Random`` of the tick, or ``TorchDraws`` around a generator.

Example — find the sequence 2, 0, 1 of a 3-way choice by CEM:

    >>> import torch
    >>> from engine.learned.planning import Budget, Categorical, TorchDraws, optimize
    >>> target = torch.tensor([2, 0, 1]).view(1, 1, 3, 1)
    >>> score = lambda c: (c == target).sum((2, 3)).float()     # [B, C] matches
    >>> budget = Budget(horizon=3, candidates=32, iterations=4, elites=4)
    >>> out = optimize(score, Categorical(3), budget, TorchDraws(torch.Generator().manual_seed(0)), 1, agents=1)
    >>> out.plan.view(-1).tolist(), float(out.value[0])
    ([2, 0, 1], 3.0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch


@dataclass(frozen=True)
class Budget:
    """How hard to think per tick (``PlanSpec`` of the world file carries the same fields)."""

    horizon: int = 8
    candidates: int = 64
    iterations: int = 3
    method: str = "cem"  # cem | mppi
    elites: int = 8
    temperature: float = 0.5
    smoothing: float = 0.1
    warm_start: float = 0.5


class Draws(Protocol):
    """Where random numbers come from: ``uniform(shape)`` in [0, 1) and ``normal(shape)``, batch axis first."""

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor: ...

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor: ...


class TorchDraws:
    """``Draws`` from a ``torch.Generator`` (tests, and callers outside a tick)."""

    def __init__(self, generator: torch.Generator, device: torch.device | str = "cpu") -> None:
        self.generator, self.device = generator, device

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)


class Categorical:
    """Independent categorical distributions over ``n`` choices per (world, step, agent): ``[B, H, A, n]``."""

    discrete = True

    def __init__(self, n: int) -> None:
        self.n = n

    def initial(self, B: int, H: int, A: int, warm: torch.Tensor | None, weight: torch.Tensor,
                device: torch.device | str) -> torch.Tensor:
        """Uniform, mixed with the one-hot ``warm`` plan ``[B, H, A]`` at ``weight [B]``."""
        probs = torch.full((B, H, A, self.n), 1.0 / self.n, device=device)
        if warm is None:
            return probs
        w = weight.to(probs.dtype).view(B, 1, 1, 1)
        return (1 - w) * probs + w * torch.nn.functional.one_hot(warm, self.n).to(probs.dtype)

    def sample(self, probs: torch.Tensor, C: int, draws: Draws) -> torch.Tensor:
        """``[B, C, H, A]`` choices by inverse CDF of one uniform draw each."""
        B, H, A, n = probs.shape
        u = draws.uniform((B, C, H, A)).to(probs.dtype)
        cdf = probs.cumsum(-1).unsqueeze(1)  # [B, 1, H, A, n]
        return (u.unsqueeze(-1) >= cdf).sum(-1).clamp_max(n - 1)

    def refit(self, probs: torch.Tensor, cand: torch.Tensor, w: torch.Tensor, smoothing: float) -> torch.Tensor:
        """The weighted frequency of each choice (weights ``[B, C]`` sum to 1), smoothed with the old one."""
        onehot = torch.nn.functional.one_hot(cand, self.n).to(probs.dtype)  # [B, C, H, A, n]
        new = torch.einsum("bc,bchan->bhan", w.to(probs.dtype), onehot)
        return (1 - smoothing) * new + smoothing * probs

    def mode(self, probs: torch.Tensor) -> torch.Tensor:
        return probs.argmax(-1)


class Gaussian:
    """Independent Gaussians over ``n`` values in ``[low, high]`` per (world, step, agent), samples clipped.

    The distribution is ``(mean, std)``, each ``[B, H, A, n]``; it starts at the middle of the range
    (or the warm plan) with a standard deviation of half the range, and never shrinks below
    ``min_std`` × range, so that a converged plan can still follow a moving target.
    """

    discrete = False

    def __init__(self, n: int, low: float, high: float, min_std: float = 0.02) -> None:
        self.n, self.low, self.high = n, low, high
        self.std0 = 0.5 * (high - low)
        self.min_std = min_std * (high - low)

    def initial(self, B: int, H: int, A: int, warm: torch.Tensor | None, weight: torch.Tensor,
                device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        mean = torch.full((B, H, A, self.n), 0.5 * (self.low + self.high), device=device)
        if warm is not None:
            w = weight.to(mean.dtype).view(B, 1, 1, 1)
            mean = (1 - w) * mean + w * warm.to(mean.dtype)
        return mean, torch.full_like(mean, self.std0)

    def sample(self, dist: tuple[torch.Tensor, torch.Tensor], C: int, draws: Draws) -> torch.Tensor:
        mean, std = dist
        B, H, A, n = mean.shape
        z = draws.normal((B, C, H, A, n)).to(mean.dtype)
        return (mean.unsqueeze(1) + std.unsqueeze(1) * z).clamp(self.low, self.high)

    def refit(self, dist: tuple[torch.Tensor, torch.Tensor], cand: torch.Tensor, w: torch.Tensor,
              smoothing: float) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = dist
        wv = w.to(mean.dtype).view(w.shape + (1, 1, 1))
        new_mean = (wv * cand).sum(1)
        new_std = ((wv * (cand - new_mean.unsqueeze(1)).square()).sum(1)).sqrt().clamp_min(self.min_std)
        return ((1 - smoothing) * new_mean + smoothing * mean, (1 - smoothing) * new_std + smoothing * std)

    def mode(self, dist: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return dist[0]


def candidate_weights(returns: torch.Tensor, method: str, elites: int, temperature: float) -> torch.Tensor:
    """``[B, C]`` weights that sum to 1 per world; non-finite returns get weight 0 (a model that blew up
    on a candidate must not steer the plan)."""
    finite = torch.isfinite(returns)
    r = torch.where(finite, returns, torch.full_like(returns, float("-inf")))
    C = r.shape[1]
    if method == "cem":
        idx = r.topk(min(elites, C), dim=1).indices
        w = torch.zeros_like(r).scatter_(1, idx, 1.0)
        w = torch.where(finite, w, torch.zeros_like(w))  # fewer finite returns than elites: only those
        total = w.sum(1, keepdim=True)
        return torch.where(total > 0, w / total.clamp_min(1.0), torch.full_like(w, 1.0 / C))
    n = finite.sum(1, keepdim=True).clamp_min(1)
    rz = torch.where(finite, r, torch.zeros_like(r))
    mean = rz.sum(1, keepdim=True) / n
    spread = (torch.where(finite, r - mean, torch.zeros_like(r)).square().sum(1, keepdim=True) / n).sqrt()
    top = rz.masked_fill(~finite, float("-inf")).amax(1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    w = torch.softmax((r - top) / (temperature * spread + 1e-6), dim=1)
    return torch.nan_to_num(w, nan=1.0 / C)  # a world with no finite return: uniform


@dataclass
class PlanResult:
    """The plan to follow ``[B, H, A(, n)]``, its imagined return ``[B]`` (the best candidate's) and how
    many candidate returns were not finite (summed over iterations, ``[B]``)."""

    plan: torch.Tensor
    value: torch.Tensor
    nonfinite: torch.Tensor


def optimize(score: Callable[[torch.Tensor], torch.Tensor], dist_kind: Categorical | Gaussian, budget: Budget,
             draws: Draws, num_worlds: int, agents: int, warm: torch.Tensor | None = None,
             warm_weight: torch.Tensor | None = None, device: torch.device | str = "cpu") -> PlanResult:
    """Run ``budget.iterations`` rounds of sample → score → refit for ``num_worlds`` worlds at once.

    ``warm`` (``[B, H, A(, n)]``, e.g. last tick's plan shifted by one) seeds the first distribution at
    ``warm_weight [B]`` (default ``budget.warm_start``) and is candidate 0 of every round, so the
    plan never gets worse than following it. CEM returns the best candidate seen; MPPI the mode of
    the last refitted distribution (the weighted choice per step and agent).
    """
    B, H, C = num_worlds, budget.horizon, budget.candidates
    use_warm = warm is not None and budget.warm_start > 0
    if warm_weight is None:
        warm_weight = torch.full((B,), budget.warm_start, device=device)
    dist = dist_kind.initial(B, H, agents, warm if use_warm else None, warm_weight, device)
    best_value = torch.full((B,), float("-inf"), device=device)
    best = None
    bad = torch.zeros(B, device=device)
    rows = torch.arange(B, device=device)
    for _ in range(budget.iterations):
        cand = dist_kind.sample(dist, C, draws)
        if use_warm:
            cand = torch.cat([warm.unsqueeze(1).to(cand.dtype), cand[:, 1:]], 1)
        returns = score(cand)
        finite = torch.isfinite(returns)
        bad = bad + (~finite).sum(1).to(bad.dtype)
        top_value, top = torch.where(finite, returns, float("-inf")).max(1)
        top_plan = cand[rows, top]
        if best is None:
            best, best_value = top_plan, top_value
        else:
            better = top_value > best_value
            best = torch.where(better.view((B,) + (1,) * (best.dim() - 1)), top_plan, best)
            best_value = torch.where(better, top_value, best_value)
        w = candidate_weights(returns, budget.method, budget.elites, budget.temperature)
        dist = dist_kind.refit(dist, cand, w, budget.smoothing)
    plan = best if budget.method == "cem" else dist_kind.mode(dist)
    return PlanResult(plan, best_value, bad)


def shift(plan: torch.Tensor) -> torch.Tensor:
    """The plan one tick later: drop the step just taken, repeat the last one (the warm start)."""
    return torch.cat([plan[:, 1:], plan[:, -1:]], 1)
