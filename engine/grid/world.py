"""Grid worlds: the ``grid:`` section of a world file, the ``grid`` system, its observation and reward terms.

A grid world's layout is state like any other, declared here: ``grid.cells [B, W, H, 3]`` (MiniGrid's
encoding, uint8), and per grid agent ``grid.pos [B, A, 2]``, ``grid.dir [B, A]``, ``grid.carrying
[B, A, 3]`` and ``grid.won [B, A]``. The grid agents are the agents of every group, in ``agents:`` order;
their actions are MiniGrid's (``GRID_ACTIONS``: each group declares them as named actions). The
``grid`` system runs ``engine.grid.dynamics.grid_step`` on them, mirrors each agent's cell into its
``pos`` component (cell centres, y up: what the renderer and the continuous terms read) and ends the
world's episode when an agent wins or steps into lava. Each reset builds a level per reset world
(``engine.grid.levels_source``) — in Python, only for the worlds that reset.

Terms: ``grid_view`` (the ``view × view × 3`` image, flattened), ``grid_direction`` (MiniGrid's
``direction``) and the reward ``grid_success`` (MiniGrid's ``1 − 0.9 · steps / max_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.core.kinds import ObservationKind, RewardKind, SystemKind
from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.errors import UserError
from engine.world.validation import fld

GRID_ACTIONS = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
#: MiniGrid's object index of an agent, as other agents appear in a view
AGENT = 10
FAILED = "grid.place_failed"


@dataclass
class GridLayout:
    """The grid agents: per group ``(name, first grid agent, count)`` and their entity slots ``[A]``."""

    groups: list[tuple[str, int, int]]
    slots: torch.Tensor
    size: tuple[int, int]
    cell: float

    @property
    def n(self) -> int:
        return int(self.slots.numel())

    def offset(self, group: str) -> tuple[int, int]:
        for name, start, count in self.groups:
            if name == group:
                return start, start + count
        raise KeyError(group)


def grid_layout(app) -> GridLayout:
    """The grid agents of a grid world (a located error if the world is not one or its actions are not MiniGrid's)."""
    grid = app.loaded.spec.grid
    if grid is None:
        raise app.ctx.error(("systems",), "grid terms and the grid system need a grid: section (see "
                                          "docs/world-format.md#grid-worlds)")
    cached = getattr(app, "_grid_layout", None)
    if cached is not None:
        return cached
    groups, slots, start = [], [], 0
    for g in app.groups.values():
        a = g.spec.action
        names = tuple(a.actions)
        if a.type != "discrete" or a.moves or a.say or names != GRID_ACTIONS:
            raise app.ctx.error(("agents", g.name, "action"),
                                f"a grid agent takes MiniGrid's actions: expected type: discrete, moves: false and "
                                f"actions {', '.join(GRID_ACTIONS)} (in this order), got "
                                f"{a.type}, moves {a.moves}, actions {list(names)}")
        groups.append((g.name, start, g.size))
        slots += list(range(g.slice.start, g.slice.start + g.size))
        start += g.size
    if not groups:
        raise app.ctx.error(("agents",), "a grid world needs at least one agent group")
    from engine.grid.levels_source import LevelSource

    try:
        source = LevelSource(grid, app.resolve, ("grid",))
    except UserError:  # already located (an untrusted or missing generator module)
        raise
    except ValueError as e:
        raise app.ctx.error(("grid", "level"), str(e)) from None
    layout = GridLayout(groups, torch.tensor(slots, dtype=torch.int64, device=app.device), source.size,
                        float(grid.cell))
    app._grid_layout, app._grid_source = layout, source
    return layout


def centres(pos: torch.Tensor, height: int, cell: float, dtype: torch.dtype) -> torch.Tensor:
    """Grid cells ``[..., 2]`` (x right, y down) → world positions of their centres (y up)."""
    x = (pos[..., 0].to(dtype) + 0.5) * cell
    y = (height - pos[..., 1].to(dtype) - 0.5) * cell
    return torch.stack((x, y), -1)


# ---------------------------------------------------------------------------------------------- the system
def _declare(app, layout: GridLayout) -> None:
    W, H = layout.size
    A = layout.n
    for name, shape, dtype, doc in (
            ("grid.cells", (W, H, 3), "uint8", "the grid: object type, colour, state per cell (MiniGrid's encoding)"),
            ("grid.pos", (A, 2), "int64", "each grid agent's cell (x right, y down)"),
            ("grid.dir", (A,), "int64", "each grid agent's direction (0 right, 1 down, 2 left, 3 up)"),
            ("grid.carrying", (A, 3), "uint8", "what each grid agent carries (type 0: nothing)"),
            ("grid.won", (A,), "bool", "the agent reached its success this tick (goal or open door)")):
        app.add_state(StateDecl(name, "world", shape, dtype, 0, owner="grid", record=name != "grid.won", doc=doc))
    app.add_state(StateDecl("grid.end", "world", (), "bool", False, owner="grid",
                            doc="an agent won or stepped into lava: the episode ends"))
    app.add_state(StateDecl(FAILED, "world", (), "int64", 0, owner="grid", record=True, event="grid_place_failed",
                            doc="grid.place objects that found no free cell at the episode start"))
    app.add_end_flag("grid.end")


def _reset_hook(app, layout: GridLayout, source):
    W, H = layout.size
    A, slots, cell = layout.n, layout.slots, layout.cell
    fdt = app.dtype

    def hook(fresh: dict, B: int, generator: torch.Generator, mask, state: dict) -> None:
        worlds = list(range(B)) if mask is None else mask.nonzero().flatten().tolist()
        cells = state["grid.cells"].clone()
        pos, direction = state["grid.pos"].clone(), state["grid.dir"].clone()
        failed = state[FAILED].clone()
        if worlds:
            seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
            rng = np.random.default_rng(seed)
            built = [source.make(rng, A) for _ in worlds]
            idx = torch.tensor(worlds, dtype=torch.int64, device=cells.device)
            cells[idx] = torch.from_numpy(np.stack([b.cells for b in built])).to(cells.device, torch.uint8)
            starts = torch.from_numpy(np.stack([b.agents for b in built])).to(pos.device)
            pos[idx], direction[idx] = starts[..., :2], starts[..., 2]
            failed[idx] = torch.tensor([b.failed for b in built], dtype=failed.dtype, device=failed.device)
        fresh["grid.cells"], fresh["grid.pos"], fresh["grid.dir"] = cells, pos, direction
        fresh["grid.carrying"] = torch.zeros_like(state["grid.carrying"])
        fresh[FAILED] = failed
        p = fresh["pos"].clone()
        p[:, slots] = centres(pos, H, cell, fdt)
        fresh["pos"] = p

    return hook


def _step(app, layout: GridLayout):
    from engine.grid.dynamics import grid_step

    grid = app.loaded.spec.grid
    H = layout.size[1]
    keys = [app.groups[name].action_key for name, _, _ in layout.groups]
    slots, cell, fdt = layout.slots, layout.cell, app.dtype
    max_steps, success, nobody = app.loaded.spec.episode.max_steps, grid.success, grid.same_cell == "nobody"

    def system(state: dict) -> None:
        actions = torch.cat([state[k] for k in keys], 1) if len(keys) > 1 else state[keys[0]]
        out = grid_step(state["grid.cells"], state["grid.pos"], state["grid.dir"], state["grid.carrying"],
                        state["tick"], actions, max_steps, success, same_cell_nobody=nobody)
        state["grid.cells"], state["grid.pos"], state["grid.dir"] = out.cells, out.pos, out.direction
        state["grid.carrying"], state["grid.won"] = out.carrying, out.won
        state["grid.end"] = out.terminated.any(1)
        state["pos"] = state["pos"].index_copy(1, slots, centres(out.pos, H, cell, fdt))

    return system


def make_grid_system(app, params, path: tuple) -> SystemDecl:
    """The ``grid`` system kind: declares the grid state, the per-reset level hook and the tick."""
    layout = grid_layout(app)
    source = app._grid_source
    try:
        source.check(layout.n)
    except UserError:
        raise
    except ValueError as e:
        raise app.ctx.error(("grid", "level"), f"the level cannot be built: {e}") from None
    W, H = layout.size
    app.reserve(W * H * 3 + layout.n * 40, f"the grid ({W} × {H} cells)", ("grid", "size"), "make it smaller",
                work=False)
    _declare(app, layout)
    app.add_masked_reset_hook(_reset_hook(app, layout, source))
    keys = tuple(app.groups[name].action_key for name, _, _ in layout.groups)
    return SystemDecl("grid", _step(app, layout), reads=keys + ("grid.cells", "grid.pos", "grid.dir",
                                                                 "grid.carrying", "tick", "pos"),
                      writes=("grid.cells", "grid.pos", "grid.dir", "grid.carrying", "grid.won", "grid.end", "pos"),
                      path=path)


# ---------------------------------------------------------------------------------------------- terms
@dataclass(kw_only=True)
class GridView:
    """The agent's egocentric view (see ``grid_view``)."""

    scale: float = fld(1.0, doc="Multiplies the encoded values (1: MiniGrid's integers as floats).")


@dataclass(kw_only=True)
class GridDirection:
    """The agent's facing direction (see ``grid_direction``)."""

    one_hot: bool = fld(False, doc="Four values (one-hot) instead of MiniGrid's single integer 0-3.")


@dataclass(kw_only=True)
class GridSuccess:
    """MiniGrid's reward for winning (see ``grid_success``)."""

    value: float = fld(1.0, doc="Reward for winning at tick 0.")
    discount: float = fld(0.9, ge=0, le=1, doc="Fraction of it lost by the last tick: value · (1 − discount · "
                                               "steps / max_steps).")


def with_agents(cells: torch.Tensor, pos: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """The cells with every agent drawn in (MiniGrid's ``agent`` object: type 10, colour = index mod 6,
    state = direction), so agents see each other; an agent's own cell shows what it carries instead."""
    B, W, H, _ = cells.shape
    A = pos.shape[1]
    idx = (pos[..., 0] * H + pos[..., 1]).unsqueeze(-1).expand(B, A, 3)
    me = torch.stack((torch.full_like(direction, AGENT), torch.arange(A, device=pos.device).expand(B, A) % 6,
                      direction), -1).to(cells.dtype)
    return cells.reshape(B, W * H, 3).scatter(1, idx, me).view(B, W, H, 3)


def grid_view(app, group, p: GridView, path: tuple):
    """MiniGrid's egocentric ``image``: the ``grid.view × grid.view`` cells ahead of the agent, turned so it
    looks up, as (type, colour, state) — occluded cells read 0 — flattened to ``view · view · 3`` values."""
    from engine.grid.view import egocentric, row_table, view_offsets

    layout = grid_layout(app)
    grid = app.loaded.spec.grid
    a0, a1 = layout.offset(group.name)
    offsets, table = view_offsets(grid.view).to(app.device), row_table(grid.view, app.device)
    stw, scale, many = grid.see_through_walls, p.scale, layout.n > 1
    size = grid.view * grid.view * 3

    def term(state: dict) -> torch.Tensor:
        cells, pos, d = state["grid.cells"], state["grid.pos"], state["grid.dir"]
        if many:
            cells = with_agents(cells, pos, d)
        img = egocentric(cells, pos[:, a0:a1], d[:, a0:a1], state["grid.carrying"][:, a0:a1], offsets, stw, table)
        out = img.flatten(2).to(state["pos"].dtype)
        return out * scale if scale != 1.0 else out

    return size, term


def grid_direction(app, group, p: GridDirection, path: tuple):
    """The agent's facing direction: MiniGrid's integer (0 right, 1 down, 2 left, 3 up), or one-hot."""
    layout = grid_layout(app)
    a0, a1 = layout.offset(group.name)

    def term(state: dict) -> torch.Tensor:
        d = state["grid.dir"][:, a0:a1]
        if p.one_hot:
            return torch.nn.functional.one_hot(d, 4).to(state["pos"].dtype)
        return d.unsqueeze(-1).to(state["pos"].dtype)

    return (4 if p.one_hot else 1), term


def grid_success(app, group, p: GridSuccess, path: tuple):
    """``value · (1 − discount · steps / max_steps)`` to an agent that won this tick (MiniGrid's reward)."""
    layout = grid_layout(app)
    a0, a1 = layout.offset(group.name)
    max_steps = float(app.loaded.spec.episode.max_steps)

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        won = state["grid.won"][:, a0:a1]
        fdt = state["pos"].dtype
        r = p.value * (1.0 - p.discount * state["tick"].to(fdt) / max_steps)  # tick: already counts this one
        return torch.where(won, r.unsqueeze(1), torch.zeros((), dtype=fdt, device=won.device))

    return term


def build(app) -> None:
    """Register the grid system kind and terms (usable in worlds with a ``grid:`` section)."""
    app.register_system(SystemKind("grid", make_grid_system, None, "MiniGrid's cells, objects and actions "
                                                                    "(a grid: world)"))
    for name, params, factory in (("grid_view", GridView, grid_view), ("grid_direction", GridDirection,
                                                                        grid_direction)):
        app.register_observation(ObservationKind(name, factory, params, (factory.__doc__ or "").strip()))
    app.register_reward(RewardKind("grid_success", grid_success, GridSuccess, (grid_success.__doc__ or "").strip()))
