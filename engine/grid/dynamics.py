"""MiniGrid's dynamics as whole-tensor operations: one tick of every agent of every world.

The state is MiniGrid's encoding (see ``engine.grid.view``): ``cells [B, W, H, 3]`` (type, colour,
state), ``pos [B, A, 2]``, ``direction [B, A]``, ``carrying [B, A, 3]`` (type 0: nothing) and the step
counter ``steps [B]``. Actions are MiniGrid's indices: 0 turn left, 1 turn right, 2 forward, 3 pick up,
4 drop, 5 toggle, 6 done. A tick follows ``MiniGridEnv.step`` exactly (tests/grid/test_dynamics.py runs
both side by side): the counter goes up first; forward enters empty cells, floor, open doors, goals
and lava; reaching a goal ends the episode with ``1 − 0.9 · steps / max_steps``, lava ends it with 0;
pick-up takes a key, ball or box in front when the hands are free; drop puts what is carried on an
empty cell in front; toggle opens or closes a door, unlocks a locked door with a key of its colour,
and opens a box (its contents are not part of the encoding: an opened box leaves an empty cell).
``success="door_open"`` ends the episode with the same reward when a toggle leaves a door open
(MiniGrid's Unlock). With several agents per world they act one after the other in index order, so
two agents never take the same object or cell in one tick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from engine.grid.view import BALL, BOX, CLOSED, DOOR, EMPTY, FLOOR, GOAL, KEY, LAVA, LOCKED, OPEN

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
#: MiniGrid's DIR_TO_VEC: right, down, left, up
DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))


@dataclass
class GridStep:
    """What one tick changed: the new state and each agent's reward and ending."""

    cells: torch.Tensor
    pos: torch.Tensor
    direction: torch.Tensor
    carrying: torch.Tensor
    steps: torch.Tensor
    reward: torch.Tensor  # [B, A]
    terminated: torch.Tensor  # [B, A]
    truncated: torch.Tensor  # [B, A]
    won: torch.Tensor  # [B, A]: reached the goal (or opened the door, for door_open)


def _cell_index(pos: torch.Tensor, height: int) -> torch.Tensor:
    return pos[..., 0] * height + pos[..., 1]


def grid_step(cells: torch.Tensor, pos: torch.Tensor, direction: torch.Tensor, carrying: torch.Tensor,
              steps: torch.Tensor, actions: torch.Tensor, max_steps: int,
              success: Literal["goal", "door_open"] = "goal", same_cell_nobody: bool = False) -> GridStep:
    """One MiniGrid tick for ``actions [B, A]`` (see the module docstring).

    With several agents, an agent never steps onto another's cell (agents act in index order, so the
    lower index takes a cell both wanted); ``same_cell_nobody``: agents whose forward moves aim at the
    same cell at the start of the tick all stay."""
    B, W, H, _ = cells.shape
    steps = steps + 1
    flat = cells.reshape(B, W * H, 3)
    vec = torch.tensor(DIRECTIONS, dtype=pos.dtype, device=pos.device)
    empty = torch.tensor([EMPTY, 0, 0], dtype=cells.dtype, device=cells.device)
    rewards, ends, wins = [], [], []
    A = actions.shape[1]
    pos, direction, carrying = pos.clone(), direction.clone(), carrying.clone()
    lo = torch.zeros(2, dtype=pos.dtype, device=pos.device)
    hi = torch.tensor([W - 1, H - 1], dtype=pos.dtype, device=pos.device)
    contested = _contested(pos, direction, actions, vec, lo, hi, H) if A > 1 and same_cell_nobody else None
    done_reward = (1.0 - 0.9 * steps.to(torch.float32) / max_steps)  # [B]
    for a in range(actions.shape[1]):  # agents one after the other (a handful per world)
        act, d = actions[:, a], direction[:, a]
        front = (pos[:, a] + vec[d]).clamp(lo, hi)
        where = _cell_index(front, H)  # [B]
        cell = flat.gather(1, where.view(B, 1, 1).expand(B, 1, 3)).squeeze(1)  # [B, 3]
        kind, state = cell[:, 0], cell[:, 2]
        held = carrying[:, a]
        free_hands = held[:, 0] == 0
        # turning
        direction[:, a] = torch.where(act == LEFT, (d + 3) % 4, torch.where(act == RIGHT, (d + 1) % 4, d))
        # forward
        passable = ((kind == EMPTY) | (kind == FLOOR) | (kind == GOAL) | (kind == LAVA)
                    | ((kind == DOOR) & (state == OPEN)))
        moving = (act == FORWARD) & passable
        occupied = None
        if A > 1:  # another agent's cell is taken (agents act in order: it may have just moved)
            others = torch.cat((pos[:, :a], pos[:, a + 1:]), 1)
            occupied = (others == front.unsqueeze(1)).all(-1).any(1)
            moving = moving & ~occupied
            if contested is not None:
                moving = moving & ~contested[:, a]
        pos[:, a] = torch.where(moving.unsqueeze(-1), front, pos[:, a])
        at_goal = moving & (kind == GOAL)
        ended = at_goal | (moving & (kind == LAVA))
        # pick up / drop
        take = (act == PICKUP) & ((kind == KEY) | (kind == BALL) | (kind == BOX)) & free_hands
        put = (act == DROP) & (kind == EMPTY) & ~free_hands
        if occupied is not None:
            put = put & ~occupied
        # toggle: doors (locked ones need the key of their colour) and boxes
        toggle = act == TOGGLE
        key_fits = (held[:, 0] == KEY) & (held[:, 1] == cell[:, 1])
        door = toggle & (kind == DOOR)
        new_state = torch.where(state == LOCKED, torch.where(key_fits, OPEN, LOCKED),
                                torch.where(state == OPEN, CLOSED, OPEN))
        toggled = cell.clone()
        toggled[:, 2] = torch.where(door, new_state, state)
        opened_box = toggle & (kind == BOX)
        new_cell = torch.where(take.unsqueeze(-1) | opened_box.unsqueeze(-1), empty,
                               torch.where(put.unsqueeze(-1), held, toggled))
        flat = flat.scatter(1, where.view(B, 1, 1).expand(B, 1, 3), new_cell.unsqueeze(1))
        carrying[:, a] = torch.where(take.unsqueeze(-1), cell, torch.where(put.unsqueeze(-1), torch.zeros_like(held),
                                                                          held))
        won = at_goal
        if success == "door_open":  # Unlock: a toggle that leaves a door open wins
            door_open = ((flat[..., 0] == DOOR) & (flat[..., 2] == OPEN)).any(1)
            won = won | (toggle & door_open)
            ended = ended | (toggle & door_open)
        rewards.append(torch.where(won, done_reward, torch.zeros_like(done_reward)))
        ends.append(ended)
        wins.append(won)
    truncated = (steps >= max_steps).unsqueeze(1).expand(-1, actions.shape[1])
    return GridStep(flat.view(B, W, H, 3), pos, direction, carrying, steps, torch.stack(rewards, 1),
                    torch.stack(ends, 1), truncated, torch.stack(wins, 1))


def _contested(pos: torch.Tensor, direction: torch.Tensor, actions: torch.Tensor, vec: torch.Tensor,
               lo: torch.Tensor, hi: torch.Tensor, H: int) -> torch.Tensor:
    """``[B, A]``: the agent moves forward into a cell another agent also moves forward into this tick."""
    target = (pos + vec[direction]).clamp(lo, hi)
    idx = _cell_index(target, H)  # [B, A]
    fwd = actions == FORWARD
    same = (idx.unsqueeze(2) == idx.unsqueeze(1)) & fwd.unsqueeze(2) & fwd.unsqueeze(1)
    same = same & ~torch.eye(idx.shape[1], dtype=torch.bool, device=idx.device)
    return same.any(2)
