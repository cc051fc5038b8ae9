"""The Gymnasium vector env: spaces, both autoreset modes, info keys and masks, seeds, numpy/torch,
multi-group worlds with controllers. (Its equivalence with ``SyncVectorEnv`` over ``WorldEnv`` and
Gymnasium's wrappers on it are in tests/test_gymnasium.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from engine.errors import UserError
from engine.gym_env import WorldEnv
from engine.vector import VectorWorldEnv, parse_autoreset_mode

DODGE = Path(__file__).resolve().parent / "dodge.yaml"


def _run(env, steps: int, seed: int = 0):
    env.reset(seed=0)
    rng = np.random.default_rng(seed)
    return [env.step(rng.integers(0, 5, env.num_envs)) for _ in range(steps)]


def test_next_step_is_the_default_and_follows_gymnasium(reach_world):
    env = VectorWorldEnv(reach_world, num_envs=6)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert env.single_observation_space.shape == (4,) and env.observation_space.shape == (6, 4)
    obs, info = env.reset(seed=0)
    assert isinstance(obs, np.ndarray) and obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert info == {}
    out = _run(env, 22)
    for _obs, rew, term, trunc, info in out[:19]:
        assert rew.shape == (6,) and rew.dtype == np.float64 and not (term | trunc).any() and info == {}
    obs, rew, term, trunc, info = out[19]  # 20-tick episodes: the last step, with its last observation
    assert trunc.all() and not term.any()
    assert info["_episode_return"].all() and info["episode_return"].dtype == np.float64
    np.testing.assert_allclose(info["episode_return"], sum(o[1] for o in out[:20]), rtol=1e-5)
    assert not np.array_equal(obs, env.sim.state["obs.agent"][:, 0].numpy())  # the Sim already reset
    first, rew, term, trunc, info = out[20]  # the autoreset step: first observation, reward 0, no flags
    assert (rew == 0).all() and not (term | trunc).any() and info == {}
    np.testing.assert_array_equal(first[:, :2], 0.0)  # velocities start at 0
    assert (out[21][1] != 0).all()  # and the next step is a normal one


def test_same_step_reports_final_obs_and_final_info(reach_world):
    env = VectorWorldEnv(reach_world, num_envs=6, autoreset_mode=AutoresetMode.SAME_STEP)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    out = _run(env, 21)
    obs, rew, term, trunc, info = out[19]
    assert trunc.all() and not term.any()
    assert info["_final_obs"].all() and info["_final_info"].all()
    assert info["final_obs"].dtype == object and info["final_obs"].shape == (6,)
    assert all(f.shape == (4,) and not np.array_equal(f, o) for f, o in zip(info["final_obs"], obs))
    np.testing.assert_array_equal(obs[:, :2], 0.0)  # obs is already the next episode's first
    assert sorted(info["final_info"]) == ["_episode_return", "episode_return"] and "episode_return" not in info
    assert out[20][4] == {} and (out[20][1] != 0).all()  # no extra autoreset step


def test_a_held_worlds_action_is_ignored():
    """NEXT_STEP: the action given for a world on its autoreset step changes nothing — even an
    out-of-range one, as Gymnasium's SyncVectorEnv ignores it."""
    def run(garbage: bool):
        env = VectorWorldEnv(DODGE, num_envs=8)  # deaths: worlds end at different ticks
        env.reset(seed=1)
        rng, held, outs, partial = np.random.default_rng(0), np.zeros(8, bool), [], 0
        for _ in range(120):
            a = rng.integers(0, 5, 8)
            if garbage:
                a[held] = -7
            o, r, te, tr, _ = env.step(a)
            outs.append((o, r, te, tr))
            partial += bool(held.any() and not held.all())
            held = te | tr
        return outs, partial

    (a, partial), (b, _) = run(False), run(True)
    assert partial > 3
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


def test_seeds_int_list_and_none(reach_world):
    env = VectorWorldEnv(reach_world, num_envs=4)
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    np.testing.assert_array_equal(a, b)
    assert env.np_random_seed == 7
    c, _ = env.reset(seed=[5, 6, 7, 8])
    for i, s in enumerate([5, 6, 7, 8]):
        np.testing.assert_array_equal(c[i], WorldEnv(reach_world).reset(seed=s)[0])
    d, _ = env.reset(seed=[None, 6, None, 8])
    np.testing.assert_array_equal(d[[1, 3]], c[[1, 3]])
    assert not np.array_equal(d[0], c[0])
    with pytest.raises(ValueError, match="num_envs=4"):
        env.reset(seed=[1, 2, 3])
    with pytest.raises(UserError, match="reset_mask"):
        env.reset(options={"reset_mask": np.ones(4, bool)})


@pytest.mark.parametrize("mode", ["next_step", "SameStep"])
def test_torch_mode_returns_tensors_on_the_sims_device(reach_world, mode):
    env = VectorWorldEnv(reach_world, num_envs=3, numpy=False, autoreset_mode=mode)
    obs, _ = env.reset(seed=0)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.float32 and obs.device == env.sim.device
    for _ in range(20):
        obs, rew, term, trunc, info = env.step(torch.zeros(3, dtype=torch.int64))
    assert all(isinstance(x, torch.Tensor) for x in (obs, rew, term, trunc)) and bool(trunc.all())
    if env.autoreset_mode == AutoresetMode.SAME_STEP:
        assert info["final_obs"].shape == (3, 4) and bool(info["_final_obs"].all())
        assert isinstance(info["final_info"]["episode_return"], torch.Tensor)
    else:
        assert isinstance(info["episode_return"], torch.Tensor)
        obs, rew, *_ = env.step(torch.zeros(3, dtype=torch.int64))
        assert bool((rew == 0).all())


def test_multi_group_worlds_learn_one_group_and_drive_the_others():
    env = VectorWorldEnv("tag", num_envs=4)
    assert env.group == "adversary" and env.observation_space.shape == (4, 3, 16)
    assert str(env.single_action_space) == "MultiDiscrete([5 5 5])"
    env = VectorWorldEnv("tag", num_envs=4, group="prey", opponents={"adversary": "scripted_chase:prey"})
    assert env.observation_space.shape == (4, 14)
    env.reset(seed=0)
    obs, rew, *_ = env.step(np.zeros(4, dtype=np.int64))
    assert env.action_masks().shape == (4, 5)
    with pytest.raises(UserError, match="learning group"):
        VectorWorldEnv("tag", num_envs=2, group="prey", opponents={"prey": "random"})
    with pytest.raises(UserError, match="expected some of: adversary"):
        VectorWorldEnv("tag", num_envs=2, group="prey", opponents={"wolf": "random"})
    with pytest.raises(UserError, match="unknown kind"):
        VectorWorldEnv("tag", num_envs=2, opponents={"prey": "scriptd_flee:adversary"})
    flee = {"systems": [{"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]}
    with pytest.raises(UserError, match="controlled by"):
        VectorWorldEnv("tag", num_envs=2, group="prey", overrides=flee)


def test_autoreset_mode_names():
    assert parse_autoreset_mode("NextStep") == parse_autoreset_mode("next_step") == AutoresetMode.NEXT_STEP
    assert parse_autoreset_mode("same-step") == AutoresetMode.SAME_STEP
    with pytest.raises(UserError, match="DISABLED"):
        parse_autoreset_mode(AutoresetMode.DISABLED)
