"""worlds/mpe/*.yaml against mpe2 itself: same start (``engine.interop.mpe2.load_state``), same actions,
every array at every step of the full episode within |a − b| ≤ 1e-5 + 1e-5·|b|, over 20 seeds,
discrete and continuous actions; and the PettingZoo env is a drop-in (agent names, order, spaces)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import engine
from engine.interop.mpe2 import feed_draws, load_state, mpe_world

mpe2 = pytest.importorskip("mpe2")
from mpe2 import (  # noqa: E402
    collect_treasure_v1,
    simple_adversary_v3,
    simple_crypto_v3,
    simple_formation_v1,
    simple_line_v1,
    simple_push_v3,
    simple_reference_v3,
    simple_speaker_listener_v4,
    simple_spread_v3,
    simple_tag_v3,
    simple_v3,
    simple_world_comm_v3,
)

SCENARIOS = {"collect_treasure": collect_treasure_v1,
             "simple": simple_v3, "simple_adversary": simple_adversary_v3, "simple_crypto": simple_crypto_v3,
             "simple_formation": simple_formation_v1,
             "simple_line": simple_line_v1, "simple_push": simple_push_v3, "simple_reference": simple_reference_v3,
             "simple_speaker_listener": simple_speaker_listener_v4, "simple_spread": simple_spread_v3,
             "simple_tag": simple_tag_v3, "simple_world_comm": simple_world_comm_v3}
#: --set overrides for mpe2's continuous_actions=True (a speaker keeps its message-only layout)
CONTINUOUS = {"simple_world_comm": {"agents.*.action": "continuous",
                                   "agents.leader.action": {"type": "continuous", "say": 4}},
              "simple_crypto": {f"agents.{g}.action": {"type": "continuous", "moves": False, "say": 4}
                               for g in ("eve", "bob", "alice")},
              "simple_reference": {"agents.agent.action": {"type": "continuous", "say": 10}},
              "simple_speaker_listener": {"agents.speaker.action": {"type": "continuous", "moves": False, "say": 3},
                                          "agents.listener.action": "continuous"}}


def _continuous(scenario: str) -> dict:
    return CONTINUOUS.get(scenario, {"agents.*.action": "continuous"})
SEEDS = range(20)
TOL = {"rtol": 1e-5, "atol": 1e-5}


def _names(sim) -> dict[str, list[str]]:
    return {g: sim.groups[g].agent_names() for g in sim.external_groups}


def _episode(sim, ref, seed: int, continuous: bool, tol: dict = TOL) -> None:
    def _check(label: str, have: np.ndarray, want: np.ndarray) -> None:
        np.testing.assert_allclose(have, want, err_msg=label, **tol)

    ref_obs, _ = ref.reset(seed=seed)
    sim.reset(seed=seed)
    load_state(sim, ref)
    world = mpe_world(ref)
    entities = world.agents + world.landmarks
    names = _names(sim)
    obs = sim.observations()
    for g, agents in names.items():
        _check(f"seed {seed}: {g} observation at reset", obs[g][0].numpy(), np.stack([ref_obs[a] for a in agents]))
    rng = np.random.default_rng(seed)
    spaces = {g: sim.groups[g].action_space for g in names}
    for t in range(1, 26):
        if continuous:
            acts = {g: rng.uniform(0, 1, (len(a), spaces[g].n)).astype(np.float32) for g, a in names.items()}
        else:
            acts = {g: rng.integers(0, spaces[g].n, len(a)) for g, a in names.items()}
        feed_draws(sim, ref)  # collect_treasure: where mpe2 brings back picked-up treasures
        ref_obs, ref_rew, ref_term, ref_trunc, _ = ref.step(
            {a: acts[g][i] for g, agents in names.items() for i, a in enumerate(agents)})
        obs, rew, term, trunc, info = sim.step({g: torch.as_tensor(v)[None] for g, v in acts.items()})
        done = bool(info["done"][0])
        state = info["final_state"] if done else sim.state  # the world restarted: compare what ended
        if done:
            obs = info["final_observation"]
        where = f"seed {seed}, step {t}"
        _check(f"{where}: pos", state["pos"][0].numpy(), np.stack([e.state.p_pos for e in entities]))
        _check(f"{where}: vel", state["vel"][0].numpy(), np.stack([e.state.p_vel for e in entities]))
        for g, agents in names.items():
            _check(f"{where}: {g} observation", obs[g][0].numpy(), np.stack([ref_obs[a] for a in agents]))
            _check(f"{where}: {g} reward", rew[g][0].numpy(), np.array([ref_rew[a] for a in agents]))
            assert term[g][0].tolist() == [ref_term[a] for a in agents], where
            assert trunc[g][0].tolist() == [ref_trunc[a] for a in agents], where
        assert done == (t == 25), f"{where}: the episode ends after 25 steps, as in mpe2"


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_yaml_world_reproduces_mpe2(scenario: str, continuous: bool) -> None:
    ref = SCENARIOS[scenario].parallel_env(max_cycles=25, continuous_actions=continuous)
    # mpe2 computes in float64: so does the world here (soft contacts amplify float32 rounding to
    # ~1e-5 within an episode; test_float32_stays_close below bounds that)
    overrides = {"world.dtype": "float64", **(_continuous(scenario) if continuous else {})}
    sim = engine.make(f"mpe/{scenario}", num_worlds=1, overrides=overrides)
    for seed in SEEDS:
        _episode(sim, ref, seed, continuous)


@pytest.mark.parametrize("continuous", [False, True], ids=["discrete", "continuous"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_pettingzoo_env_is_a_drop_in_for_mpe2(scenario: str, continuous: bool) -> None:
    from engine.pettingzoo import parallel_env

    ref = SCENARIOS[scenario].parallel_env(continuous_actions=continuous)
    ours = parallel_env(f"mpe/{scenario}", compile=False, overrides=_continuous(scenario) if continuous else None)
    assert ours.possible_agents == ref.possible_agents
    for a in ref.possible_agents:
        assert ours.action_space(a) == ref.action_space(a), a
        assert ours.observation_space(a).shape == ref.observation_space(a).shape, a
        assert ours.observation_space(a).dtype == ref.observation_space(a).dtype, a


def test_load_state_refuses_a_world_with_other_counts() -> None:
    from engine.errors import UserError

    ref = simple_spread_v3.parallel_env(N=4)
    ref.reset(seed=0)
    sim = engine.make("mpe/simple_spread", num_worlds=1)
    with pytest.raises(UserError, match="the mpe2 world has 8 entities .* the Sim 6"):
        load_state(sim, ref)
    sim4 = engine.make("mpe/simple_spread", overrides={"entities.agent.count": 4, "entities.landmark.count": 4})
    load_state(sim4, ref)  # the scaled world matches the scaled scenario (and no reset() is needed first)
    assert np.allclose(sim4.state["pos"][0].numpy(), np.stack(
        [e.state.p_pos for e in mpe_world(ref).agents + mpe_world(ref).landmarks]), atol=1e-6)
    ref.step({a: 2 for a in ref.agents})  # everyone +x: the first step starts from the loaded state
    sim4.step({"agent": torch.full((1, 4), 2)})
    assert np.allclose(sim4.state["pos"][0].numpy(), np.stack(
        [e.state.p_pos for e in mpe_world(ref).agents + mpe_world(ref).landmarks]), atol=1e-5)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_float32_stays_close(scenario: str) -> None:
    """The default float32 world: the same episodes within 1e-3 (soft contacts amplify rounding)."""
    ref = SCENARIOS[scenario].parallel_env(max_cycles=25)
    sim = engine.make(f"mpe/{scenario}", num_worlds=1)
    for seed in SEEDS:
        _episode(sim, ref, seed, continuous=False, tol={"rtol": 1e-4, "atol": 1e-3})


def test_simple_line_places_the_far_landmark_as_mpe2_does() -> None:
    """The far landmark's spawn (1.25 away, turned by 5° until inside): same distance, and the same
    distribution of directions as mpe2's resets (two-sample KS test over 2000 layouts each)."""
    from scipy.stats import ks_2samp

    ref = simple_line_v1.parallel_env()
    ours, theirs = [], []
    for seed in range(2000):
        ref.reset(seed=seed)
        a, b = (lm.state.p_pos for lm in mpe_world(ref).landmarks)
        theirs.append(np.arctan2(*(b - a)[::-1]))
    sim = engine.make("mpe/simple_line", num_worlds=2000, seed=0)
    sim.reset(seed=0)
    lm = sim.state["pos"][:, 4:6].double()
    offset = lm[:, 1] - lm[:, 0]
    assert torch.allclose(offset.norm(dim=-1), torch.full((2000,), 1.25, dtype=torch.float64), atol=1e-6)
    assert bool((lm[:, 1].abs() < 1).all())
    ours = torch.atan2(offset[:, 1], offset[:, 0]).numpy()
    assert ks_2samp(ours, np.array(theirs)).pvalue > 0.01


def _steer(world) -> dict[str, np.ndarray]:
    """A scripted collect_treasure team (continuous actions): collectors head for the nearest treasure, or,
    holding one, for its deposit; deposits for the nearest collector carrying their type (else the centroid)."""
    out = {}
    collectors = [a for a in world.agents if a.collector]
    for a in world.agents:
        p = a.state.p_pos
        if a.collector and a.holding is None:
            targets = [lm.state.p_pos for lm in world.landmarks if lm.alive]
        elif a.collector:
            targets = [d.state.p_pos for d in world.agents if not d.collector and d.d_i == a.holding]
        else:
            targets = [c.state.p_pos for c in collectors if c.holding == a.d_i] or [
                np.mean([c.state.p_pos for c in collectors], 0)]
        d = min(targets, key=lambda q: np.linalg.norm(q - p)) - p if targets else np.zeros(2)
        d = d / max(np.linalg.norm(d), 1e-9)
        out[a.name] = np.array([0, max(-d[0], 0), max(d[0], 0), max(-d[1], 0), max(d[1], 0)], dtype=np.float32)
    return out


def test_collect_treasure_pickups_and_deliveries_match_mpe2() -> None:
    """Random actions rarely deliver: a scripted team picks up and delivers dozens of treasures over 100-step
    episodes (mid-episode respawns fed from mpe2's own draws), and every array still matches, every step."""
    steps = 100
    ref = collect_treasure_v1.parallel_env(max_cycles=steps, continuous_actions=True)
    sim = engine.make("mpe/collect_treasure", num_worlds=1, compile=False, overrides={
        "world.dtype": "float64", "episode.max_steps": steps, "agents.*.action": "continuous"})
    names = _names(sim)
    events = {"pick_up": 0, "deliver": 0}
    for seed in range(5):
        ref.reset(seed=seed)
        sim.reset(seed=seed)
        load_state(sim, ref)
        for t in range(1, steps + 1):
            acts = _steer(mpe_world(ref))
            feed_draws(sim, ref)
            ref_obs, ref_rew, _, _, _ = ref.step(acts)
            obs, rew, _, _, info = sim.step({g: torch.as_tensor(np.stack([acts[a] for a in agents]))[None]
                                             for g, agents in names.items()})
            done = bool(info["done"][0])
            state, obs = (info["final_state"], info["final_observation"]) if done else (sim.state, obs)
            world = mpe_world(ref)
            where = f"seed {seed}, step {t}"
            np.testing.assert_allclose(state["pos"][0].numpy(), np.stack(
                [e.state.p_pos for e in world.agents + world.landmarks]), err_msg=where, **TOL)
            assert state["holding"][0, :6].tolist() == [-1 if a.holding is None else a.holding
                                                        for a in world.agents[:6]], where
            assert state["kind"][0, 8:].tolist() == [lm.type for lm in world.landmarks], where
            for g, agents in names.items():
                np.testing.assert_allclose(obs[g][0].numpy(), np.stack([ref_obs[a] for a in agents]), err_msg=where,
                                           **TOL)
                np.testing.assert_allclose(rew[g][0].numpy(), [ref_rew[a] for a in agents], err_msg=where, **TOL)
            if done:
                for k in events:
                    events[k] += int(info["events"][k][0])
    assert events["pick_up"] >= 50 and events["deliver"] >= 40, events


def test_collect_treasure_parks_picked_treasures_only_behind_its_switch() -> None:
    """mpe2 moves a picked-up treasure to (-999, -999); the YAML world does so while park_like_mpe2 is on
    (the default, for parity) and leaves it where it was picked up when it is off."""
    for park in (True, False):
        sim = engine.make("mpe/collect_treasure", num_worlds=1, compile=False,
                          overrides={"variables.park_like_mpe2.default": park})
        sim.reset(seed=0)
        st = dict(sim.state)
        pos = st["pos"].clone()
        pos[0, 0] = pos[0, 8]  # collector 0 on treasure 0
        st["pos"] = pos
        sim.state = st
        sim.step({g: torch.zeros(1, sim.groups[g].size, dtype=torch.int64) for g in sim.external_groups})
        assert not bool(sim.state["alive"][0, 8]) and int(sim.state["holding"][0, 0]) >= 0
        where = sim.state["pos"][0, 8].tolist()
        assert where == ([-999.0, -999.0] if park else pos[0, 8].tolist()), park
