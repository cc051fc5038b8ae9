"""Pairings (engine.pairings): partners drawn per reset as declared, read by the partner terms, and
every mistake in a pairing a located error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.errors import WorldError

WORLD = Path(engine.__file__).parent.parent / "worlds" / "mpe" / "simple_adversary.yaml"


def _make(num_worlds: int = 64, **overrides):
    return engine.make(WORLD, num_worlds=num_worlds, overrides=overrides or None, seed=0)


def test_shared_gives_every_entity_of_a_world_the_same_random_partner() -> None:
    sim = _make()
    sim.reset()
    pair = sim.state["pair.goal"]  # [B, 3]: adversary, agent, agent → a landmark index
    assert pair.shape == (64, 3) and bool((pair == pair[:, :1]).all())
    landmarks = sim.layout.types["landmark"]
    assert set(pair[:, 0].tolist()) == {landmarks.start, landmarks.start + 1}  # both drawn over 64 worlds


AGENTS_ONLY = {"pairings.goal.of": ["agent"],  # the good agents each get their own landmark
               "agents.adversary.reward": [{"distance": {"to": ["landmark"]}}],
               "agents.agent.reward": [{"partner_distance": {"pairing": "goal"}}]}


def test_shuffled_is_a_one_to_one_assignment_and_fixed_is_in_order() -> None:
    shuffled = _make(**AGENTS_ONLY, **{"pairings.goal.choose": "shuffled"})
    shuffled.reset()
    lm = shuffled.layout.types["landmark"].start
    rows = {tuple(r) for r in (shuffled.state["pair.goal"] - lm).tolist()}
    assert rows == {(0, 1), (1, 0)}
    fixed = _make(**AGENTS_ONLY, **{"pairings.goal.choose": "fixed"})
    fixed.reset()
    assert (fixed.state["pair.goal"] - lm).tolist() == [[0, 1]] * 64


def test_partners_are_redrawn_at_reset_reproducibly_and_read_by_the_terms() -> None:
    a, b = _make(8), _make(8)
    a.reset(seed=3)
    b.reset(seed=3)
    assert torch.equal(a.state["pair.goal"], b.state["pair.goal"])
    pos = a.state["pos"]
    goal = pos[torch.arange(8), a.state["pair.goal"][:, 0]]  # [B, 2]
    agents = a.layout.types["agent"]
    want = goal.unsqueeze(1) - pos[:, agents.start:agents.stop]
    assert torch.allclose(a.observations()["agent"][..., :2], want)  # partner_pos leads the observation
    _, rew, *_ = a.step(a.sample_actions())
    adv = a.layout.types["adversary"].start
    pos, goal = a.state["pos"], a.state["pos"][torch.arange(8), a.state["pair.goal"][:, 0]]
    assert torch.allclose(rew["adversary"][:, 0], -(pos[:, adv] - goal).norm(dim=-1), atol=1e-6)
    good = (pos[:, agents.start:agents.stop] - goal.unsqueeze(1)).norm(dim=-1)
    want = -good.min(1).values + (pos[:, adv] - goal).norm(dim=-1)
    assert torch.allclose(rew["agent"], want.unsqueeze(1).expand(-1, 2), atol=1e-5)
    assert "pair.goal" in a.table.recorded()


@pytest.mark.parametrize("overrides, message", [
    ({"pairings.goal.choose": "fixed"}, r"pairings\.goal\.choose.*3 entity slots.*of which there are 2"),
    ({"pairings.goal.to": "landmarks"},
     r"pairings\.goal\.to: unknown entity type 'landmarks' \(did you mean 'landmark'\?\)"),
    ({"agents.agent.observation": [{"partner_pos": {"pairing": "target"}}]}, r"unknown pairing 'target'"),
    ({"pairings.goal.of": ["adversary"]}, r"pairing 'goal' binds entities of \['adversary'\], not \['agent'\]"),
    ({**AGENTS_ONLY, "agents.agent.reward": [{"partner_distance": {"pairing": "goal", "reduce": "max",
                                                                   "of": ["agent"]}}]},
     r"expected 'min', 'sum' or 'mean'"),
    ({"pairings.goal.choose": "sometimes"}, r"pairings\.goal\.choose"),
])
def test_mistakes_in_a_pairing_are_located_errors(overrides: dict, message: str) -> None:
    with pytest.raises(WorldError, match=message):
        _make(2, **overrides)


def test_agent_names_can_be_set_per_group(tmp_path: Path) -> None:
    """mpe2 names simple_adversary's good agents agent_i: a group of another name can say so."""
    from engine.pettingzoo import parallel_env

    world = WORLD.read_text().replace("\n  agent:                         # agent_0, agent_1\n",
                                      "\n  good:\n    agent_name: agent\n")
    assert "agent_name: agent" in world
    path = tmp_path / "renamed.yaml"
    path.write_text(world)
    env = parallel_env(path, compile=False)
    assert env.possible_agents == ["adversary_0", "agent_0", "agent_1"]
    with pytest.raises(WorldError, match=r"would be named adversary_0 …, as those of group 'adversary'"):
        engine.make(path, overrides={"agents.good.agent_name": "adversary"})
    with pytest.raises(WorldError, match=r"agent_name: expected a name of letters"):
        engine.make(path, overrides={"agents.good.agent_name": "9 lives"})


def test_cycled_pairs_each_entity_with_the_next() -> None:
    ref = engine.make(WORLD.parent / "simple_reference.yaml", num_worlds=3)
    ref.reset(seed=0)
    agents = ref.layout.types["agent"].start
    assert (ref.state["pair.goal_a"] - agents).tolist() == [[1, 0]] * 3  # the other agent
    with pytest.raises(WorldError, match=r"expected one of `from` and `from_partner`, got both"):
        engine.make(WORLD.parent / "simple_reference.yaml", overrides={"agents.agent.reward": [
            {"partner_distance": {"pairing": "goal_b", "from_partner": "goal_a", "from": ["agent"],
                                  "of": ["agent"]}}]})
