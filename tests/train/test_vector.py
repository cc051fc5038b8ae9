"""The Gymnasium-style vector env: spaces, same-step autoreset, one external group only."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from engine.errors import UserError
from engine.vector import VectorWorldEnv


def test_vector_env_spaces_and_same_step_autoreset(reach_world):
    env = VectorWorldEnv(reach_world, num_envs=6, numpy=True)
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert env.single_observation_space.shape == (4,) and env.observation_space.shape == (6, 4)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.action_space.seed(0)
    for _ in range(20):
        obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
        assert rew.shape == (6,)
    assert truncated.all() and not terminated.any()
    assert info["_final_obs"].all() and info["final_obs"].shape == (6, 4)
    assert not np.array_equal(info["final_obs"], obs)  # obs is already the next episode's first


def test_vector_env_needs_one_external_group():
    with pytest.raises(UserError, match="exactly one external agent group"):
        VectorWorldEnv("tag", num_envs=2)
