"""Helpers shared by test modules across folders (importable from any test: ``tests/`` is on the path
through its conftest.py): a tiny valid world, an action-mask extension, and a polling wait."""

from __future__ import annotations

import textwrap
import time
from collections import deque
from pathlib import Path

#: MiniGrid's DIR_TO_VEC: right, down, left, up
MINIGRID_DIRECTIONS = ((1, 0), (0, 1), (-1, 0), (0, -1))
TAG = Path(__file__).resolve().parents[1] / "worlds" / "tag.yaml"

#: The smallest world that exercises entities, an agent group, terms and physics; tests mutate it.
TINY_WORLD = textwrap.dedent("""\
    version: 1
    name: tiny
    entities:
      runner:
        count: 2
        components: {radius: 0.05, color: [0.2, 0.4, 0.9]}
        spawn: {pos: {uniform: [-1.0, 1.0]}}
      rock:
        count: 1
        components: {radius: 0.2, movable: false}
    agents:
      runner:
        entity: runner
        observation: [self_pos, self_vel, {relative_pos: {of: [rock]}}]
        reward: [{contact: {with: [rock], value: -1.0}}]
    systems: [physics]
    """)

#: An extension masking actions of tag's adversaries: no moving -x (action 1) in the right half.
MASKS_EXT = textwrap.dedent("""\
    import torch

    def no_left_when_right_half(state):
        x = state["pos"][:, 0:3, 0]
        mask = torch.ones(x.shape + (5,), dtype=torch.bool)
        mask[..., 1] = x < 0
        return mask

    def build(app):
        app.add_action_mask("adversary", no_left_when_right_half)
    """)


def masked_tag_world(folder: Path, name: str = "tag") -> Path:
    """``tag`` with the ``MASKS_EXT`` extension beside it in ``folder`` (trust ``folder`` to load it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "masks.py").write_text(MASKS_EXT)
    world = TAG.read_text().replace("\nname: tag\n", f"\nname: {name}\nextensions: [masks]\n")
    (folder / "tag.yaml").write_text(world)
    return folder / "tag.yaml"


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------- scripted MiniGrid play (tests/grid, tests/interop)
def minigrid_path(u, goal_cells: set) -> list[tuple[int, int]]:
    """Cells from the agent to a cell next to (or on) one of ``goal_cells``, through passable cells (BFS)."""
    start = tuple(u.agent_pos)
    prev = {start: None}
    q = deque([start])
    while q:
        c = q.popleft()
        if c in goal_cells:
            out = []
            while c is not None:
                out.append(c)
                c = prev[c]
            return out[::-1]
        for dx, dy in MINIGRID_DIRECTIONS:
            n = (c[0] + dx, c[1] + dy)
            cell = u.grid.get(*n)
            if n not in prev and (cell is None or cell.can_overlap() or n in goal_cells):
                prev[n] = c
                q.append(n)
    raise AssertionError("no path")


def minigrid_face_and_walk(u, path: list) -> list[int]:
    """Actions that walk ``path`` (its last cell is only faced, not entered)."""
    acts, d, here = [], int(u.agent_dir), path[0]
    for nxt in path[1:]:
        want = MINIGRID_DIRECTIONS.index((nxt[0] - here[0], nxt[1] - here[1]))
        turns = (want - d) % 4
        acts += [1] * turns if turns <= 2 else [0]
        d = want
        if nxt != path[-1]:
            acts.append(2)
            here = nxt
    return acts
