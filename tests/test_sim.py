"""The Sim's contract: shapes, determinism, snapshot/restore, alive masking, autoreset, compile."""

import pytest
import torch

import engine


def rollout(sim, steps, seed=123):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        obs, rew, term, trunc, info = sim.step(sim.sample_actions(gen))
        out.append((sim.state["pos"].clone(), {g: o.clone() for g, o in obs.items()},
                    {g: r.clone() for g, r in rew.items()}))
    return out


def assert_same(a, b):
    for (pa, oa, ra), (pb, ob, rb) in zip(a, b):
        assert torch.equal(pa, pb)
        for g in oa:
            assert torch.equal(oa[g], ob[g]) and torch.equal(ra[g], rb[g])


def test_shapes_follow_the_world_file():
    sim = engine.make("tag", num_worlds=5, overrides={"entities.adversary.count": 4})
    obs, info = sim.reset(seed=0)
    assert obs["adversary"].shape == (5, 4, 2 + 2 + 4 + 2 * 4 + 2)
    assert obs["prey"].shape == (5, 1, 2 + 2 + 4 + 2 * 4)
    obs, rew, term, trunc, info = sim.step(sim.sample_actions())
    assert rew["adversary"].shape == (5, 4) and rew["adversary"].dtype == torch.float32
    assert term["prey"].shape == trunc["prey"].shape == (5, 1) and term["prey"].dtype == torch.bool
    assert sim.state["pos"].shape == (5, 4 + 1 + 2, 2)


def test_same_seed_gives_identical_trajectories():
    a = engine.make("tag", num_worlds=16, seed=7)
    b = engine.make("tag", num_worlds=16, seed=7)
    a.reset()
    b.reset()
    assert_same(rollout(a, 60), rollout(b, 60))


def test_different_seeds_differ():
    a = engine.make("tag", num_worlds=4, seed=1)
    b = engine.make("tag", num_worlds=4, seed=2)
    assert not torch.equal(a.reset()[0]["prey"], b.reset()[0]["prey"])


def test_reset_with_seed_reproduces():
    sim = engine.make("tag", num_worlds=4)
    sim.reset(seed=3)
    first = rollout(sim, 30)
    sim.reset(seed=3)
    assert_same(first, rollout(sim, 30))


def test_snapshot_restore_round_trips_exactly():
    sim = engine.make("tag", num_worlds=8, seed=0)
    sim.reset()
    rollout(sim, 13)  # mid-episode, and past one autoreset later on
    snap = sim.snapshot()
    ahead = rollout(sim, 40, seed=9)
    sim.restore(snap)
    assert_same(ahead, rollout(sim, 40, seed=9))


def test_state_is_writable_and_used_by_the_next_tick():
    sim = engine.make("tag", num_worlds=2)
    sim.reset(seed=0)
    sim.state["pos"][:, 3] = torch.tensor([5.0, 5.0])  # the prey, far outside the arena
    _, rew, *_ = sim.step({"adversary": torch.zeros(2, 3, dtype=torch.long),
                           "prey": torch.zeros(2, 1, dtype=torch.long)})
    assert torch.allclose(rew["prey"], torch.full((2, 1), -20.0))  # bound penalty capped at 10 per axis


def test_dead_entities_take_no_part():
    # Same world twice; in the second one the prey has a spare (dead) slot sitting on an adversary.
    base = engine.make("tag", num_worlds=1, seed=0)
    spare = engine.make("tag", num_worlds=1, seed=0, overrides={"entities.prey.capacity": 2})
    base.reset()
    spare.reset()
    n_base = base.state["pos"].shape[1]
    keep = [0, 1, 2, 3, 5, 6]  # the spare slot is index 4 (prey slice 3..4)
    for k in ("pos", "vel"):
        spare.state[k][:, keep] = base.state[k]
    spare.state["pos"][:, 4] = spare.state["pos"][:, 0]  # overlapping adversary 0: would push hard if alive
    assert not bool(spare.state["alive"][0, 4])
    acts = {"adversary": torch.tensor([[1, 2, 3]]), "prey": torch.tensor([[4]])}
    for _ in range(10):
        o1, r1, *_ = base.step(acts)
        o2, r2, t2, *_ = spare.step({"adversary": acts["adversary"], "prey": torch.tensor([[4, 4]])})
        assert torch.allclose(spare.state["pos"][:, keep], base.state["pos"], atol=1e-6)
        assert torch.allclose(r2["adversary"], r1["adversary"])
        assert torch.equal(r2["prey"][:, 1], torch.zeros(1))
        assert bool(t2["prey"][0, 1]), "a dead agent reports terminated"
        # the dead prey's slot is zero in the adversaries' observation (other agents' rel. positions)
        adv_obs = o2["adversary"][0, 0]
        assert torch.equal(adv_obs[8 + 2 * 3: 8 + 2 * 4], torch.zeros(2))
    assert n_base == 6


def test_autoreset_returns_first_observation_and_final_in_info():
    sim = engine.make("tag", num_worlds=3, seed=0, overrides={"episode.max_steps": 4})
    sim.reset()
    for _t in range(4):
        obs, rew, term, trunc, info = sim.step(sim.sample_actions())
    assert bool(info["done"].all()) and bool(trunc["prey"].all())
    assert not torch.equal(info["final_observation"]["prey"], obs["prey"])
    assert bool((sim.state["tick"] == 0).all())
    assert torch.equal(sim.state["vel"], torch.zeros_like(sim.state["vel"]))
    assert "episode_return" in info


def test_bad_actions_are_clear_errors():
    sim = engine.make("tag", num_worlds=2)
    sim.reset()
    with pytest.raises(ValueError, match=r"actions\['prey'\]: expected shape \[2, 1\]"):
        sim.step({"adversary": torch.zeros(2, 3, dtype=torch.long), "prey": torch.zeros(2, 3, dtype=torch.long)})
    with pytest.raises(ValueError, match="missing actions for agent group 'prey'"):
        sim.step({"adversary": torch.zeros(2, 3, dtype=torch.long)})


def test_continuous_actions_by_override():
    sim = engine.make("tag", num_worlds=2, overrides={"agents.*.action": "continuous"})
    sim.reset(seed=0)
    a = sim.sample_actions()
    assert a["adversary"].shape == (2, 3, 5) and a["adversary"].dtype == torch.float32
    sim.step(a)


def test_scripted_controllers_take_over_their_group():
    sim = engine.make("tag", num_worlds=4, overrides={"systems": [
        {"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]})
    assert sim.external_groups == ["adversary"]
    sim.reset(seed=0)
    sim.step({"adversary": torch.zeros(4, 3, dtype=torch.long)})
    assert bool((sim.state["action.prey"] != 0).any())


@pytest.mark.slow_compile
def test_compiled_tick_matches_eager():
    eager = engine.make("tag", num_worlds=2, seed=4)  # 2 worlds: tests/core/test_action_check.py compiled the same
    comp = engine.make("tag", num_worlds=2, seed=4, compile=True)
    eager.reset()
    comp.reset()
    for (pa, oa, ra), (pb, ob, rb) in zip(rollout(eager, 30), rollout(comp, 30)):
        assert torch.allclose(pa, pb, atol=1e-5)
        for g in oa:
            assert torch.allclose(oa[g], ob[g], atol=1e-5) and torch.allclose(ra[g], rb[g], atol=1e-4)
