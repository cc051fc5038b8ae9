"""``exclusive: both`` is a greedy one-to-one matching (objects in order, each to its lowest free subject —
MPE collect_treasure's pick-up loop), checked against that loop written out in Python, in a world too."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.rules.system import _one_to_one


def _serial(m: torch.Tensor) -> torch.Tensor:
    out = torch.zeros_like(m)
    for b in range(m.shape[0]):
        free = [True] * m.shape[1]
        for o in range(m.shape[2]):
            for s in range(m.shape[1]):
                if m[b, s, o] and free[s]:
                    out[b, s, o], free[s] = True, False
                    break
    return out


@pytest.mark.parametrize("subjects, objects", [(3, 5), (5, 3), (4, 4), (1, 6), (6, 1), (6, 2)])
def test_one_to_one_is_the_serial_greedy_loop(subjects: int, objects: int) -> None:
    g = torch.Generator().manual_seed(subjects * 10 + objects)
    for p in (0.2, 0.5, 0.8):
        m = torch.rand(300, subjects, objects, generator=g) < p
        got = _one_to_one(m, m.to(torch.int8))
        assert torch.equal(got, _serial(m))
        assert int(got.sum(1).max()) <= 1 and int(got.sum(2).max()) <= 1  # one-to-one


WORLD = """\
version: 1
name: grab
components:
  holding: {dtype: int64, default: -1}
entities:
  picker: {count: 2, components: {collide: false, radius: 0.05}, spawn: {pos: {each: [[0.0, 0.0], [0.16, 0.0]]}}}
  gem: {count: 2, components: {collide: false, radius: 0.05}, spawn: {pos: {each: [[-0.06, 0.0], [0.08, 0.0]]}}}
agents:
  picker: {entity: picker, observation: [self_pos]}
systems: []
rules:
  - name: grab
    of: [picker]
    with: [gem]
    when: [touching, {compare: [self.holding, "==", -1]}]
    do: [{set: [self.holding, other]}, {despawn: other}]
    exclusive: EXCLUSIVE
"""


# picker 0 touches both gems, picker 1 only gem 1 (entities: pickers 0, 1, gems 2, 3)
@pytest.mark.parametrize("exclusive, holding", [
    ("both", [2, 3]),    # gem 0 → picker 0; gem 1 → picker 1, the lowest *free* picker
    ("other", [2, -1]),  # one picker per gem: picker 0 gets both matches (values from its first), 1 none
])
def test_two_pickers_two_gems_in_one_tick(tmp_path: Path, exclusive: str, holding: list) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD.replace("EXCLUSIVE", exclusive))
    sim = engine.make(str(f), num_worlds=1, compile=False)
    sim.reset(seed=0)
    sim.step({"picker": torch.zeros(1, 2, dtype=torch.int64)})
    assert sim.state["holding"][0, :2].tolist() == holding
    assert int(sim.state["alive"][0, 2:].sum()) == 0
    assert int(sim.state["events.grab"][0]) == 2  # two matches either way (other: both are picker 0's)
