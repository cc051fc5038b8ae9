"""Communication (engine.systems.comm, ActionSpace's message part): MPE's flattened layout, the words
heard through ``comm``, and the mistakes as located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.errors import WorldError

SPREAD = Path(engine.__file__).parent.parent / "worlds" / "mpe" / "simple_spread.yaml"
TALK = {"agents.agent.action": {"type": "discrete", "say": 2}}  # simple_spread declares comm: [2]


def test_discrete_actions_are_move_plus_five_times_the_word() -> None:
    sim = engine.make(SPREAD, num_worlds=1, overrides=TALK)
    space = sim.groups["agent"].action_space
    assert space.n == 10 and "message = a // 5 of 2" in space.describe()
    sim.reset(seed=0)
    vel0 = sim.state["vel"][0, :3].clone()
    sim.step({"agent": torch.tensor([[7, 0, 5]])})  # agent 0: +x and word 1; agent 1: nothing; 2: word 1
    assert sim.state["comm"][0, :3].tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    dv = sim.state["vel"][0, :3] - vel0 * 0.75
    assert dv[0, 0] > 0.4 and abs(float(dv[1, 0])) < 0.2  # only agent 0 pushed +x (5 × 0.1 before contacts)
    obs = sim.observations()["agent"][0]
    assert obs[1, -4:].tolist() == [0.0, 1.0, 0.0, 1.0]  # agent 1 hears agents 0 and 2


def test_continuous_actions_are_five_moves_then_the_message() -> None:
    sim = engine.make(SPREAD, num_worlds=1, overrides={"agents.agent.action": {"type": "continuous", "say": 2}})
    assert sim.groups["agent"].action_space.n == 7
    sim.reset(seed=0)
    a = torch.zeros(1, 3, 7)
    a[0, 0, 5:] = torch.tensor([0.25, 0.75])
    sim.step({"agent": a})
    assert torch.allclose(sim.state["comm"][0, 0], torch.tensor([0.25, 0.75]))


def test_words_out_of_range_are_action_errors() -> None:
    from engine.errors import ActionError

    sim = engine.make(SPREAD, overrides=TALK)
    sim.reset()
    with pytest.raises(ActionError, match=r"expected an integer in 0\.\.9"):
        sim.step({"agent": torch.tensor([[10, 0, 0]])})


@pytest.mark.parametrize("overrides, message", [
    ({"agents.agent.action": {"type": "discrete", "say": 3}}, r"need a float component comm of shape \[3\]"),
    ({"agents.agent.action": {"type": "discrete", "moves": False}}, r"expected moves: true, say > 0 or named actions"),
])
def test_mistakes_are_located(overrides: dict, message: str) -> None:
    with pytest.raises(WorldError, match=message):
        engine.make(SPREAD, overrides=overrides)
