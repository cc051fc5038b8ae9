"""The batched egocentric view against the ``minigrid`` package: for MiniGrid's own environments driven by
random actions, every cell of every ``image`` observation — visibility behind walls and doors, the
carried object in the agent's cell, walls beyond the grid's edge — equals minigrid's, every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.grid.view import egocentric, view_offsets

gym = pytest.importorskip("gymnasium")
minigrid = pytest.importorskip("minigrid")

ENVS = ["MiniGrid-Empty-8x8-v0", "MiniGrid-FourRooms-v0", "MiniGrid-DoorKey-8x8-v0", "MiniGrid-LavaCrossingS9N1-v0",
        "MiniGrid-Unlock-v0", "MiniGrid-MultiRoom-N4-S5-v1", "MiniGrid-KeyCorridorS3R3-v0"]


def _ours(env) -> np.ndarray:
    u = env.unwrapped
    grid = torch.as_tensor(u.grid.encode()).unsqueeze(0).to(torch.int64)  # [1, W, H, 3]
    pos = torch.tensor([[list(u.agent_pos)]])
    direction = torch.tensor([[int(u.agent_dir)]])
    held = torch.tensor([[list(u.carrying.encode()) if u.carrying else [0, 0, 0]]])
    return egocentric(grid, pos, direction, held, view_offsets(u.agent_view_size), u.see_through_walls)[0, 0].numpy()


@pytest.mark.parametrize("name", ENVS)
def test_the_view_equals_minigrid_every_step(name: str) -> None:
    import minigrid.envs  # noqa: F401  (registers the ids)

    env = gym.make(name)
    rng = np.random.default_rng(0)
    checked = 0
    for seed in range(6):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_array_equal(_ours(env), obs["image"], err_msg=f"{name} seed {seed} reset")
        for t in range(120):
            a = int(rng.choice([0, 1, 2, 2, 2, 3, 4, 5]))  # forward more often: it explores
            obs, _, term, trunc, _ = env.step(a)
            np.testing.assert_array_equal(_ours(env), obs["image"], err_msg=f"{name} seed {seed} step {t}")
            checked += 1
            if term or trunc:
                break
    assert checked > 100


def test_view_offsets_face_the_way_the_agent_looks() -> None:
    off = view_offsets(7)
    # the cell straight ahead (view cell (3, 5)) is one step along the facing direction
    assert [off[d, 3, 5].tolist() for d in range(4)] == [[1, 0], [0, 1], [-1, 0], [0, -1]]
    assert all(off[d, 3, 6].tolist() == [0, 0] for d in range(4))  # the agent's own cell


def _process_vis(opaque: np.ndarray) -> np.ndarray:
    """minigrid's Grid.process_vis, written out on an opacity array ``[i, j]`` (agent at (v // 2, v - 1))."""
    v = opaque.shape[0]
    m = np.zeros((v, v), dtype=bool)
    m[v // 2, v - 1] = True
    for j in reversed(range(v)):
        for i in range(v - 1):
            if m[i, j] and not opaque[i, j]:
                m[i + 1, j] = True
                if j > 0:
                    m[i + 1, j - 1] = m[i, j - 1] = True
        for i in reversed(range(1, v)):
            if m[i, j] and not opaque[i, j]:
                m[i - 1, j] = True
                if j > 0:
                    m[i - 1, j - 1] = m[i, j - 1] = True
    return m


@pytest.mark.parametrize("view, lookup", [(v, False) for v in (3, 5, 7, 9, 11, 15)] + [(v, True) for v in (3, 5, 7, 9)])
def test_bit_mask_visibility_equals_process_vis_on_random_views(view: int, lookup: bool) -> None:
    """The row-as-bits sweep — computed by shifts, and looked up in ``row_table`` (what the tick uses) —
    against process_vis on 2,000 random views of each size, opacity 10–70 %."""
    from engine.grid.view import row_table, visibility

    table = row_table(view) if lookup else None
    assert (table is not None) == lookup
    g = torch.Generator().manual_seed(view)
    for p in (0.1, 0.3, 0.5, 0.7):
        opaque = torch.rand(500, view, view, generator=g) < p
        got = visibility(opaque, table).numpy()
        for b in range(500):
            np.testing.assert_array_equal(got[b], _process_vis(opaque[b].numpy()), err_msg=f"p {p} view {b}")


def test_a_wide_view_compiles_as_one_opaque_sweep_equal_to_the_eager_tick() -> None:
    """A view wider than the row table (MiniGrid allows any odd size) keeps its visibility sweep out of the
    compiled graph — inlined, view 31 took 5 minutes to compile — and 40 compiled ticks equal the eager ones."""
    import engine
    from engine.grid.view import TABLE_MAX_VIEW
    from engine.scheduler import _Compiled

    over = {"grid.view": 11}
    assert 11 > TABLE_MAX_VIEW
    eager = engine.make("grid/doorkey", num_worlds=3, seed=1, overrides=over)
    fused = engine.make("grid/doorkey", num_worlds=3, seed=1, overrides=over, compile=True)
    gen = torch.Generator().manual_seed(0)
    eager.reset(seed=4)
    fused.reset(seed=4)
    for _ in range(40):
        a = eager.sample_actions(gen)
        for x, y in zip(eager.step(a)[0].values(), fused.step(a)[0].values()):
            assert x.shape[-1] >= 11 * 11 * 3  # the wide image is in the observation
            assert torch.equal(x, y)
    code = "".join(f.compiled.source_code for _, f, _ in fused._tick.segments if isinstance(f, _Compiled))
    assert "grid_visibility" in code
