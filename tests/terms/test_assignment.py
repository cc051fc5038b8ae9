"""The formation reward (engine.terms.assignment) against scipy's Hungarian algorithm in float64, for
every target shape, and its limits as located errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import WorldError

scipy_optimize = pytest.importorskip("scipy.optimize")

WORLD = Path(engine.__file__).parent.parent / "worlds" / "mpe" / "simple_formation.yaml"


def _reference(pos: np.ndarray, members: list[int], anchors: list[int], shape: str) -> float:
    """MPE's computation (simple_formation / simple_line), with scipy, in float64."""
    here, n = pos[members], len(members)
    if shape == "circle":
        rel = here - pos[anchors[0]]
        theta = min(math.atan2(y, x) % (2 * math.pi) for x, y in rel)
        goal = [pos[anchors[0]] + 0.5 * np.array([math.cos(theta + i * 2 * math.pi / n),
                                                   math.sin(theta + i * 2 * math.pi / n)]) for i in range(n)]
    elif shape == "line":
        goal = [pos[anchors[0]] + i / (n - 1) * (pos[anchors[1]] - pos[anchors[0]]) for i in range(n)]
    else:
        goal = [pos[a] for a in anchors]
    d = np.array([[np.linalg.norm(h - g) for g in goal] for h in here])
    r, c = scipy_optimize.linear_sum_assignment(d)
    return -float(np.mean(np.clip(d[r, c], 0, 2)))


@pytest.mark.parametrize("shape, landmarks", [("circle", 1), ("line", 2), ("entities", 4)])
def test_the_reward_is_the_optimal_assignment(shape: str, landmarks: int) -> None:
    sim = engine.make(WORLD, num_worlds=16, seed=1, overrides={
        "world.dtype": "float64", "entities.landmark.count": landmarks,
        "entities.landmark.spawn.pos": {"uniform": [-1.0, 1.0]},
        "agents.agent.observation": ["self_vel", "self_pos"],
        "agents.agent.reward": [{"formation": {"of": ["agent"], "shape": shape, "around": ["landmark"]}}]})
    sim.reset()
    agents = list(range(4))
    anchors = list(range(4, 4 + landmarks))
    for _ in range(5):
        _, rew, *_ = sim.step(sim.sample_actions())
        pos = sim.state["pos"].numpy()
        want = [_reference(pos[b], agents, anchors, shape) for b in range(16)]
        assert np.allclose(rew["agent"].numpy(), np.array(want)[:, None], atol=1e-12)


def test_limits_are_located_errors() -> None:
    with pytest.raises(WorldError, match=r"expected 1 to 8 entities to form up .* got 9"):
        engine.make(WORLD, overrides={"entities.agent.count": 9})
    with pytest.raises(WorldError, match=r"shape 'line' needs exactly 2 entities in `around`, got 1"):
        engine.make(WORLD, overrides={"agents.agent.reward": [
            {"formation": {"of": ["agent"], "shape": "line", "around": ["landmark"]}}]})


def test_the_permutation_table_counts_in_the_memory_budget() -> None:
    from engine.errors import UserError

    with pytest.raises(UserError, match=r"20,000 copies of 'simple_formation' need about .* GiB"):
        engine.make(WORLD, num_worlds=20_000, overrides={"entities.agent.count": 8})


def test_it_compiles_to_the_eager_result() -> None:
    eager = engine.make(WORLD, num_worlds=8, seed=2)
    fused = engine.make(WORLD, num_worlds=8, seed=2, compile=True)
    gen = torch.Generator().manual_seed(0)
    acts = [eager.sample_actions(gen) for _ in range(10)]
    eager.reset()
    fused.reset()
    for a in acts:
        assert torch.allclose(eager.step(a)[1]["agent"], fused.step(a)[1]["agent"], atol=1e-5)
