"""The world's own physics as a latent dynamics (``drift --physics-reference``): it must step exactly as the
engine does, in the latent's image units, whatever order the colour slots are in."""

import json
from pathlib import Path

import pytest
import torch

import engine
from engine.cli.main import main
from engine.distill.physics_reference import PhysicsLatentDynamics
from engine.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "worlds" / "tag_dream.yaml"


def to_image(pos: torch.Tensor) -> torch.Tensor:
    """World → the 64×64 image's units of tag_dream's camera (arena ±1 plus a 5 % margin; y points down)."""
    return torch.stack([pos[..., 0], -pos[..., 1]], -1) / 1.05


def test_steps_like_the_engine_from_true_states_with_shuffled_slots() -> None:
    sim = engine.make(WORLD, num_worlds=16, threads=None)
    sim.reset(seed=3)
    colors = sim.state["color"][0]
    perm = torch.tensor([4, 2, 5, 0, 3, 1])  # slot k shows entity perm[k]
    ref = PhysicsLatentDynamics(WORLD, colors[perm], (64, 64), {"adversary": 3, "prey": 1})
    g = torch.Generator().manual_seed(0)
    worst, checked = 0.0, 0
    for _ in range(40):
        pos, vel = sim.state["pos"].clone(), sim.state["vel"].clone()
        act = torch.randint(0, 5, (16, 4), generator=g)
        sim.step({"adversary": act[:, :3], "prey": act[:, 3:]})
        if bool(sim.state["tick"].eq(1).any()):  # an autoreset: the state after it is not a step
            continue
        latent = torch.cat([to_image(pos[:, perm]).flatten(1), to_image(vel[:, perm] * 0.1).flatten(1)], -1)
        out = ref(latent, torch.nn.functional.one_hot(act, 5).float())
        want = torch.cat([to_image(sim.state["pos"][:, perm]).flatten(1),
                          to_image(sim.state["vel"][:, perm] * 0.1).flatten(1)], -1)
        inside = (latent[:, :12].abs() < 1.4).all(1)  # a slot off the image is absent to the reference
        worst = max(worst, float((out - want)[inside].abs().max()))
        checked += int(inside.sum())
    assert worst < 1e-5 and checked > 300, (worst, checked)
    sim.close()


def test_absent_slots_neither_move_nor_push() -> None:
    sim = engine.make(WORLD, num_worlds=1, threads=None)
    sim.reset(seed=0)
    ref = PhysicsLatentDynamics(WORLD, sim.state["color"][0], (64, 64), {"adversary": 3, "prey": 1})
    sim.close()
    latent = torch.zeros(1, 24)
    latent[0, :12] = torch.tensor([0.0, 0.0, 0.05, 0.0, 3.0, 3.0, 3.0, 3.0, 0.6, 0.6, -0.6, -0.6])
    out = ref(latent, torch.zeros(1, 4, 5))
    assert out[0, 4:8].eq(3.0).all() and out[0, 16:20].eq(0.0).all()  # absent: stays put
    assert out[0, 12] < 0 < out[0, 14]  # the two overlapping adversaries push apart


def test_refuses_worlds_it_cannot_step_and_models_of_other_colours() -> None:
    colors = torch.rand(6, 3)
    with pytest.raises(UserError, match="slot colours"):
        PhysicsLatentDynamics(WORLD, colors, (64, 64), {"adversary": 3, "prey": 1})
    with pytest.raises(UserError, match="physics"):
        PhysicsLatentDynamics(ROOT / "worlds" / "walls.yaml", colors, (64, 64), {"adversary": 3, "prey": 1})


def test_drift_reference_flag_needs_a_world_model(capsys) -> None:
    assert main(["drift", "tag", "--plugin", "x", "--physics-reference"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--physics-reference goes with --world-model" in err and err.count("\n") == 0


def test_drift_scores_the_physics_beside_the_shipped_model(tmp_path) -> None:
    rec = tmp_path / "rec"
    assert main(["record", str(WORLD), "--out", str(rec), "--worlds", "4", "--steps", "40", "--seed", "5",
                 "--frames", "--eager"]) == 0
    out = tmp_path / "drift"
    assert main(["drift", str(WORLD), "--world-model", str(ROOT / "plugins" / "tag_world_model"), "--data", str(rec),
                 "--horizon", "10", "--physics-reference", "--out", str(out)]) == 0
    s = json.loads((out / "pixel_drift.json").read_text())
    ref = s["models"][f"{WORLD} physics"]
    assert ref["psnr"][0] > ref["psnr_copy_last"][0] + 6  # exact dynamics, drawn by the model's decoder
    assert ref["centroid_px_start_seen_median"][9] < 1.0  # random actions: the physics stays on the agents
    assert len(ref["centroid_px_start_seen_median"]) == 10
