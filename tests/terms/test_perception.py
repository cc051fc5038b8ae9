"""Observation scope: ``within`` (a perception radius) and ``hidden_in`` (zones such as MPE world_comm's
forests) zero what an agent cannot perceive, in the same terms as everything else."""

from __future__ import annotations

from pathlib import Path

import torch

import engine

WORLD = """\
version: 1
name: perception
entities:
  scout: {count: 2, components: {collide: false}}
  forest: {count: 1, components: {radius: 0.3, movable: false, collide: false}}
agents:
  scout:
    entity: scout
    observation:
      - relative_pos: {of: [scout], within: 0.5}
      - relative_pos: {of: [scout], hidden_in: [forest]}
systems: []
"""


def _obs(tmp_path: Path, a, b, forest=(5.0, 5.0)) -> torch.Tensor:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD)
    sim = engine.make(str(f), num_worlds=1)
    sim.reset(seed=0)
    pos = sim.state["pos"].clone()
    pos[0, 0], pos[0, 1], pos[0, 2] = torch.tensor(a), torch.tensor(b), torch.tensor(forest)
    sim.state["pos"] = pos
    obs, *_ = sim.step({"scout": torch.zeros(1, 2, dtype=torch.int64)})
    return obs["scout"][0]  # [2 scouts, 4]: [within term (2), hidden_in term (2)]


def test_within_zeroes_entities_beyond_the_radius(tmp_path: Path) -> None:
    near = _obs(tmp_path, (0.0, 0.0), (0.3, 0.4))  # 0.5 apart: not strictly within
    assert near[0, :2].abs().sum() == 0
    close = _obs(tmp_path, (0.0, 0.0), (0.3, 0.3))
    assert torch.allclose(close[0, :2], torch.tensor([0.3, 0.3]))
    assert torch.allclose(close[1, :2], torch.tensor([-0.3, -0.3]))


def test_hidden_in_follows_mpe_forests(tmp_path: Path) -> None:
    out = _obs(tmp_path, (0.0, 0.0), (0.1, 0.0), forest=(0.6, 0.0))  # neither in the forest: both see
    assert torch.allclose(out[0, 2:], torch.tensor([0.1, 0.0]))
    assert torch.allclose(out[1, 2:], torch.tensor([-0.1, 0.0]))
    out = _obs(tmp_path, (0.0, 0.0), (0.5, 0.0), forest=(0.6, 0.0))  # scout 1 hides in the forest
    assert out[0, 2:].abs().sum() == 0  # outside: cannot see in
    assert out[1, 2:].abs().sum() == 0  # inside: sees only its forest's entities
    out = _obs(tmp_path, (0.45, 0.0), (0.5, 0.0), forest=(0.6, 0.0))  # both in the same forest: they see
    assert torch.allclose(out[0, 2:], torch.tensor([0.05, 0.0]), atol=1e-6)
