"""Action masks through PettingZoo: a group the world masks observes ``{"observation", "action_mask"}``
as PettingZoo's own masked envs do, and the mask always belongs to the observation it comes with —
the episode's last one included. (PettingZoo's API and seed tests on this world: the
``tag-action-masks`` case of test_pettingzoo_conformance.py.)"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from engine.pettingzoo import env, parallel_env


def test_masked_groups_observe_a_dict_with_the_mask(masked_tag):
    world, trust = masked_tag
    par = parallel_env(world, trust=trust, compile=False)
    space = par.observation_space("adversary_0")
    assert isinstance(space, spaces.Dict) and set(space.spaces) == {"observation", "action_mask"}
    assert space["action_mask"] == spaces.Box(0, 1, (5,), np.int8)
    assert space["observation"].shape == (16,)
    assert isinstance(par.observation_space("prey_0"), spaces.Box), "an unmasked group keeps its Box"
    obs, _ = par.reset(seed=0)
    assert all(par.observation_space(a).contains(o) for a, o in obs.items())
    assert obs["adversary_0"]["action_mask"].dtype == np.int8


def test_the_mask_matches_its_observation_through_episode_ends(masked_tag):
    world, trust = masked_tag
    par = parallel_env(world, trust=trust, compile=False, max_cycles=10)
    rng = np.random.default_rng(0)
    checked = ends = 0
    for seed in range(3):
        obs, _ = par.reset(seed=seed)
        while True:
            for a in ("adversary_0", "adversary_1", "adversary_2"):
                x = obs[a]["observation"][2]  # self_vel (2), then self_pos: x
                assert obs[a]["action_mask"].tolist() == [1, int(x < 0), 1, 1, 1], (a, x)
                checked += 1
            if not par.agents:
                ends += 1
                break
            actions = {a: par.action_space(a).sample(obs[a]["action_mask"]) if a.startswith("adversary")
                       else int(rng.integers(5)) for a in par.agents}
            obs, *_ = par.step(actions)
    assert ends == 3 and checked == 3 * 11 * 3


def test_aec_agents_sample_with_the_mask(masked_tag):
    world, trust = masked_tag
    aec = env(world, trust=trust, compile=False, max_cycles=6)
    aec.reset(seed=0)
    seen = 0
    for agent in aec.agent_iter():
        obs, _, term, trunc, _ = aec.last()
        if agent.startswith("adversary"):
            assert set(obs) == {"observation", "action_mask"}
            seen += 1
        if term or trunc:
            aec.step(None)
        elif agent.startswith("adversary"):
            aec.step(aec.action_space(agent).sample(obs["action_mask"]))
        else:
            aec.step(aec.action_space(agent).sample())
    assert seen == 3 * 7  # 6 cycles and each agent's last look after the truncation
