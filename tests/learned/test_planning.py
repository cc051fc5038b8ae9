"""CEM and MPPI (engine.learned.planning) on toy problems whose optimum is known, batched over worlds."""

from __future__ import annotations

import pytest
import torch

from engine.learned.planning import Budget, Categorical, Gaussian, TorchDraws, candidate_weights, optimize, shift


def _draws(seed: int = 0) -> TorchDraws:
    return TorchDraws(torch.Generator().manual_seed(seed))


def _matches(targets: torch.Tensor):
    """Score = how many (step, agent) choices equal the world's target ``[B, H, A]``; optimum H·A."""
    def score(cand: torch.Tensor) -> torch.Tensor:
        return (cand == targets.unsqueeze(1)).sum((2, 3)).to(torch.float32)
    return score


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_categorical_finds_each_worlds_own_target_sequence(method):
    g = torch.Generator().manual_seed(3)
    B, H, A, n = 4, 5, 2, 5
    targets = torch.randint(0, n, (B, H, A), generator=g)
    budget = Budget(horizon=H, candidates=128, iterations=8, method=method, elites=8, temperature=0.5,
                    smoothing=0.3, warm_start=0.0)  # found by all of 30 seeds tried, both methods
    out = optimize(_matches(targets), Categorical(n), budget, _draws(), B, agents=A)
    assert torch.equal(out.plan, targets)  # every world reaches its own optimum in the same batched run
    assert torch.equal(out.value, torch.full((B,), float(H * A)))
    assert not out.nonfinite.any()


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_gaussian_finds_the_minimum_of_a_quadratic(method):
    B, H, A, n = 3, 4, 2, 3
    target = torch.linspace(0.1, 0.9, B * H * A * n).view(B, H, A, n)

    def score(cand: torch.Tensor) -> torch.Tensor:  # -(a - target)², maximal at the target
        return -(cand - target.unsqueeze(1)).square().sum((2, 3, 4))

    budget = Budget(horizon=H, candidates=256, iterations=16, method=method, elites=16, temperature=0.5,
                    smoothing=0.0, warm_start=0.0)
    out = optimize(score, Gaussian(n, 0.0, 1.0, min_std=0.001), budget, _draws(1), B, agents=A)
    assert (out.plan - target).abs().max() < 0.08
    assert ((out.plan >= 0) & (out.plan <= 1)).all()  # samples are clipped into the action space


def test_the_warm_plan_is_a_candidate_so_the_plan_never_gets_worse():
    targets = torch.tensor([[[1], [2], [3], [4]]])  # [B=1, H=4, A=1]
    budget = Budget(horizon=4, candidates=4, iterations=1, elites=1, warm_start=0.5)
    out = optimize(_matches(targets), Categorical(5), budget, _draws(), 1, agents=1, warm=targets)
    assert torch.equal(out.plan, targets) and float(out.value[0]) == 4.0


def test_non_finite_returns_are_never_chosen_and_are_counted():
    targets = torch.zeros(2, 3, 1, dtype=torch.int64)

    def score(cand: torch.Tensor) -> torch.Tensor:  # the best-looking candidates are NaN (a model blew up)
        r = (cand == targets.unsqueeze(1)).sum((2, 3)).to(torch.float32)
        return torch.where(r == 3, torch.tensor(float("nan")), r)

    budget = Budget(horizon=3, candidates=64, iterations=3, elites=4)
    out = optimize(score, Categorical(2), budget, _draws(), 2, agents=1)
    assert torch.isfinite(out.value).all() and (out.value == 2).all()
    assert (out.nonfinite > 0).all()


def test_candidate_weights():
    r = torch.tensor([[1.0, 5.0, 3.0, float("nan")], [float("nan")] * 4])
    cem = candidate_weights(r, "cem", elites=2, temperature=1.0)
    assert torch.allclose(cem[0], torch.tensor([0.0, 0.5, 0.5, 0.0]))
    assert torch.allclose(cem[1], torch.full((4,), 0.25))  # nothing finite: uniform, not NaN
    mppi = candidate_weights(r, "mppi", elites=2, temperature=1.0)
    assert torch.allclose(mppi.sum(1), torch.ones(2)) and mppi[0, 3] == 0 and mppi[0, 1] > mppi[0, 2] > mppi[0, 0]
    # the temperature is relative to the spread of returns: scaling the rewards changes nothing
    assert torch.allclose(candidate_weights(r * 100, "mppi", 2, 1.0)[0], mppi[0])


def test_shift_drops_the_step_taken_and_repeats_the_last():
    plan = torch.tensor([[[1], [2], [3]]])
    assert shift(plan).view(-1).tolist() == [2, 3, 3]


def test_optimize_is_deterministic_for_a_seed():
    targets = torch.randint(0, 5, (2, 4, 3), generator=torch.Generator().manual_seed(0))
    budget = Budget(horizon=4, candidates=16, iterations=2)
    a = optimize(_matches(targets), Categorical(5), budget, _draws(7), 2, agents=3)
    b = optimize(_matches(targets), Categorical(5), budget, _draws(7), 2, agents=3)
    assert torch.equal(a.plan, b.plan) and torch.equal(a.value, b.value)
