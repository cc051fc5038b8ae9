"""The PettingZoo adapter passes PettingZoo's own conformance tests on every shipped world."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import engine
from engine.errors import UserError
from engine.pettingzoo import parallel_env

ROOT = Path(__file__).resolve().parent.parent
WORLDS = sorted((ROOT / "worlds").glob("*.yaml"))
HUNT = Path(__file__).resolve().parent / "train" / "hunt.yaml"
FLEE = {"systems": [{"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]}


def _has_external_agents(world: Path) -> bool:
    return bool(engine.make(world, num_worlds=1).external_groups)


def _short(overrides: dict) -> dict:
    """Short episodes, so the conformance tests cover episode ends quickly even in crowded worlds."""
    return {"episode.max_steps": 15, **overrides}


# every shipped world, plus variants that exercise continuous actions, a scripted group and agent death
CASES = [pytest.param(w, {}, id=w.stem) for w in WORLDS] + [
    pytest.param(ROOT / "worlds" / "tag.yaml", {"agents.*.action": "continuous"}, id="tag-continuous"),
    pytest.param(ROOT / "worlds" / "tag.yaml", FLEE, id="tag-scripted-prey"),
    pytest.param(HUNT, {}, id="hunt-agent-death"),
]


@pytest.mark.parametrize("world,overrides", CASES)
def test_parallel_api_conformance(world, overrides):
    if not _has_external_agents(world):
        pytest.skip(f"{world.name}: no external agent groups")
    parallel_api_test(parallel_env(world, overrides=_short(overrides)), num_cycles=40)


@pytest.mark.parametrize("world,overrides", CASES)
def test_parallel_seed_determinism(world, overrides):
    if not _has_external_agents(world):
        pytest.skip(f"{world.name}: no external agent groups")
    parallel_seed_test(lambda: parallel_env(world, overrides=_short(overrides)), num_cycles=40)


def test_spaces_and_agent_names_follow_the_world():
    env = parallel_env("tag")
    assert env.possible_agents == ["adversary_0", "adversary_1", "adversary_2", "prey_0"]
    assert env.observation_space("adversary_1").shape == (16,)
    assert env.observation_space("prey_0").dtype == np.float32
    assert env.action_space("prey_0").n == 5
    assert env.state_space.shape == (5 * 6,)
    obs, _ = env.reset(seed=3)
    assert env.state().shape == env.state_space.shape and env.state().dtype == np.float32
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())


def test_scripted_groups_are_not_agents():
    env = parallel_env("tag", overrides=FLEE)
    env.reset(seed=0)
    assert env.agents == ["adversary_0", "adversary_1", "adversary_2"]


def test_episode_end_returns_final_observation_and_no_autoreset():
    env = parallel_env("tag", seed=0)
    env.reset(seed=5)
    sim_twin = engine.make("tag", num_worlds=1)
    sim_twin.reset(seed=5)
    steps = 0
    while env.agents:
        obs, _, term, trunc, _ = env.step({a: 1 for a in env.agents})
        twin_obs, *_ , info = sim_twin.step({"adversary": np.ones((1, 3), dtype=np.int64),
                                             "prey": np.ones((1, 1), dtype=np.int64)})
        steps += 1
    assert steps == 25 and all(trunc.values()) and not any(term.values())
    np.testing.assert_array_equal(obs["prey_0"], info["final_observation"]["prey"][0, 0].numpy())
    with pytest.raises(UserError, match="reset"):
        env.step({})


def test_dead_agent_is_terminated_once_and_removed():
    env = parallel_env(HUNT)
    obs, _ = env.reset(seed=0)
    assert "runner_3" not in env.agents  # a spare slot, dead at reset
    assert "runner_3" in env.possible_agents
    seen_death = False
    for seed in range(20):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        while env.agents:
            before = list(env.agents)
            actions = {a: env.action_space(a).sample() if a.startswith("runner") else int(rng.integers(5))
                       for a in env.agents}
            obs, rew, term, trunc, _ = env.step(actions)
            assert set(obs) == set(before)
            for a in before:
                if term[a] and not trunc[a]:
                    seen_death = True
                    assert a not in env.agents
                    assert not obs[a].any(), "a dead agent observes zeros"
        if seen_death:
            break
    assert seen_death, "no runner died in 20 episodes of random play"


def test_render_mode_is_checked_and_missing_renderer_is_a_clear_error():
    env = parallel_env("tag", render_mode="rgb_array")
    env.reset(seed=0)
    if not hasattr(env.sim, "render"):
        with pytest.raises(UserError, match="Sim.render"):
            env.render()
    with pytest.raises(UserError, match="render_mode"):
        parallel_env("tag", render_mode="human")


def test_same_seed_same_episode():
    def rollout(seed):
        env = parallel_env("tag", overrides=FLEE)
        obs, _ = env.reset(seed=seed)
        out = [np.concatenate(list(obs.values()))]
        t = 0
        while env.agents:
            obs, rew, *_ = env.step({a: (t + i) % 5 for i, a in enumerate(env.agents)})
            out.append(np.concatenate(list(obs.values()) + [np.array(list(rew.values()), dtype=np.float32)]))
            t += 1
        return np.concatenate(out), len(out)

    (a, n), (b, _), (c, _) = rollout(11), rollout(11), rollout(12)
    assert n == 26
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_rgb_array_render_draws_the_world():
    from engine.render import GLUnavailableError

    env = parallel_env("tag", render_mode="rgb_array")
    env.reset(seed=0)
    if not hasattr(env.sim, "render"):
        pytest.skip("this build has no Sim.render")
    try:
        img = env.render()
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2  # background plus entities
