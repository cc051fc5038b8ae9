"""The three shipped games, driven by specific action sequences: each rule's effect checked exactly, on
the tick it must happen (capture the flag, commons harvest, navigation)."""

from __future__ import annotations

import pytest
import torch

import engine

NOOP = 0


def _noop(sim) -> dict[str, torch.Tensor]:
    return {g: sim.groups[g].action_space.zeros((sim.num_worlds, sim.groups[g].size), torch.float32, "cpu")
            for g in sim.external_groups}


def _index(sim, type_name: str, i: int = 0) -> int:
    return sim.layout.types[type_name].start + i


def _put(sim, type_name: str, i: int, xy) -> None:
    pos = sim.state["pos"].clone()
    pos[:, _index(sim, type_name, i)] = torch.tensor(xy, dtype=pos.dtype)
    sim.state["pos"] = pos


def _park_everyone(sim) -> None:
    """Agents far from flags, bases and each other, so only what a test sets up can touch."""
    for t, xs in (("red", [(-0.2, 0.8), (-0.2, -0.8)]), ("blue", [(0.2, 0.8), (0.2, -0.8)])):
        for i, xy in enumerate(xs):
            _put(sim, t, i, xy)


# ---------------------------------------------------------------------------------------- capture the flag
def test_ctf_pick_up_happens_on_the_tick_of_contact_and_the_flag_follows_its_carrier() -> None:
    sim = engine.make("ctf", num_worlds=2, seed=0)
    sim.reset(seed=0)
    _park_everyone(sim)
    flag, red0 = _index(sim, "blue_flag"), _index(sim, "red", 0)
    _put(sim, "red", 0, (0.70, 0.0))  # touching the blue flag at (0.75, 0)
    _, rew, *_ , info = sim.step(_noop(sim))
    assert sim.state["carried_by"][:, flag].tolist() == [red0, red0]
    assert sim.state["events.red_grabs"].tolist() == [1, 1]
    assert torch.allclose(rew["red"][:, 0], torch.tensor([0.2, 0.2]), atol=0.04)  # + shaping (home: -0.02 × 1.45)
    assert torch.equal(sim.state["pos"][:, flag], sim.state["pos"][:, red0])  # follows within the tick
    _put(sim, "red", 0, (0.0, 0.3))
    sim.step(_noop(sim))
    assert torch.equal(sim.state["pos"][:, flag], sim.state["pos"][:, red0])
    assert sim.state["events.red_grabs"].tolist() == [1, 1]  # carried: not grabbed again


def test_ctf_two_agents_on_one_flag_in_one_tick_the_lowest_index_gets_it() -> None:
    sim = engine.make("ctf", num_worlds=1, seed=0)
    sim.reset(seed=0)
    _park_everyone(sim)
    _put(sim, "red", 0, (0.75, 0.06))
    _put(sim, "red", 1, (0.75, -0.06))
    sim.step(_noop(sim))
    assert int(sim.state["carried_by"][0, _index(sim, "blue_flag")]) == _index(sim, "red", 0)
    assert int(sim.state["events.red_grabs"][0]) == 1


def test_ctf_capture_scores_returns_the_flag_and_the_kth_capture_ends_the_episode_with_the_win() -> None:
    sim = engine.make("ctf", num_worlds=1, seed=0)
    sim.reset(seed=0)
    flag, home = _index(sim, "blue_flag"), torch.tensor([0.75, 0.0])
    for capture in (1, 2):
        _park_everyone(sim)
        _put(sim, "red", 0, (0.70, 0.0))
        sim.step(_noop(sim))  # grab
        _put(sim, "red", 0, (-0.75, 0.05))  # inside the red base
        _, rew, term, trunc, info = sim.step(_noop(sim))
        assert int(sim.state["events.red_captures"][0]) == (capture if capture == 1 else 0)  # reset after the win
        if capture == 1:
            assert sim.state["var.score"][0].tolist() == [1, 0]
            assert int(sim.state["carried_by"][0, flag]) == -1
            assert torch.allclose(sim.state["pos"][0, flag], home.to(sim.state["pos"].dtype))
            assert not bool(info["done"][0])
            assert torch.allclose(rew["red"][0], torch.tensor([1.0, 1.0]), atol=0.05)  # team reward (+ shaping ≥ -0.04)
            assert torch.allclose(rew["blue"][0], torch.tensor([-1.0, -1.0]), atol=0.05)
        else:  # the second capture wins: the episode ends this tick, red is the winner
            assert bool(info["done"][0]) and bool(term["red"].all()) and not bool(trunc["red"].any())
            final = info["final_state"]
            assert final["var.score"][0].tolist() == [2, 0]
            assert int(final["rules.winner"][0]) == 0  # red: first in agents:
            assert info["events"]["red_wins"][0] == 1 and info["events"]["red_captures"][0] == 2
            assert torch.allclose(rew["red"][0], torch.tensor([6.0, 6.0]), atol=0.05)  # capture + win
            assert torch.allclose(rew["blue"][0], torch.tensor([-6.0, -6.0]), atol=0.05)
            assert sim.state["var.score"][0].tolist() == [0, 0]  # autoreset


def test_ctf_touching_an_enemy_carrier_sends_the_flag_home() -> None:
    sim = engine.make("ctf", num_worlds=1, seed=0)
    sim.reset(seed=0)
    _park_everyone(sim)
    flag = _index(sim, "blue_flag")
    _put(sim, "red", 0, (0.70, 0.0))
    sim.step(_noop(sim))
    _put(sim, "red", 0, (0.0, 0.0))
    sim.step(_noop(sim))  # the flag follows its carrier to (0, 0)
    assert int(sim.state["carried_by"][0, flag]) == _index(sim, "red", 0)
    _put(sim, "blue", 0, (0.05, 0.0))  # a blue agent touches the red carrier (and so the flag on it)
    sim.step(_noop(sim))
    assert int(sim.state["carried_by"][0, flag]) == -1
    assert torch.allclose(sim.state["pos"][0, flag], torch.tensor([0.75, 0.0], dtype=sim.state["pos"].dtype))
    assert int(sim.state["events.blue_returns"][0]) == 1


# ---------------------------------------------------------------------------------------- commons harvest
def _commons(worlds: int = 1, **kw):
    sim = engine.make("commons", num_worlds=worlds, seed=0, **kw)
    sim.reset(seed=0)
    for i, xy in enumerate([(-0.9, -0.9), (0.9, -0.9), (-0.9, 0.9), (0.9, 0.9)]):
        _put(sim, "harvester", i, xy)  # away from apples and each other
    return sim


def test_commons_eating_removes_the_apple_and_rewards_on_the_tick_of_contact() -> None:
    sim = _commons()
    apple = _index(sim, "apple", 0)
    _put(sim, "harvester", 0, sim.state["pos"][0, apple].tolist())
    _, rew, *_ = sim.step(_noop(sim))
    assert not bool(sim.state["alive"][0, apple])
    assert float(rew["harvester"][0, 0]) == 1.0 and float(rew["harvester"][0, 1:].abs().sum()) == 0.0


def test_commons_a_zapped_harvester_is_gone_for_25_ticks_unterminated_and_unseen() -> None:
    sim = _commons()
    zap = sim.groups["harvester"].action_space.index("zap")
    assert zap == 5 and sim.groups["harvester"].action_space.n == 6
    _put(sim, "harvester", 1, (-0.75, -0.9))  # 0.15 from harvester 0: within the zap's 0.3
    victim = _index(sim, "harvester", 1)
    act = _noop(sim)
    act["harvester"][0, 0] = zap
    obs, _, term, *_ = sim.step(act)
    assert not bool(sim.state["alive"][0, victim])
    assert int(sim.state["zap_cooldown"][0, _index(sim, "harvester", 0)]) == 10
    mask = sim.action_masks()["harvester"]
    assert mask[0, 0].tolist() == [True] * 5 + [False] and bool(mask[0, 1:, 5].all())
    for _ in range(1, 25):
        assert not bool(term["harvester"][0, 1])  # gone for a while, not out of the episode
        assert float(obs["harvester"][0, 1].abs().sum()) == 0.0  # it observes zeros
        # harvester 0 sees zeros where harvester 1 was (relative_pos of the others: 3 × 2 after vel, pos)
        assert obs["harvester"][0, 0, 4:6].abs().sum() == 0.0
        assert not bool(sim.state["alive"][0, victim])
        obs, _, term, *_ = sim.step(_noop(sim))
    assert not bool(sim.state["alive"][0, victim]) and not bool(term["harvester"][0, 1])  # gone 25 ticks
    obs, *_ = sim.step(_noop(sim))
    assert bool(sim.state["alive"][0, victim])  # back on the 26th tick, at a fresh spawn place
    assert float(obs["harvester"][0, 1].abs().sum()) > 0.0
    assert bool(sim.action_masks()["harvester"][0, 0, 5])  # the cooldown (10) ran out long ago


def test_commons_regrowth_needs_neighbours_and_follows_their_count() -> None:
    """A lone dead apple never regrows; one with >= 3 living neighbours regrows at p = 0.05 per tick."""
    sim = _commons(worlds=2000)
    alive = sim.state["alive"].clone()
    patch = list(range(_index(sim, "apple", 0), _index(sim, "apple", 12)))
    alive[:, patch[0]] = False  # world-wide: the first apple of patch 0 eaten, its neighbours alive
    others = [i for i in range(_index(sim, "apple", 12), _index(sim, "apple", 36))]
    alive[:, others] = False  # the other patches eaten bare, but their first apple alone would be "lonely"
    sim.state["alive"] = alive
    sim.step(_noop(sim))
    back = sim.state["alive"][:, patch[0]].float().mean().item()
    assert 0.035 < back < 0.065  # 0.05 ± 4.5 sigma over 2000 worlds
    assert int(sim.state["alive"][:, others].sum()) == 0  # no apple regrows with no living neighbour


# ---------------------------------------------------------------------------------------- navigation
def test_navigation_arrival_counts_once_and_the_last_arrival_ends_the_episode() -> None:
    sim = engine.make("navigation", num_worlds=1, seed=0)
    sim.reset(seed=0)
    pair = sim.state["pair.goal"][0].tolist()
    for i in range(3):  # agents far apart, off their goals
        _put(sim, "agent", i, (-0.9 + 0.9 * i, -0.95))
    for i in range(3):
        goal = pair[i]
        _put(sim, "agent", i, sim.state["pos"][0, goal].tolist())
        _, rew, term, _, info = sim.step(_noop(sim))
        assert abs(float(rew["agent"][0, i]) - 1.0) < 0.01  # +1 (minus a tiny distance term)
        if i < 2:
            assert int(sim.state["var.arrived"][0]) == i + 1 and not bool(info["done"][0])
            _, rew, *_ = sim.step(_noop(sim))  # still on the goal: no second +1
            assert abs(float(rew["agent"][0, i])) < 0.01
        else:
            assert bool(info["done"][0]) and bool(term["agent"].all())
            assert int(info["final_state"]["rules.winner"][0]) == 0
            assert info["events"]["arrive"][0] == 3 and info["events"]["all_arrived"][0] == 1


# ---------------------------------------------------------------------------------------- compiled = eager
@pytest.mark.parametrize("world, inductor", [("ctf", True), ("commons", False), ("navigation", False),
                                              ("mpe/collect_treasure", False)])
def test_the_games_compile_to_one_traced_tick_equal_to_the_eager_one(world: str, inductor: bool, monkeypatch) -> None:
    """Every game's tick traces to one graph that computes what the eager tick does. ctf (the richest rules:
    carried flags, captures, respawns) runs through inductor; for the others the traced graph — exactly what
    inductor is handed — runs as it is: inductor's lowering of the same ops is checked on ctf and in
    tests/test_scheduler.py, and costs ~40 s a world on CI's cold cache."""
    from engine.scheduler import _Compiled

    if not inductor:
        import torch._inductor.compile_fx as inductor_entry

        monkeypatch.setattr(inductor_entry, "compile_fx", lambda graph, example_inputs, **kw: graph)
    eager = engine.make(world, num_worlds=16, seed=4)
    fused = engine.make(world, num_worlds=16, seed=4, compile=True)
    gen = torch.Generator().manual_seed(1)
    for sim in (eager, fused):
        sim.reset(seed=4)
    fired = 0
    for _ in range(160):
        acts = eager.sample_actions(gen)
        if world == "ctf":  # run at the other team's flag, so that flags get grabbed and carried
            for g, toward in (("red", 2), ("blue", 1)):
                acts[g] = torch.where(torch.rand(acts[g].shape, generator=gen) < 0.6, toward, acts[g])
        a = eager.step({k: v.clone() for k, v in acts.items()})
        b = fused.step({k: v.clone() for k, v in acts.items()})
        for x, y in zip(a[:4], b[:4]):
            for g in x:
                assert torch.allclose(x[g].float(), y[g].float(), atol=1e-4), world
        for k in eager.state:
            if k.startswith(("events.", "var.", "carried_by", "alive", "holding", "kind")):
                assert torch.equal(eager.state[k], fused.state[k]), (world, k)
        fired += sum(int(eager.state[k].sum()) for k in eager.state if k.startswith("events."))
    assert fired > 0, world  # the rules did something
    (seg,) = [f for _, f, _ in fused._tick.segments if isinstance(f, _Compiled)]
    assert seg.traced, world  # no graph break: one traced graph (inductor's callable)
