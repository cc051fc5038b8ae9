"""PPO: it learns, it is seeded, it resumes, it masks dead agents, its configs fail with locations."""

from __future__ import annotations

import pytest
import torch

from engine.errors import WorldError
from engine.train import PPOTrainer, evaluate, load_config
from engine.train.ppo import trainer_from_checkpoint


def _cfg(**kw):
    base = {"worlds": 64, "rollout": 20, "total_steps": 64 * 20 * 4, "lr": 0.003, "gamma": 0.9,
            "tensorboard": False, "checkpoint_every": 0}
    base.update(kw)
    return load_config(None, world="reach", overrides=base)


def test_ppo_improves_reach_return_over_the_initial_policy(reach_world, tmp_path):
    cfg = _cfg(total_steps=64 * 20 * 60)
    trainer = PPOTrainer(reach_world, cfg, seed=0)
    before, after = tmp_path / "before.pt", tmp_path / "after.pt"
    trainer.save(before)
    trainer.train()
    trainer.save(after)
    seeds = {"episodes": 256, "worlds": 256, "seed": 1234}  # the same episodes for both policies
    r0 = evaluate(reach_world, {"agent": f"ckpt:{before}"}, **seeds).summary()["return/agent"][0]
    r1 = evaluate(reach_world, {"agent": f"ckpt:{after}"}, **seeds).summary()["return/agent"][0]
    rnd = evaluate(reach_world, {"agent": "random"}, **seeds).summary()["return/agent"][0]
    print(f"reach return: initial {r0:.2f}, random {rnd:.2f}, trained {r1:.2f}")
    assert r1 > r0 + 6.0, (r0, r1)
    assert r1 > rnd + 6.0, (rnd, r1)


def test_training_is_seeded(reach_world):
    def params(seed):
        t = PPOTrainer(reach_world, _cfg(total_steps=64 * 20 * 2), seed=seed)
        t.train()
        return torch.cat([p.flatten() for p in t.learners["agent"].actor.parameters()])

    a, b, c = params(3), params(3), params(4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_resume_continues_from_the_same_update(reach_world, tmp_path):
    cfg = _cfg(total_steps=64 * 20 * 4, checkpoint_every=2)
    straight = PPOTrainer(reach_world, cfg, seed=0, out_dir=tmp_path / "a")
    straight.train()
    ckpt = tmp_path / "a" / "checkpoints" / "update_000002.pt"
    assert ckpt.is_file() and (tmp_path / "a" / "checkpoints" / "final.pt").is_file()
    resumed = trainer_from_checkpoint(ckpt, out_dir=tmp_path / "b")
    assert resumed.update == 2 and resumed.global_step == 2 * 64 * 20
    resumed.train()
    assert resumed.update == 4
    for p, q in zip(straight.learners["agent"].actor.parameters(), resumed.learners["agent"].actor.parameters()):
        torch.testing.assert_close(p, q)  # the same run: networks, optimiser, RNG and Sim state restored


def test_dead_agents_are_masked_out(hunt_world):
    cfg = load_config(None, world="hunt", overrides={"worlds": 32, "rollout": 40, "total_steps": 32 * 40,
                                                     "tensorboard": False, "checkpoint_every": 0})
    trainer = PPOTrainer(hunt_world, cfg, seed=0)
    stats = trainer.train()
    mask = trainer.learners["runner"].buf["mask"]
    assert not mask[..., 3].any(), "the spare runner slot is dead from the start"
    assert (~mask[..., :3]).any(), "some runner died during the rollout"
    assert all(torch.isfinite(torch.tensor(v)) for k, v in stats["last"].items())
    assert set(trainer.learners) == {"hunter", "runner"}  # continuous runners train beside discrete hunters


def test_central_critic_and_opponents_train_on_tag():
    cfg = load_config(None, world="tag", overrides={"worlds": 16, "rollout": 25, "total_steps": 16 * 25 * 2,
                                                    "critic": "central", "tensorboard": False})
    trainer = PPOTrainer("tag", cfg, seed=0)
    summary = trainer.train()
    assert list(trainer.learners) == ["adversary"] and list(trainer.opponents) == ["prey"]
    assert summary["updates"] == 2 and 0 < summary["share_sim"] < 1
    assert "metric.contacts.adversary-prey" in summary["last"]


def test_config_errors_are_located(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("worlds: 64\nlr: -0.1\n")
    with pytest.raises(WorldError, match=r"bad\.yaml:2:5: lr: expected a number > 0 and <= 1, got -0\.1"):
        load_config(bad)
    bad.write_text("worlds: 64\ncritc: central\n")
    with pytest.raises(WorldError, match=r"bad\.yaml:2:1: critc: unknown key 'critc' \(did you mean 'critic'\?\)"):
        load_config(bad)
    with pytest.raises(WorldError, match=r"--cfg critic=centre: critic: expected one of 'local', 'central'"):
        load_config(None, world="tag", overrides={"critic": "centre"})
