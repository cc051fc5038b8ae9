"""Bad actions are caught at the API boundary — through Sim.step (eager and compiled) and PettingZoo —
with a message naming the group, the agent, what was expected and what was found; nothing changes."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import engine
from engine.errors import ActionError, UserError
from engine.pettingzoo import parallel_env


def _good(sim) -> dict[str, torch.Tensor]:
    return {g: sim.groups[g].action_space.zeros((sim.num_worlds, sim.groups[g].size), torch.float32, "cpu")
            for g in sim.external_groups}


@pytest.fixture(scope="module", params=[False, True], ids=["eager", "compiled"])
def sims(request):
    kw = {"num_worlds": 2, "compile": request.param}
    return engine.make("tag", **kw), engine.make("tag", overrides={"agents.*.action": "continuous"}, **kw)


BAD_DISCRETE = [
    (-1, "expected an integer in 0..4", "got -1"),
    (5, "expected an integer in 0..4", "got 5"),
    (2.5, "expected an integer in 0..4", "got 2.5"),
    (None, "expected a tensor of an integer in 0..4", "per agent, got NoneType"),
    ("up", "got str", ""),
    ([["a", "b", "c"], ["d", "e", "f"]], "torch cannot convert", ""),
    (True, "expected shape [2, 3]", ""),
]


@pytest.mark.parametrize("value, expected, found", BAD_DISCRETE)
def test_bad_discrete_actions(sims, value, expected, found) -> None:
    sim = sims[0]
    sim.reset(seed=0)
    before = {k: v.clone() for k, v in sim.state.items()}
    acts = _good(sim)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        acts["adversary"] = acts["adversary"].clone().to(torch.float32 if isinstance(value, float) else torch.int64)
        acts["adversary"][1, 2] = value
    else:
        acts["adversary"] = value
    with pytest.raises(ActionError) as info:
        sim.step(acts)
    msg = str(info.value)
    assert "actions['adversary']" in msg and expected in msg and found in msg
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert "agent 2 of world 1" in msg
    assert all(torch.equal(before[k], sim.state[k]) for k in before), "a rejected step changed the state"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 300.0, -0.5])
def test_bad_continuous_actions(sims, value) -> None:
    sim = sims[1]
    sim.reset(seed=0)
    acts = _good(sim)
    acts["prey"] = acts["prey"].clone()
    acts["prey"][0, 0, 3] = value
    with pytest.raises(ActionError, match=r"actions\['prey'\]: agent 0 of world 0, value 3: expected 5 floats in "
                                          r"\[0, 1\]"):
        sim.step(acts)


def test_clip_and_off_modes() -> None:
    sim = engine.make("tag", num_worlds=2, action_check="clip")
    sim.reset(seed=0)
    acts = _good(sim)
    acts["adversary"] = torch.full((2, 3), 9)
    sim.step(acts)
    assert bool((sim.state["action.adversary"] == 4).all())
    cont = engine.make("tag", num_worlds=1, action_check="clip", overrides={"agents.*.action": "continuous"})
    cont.reset(seed=0)
    acts = _good(cont)
    acts["prey"] = torch.tensor([[[math.nan, 300.0, -2.0, 0.5, 1.0]]])
    cont.step(acts)
    assert cont.state["action.prey"].tolist() == [[[0.0, 1.0, 0.0, 0.5, 1.0]]]
    off = engine.make("tag", num_worlds=1, action_check="off")
    off.reset(seed=0)
    off.step(_good(off))
    with pytest.raises(ValueError, match="action_check"):
        engine.make("tag", action_check="sometimes")


@pytest.mark.parametrize("value, found", [(-1, "-1"), (5, "5"), (None, "NoneType"), ("up", "str 'up'"),
                                          (1.5, "1.5"), ([1, 2], "[1, 2]"), (np.nan, "nan")])
def test_bad_actions_through_pettingzoo(value, found) -> None:
    env = parallel_env("tag")
    env.reset(seed=0)
    actions = {a: 0 for a in env.agents}
    actions["prey_0"] = value
    with pytest.raises(UserError, match=r"action of 'prey_0': expected an integer in 0\.\.4 .*got " + re.escape(found)):
        env.step(actions)


@pytest.mark.parametrize("value", [math.nan, math.inf, 300.0])
def test_bad_continuous_actions_through_pettingzoo(value) -> None:
    env = parallel_env("tag", overrides={"agents.*.action": "continuous"})
    env.reset(seed=0)
    actions = {a: np.zeros(5, np.float32) for a in env.agents}
    actions["prey_0"] = np.array([0, value, 0, 0, 0], np.float32)
    with pytest.raises(UserError, match=r"action of 'prey_0': expected 5 floats in \[0, 1\]"):
        env.step(actions)
