"""``{each: [...]}``: per-slot component values and spawn values, checked like single values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.errors import WorldError

SPREAD = Path(engine.__file__).parent.parent / "worlds" / "mpe" / "simple_spread.yaml"
COLOURS = [[0.65, 0.15, 0.15], [0.15, 0.65, 0.15], [0.15, 0.15, 0.65]]
PLACES = [[-0.5, 0.0], [0.0, 0.5], [0.5, 0.0]]


def test_each_slot_gets_its_own_component_and_spawn_value() -> None:
    sim = engine.make(SPREAD, num_worlds=4, overrides={"entities.landmark.components.color": {"each": COLOURS},
                                                       "entities.landmark.spawn.pos": {"each": PLACES}})
    sim.reset(seed=0)
    lm = sim.layout.types["landmark"].sl
    assert torch.allclose(sim.state["color"][:, lm], torch.tensor(COLOURS).expand(4, 3, 3))
    assert torch.allclose(sim.state["pos"][:, lm], torch.tensor(PLACES).expand(4, 3, 2))
    for _ in range(30):  # autoresets put them back in place
        sim.step(sim.sample_actions())
    assert torch.allclose(sim.state["pos"][:, lm], torch.tensor(PLACES).expand(4, 3, 2))


@pytest.mark.parametrize("value, message", [
    ({"each": COLOURS[:2]}, r"components\.color\.each: expected one value per slot of the type \(3\), got 2"),
    ({"each": [[0.1, 0.2], *COLOURS[1:]]}, r"components\.color\.each\[0\]: expected shape \[3\]"),
    ({"every": COLOURS}, r"expected a value, or \{each: \[one value per slot\]\}"),
])
def test_mistakes_are_located(value, message: str) -> None:
    with pytest.raises(WorldError, match=message):
        engine.make(SPREAD, overrides={"entities.landmark.components.color": value})
