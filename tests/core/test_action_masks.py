"""The action-mask hook: an extension declares which actions are available; the Sim serves the mask
and samples among the available actions."""

from __future__ import annotations

from pathlib import Path

import torch
from wl_test_support import masked_tag_world

import engine


def test_masks_are_served_and_honoured_by_random_actions(tmp_path: Path) -> None:
    sim = engine.make(masked_tag_world(tmp_path), num_worlds=64, trust=[tmp_path], seed=0)
    sim.reset()
    for _ in range(10):
        masks = sim.action_masks()
        actions = sim.sample_actions()
        right = sim.state["pos"][:, 0:3, 0] >= 0
        assert not bool((actions["adversary"][right] == 1).any()), "a masked action was sampled"
        assert bool((actions["adversary"][~right] == 1).any()) or not bool((~right).any())
        assert torch.equal(masks["adversary"][..., 1], ~right)
        _, _, _, _, info = sim.step(actions)
        assert info["action_mask"]["adversary"].shape == (64, 3, 5)
    plain = engine.make("tag")
    assert "action_mask" not in plain.step(plain.sample_actions())[4]  # no masks, no cost
