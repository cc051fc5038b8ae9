"""SuperSuit and Stable-Baselines3 on the PettingZoo env: ``black_death_v3`` over a world whose agents
die, the vector constructors (which pickle the env), and the example of docs/integrations.md, run as
written (with the eager tick: the compiled one is checked in tests/test_pettingzoo.py)."""

from __future__ import annotations

import functools
import pickle
import re

import numpy as np
import pytest
from pz_helpers import ROOT

import engine.pettingzoo
from engine.pettingzoo import parallel_env

ss = pytest.importorskip("supersuit")


def test_black_death_over_dying_foragers():
    env = ss.black_death_v3(parallel_env("forage", compile=False))
    obs, _ = env.reset(seed=0)
    everyone = set(env.possible_agents)
    assert set(obs) == everyone
    deaths = episodes = 0
    rng = np.random.default_rng(0)
    for _ in range(400):
        live = set(env.unwrapped.agents)
        obs, rew, term, trunc, info = env.step({a: int(rng.integers(5)) for a in env.agents})
        assert set(obs) == set(rew) == set(term) == everyone, "black death keeps every agent in the batch"
        for a in everyone - live:  # dead before this step: zeros, no reward
            assert not obs[a].any() and rew[a] == 0.0
        deaths += len(live - set(env.unwrapped.agents)) if env.unwrapped.agents else 0
        if not env.agents:
            episodes += 1
            env.reset()
    assert deaths > 0, "no forager died in 400 steps: the test does not cover agent death"
    assert episodes >= 3


def test_the_env_pickles_as_its_recipe():
    env = parallel_env("forage", compile=False, max_cycles=7, seed=3)
    env.reset(seed=1)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.max_cycles == 7 and copy.possible_agents == env.possible_agents and copy.agents == []
    a, _ = env.reset(seed=2)
    b, _ = copy.reset(seed=2)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def _doc_example() -> str:
    text = (ROOT / "docs" / "integrations.md").read_text()
    section = text.split("\n## PettingZoo\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_documented_example_runs(monkeypatch):
    pytest.importorskip("stable_baselines3")
    # the example as written, on the eager tick (its default, compile=True, costs a compile per world)
    for name in ("parallel_env", "env"):
        monkeypatch.setattr(engine.pettingzoo, name, functools.partial(getattr(engine.pettingzoo, name),
                                                                       compile=False))
    namespace: dict = {}
    exec(compile(_doc_example(), "docs/integrations.md (PettingZoo)", "exec"), namespace)
    assert namespace["model"].num_timesteps >= 2 * 6 * 32
    assert namespace["aec"].agents == []
