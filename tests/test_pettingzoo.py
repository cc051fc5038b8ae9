"""The PettingZoo env module's own behaviour: defaults, spaces, metadata, episodes and agent death,
``max_cycles``, actions, ``state()`` and ``rgb_array`` rendering. PettingZoo's test module on every
shipped world, rendering under Xvfb, action masks and SuperSuit are in tests/pettingzoo/.

Most tests run the eager tick (``compile=False``: no compile wait); one checks that the compiled
default gives the same episode.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
import engine.pettingzoo as pz
from engine.errors import UserError
from engine.pettingzoo import env, parallel_env, raw_env

ROOT = Path(__file__).resolve().parent.parent
HUNT = ROOT / "tests" / "train" / "hunt.yaml"
FLEE = {"systems": [{"scripted_flee": {"agents": "prey", "threat": ["adversary"]}}, "physics"]}


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()  # the env sets torch's (process-wide) thread count by default
    yield
    torch.set_num_threads(before)


def eager(world="tag", **kw):
    return parallel_env(world, compile=False, **kw)


def test_defaults_are_the_fast_path(monkeypatch):
    seen = []
    real_make = engine.make
    monkeypatch.setattr(engine, "make", lambda world, **kw: seen.append(kw) or real_make(world, **kw))
    parallel_env("tag")
    assert seen[-1]["compile"] is True and seen[-1]["threads"] == 1 and seen[-1]["num_worlds"] == 1
    assert seen[-1]["action_check"] == "off", "the env checks actions itself; the Sim need not check again"
    assert torch.get_num_threads() == 1
    parallel_env("tag", compile=False, threads=None, action_check="clip", seed=4, device="cpu")
    assert seen[-1] == {"compile": False, "threads": None, "action_check": "clip", "seed": 4, "device": "cpu",
                        "num_worlds": 1}
    with pytest.raises(UserError, match="num_worlds"):
        parallel_env("tag", num_worlds=2)


@pytest.mark.slow_compile
def test_the_first_reset_compiles_nothing_and_compiled_equals_eager():
    fast, slow = parallel_env("tag"), eager()
    assert fast.sim._tick.compiled and not slow.sim._tick.compiled
    a, _ = fast.reset(seed=7)
    assert all(getattr(fn, "compiled", None) is None for _, fn, _ in fast.sim._tick.segments), \
        "reset must not compile: the first step does"
    b, _ = slow.reset(seed=7)
    rng = np.random.default_rng(0)
    for _ in range(30):
        assert all(np.allclose(a[k], b[k], atol=1e-5) for k in b)
        if not slow.agents:
            a, _ = fast.reset()
            b, _ = slow.reset()
        acts = {k: int(rng.integers(5)) for k in slow.agents}
        a, ra, *_ = fast.step(acts)
        b, rb, *_ = slow.step(acts)
        assert ra.keys() == rb.keys() and np.allclose(list(ra.values()), list(rb.values()), atol=1e-5)


def test_spaces_and_agent_names_follow_the_world():
    par = eager()
    assert par.possible_agents == ["adversary_0", "adversary_1", "adversary_2", "prey_0"]
    assert par.observation_space("adversary_1").shape == (16,)
    assert par.observation_space("prey_0").dtype == np.float32
    assert par.action_space("prey_0").n == 5
    assert par.observation_space("prey_0") is par.observation_space("prey_0")
    assert par.action_space("prey_0") is not par.action_space("adversary_0"), "one space per agent (seeding)"
    assert par.state_space.shape == (5 * 6,)
    obs, _ = par.reset(seed=3)
    assert par.state().shape == par.state_space.shape and par.state().dtype == np.float32
    assert par.state_space.contains(par.state())
    assert all(par.observation_space(a).contains(o) for a, o in obs.items())
    cont = eager(overrides={"agents.*.action": "continuous"})
    assert cont.action_space("prey_0").shape == (5,) and cont.action_space("prey_0").dtype == np.float32


def test_module_and_metadata_as_pettingzoo_modules_have_them():
    for fn in (pz.env, pz.raw_env, pz.parallel_env):
        assert callable(fn)
    par = eager()
    assert par.metadata == {"name": "worldloom_tag", "render_modes": ["human", "rgb_array"],
                            "is_parallelizable": True, "render_fps": 10}
    aec = env("tag", compile=False)
    assert aec.metadata["name"] == "worldloom_tag" and aec.metadata["render_fps"] == 10
    assert aec.unwrapped.__class__ is pz.WorldParallelEnv
    assert raw_env("tag", compile=False).state_space.shape == (30,)
    assert eager(overrides={"render.tick_rate": 30}).metadata["render_fps"] == 30


def test_scripted_groups_are_not_agents():
    par = eager(overrides=FLEE)
    par.reset(seed=0)
    assert par.agents == ["adversary_0", "adversary_1", "adversary_2"]


def test_episode_end_returns_final_observation_then_empty_steps():
    par = eager(seed=0)
    par.reset(seed=5)
    twin = engine.make("tag", num_worlds=1)
    twin.reset(seed=5)
    steps = 0
    while par.agents:
        obs, _, term, trunc, _ = par.step({a: 1 for a in par.agents})
        *_, info = twin.step({"adversary": np.ones((1, 3), dtype=np.int64), "prey": np.ones((1, 1), dtype=np.int64)})
        steps += 1
    assert steps == 25 and all(trunc.values()) and not any(term.values())
    np.testing.assert_array_equal(obs["prey_0"], info["final_observation"]["prey"][0, 0].numpy())
    tick = int(par.sim.state["tick"][0])
    for _ in range(3):  # as PettingZoo's own envs (mpe2): five empty dicts, the world does not move
        assert par.step({}) == ({}, {}, {}, {}, {})
        assert par.step({"prey_0": 1}) == ({}, {}, {}, {}, {})
    assert int(par.sim.state["tick"][0]) == tick
    # reset() without a seed starts the episode the Sim already auto-reset into (no second draw), the
    # same one the batched twin is in now
    obs, _ = par.reset()
    np.testing.assert_array_equal(obs["prey_0"], twin.observations()["prey"][0, 0].numpy())
    assert torch.equal(par.sim.state["pos"], twin.state["pos"]) and int(par.sim.state["tick"][0]) == 0


def test_dead_agent_is_terminated_once_and_removed():
    par = eager(HUNT)
    par.reset(seed=0)
    assert "runner_3" not in par.agents and "runner_3" in par.possible_agents  # a spare slot, dead at reset
    seen_death = False
    for seed in range(20):
        par.reset(seed=seed)
        rng = np.random.default_rng(seed)
        while par.agents:
            before = list(par.agents)
            actions = {a: par.action_space(a).sample() if a.startswith("runner") else int(rng.integers(5))
                       for a in par.agents}
            obs, rew, term, trunc, _ = par.step(actions)
            assert set(obs) == set(before)
            for a in before:
                if term[a] and not trunc[a]:
                    seen_death = True
                    assert a not in par.agents
                    assert not obs[a].any(), "a dead agent observes zeros"
        if seen_death:
            break
    assert seen_death, "no runner died in 20 episodes of random play"


def test_max_cycles_sets_the_episode_length():
    par = eager(max_cycles=4)
    assert par.max_cycles == 4
    par.reset(seed=0)
    steps = 0
    while par.agents:
        _, _, term, trunc, _ = par.step({a: 0 for a in par.agents})
        steps += 1
    assert steps == 4 and all(trunc.values()) and not any(term.values())
    hunt = eager(HUNT, max_cycles=6)  # runners die on the way: terminated then; the others truncated at 6
    hunt.reset(seed=0)
    ended: dict[str, tuple[int, bool, bool]] = {}
    for t in range(1, 7):
        _, _, term, trunc, _ = hunt.step({a: hunt.action_space(a).sample() for a in hunt.agents})
        ended.update({a: (t, term[a], trunc[a]) for a in term if term[a] or trunc[a]})
    assert not hunt.agents and set(ended) == {"hunter_0", "hunter_1", "runner_0", "runner_1", "runner_2"}
    assert all(trunc_ and t == 6 for t, _, trunc_ in (ended["hunter_0"], ended["hunter_1"]))
    assert any(term_ and t < 6 for t, term_, _ in ended.values()), "some runner should have died first"
    assert eager(max_cycles=30).max_cycles == 30  # longer than the world's 25 too
    assert eager().max_cycles == 25
    assert eager(max_cycles=9, overrides={"episode.max_steps": 9}).max_cycles == 9
    with pytest.raises(UserError, match="disagree"):
        eager(max_cycles=9, overrides={"episode.max_steps": 10})
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(UserError, match="max_cycles"):
            eager(max_cycles=bad)
    aec = env("tag", compile=False, max_cycles=3)
    aec.reset(seed=0)
    turns = sum(1 for agent in aec.agent_iter() if aec.step(
        None if any(aec.last()[2:4]) else aec.action_space(agent).sample()) is None)
    assert turns == 4 * (3 + 1)  # 3 cycles, then each agent's last look at its truncation


def test_actions_are_checked_converted_and_ignored_as_pettingzoo_expects():
    par = eager()
    par.reset(seed=0)
    with pytest.raises(UserError, match="unknown agent 'wolf_0'"):
        par.step({"wolf_0": 1})
    with pytest.raises(UserError, match="expected a dict"):
        par.step([1, 2, 3, 4])
    par.step({"adversary_0": np.int32(2), "adversary_1": True, "adversary_2": 4.0, "prey_0": np.array(3)})
    assert par.sim.state["action.adversary"].tolist() == [[2, 1, 4]] and par.sim.state["action.prey"].tolist() == [[3]]
    par.step({"prey_0": 1})  # live agents without an action do nothing
    assert par.sim.state["action.adversary"].tolist() == [[0, 0, 0]]
    cont = eager(overrides={"agents.*.action": "continuous"})
    cont.reset(seed=0)
    cont.step({"prey_0": [0, 1, 0, 0.5, 0], "adversary_0": np.ones(5, np.float64)})
    assert cont.sim.state["action.prey"].tolist() == [[[0.0, 1.0, 0.0, 0.5, 0.0]]]
    assert cont.sim.state["action.adversary"][0, 0].tolist() == [1.0] * 5
    with pytest.raises(UserError, match="got shape"):
        cont.step({"prey_0": np.zeros(4, np.float32)})


def test_finished_agents_actions_are_ignored():
    par = eager(HUNT)
    for seed in range(20):
        par.reset(seed=seed)
        par.step({a: par.action_space(a).sample() for a in par.agents})
        dead = [a for a in par.possible_agents if a not in par.agents]
        if dead:
            break
    par.step({a: 7 for a in dead} | {a: par.action_space(a).sample() for a in par.agents})  # no error


def test_clip_and_off_modes_leave_values_to_the_sim():
    clip = eager(action_check="clip")
    clip.reset(seed=0)
    clip.step({"adversary_0": 9, "adversary_1": -3, "adversary_2": float("nan"), "prey_0": 2})
    assert clip.sim.state["action.adversary"].tolist() == [[4, 0, 0]]
    with pytest.raises(UserError, match="adversary_0"):
        clip.step({"adversary_0": "left"})
    off = eager(action_check="off")
    off.reset(seed=0)
    off.step({"adversary_0": 3, "prey_0": 1})
    assert off.sim.state["action.adversary"].tolist() == [[3, 0, 0]]


def test_render_mode_is_checked():
    with pytest.raises(UserError, match="render_mode"):
        eager(render_mode="ansi")
    par = eager()
    par.reset(seed=0)
    assert par.render() is None


def test_same_seed_same_episode():
    def rollout(seed):
        par = eager(overrides=FLEE)
        obs, _ = par.reset(seed=seed)
        out = [np.concatenate(list(obs.values()))]
        t = 0
        while par.agents:
            obs, rew, *_ = par.step({a: (t + i) % 5 for i, a in enumerate(par.agents)})
            out.append(np.concatenate(list(obs.values()) + [np.array(list(rew.values()), dtype=np.float32)]))
            t += 1
        return np.concatenate(out), len(out)

    (a, n), (b, _), (c, _) = rollout(11), rollout(11), rollout(12)
    assert n == 26
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_outputs_are_plain_python_and_fresh_arrays():
    par = eager()
    obs, _ = par.reset(seed=0)
    obs2, rew, term, trunc, info = par.step({a: 1 for a in par.agents})
    assert all(type(r) is float for r in rew.values()) and all(type(t) is bool for t in term.values())
    assert all(type(t) is bool for t in trunc.values()) and all(i == {} for i in info.values())
    kept = obs2["adversary_0"].copy()
    par.step({a: 2 for a in par.agents})
    np.testing.assert_array_equal(obs2["adversary_0"], kept)  # not overwritten by later steps
    info["adversary_0"]["mine"] = 1  # infos are fresh dicts (SuperSuit writes into them)
    assert par.step({a: 0 for a in par.agents})[4]["adversary_0"] == {}


def test_rgb_array_render_draws_the_world():
    from engine.render import GLUnavailableError

    par = eager(render_mode="rgb_array")
    par.reset(seed=0)
    try:
        img = par.render()
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 2  # background plus entities
    par.close()


@pytest.mark.parametrize("name", ["engine.pettingzoo.parallel", "engine.pettingzoo.actions"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
