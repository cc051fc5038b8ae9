"""Copy a ``minigrid`` env's level into world 0 of a grid-world Sim, so anyone can check parity.

``load_level(sim, env)`` copies the env's grid (MiniGrid's ``Grid.encode()``: every object, colour and
door state), the agent's cell and direction, what it carries and the step count, then recomputes
the observations: the next ``sim.step`` with the action given to ``env.step`` gives the same grid,
pose, reward, terminated/truncated and ``image`` (tests/interop/test_minigrid.py checks this every
step, for the six shipped families in ``worlds/grid/``).

Example:
    >>> import engine, gymnasium as gym, minigrid  # doctest: +SKIP
    >>> env = gym.make("MiniGrid-DoorKey-8x8-v0"); _ = env.reset(seed=1)  # doctest: +SKIP
    >>> sim = engine.make("grid/doorkey"); _ = sim.reset()  # doctest: +SKIP
    >>> load_level(sim, env)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.errors import UserError


def _minigrid_env(env: Any) -> Any:
    inner = getattr(env, "unwrapped", env)
    if not all(hasattr(inner, a) for a in ("grid", "agent_pos", "agent_dir", "step_count")):
        raise UserError(f"load_level: expected a minigrid env (with .unwrapped.grid and .agent_pos), got "
                        f"{type(env).__name__}")
    return inner


def load_level(sim: Any, env: Any) -> None:
    """Put ``env``'s layout, objects, agent pose, carried object and step count into world 0 of ``sim``
    (grid agent 0) and recompute its observations. Raises ``UserError`` when the grids differ in size
    or the world is not a grid world."""
    from engine.grid.world import centres

    u = _minigrid_env(env)
    if "grid.cells" not in sim.state:
        raise UserError("load_level: the Sim's world has no grid: section; build it from worlds/grid/*.yaml")
    cells = np.asarray(u.grid.encode())
    W, H = sim.state["grid.cells"].shape[1:3]
    if cells.shape[:2] != (W, H):
        raise UserError(f"load_level: the minigrid env is {cells.shape[0]} × {cells.shape[1]}, the Sim's grid "
                        f"{W} × {H}; build the Sim with --set grid.size=[{cells.shape[0]},{cells.shape[1]}]")
    state = dict(sim.state)

    def put(key: str, value: Any, index: Any = 0) -> None:
        t = state[key].clone()
        t[index] = torch.as_tensor(value, dtype=t.dtype, device=t.device)
        state[key] = t

    put("grid.cells", cells)
    put("grid.pos", list(map(int, u.agent_pos)), (0, 0))
    put("grid.dir", int(u.agent_dir), (0, 0))
    put("grid.carrying", list(u.carrying.encode()) if u.carrying is not None else [0, 0, 0], (0, 0))
    put("tick", int(u.step_count))
    layout = sim.plan.app._grid_layout
    put("pos", centres(state["grid.pos"][0, :1], H, layout.cell, state["pos"].dtype), (0, layout.slots[:1]))
    for hook in sim.table.derive_hooks:  # observations are derived from the state just written
        hook(state)
    sim.state = state
    sim._needs_reset = False
