"""Spawn/despawn and agent death, on the shipped forage world."""

import torch

import engine

RED, BLUE, FOOD, HAZARD = slice(0, 3), slice(3, 6), slice(6, 16), slice(16, 19)
NOOP = {"red": torch.zeros(1, 3, dtype=torch.long), "blue": torch.zeros(1, 3, dtype=torch.long)}


def fresh():
    sim = engine.make("forage", num_worlds=1, seed=0)
    sim.reset()
    # a calm layout: everything far apart, hazards in a corner
    st = sim.state
    st["pos"][0, RED] = torch.tensor([[-1.0, -1.0], [-1.0, 0.0], [-1.0, 1.0]])
    st["pos"][0, BLUE] = torch.tensor([[1.0, -1.0], [1.0, 0.0], [1.0, 1.0]])
    st["pos"][0, FOOD] = torch.stack([torch.linspace(-0.5, 0.5, 10), torch.full((10,), 1.4)], -1)
    st["pos"][0, HAZARD] = torch.tensor([[0.0, -1.4], [0.4, -1.4], [-0.4, -1.4]])
    return sim


def test_food_is_eaten_rewarded_to_the_team_and_regrows():
    sim = fresh()
    sim.state["pos"][0, 6] = sim.state["pos"][0, 1] + torch.tensor([0.05, 0.0])  # pellet 0 touches red_1
    _, rew, *_ = sim.step(NOOP)
    assert not bool(sim.state["alive"][0, 6])
    assert int(sim.state["killed_by"][0, 6]) == 1
    # +1 shared by the whole red team (minus the small distance shaping)
    assert torch.all(rew["red"] > 0.9) and torch.all(rew["blue"] < 0)
    eaten_at = sim.state["pos"][0, 6].clone()
    for _ in range(14):
        sim.step(NOOP)
        assert not bool(sim.state["alive"][0, 6])
    sim.step(NOOP)
    assert bool(sim.state["alive"][0, 6]), "regrows after respawn_after=15 ticks"
    assert not torch.equal(sim.state["pos"][0, 6], eaten_at), "at a fresh spawn position"


def test_agent_death_terminates_and_masks_the_agent():
    sim = fresh()
    sim.state["pos"][0, 3] = sim.state["pos"][0, 16] + torch.tensor([0.0, 0.1])  # blue_0 touches a hazard
    obs, rew, term, trunc, info = sim.step(NOOP)
    assert not bool(sim.state["alive"][0, 3])
    assert term["blue"][0].tolist() == [True, False, False]
    assert float(rew["blue"][0, 0]) < -4.9, "death penalty on the tick it dies"
    assert torch.equal(obs["blue"][0, 0], torch.zeros_like(obs["blue"][0, 0])), "a dead agent observes zeros"
    pos_dead = sim.state["pos"][0, 3].clone()
    obs, rew, term, *_ = sim.step({"red": NOOP["red"], "blue": torch.tensor([[2, 2, 2]])})
    assert float(rew["blue"][0, 0]) == 0.0, "no reward after death"
    assert bool(term["blue"][0, 0])
    assert torch.equal(sim.state["pos"][0, 3], pos_dead), "a dead agent does not move"
    # the others see it as zeros
    red_view = obs["red"][0, 0]
    rel_others = red_view[-10:].view(5, 2)  # red_1, red_2, blue_0, blue_1, blue_2
    assert torch.equal(rel_others[2], torch.zeros(2))


def test_episode_ends_when_every_agent_is_dead():
    sim = fresh()
    for i in range(6):
        sim.state["pos"][0, i] = sim.state["pos"][0, 16 + i % 3] + torch.tensor([0.0, 0.05])
    obs, rew, term, trunc, info = sim.step(NOOP)
    assert bool(info["done"][0]) and bool(term["red"].all()) and bool(term["blue"].all())
    assert not bool(trunc["red"].any())
    assert bool(sim.state["alive"][0, :6].all()), "autoreset brings everyone back"
    assert int(sim.state["tick"][0]) == 0
