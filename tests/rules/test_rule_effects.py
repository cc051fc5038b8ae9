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
