"""Effects checked one at a time on a small world: where a spawned entity appears, teleports, and
what happens to a carried entity when its carrier dies."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine

WORLD = """\
version: 1
name: effects
entities:
  red: {count: 1, spawn: {pos: [-0.5, 0.5]}}
  coin: {count: 1, capacity: 2, components: {collide: false}, spawn: {pos: [0.9, 0.9]}}
agents:
  red: {entity: red, observation: [self_pos]}
systems: []
rules:
  - name: make
    of: [red]
    when: [{compare: [world.go, "==", 1]}]
    do: [{spawn: SPAWN}, {set: [world.go, 0]}]
variables:
  go: {scope: world, default: 1}
"""


def _spawned(tmp_path: Path, spawn: str, worlds: int = 64) -> torch.Tensor:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD.replace("SPAWN", spawn))
    sim = engine.make(str(f), num_worlds=worlds, seed=3)
    sim.reset(seed=3)
    sim.step({"red": torch.zeros(worlds, 1, dtype=torch.int64)})
    coin1 = sim.layout.types["coin"].start + 1
    assert bool(sim.state["alive"][:, coin1].all())  # the free slot was filled
    assert int(sim.state["events.make"].sum()) == worlds
    return sim.state["pos"][:, coin1]


@pytest.mark.parametrize("spawn, where", [("{type: coin, at: self}", [-0.5, 0.5]),
                                          ("{type: coin, at: spawn}", [0.9, 0.9]),
                                          ("{type: coin, at: [0.25, -0.75]}", [0.25, -0.75])])
def test_spawn_places_the_new_entity(tmp_path: Path, spawn: str, where: list) -> None:
    pos = _spawned(tmp_path, spawn)
    assert torch.allclose(pos, torch.tensor(where).expand_as(pos))


def test_spawn_at_random_fills_the_arena_and_within_stays_near(tmp_path: Path) -> None:
    pos = _spawned(tmp_path, "{type: coin, at: random}", worlds=2000)
    assert bool((pos.abs() <= 1).all()) and pos.std(0).min() > 0.5  # uniform on [-1, 1]²: std 0.577
    near = _spawned(tmp_path, "{type: coin, at: self, within: 0.1}", worlds=500)
    d = (near - torch.tensor([-0.5, 0.5])).norm(dim=-1)
    assert bool((d <= 0.1 + 1e-6).all()) and d.max() > 0.08  # inside the disk, and spread over it


CARRY = """\
version: 1
name: carry
entities:
  red: {count: 2, components: {collide: false}}
  flag: {count: 1, components: {collide: false, movable: false}}
agents:
  red: {entity: red, observation: [self_pos]}
systems: [physics]
rules:
  - {name: grab, of: [red], with: [flag], when: [touching, {compare: [other.carried_by, "==", -1]}],
     do: [{attach: {of: other, to: self}}]}
  - {name: let_go, of: [red], when: [{carries: [flag]}, {compare: [world.release, "==", 1]}], do: [{drop: self}]}
variables:
  release: {scope: world}
"""


def _carry_sim(tmp_path: Path):
    f = tmp_path / "carry.yaml"
    f.write_text(CARRY)
    sim = engine.make(str(f), num_worlds=1, seed=0)
    sim.reset(seed=0)
    pos = sim.state["pos"].clone()
    pos[0] = torch.tensor([[0.0, 0.0], [0.8, 0.8], [0.02, 0.0]])
    sim.state["pos"] = pos
    return sim


def test_a_carried_entity_follows_until_dropped_and_a_dead_carrier_lets_go(tmp_path: Path) -> None:
    sim = _carry_sim(tmp_path)
    right = {"red": torch.tensor([[2, 0]])}  # red_0 moves +x
    sim.step(right)
    assert int(sim.state["carried_by"][0, 2]) == 0
    for _ in range(3):
        sim.step(right)
        assert torch.equal(sim.state["pos"][0, 2], sim.state["pos"][0, 0])  # follows, within the tick
    var = sim.state["var.release"].clone()
    var[0] = 1
    sim.state["var.release"] = var
    sim.step(right)
    assert int(sim.state["carried_by"][0, 2]) == -1 and int(sim.state["events.let_go"][0]) == 1
    left_at = sim.state["pos"][0, 2].clone()
    sim.step(right)
    assert torch.equal(sim.state["pos"][0, 2], left_at)  # dropped: it stays where it was let go
    # a carrier that dies lets go: put the flag back on red_0, grab, then kill red_0
    sim2 = _carry_sim(tmp_path)
    sim2.step(right)
    alive = sim2.state["alive"].clone()
    alive[0, 0] = False
    sim2.state["alive"] = alive
    sim2.step(right)
    assert int(sim2.state["carried_by"][0, 2]) == -1


DUEL = """\
version: 1
name: duel
entities:
  red: {count: 1, components: {collide: false}, spawn: {pos: [-0.5, 0.0]}}
  blue: {count: 1, components: {collide: false}, spawn: {pos: [0.5, 0.0]}}
  rock: {count: 1, components: {collide: false, movable: false}, spawn: {pos: [0.0, 0.75]}}
agents:
  red: {entity: red, observation: [self_pos]}
  blue: {entity: blue, observation: [self_pos]}
systems: []
variables:
  go: {scope: world, default: 1}
rules:
  - name: it
    of: [red]
    with: [blue]
    when: [{compare: [world.go, "==", 1]}, WHEN]
    do: [DO, {set: [world.go, 0]}]
"""


def _duel(tmp_path: Path, do: str, when: str = "{not: {chance: 0.0}}", worlds: int = 1):
    f = tmp_path / "duel.yaml"
    f.write_text(DUEL.replace("DO", do).replace("WHEN", when))
    sim = engine.make(str(f), num_worlds=worlds, seed=0)
    sim.reset(seed=0)
    noop = {g: torch.zeros(worlds, 1, dtype=torch.int64) for g in ("red", "blue")}
    out = sim.step(noop)
    return sim, out


@pytest.mark.parametrize("to, red, blue", [("self", 1.0, 0.0), ("other", 0.0, 1.0), ("team", 1.0, 0.0),
                                           ("other_team", 0.0, 1.0), ("all", 1.0, 1.0)])
def test_reward_goes_to_whom_it_says(tmp_path: Path, to: str, red: float, blue: float) -> None:
    _, (_, rew, *_) = _duel(tmp_path, f"{{reward: {{to: {to}, value: 1.0}}}}")
    assert (float(rew["red"][0, 0]), float(rew["blue"][0, 0])) == (red, blue)


@pytest.mark.parametrize("result, winner", [("win", 0), ("lose", 1), ("draw", -1)])
def test_end_terminates_with_the_declared_winner(tmp_path: Path, result: str, winner: int) -> None:
    _, (_, _, term, trunc, info) = _duel(tmp_path, f"{{end: {result}}}")
    assert bool(info["done"][0]) and bool(term["red"][0, 0]) and bool(term["blue"][0, 0])
    assert not bool(trunc["red"][0, 0])
    assert int(info["final_state"]["rules.winner"][0]) == winner and bool(info["final_state"]["rules.ended"][0])


@pytest.mark.parametrize("to, where", [("[0.25, -0.25]", [0.25, -0.25]), ("other", [0.5, 0.0]),
                                       ("spawn", [-0.5, 0.0])])
def test_teleport_moves_to_the_place_and_stops(tmp_path: Path, to: str, where: list) -> None:
    sim, _ = _duel(tmp_path, f"{{teleport: {{of: self, to: {to}}}}}")
    assert torch.allclose(sim.state["pos"][0, 0], torch.tensor(where))
    assert float(sim.state["vel"][0, 0].abs().sum()) == 0


def test_teleport_to_random_lands_in_the_arena(tmp_path: Path) -> None:
    sim, _ = _duel(tmp_path, "{teleport: {of: other, to: random}}", worlds=500)
    blue = sim.state["pos"][:, 1]
    assert bool((blue.abs() <= 1).all()) and blue.std(0).min() > 0.5


def test_every_fires_on_multiples_of_k_only(tmp_path: Path) -> None:
    f = tmp_path / "every.yaml"
    f.write_text(DUEL.replace('[{compare: [world.go, "==", 1]}, WHEN]', "[{every: 3}]")
                 .replace("do: [DO, {set: [world.go, 0]}]", "do: [{add: [world.go, 1]}]"))
    sim = engine.make(str(f), num_worlds=1, seed=0)
    sim.reset(seed=0)
    noop = {g: torch.zeros(1, 1, dtype=torch.int64) for g in ("red", "blue")}
    counts = []
    for _ in range(7):
        sim.step(noop)
        counts.append(int(sim.state["events.it"][0]))
    assert counts == [1, 1, 1, 2, 2, 2, 3]  # the rules see ticks 0, 1, …: fires at 0, 3, 6


def test_despawned_then_respawned_at_spawn_gets_fresh_values(tmp_path: Path) -> None:
    f = tmp_path / "res.yaml"
    f.write_text(DUEL.replace("WHEN", "{not: {chance: 0.0}}").replace("DO", "{despawn: other}")
                 + "  - {name: back, of: [blue], alive: dead, do: [{respawn: {of: self, at: spawn}}]}\n")
    sim = engine.make(str(f), num_worlds=1, seed=0)
    sim.reset(seed=0)
    pos = sim.state["pos"].clone()
    pos[0, 1] = torch.tensor([0.9, 0.9])
    sim.state["pos"] = pos
    noop = {g: torch.zeros(1, 1, dtype=torch.int64) for g in ("red", "blue")}
    sim.step(noop)  # rule `it` despawns blue; `back` (later in file order) brings it back at once, at spawn
    assert bool(sim.state["alive"][0, 1]) and int(sim.state["events.back"][0]) == 1
    assert torch.allclose(sim.state["pos"][0, 1], torch.tensor([0.5, 0.0]))
