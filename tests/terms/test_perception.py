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


NEAREST = """\
version: 1
name: nearest
entities:
  scout: {count: 1, components: {collide: false}}
  coin: {count: 4, capacity: 5, components: {collide: false, movable: false}}
agents:
  scout:
    entity: scout
    observation:
      - relative_pos: {of: [coin], nearest: 3}
      - component: {name: radius, of: [coin], nearest: 3}
systems: []
"""


def test_nearest_keeps_the_k_closest_in_order_and_puts_the_dead_last(tmp_path: Path) -> None:
    f = tmp_path / "n.yaml"
    f.write_text(NEAREST)
    sim = engine.make(str(f), num_worlds=1)
    assert sim.groups["scout"].obs_size == 3 * 2 + 3 * 1
    sim.reset(seed=0)
    pos, rad = sim.state["pos"].clone(), sim.state["radius"].clone()
    pos[0, 1:5] = torch.tensor([[0.9, 0.0], [0.1, 0.0], [0.0, -0.5], [0.3, 0.0]])  # coins 0..3
    rad[0, 1:5] = torch.tensor([0.01, 0.02, 0.03, 0.04])
    sim.state["pos"], sim.state["radius"] = pos, rad
    obs, *_ = sim.step({"scout": torch.zeros(1, 1, dtype=torch.int64)})
    o = obs["scout"][0, 0]
    assert torch.allclose(o[:6], torch.tensor([0.1, 0.0, 0.3, 0.0, 0.0, -0.5]))  # coins 1, 3, 2
    assert torch.allclose(o[6:], torch.tensor([0.02, 0.04, 0.03]))  # the same order in every term
    alive = sim.state["alive"].clone()
    alive[0, 2] = False  # coin 1, the nearest, dies: it drops out of view
    sim.state["alive"] = alive
    obs, *_ = sim.step({"scout": torch.zeros(1, 1, dtype=torch.int64)})
    assert torch.allclose(obs["scout"][0, 0, :6], torch.tensor([0.3, 0.0, 0.0, -0.5, 0.9, 0.0]))


def test_nearest_compiles_to_the_same_observations(tmp_path: Path) -> None:
    f = tmp_path / "n.yaml"
    f.write_text(NEAREST.replace("systems: []", "systems: [physics]").replace("movable: false", "movable: true"))
    eager, fused = (engine.make(str(f), num_worlds=8, seed=2, compile=c) for c in (False, True))
    gen = torch.Generator().manual_seed(0)
    for sim in (eager, fused):
        sim.reset(seed=2)
    for _ in range(20):
        a = eager.sample_actions(gen)
        x, y = eager.step({k: v.clone() for k, v in a.items()})[0], fused.step({k: v.clone() for k, v in a.items()})[0]
        assert torch.allclose(x["scout"], y["scout"], atol=1e-6)
