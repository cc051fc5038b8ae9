"""The shipped grid worlds against the ``minigrid`` package, through the Sim as a user runs them:
``load_level`` copies a minigrid env's level into world 0, then both take the same actions — random
ones, and a scripted DoorKey solution (key, door, goal) — and every step the grid, the agent's cell,
direction and carried object, the door states (part of the grid), the step count, the reward
(time-discounted), terminated/truncated, the 7×7×3 image and the direction are equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wl_test_support import minigrid_face_and_walk, minigrid_path

import engine
from engine.interop.minigrid import load_level

gym = pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")

WORLDS = {"empty": "MiniGrid-Empty-8x8-v0", "fourrooms": "MiniGrid-FourRooms-v0",
          "doorkey": "MiniGrid-DoorKey-8x8-v0", "lavacrossing": "MiniGrid-LavaCrossingS9N1-v0",
          "unlock": "MiniGrid-Unlock-v0", "multiroom": "MiniGrid-MultiRoom-N4-S5-v1"}


def _check_state(sim, u, where: str) -> None:
    s = sim.state
    np.testing.assert_array_equal(s["grid.cells"][0].numpy(), u.grid.encode(), err_msg=f"{where}: grid")
    assert s["grid.pos"][0, 0].tolist() == list(map(int, u.agent_pos)), f"{where}: position"
    assert int(s["grid.dir"][0, 0]) == int(u.agent_dir), f"{where}: direction"
    held = list(u.carrying.encode()) if u.carrying is not None else [0, 0, 0]
    assert s["grid.carrying"][0, 0].tolist() == held, f"{where}: carrying"
    assert int(s["tick"][0]) == u.step_count, f"{where}: step count"


def _check_obs(vec: torch.Tensor, obs: dict, where: str) -> None:
    np.testing.assert_array_equal(vec[:147].numpy().reshape(7, 7, 3), obs["image"], err_msg=f"{where}: image")
    assert int(vec[147]) == int(obs["direction"]), f"{where}: direction observation"


def _episode(name: str, seed: int, actions) -> tuple[int, float]:
    import minigrid  # noqa: F401

    env = gym.make(WORLDS[name])
    obs, _ = env.reset(seed=seed)
    u = env.unwrapped
    sim = engine.make(f"grid/{name}", num_worlds=1)
    sim.reset(seed=seed)
    load_level(sim, env)
    _check_state(sim, u, f"{name} seed {seed} start")
    _check_obs(sim.observations()["agent"][0, 0], obs, f"{name} seed {seed} start")
    total, n = 0.0, 0
    for t, a in enumerate(actions(u)):
        obs, rew, term, trunc, _ = env.step(a)
        sobs, srew, sterm, strunc, info = sim.step({"agent": torch.tensor([[a]])})
        where = f"{name} seed {seed} step {t} action {a}"
        assert float(srew["agent"][0, 0]) == pytest.approx(rew, abs=1e-6), where
        assert bool(sterm["agent"][0, 0]) == term and bool(strunc["agent"][0, 0]) == trunc, where
        if term or trunc:  # the Sim has reset world 0: the last observation is in info
            _check_obs(info["final_observation"]["agent"][0, 0], obs, where)
            return n + 1, total + rew
        _check_state(sim, u, where)
        _check_obs(sobs["agent"][0, 0], obs, where)
        total, n = total + rew, n + 1
    return n, total


@pytest.mark.parametrize("name", sorted(WORLDS))
def test_random_actions_match_minigrid(name: str) -> None:
    rng = np.random.default_rng(7)

    def actions(u):
        while True:
            yield int(rng.choice([0, 1, 2, 2, 2, 3, 4, 5, 6]))

    steps = sum(_episode(name, seed, actions)[0] for seed in range(4))
    assert steps >= 4 * 50 or name in ("lavacrossing", "multiroom")  # lava ends episodes early
    assert steps > 20


def test_a_scripted_doorkey_solution_matches_minigrid() -> None:
    def solve(u):
        for target, finish in (("key", [3]), ("door", [5, 2]), ("goal", [2])):
            cells = {(i, j) for i in range(u.grid.width) for j in range(u.grid.height)
                     if u.grid.get(i, j) is not None and u.grid.get(i, j).type == target}
            yield from minigrid_face_and_walk(u, minigrid_path(u, cells)) + finish

    for seed in range(5):
        n, total = _episode("doorkey", seed, solve)
        assert total > 0.5, f"seed {seed}: the scripted solution reached the goal (reward {total})"


def test_load_level_refuses_a_grid_of_another_size() -> None:
    import minigrid  # noqa: F401

    env = gym.make("MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    sim = engine.make("grid/doorkey", num_worlds=1)
    sim.reset()
    with pytest.raises(engine.UserError, match=r"5 × 5.*8 × 8.*grid.size=\[5,5\]"):
        load_level(sim, env)
    sim = engine.make("grid/doorkey", num_worlds=1, overrides={"grid.size": [5, 5], "episode.max_steps": 250})
    sim.reset()
    load_level(sim, env)  # the resized world takes it
