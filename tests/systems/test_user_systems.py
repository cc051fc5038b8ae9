"""User systems declare their state in YAML too; the Sim allocates, resets and snapshots it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import engine
from engine.errors import WorldError

WORLD = textwrap.dedent("""\
    version: 1
    name: counter
    entities:
      runner: {count: 3, components: {radius: 0.05}, spawn: {pos: {uniform: [-1.0, 1.0]}}}
    agents:
      runner: {entity: runner, observation: [self_pos]}
    systems:
      - {system: count.tick, reads: [visits, laps], writes: [visits, laps],
         state: {visits: {scope: entity, dtype: int64, default: 0},
                 laps: {scope: world, dtype: int64, default: 0, reset: keep}}}
      - physics
    episode: {max_steps: 5}
    """)
CODE = "def tick(state):\n    state['visits'] = state['visits'] + 1\n    state['laps'] = state['laps'] + 1\n"


def test_yaml_declared_state_is_allocated_reset_and_snapshotted(tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text(CODE)
    (tmp_path / "w.yaml").write_text(WORLD)
    sim = engine.make(tmp_path / "w.yaml", num_worlds=2, trust=[tmp_path])
    sim.reset(seed=0)
    assert sim.state["visits"].shape == (2, 3) and sim.state["visits"].dtype == torch.int64
    for _ in range(3):
        sim.step(sim.sample_actions())
    snap = sim.snapshot()
    assert sim.state["visits"].tolist() == [[3, 3, 3]] * 2
    sim.step(sim.sample_actions())
    sim.step(sim.sample_actions())  # the 5th tick ends the episode: `visits` resets, `laps` is kept
    assert sim.state["visits"].tolist() == [[0, 0, 0]] * 2 and sim.state["laps"].tolist() == [5, 5]
    sim.restore(snap)
    assert sim.state["visits"].tolist() == [[3, 3, 3]] * 2 and sim.state["laps"].tolist() == [3, 3]


def test_a_bad_state_declaration_is_located(tmp_path: Path) -> None:
    (tmp_path / "count.py").write_text(CODE)
    (tmp_path / "w.yaml").write_text(WORLD.replace("reset: keep", "reset: sometimes"))
    with pytest.raises(WorldError, match=r"w\.yaml:10:\d+: systems\[0\]\.state\.laps: .*reset must be one of"):
        engine.make(tmp_path / "w.yaml", trust=[tmp_path])
