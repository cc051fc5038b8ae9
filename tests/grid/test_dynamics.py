"""MiniGrid's dynamics, batched, against the ``minigrid`` package side by side: the same start (the
env's grid, agent pose, carried object, step count), the same actions — random ones, and a scripted
DoorKey solution (pick up the key, open the door, reach the goal) — and every step the grid cells,
the agent's position, direction and carried object, the reward (time-discounted), terminated,
truncated and the egocentric image are equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wl_test_support import minigrid_face_and_walk as _face_and_walk
from wl_test_support import minigrid_path as _path

from engine.grid.dynamics import grid_step
from engine.grid.view import egocentric, view_offsets

gym = pytest.importorskip("gymnasium")
pytest.importorskip("minigrid")

ENVS = {"MiniGrid-Empty-8x8-v0": "goal", "MiniGrid-FourRooms-v0": "goal", "MiniGrid-DoorKey-8x8-v0": "goal",
        "MiniGrid-LavaCrossingS9N1-v0": "goal", "MiniGrid-Unlock-v0": "door_open",
        "MiniGrid-MultiRoom-N4-S5-v1": "goal"}


def _load(env) -> dict:
    u = env.unwrapped
    return {"cells": torch.as_tensor(u.grid.encode()).unsqueeze(0).to(torch.int64),
            "pos": torch.tensor([[list(u.agent_pos)]]), "direction": torch.tensor([[int(u.agent_dir)]]),
            "carrying": torch.tensor([[list(u.carrying.encode()) if u.carrying else [0, 0, 0]]]),
            "steps": torch.tensor([u.step_count])}


def _compare(state: dict, env, where: str) -> None:
    ref = _load(env)
    for k in ("cells", "pos", "direction", "carrying", "steps"):
        assert torch.equal(state[k], ref[k]), f"{where}: {k}"


def _run(env, success: str, actions, seed: int) -> tuple[int, float]:
    env.reset(seed=seed)
    u = env.unwrapped
    state, offsets = _load(env), view_offsets(u.agent_view_size)
    total, n = 0.0, 0
    for t, a in enumerate(actions(env)):
        obs, rew, term, trunc, _ = env.step(a)
        out = grid_step(state["cells"], state["pos"], state["direction"], state["carrying"], state["steps"],
                        torch.tensor([[a]]), u.max_steps, success)
        state = {"cells": out.cells, "pos": out.pos, "direction": out.direction, "carrying": out.carrying,
                 "steps": out.steps}
        where = f"{env.spec.id} seed {seed} step {t} action {a}"
        _compare(state, env, where)
        assert float(out.reward[0, 0]) == pytest.approx(rew, abs=1e-6), where
        assert bool(out.terminated[0, 0]) == term and bool(out.truncated[0, 0]) == trunc, where
        image = egocentric(out.cells, out.pos, out.direction, out.carrying, offsets, u.see_through_walls)
        np.testing.assert_array_equal(image[0, 0].numpy(), obs["image"], err_msg=where)
        total, n = total + rew, n + 1
        if term or trunc:
            break
    return n, total


@pytest.mark.parametrize("name", sorted(ENVS))
def test_random_actions_match_minigrid(name: str) -> None:
    import minigrid.envs  # noqa: F401

    env = gym.make(name)
    rng = np.random.default_rng(1)

    def actions(env):
        while True:
            yield int(rng.choice([0, 1, 2, 2, 2, 3, 4, 5, 6]))

    steps = sum(_run(env, ENVS[name], actions, seed)[0] for seed in range(8))
    assert steps > 200


def test_a_scripted_doorkey_solution_matches_minigrid() -> None:
    import minigrid.envs  # noqa: F401

    env = gym.make("MiniGrid-DoorKey-8x8-v0")

    def solve(env):
        u = env.unwrapped
        for target, finish in (("key", [3]), ("door", [5, 2]), ("goal", [2])):
            cells = {(i, j) for i in range(u.grid.width) for j in range(u.grid.height)
                     if u.grid.get(i, j) is not None and u.grid.get(i, j).type == target}
            yield from _face_and_walk(u, _path(u, cells)) + finish

    wins = 0
    for seed in range(10):
        n, total = _run(env, "goal", solve, seed)
        assert total > 0.5, f"seed {seed}: the scripted solution reached the goal (reward {total})"
        wins += 1
    assert wins == 10
