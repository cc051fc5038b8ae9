"""worlds/tag.yaml against the reference implementation, mpe2.simple_tag_v3.

Both start from the same state (mpe2's random reset copied into the Sim) and receive the same random
actions; positions, velocities, observations and rewards must agree to 1e-5 over a 25-step episode,
including the truncation at step 25.
"""

import numpy as np
import pytest
import torch

import engine

mpe2 = pytest.importorskip("mpe2")
from mpe2 import simple_tag_v3  # noqa: E402


def _run_parity(num_adv: int, num_good: int, continuous: bool, seed: int) -> None:
    ref = simple_tag_v3.parallel_env(num_good=num_good, num_adversaries=num_adv, num_obstacles=2,
                                     max_cycles=25, continuous_actions=continuous)
    ref_obs, _ = ref.reset(seed=seed)
    world = ref.unwrapped.world
    overrides = {"entities.adversary.count": num_adv, "entities.prey.count": num_good}
    if continuous:
        overrides["agents.*.action"] = "continuous"
    sim = engine.make("tag", num_worlds=1, overrides=overrides, seed=seed)
    sim.reset()
    entities = world.agents + world.landmarks  # adversaries, prey, obstacles: the Sim's entity order
    sim.state["pos"][0] = torch.tensor(np.stack([e.state.p_pos for e in entities]), dtype=torch.float32)
    sim.state["vel"][0] = torch.tensor(np.stack([e.state.p_vel for e in entities]), dtype=torch.float32)
    from engine.systems.episode import observe

    observe(sim.plan, sim.state)
    names = {"adversary": [f"adversary_{i}" for i in range(num_adv)],
             "prey": [f"agent_{i}" for i in range(num_good)]}
    for g, agents in names.items():
        np.testing.assert_allclose(sim.state["obs." + g][0].numpy(), np.stack([ref_obs[a] for a in agents]),
                                   atol=1e-6)
    rng = np.random.default_rng(seed)
    for t in range(25):
        if continuous:
            acts = {g: rng.uniform(0, 1, (len(a), 5)).astype(np.float32) for g, a in names.items()}
        else:
            acts = {g: rng.integers(0, 5, len(a)) for g, a in names.items()}
        ref_acts = {a: acts[g][i] for g, agents in names.items() for i, a in enumerate(agents)}
        ref_obs, ref_rew, ref_term, ref_trunc, _ = ref.step(ref_acts)
        obs, rew, term, trunc, info = sim.step({g: torch.as_tensor(v)[None] for g, v in acts.items()})
        if bool(info["done"][0]):
            obs = info["final_observation"]
        pos = np.stack([e.state.p_pos for e in entities])
        vel = np.stack([e.state.p_vel for e in entities])
        state = sim.state
        if not bool(info["done"][0]):
            np.testing.assert_allclose(state["pos"][0].numpy(), pos, atol=1e-5, err_msg=f"pos at step {t + 1}")
            np.testing.assert_allclose(state["vel"][0].numpy(), vel, atol=1e-5, err_msg=f"vel at step {t + 1}")
        for g, agents in names.items():
            np.testing.assert_allclose(obs[g][0].numpy(), np.stack([ref_obs[a] for a in agents]), atol=1e-5,
                                       err_msg=f"{g} observation at step {t + 1}")
            np.testing.assert_allclose(rew[g][0].numpy(), np.array([ref_rew[a] for a in agents]), atol=1e-5,
                                       err_msg=f"{g} reward at step {t + 1}")
            assert trunc[g][0].tolist() == [ref_trunc[a] for a in agents]
            assert term[g][0].tolist() == [ref_term[a] for a in agents]
    assert bool(info["done"][0]), "the episode must end after 25 steps, as in mpe2"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tag_matches_mpe2_discrete(seed):
    _run_parity(3, 1, continuous=False, seed=seed)


@pytest.mark.parametrize("seed", [0, 3])
def test_tag_matches_mpe2_continuous(seed):
    _run_parity(3, 1, continuous=True, seed=seed)


def test_tag_matches_mpe2_scaled_6_adversaries_2_prey():
    _run_parity(6, 2, continuous=False, seed=5)
    _run_parity(6, 2, continuous=True, seed=6)
