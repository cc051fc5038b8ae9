"""Gymnasium: the single-agent ``WorldEnv`` (check_env, registration, render), the vector env against
Gymnasium's own ``SyncVectorEnv`` over ``WorldEnv`` (same seeds, same actions → the same data, in
both autoreset modes), Gymnasium's vector wrappers on it, and the docs' example."""

from __future__ import annotations

import doctest
import re
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import vector as vw

from engine.errors import ActionError, UserError
from engine.gym_env import WorldEnv, register_envs
from engine.vector import VectorWorldEnv

ROOT = Path(__file__).resolve().parent.parent
REACH = ROOT / "tests" / "train" / "reach.yaml"  # random spawns, 20-tick episodes
DODGE = ROOT / "tests" / "train" / "dodge.yaml"  # constant spawns, deaths at different ticks
HUNT = ROOT / "tests" / "train" / "hunt.yaml"  # continuous runners that die
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]


@pytest.fixture(autouse=True)
def _one_thread_quiet():
    """Tiny batches: one intra-op thread; Gymnasium's warnings about Box(-inf, inf) are expected."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value.*")
        warnings.filterwarnings("ignore", message=".*precision lowered by casting to float32.*")  # RescaleAction
        yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------- SyncVectorEnv equivalence
def _same(a, b, where: str) -> None:
    """Exactly the same data: arrays (values and dtype), object arrays of arrays, nested dicts."""
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: {a} vs {b}"
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
        return
    if isinstance(a, tuple):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
        return
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{where}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"
    if a.dtype == object:
        for i, (x, y) in enumerate(zip(a, b)):
            assert (x is None) == (y is None), f"{where}[{i}]"
            if x is not None:
                _same(x, y, f"{where}[{i}]")
        return
    np.testing.assert_array_equal(a, b, err_msg=where)


def _compare(world, seeds, steps: int, mode, upto=None, **kw) -> dict[str, int]:
    """Run VectorWorldEnv and SyncVectorEnv([WorldEnv] * B) side by side; returns event counts."""
    B = len(seeds)
    ours = VectorWorldEnv(world, num_envs=B, autoreset_mode=mode, **kw)
    ref = SyncVectorEnv([lambda: WorldEnv(world, **kw) for _ in range(B)], autoreset_mode=mode)
    assert ours.single_observation_space == ref.single_observation_space
    assert ours.single_action_space == ref.single_action_space
    o1, i1 = ours.reset(seed=seeds)
    o2, i2 = ref.reset(seed=seeds)
    _same((o1, i1), (o2, i2), "reset")
    rng = np.random.default_rng(0)
    counts = {"ends": 0, "partial": 0}
    for t in range(steps):
        a = rng.integers(0, ours.single_action_space.n, B)
        r1, r2 = ours.step(a), ref.step(a)
        for name, x, y in zip(("obs", "reward", "terminated", "truncated", "info"), r1, r2):
            _same(x, y, f"step {t} {name}")
        ended = r1[2] | r1[3]
        counts["ends"] += int(ended.sum())
        counts["partial"] += int(0 < ended.sum() < B)
        if upto is not None and ended.any() and upto(t):
            break
    return counts


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_vector_env_matches_sync_vector_env_step_for_step(mode):
    """Deaths at different ticks (held worlds among ticking ones), many episodes, per-world seeds."""
    counts = _compare(DODGE, [3, 1, 4, 1, 5], 150, mode)
    assert counts["ends"] > 15 and counts["partial"] > 5


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_one_world_matches_over_random_resets_and_random_opponents(mode):
    """One world: the same generator draws in both (spawns of every episode, the random opponents)."""
    counts = _compare("tag", [11], 120, mode, group="prey")
    assert counts["ends"] >= 4
    counts = _compare(REACH, [2], 70, mode)
    assert counts["ends"] == 3


def test_per_world_seeds_give_each_world_its_single_env_episode():
    """Random spawns, four worlds seeded apart: the first episode of each is the single env's."""
    _compare(REACH, [9, 0, 9, 123456], 20, AutoresetMode.NEXT_STEP, upto=lambda t: True)


# ---------------------------------------------------------------------- the single-agent env
@pytest.mark.parametrize("world, kw", [
    ("tag", {}),
    ("tag", {"group": "prey", "opponents": {"adversary": "scripted_chase:prey"}}),
    ("forage", {"group": "blue", "agent": 2, "opponents": {"blue": "random", "red": "random"}}),
    ("swarm", {}),
    (HUNT, {"group": "runner", "agent": 1}),
    ("commons", {"agent": 1}),  # named actions (Discrete(6)) and a cooldown mask; rules despawn agents
    ("ctf", {"group": "blue", "opponents": {"red": "random"}}),  # rules end the episode with a winner
    ("mpe/simple_world_comm", {"group": "leader"}),  # a talking leader: Discrete(20)
    ("grid/doorkey", {}),  # MiniGrid's Discrete(7) and 7×7×3 image + direction
    ("grid/unlock", {}),
])
def test_world_env_passes_check_env(world, kw):
    env = WorldEnv(world, **kw)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=5)
    assert env.observation_space.contains(obs) and info == {}
    env.close()


def test_world_env_episode_ends_report_the_return_and_reset_serves_the_started_episode():
    env = WorldEnv(DODGE)
    env.reset(seed=0)
    env.action_space.seed(0)
    total, ends = 0.0, 0
    for _ in range(200):
        obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
        total += rew
        if terminated or truncated:
            assert info["episode_return"] == pytest.approx(total, abs=1e-4)
            first = env.sim.state["obs.agent"][0, 0].numpy().copy()
            obs, _ = env.reset()
            np.testing.assert_array_equal(obs, first)  # no second reset draw
            total, ends = 0.0, ends + 1
        else:
            assert info == {}
    assert ends >= 5


def test_world_env_checks_its_arguments_and_actions():
    with pytest.raises(UserError, match="agent=3"):
        WorldEnv("tag", agent=3)
    with pytest.raises(UserError, match="unknown agent group"):
        WorldEnv("tag", group="wolf")
    with pytest.raises(UserError, match="num_worlds"):
        WorldEnv("tag", num_worlds=4)
    with pytest.raises(UserError, match="render_mode"):
        WorldEnv("tag", render_mode="human")
    env = WorldEnv("tag")
    env.reset(seed=0)
    with pytest.raises(ActionError, match="expected an integer in 0..4"):
        env.step(2.5)
    with pytest.raises(ActionError):
        env.step(7)
    assert env.action_masks().all() and env.action_masks().shape == (5,)


def test_shipped_worlds_are_registered_for_make_and_make_vec():
    ids = register_envs()
    assert {"worldloom/tag-v0", "worldloom/forage-v0", "worldloom/swarm-v0"} <= set(ids)
    env = gymnasium.make("worldloom/tag-v0", group="prey")
    assert isinstance(env.unwrapped, WorldEnv) and env.unwrapped.group == "prey"
    obs, _ = env.reset(seed=1)
    assert obs.shape == env.observation_space.shape
    env.step(env.action_space.sample())
    env.close()
    env = gymnasium.make("engine.gym_env:worldloom/forage-v0")  # Gymnasium's module prefix form
    assert env.unwrapped.group == "red"
    venv = gymnasium.make_vec("worldloom/tag-v0", num_envs=3, group="prey")
    assert isinstance(venv, VectorWorldEnv) and venv.observation_space.shape == (3, 14)
    spread = gymnasium.make("worldloom/mpe-simple_spread-v0")  # worlds/mpe/simple_spread.yaml
    assert spread.observation_space.shape == (18,)
    doorkey = gymnasium.make("worldloom/grid-doorkey-v0")  # as MiniGrid-DoorKey-8x8-v0: Discrete(7), image + dir
    assert doorkey.action_space.n == 7 and doorkey.observation_space.shape == (7 * 7 * 3 + 1,)
    assert doorkey.spec.max_episode_steps in (None, 640) and doorkey.unwrapped.sim.plan.spec.episode.max_steps == 640
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    venv.close()


def test_check_env_with_the_rgb_array_render_check():
    from engine.render import GLUnavailableError

    env = gymnasium.make("worldloom/tag-v0", render_mode="rgb_array")
    try:
        env.reset(seed=0)
        img = env.render()
    except GLUnavailableError as e:
        pytest.skip(f"no OpenGL context: {e}")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    check_env(env.unwrapped)  # also re-makes the env from its spec for each declared render mode
    env.close()


# ---------------------------------------------------------------------- Gymnasium's vector wrappers
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_record_episode_statistics_matches_the_env_returns(mode):
    env = vw.RecordEpisodeStatistics(VectorWorldEnv(DODGE, num_envs=8, autoreset_mode=mode))
    env.reset(seed=0)
    env.action_space.seed(0)
    seen = 0
    for _ in range(300):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if "episode" in info:
            done = info["_episode"]
            np.testing.assert_array_equal(done, terminated | truncated)
            mine = info["final_info"] if mode == AutoresetMode.SAME_STEP else info
            np.testing.assert_array_equal(mine["_episode_return"], done)
            np.testing.assert_allclose(info["episode"]["r"][done], mine["episode_return"][done], atol=1e-4)
            assert ((info["episode"]["l"][done] >= 1) & (info["episode"]["l"][done] <= 30)).all()
            assert (info["episode"]["l"][truncated] == 30).all()
            seen += int(done.sum())
    assert seen > 40 and len(env.return_queue) == min(seen, 100)


def test_observation_and_reward_wrappers_over_autoresets():
    """NEXT_STEP (the default): the observation wrappers, which Gymnasium 1.x allows only in this mode."""
    env = VectorWorldEnv("tag", num_envs=6)  # adversary group: [3, 16] per env, random prey
    env = vw.FlattenObservation(env)
    env = vw.TransformObservation(env, lambda o: np.clip(o, -5, 5), env.observation_space)
    env = vw.DtypeObservation(env, np.float64)
    env = norm = vw.NormalizeObservation(env)
    env = vw.NormalizeReward(vw.ClipReward(env, -1.0, 1.0), gamma=0.9)
    env = vw.RecordEpisodeStatistics(env)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (6, 48)
    env.action_space.seed(3)
    episodes = 0
    for _ in range(120):
        obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == (6, 48) and np.isfinite(obs).all() and np.isfinite(rew).all()
        episodes += int(info["_episode"].sum()) if "episode" in info else 0
    assert episodes == 6 * 4  # 25-tick episodes (+1 autoreset step each): autoresets in every env
    assert norm.obs_rms.count > 100


def test_same_step_reward_wrappers_and_final_obs():
    """SAME_STEP: the reward and statistics wrappers; Gymnasium refuses observation wrappers here."""
    base = VectorWorldEnv("tag", num_envs=6, autoreset_mode="same_step")
    with pytest.raises(ValueError, match="NEXT_STEP"):
        vw.FlattenObservation(base)
    env = vw.RecordEpisodeStatistics(vw.NormalizeReward(vw.TransformReward(base, lambda r: 2 * r), gamma=0.9))
    obs, _ = env.reset(seed=3)
    env.action_space.seed(3)
    episodes = 0
    for _ in range(100):
        obs, rew, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.shape == (6, 3, 16) and np.isfinite(rew).all()
        if "final_obs" in info:
            assert info["final_obs"].dtype == object and info["_final_obs"].all()
            assert all(o.shape == (3, 16) for o in info["final_obs"])
            assert not any(np.array_equal(f, o) for f, o in zip(info["final_obs"], obs))
            episodes += int(info["_episode"].sum())
    assert episodes == 6 * 4


def test_continuous_action_wrappers():
    base = VectorWorldEnv(HUNT, num_envs=4, group="runner")
    env = vw.ClipAction(vw.RescaleAction(base, -1.0, 1.0))
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(60):
        obs, *_ = env.step(rng.uniform(-2, 2, env.action_space.shape))
    assert obs.shape == base.observation_space.shape and base.single_action_space.shape[-1] == 5


# ---------------------------------------------------------------------- docs
def test_the_docs_example_runs():
    text = (ROOT / "docs" / "integrations.md").read_text()
    section = text.split("## Gymnasium", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "docs/integrations.md: no python block in the Gymnasium section"
    for code in blocks:
        exec(compile(code, "docs/integrations.md (Gymnasium)", "exec"), {})
    assert f"gymnasium {gymnasium.__version__}" in section, \
        f"docs/integrations.md: say which gymnasium the Gymnasium section was tested with ({gymnasium.__version__})"


def test_docstring_examples_run():
    import engine.gym_env
    import engine.vector

    for module in (engine.gym_env, engine.vector):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
