"""Where a grid world's levels come from at each reset: the ``grid.level`` of the world file, resolved once.

``LevelSource.make(rng, n_agents)`` builds one world's layout: the generator's level (or one of the
maps), then ``grid.place`` — objects and the agents the level did not start, each on a free cell
drawn uniformly (of its region), never on another object or agent. A placement with no free cell left
is skipped and counted (``info["events"]["grid_place_failed"]``); a layout that cannot be built even
once is refused when the world loads (``check``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.grid.levels import AGENT_CHARS, DEFAULT_LEGEND, FAMILIES, Level, LevelError, as_level, encode, parse_map
from engine.grid.view import EMPTY
from engine.world.schema import GRID_FAMILY_SIZES as FAMILY_SIZES


@dataclass
class Built:
    """One world's start: cells ``[W, H, 3]``, agents' ``(x, y, dir)`` and how many placements failed."""

    cells: np.ndarray
    agents: np.ndarray  # [A, 3]
    failed: int = 0


class LevelSource:
    """The resolved ``grid.level`` (see the module docstring)."""

    def __init__(self, grid, resolve: Callable[[str, tuple], Callable], path: tuple) -> None:
        self.legend = dict(DEFAULT_LEGEND)
        self.legend.update({ch: o.encoded() for ch, o in grid.legend.items()})
        self.place = grid.place
        self.generator: Callable | None = None
        self.params = dict(grid.level.params)
        self.maps: list[Level] = []
        self.name = ""
        lvl = grid.level
        if lvl.generator is not None:
            self.name = lvl.generator
            if lvl.generator in FAMILIES:
                self.generator = FAMILIES[lvl.generator]
                _check_params(lvl.generator, self.generator, self.params)
            elif "." in lvl.generator:
                self.generator = resolve(lvl.generator, path + ("level", "generator"))
            else:
                raise LevelError(f"unknown level family {lvl.generator!r}; expected one of "
                                 f"{', '.join(FAMILIES)} or the dotted path of a function (module.function)")
            default = FAMILY_SIZES.get(lvl.generator)
            if grid.size is None and default is None:
                raise LevelError("a user generator needs grid.size: [width, height]")
            self.size = tuple(grid.size) if grid.size is not None else default
        else:
            rows = [lvl.map] if lvl.map is not None else lvl.maps
            for i, r in enumerate(rows):
                try:
                    self.maps.append(parse_map(r, self.legend))
                except LevelError as e:
                    raise LevelError(f"map {i}: {e}") from None
            sizes = {m.size for m in self.maps}
            if len(sizes) != 1:
                raise LevelError(f"expected maps of one size, got {sorted(sizes)}")
            self.size = sizes.pop()
            if grid.size is not None and tuple(grid.size) != self.size:
                raise LevelError(f"grid.size is {list(grid.size)} but the map is {list(self.size)} (width × height)")

    def _level(self, rng: np.random.Generator) -> Level:
        if self.generator is None:
            return self.maps[int(rng.integers(len(self.maps)))] if len(self.maps) > 1 else self.maps[0]
        w, h = self.size
        lvl = as_level(self.generator(rng, w, h, **self.params), self.legend, f"generator {self.name!r}")
        if lvl.size != (w, h):
            raise LevelError(f"generator {self.name!r} made a {lvl.size[0]} × {lvl.size[1]} level; grid.size is "
                             f"{w} × {h}")
        return lvl

    def make(self, rng: np.random.Generator, n_agents: int) -> Built:
        lvl = self._level(rng)
        cells = lvl.cells.copy()
        W, H = cells.shape[:2]
        starts = [a for a in lvl.agents[:n_agents]]
        for x, y, d in starts:
            if not (0 <= x < W and 0 <= y < H and 0 <= d < 4):
                raise LevelError(f"an agent starts at ({x}, {y}) facing {d}: outside the {W} × {H} grid or not a "
                                 "direction 0-3")
        taken = np.zeros((W, H), dtype=bool)
        for x, y, _ in starts:
            taken[x, y] = True
        failed = 0
        for p in self.place:
            n = n_agents - len(starts) if p.object == "agent" else p.count
            for _ in range(n):
                cell = self._free_cell(rng, cells, taken, p)
                if cell is None:
                    failed += 1
                    continue
                taken[cell] = True
                if p.object == "agent":
                    starts.append((cell[0], cell[1], int(rng.integers(4))))
                else:
                    cells[cell] = encode(*p.encoded())
        while len(starts) < n_agents:  # agents nobody placed: anywhere free, any direction (MiniGrid's place_agent)
            cell = self._free_cell(rng, cells, taken, None)
            if cell is None:
                raise LevelError(f"no free cell for agent {len(starts)} of {n_agents}")
            taken[cell] = True
            starts.append((cell[0], cell[1], int(rng.integers(4))))
        return Built(cells, np.asarray(starts, dtype=np.int64).reshape(-1, 3), failed)

    @staticmethod
    def _free_cell(rng: np.random.Generator, cells: np.ndarray, taken: np.ndarray, p) -> tuple[int, int] | None:
        if p is not None and p.at is not None:
            x, y = p.at
            ok = x < cells.shape[0] and y < cells.shape[1] and cells[x, y, 0] == EMPTY and not taken[x, y]
            return (x, y) if ok else None
        free = (cells[..., 0] == EMPTY) & ~taken
        if p is not None and p.region is not None:
            x0, y0, x1, y1 = p.region
            mask = np.zeros_like(free)
            mask[x0:x1 + 1, y0:y1 + 1] = True
            free &= mask
        where = np.argwhere(free)
        if len(where) == 0:
            return None
        x, y = where[int(rng.integers(len(where)))]
        return int(x), int(y)

    def check(self, n_agents: int) -> None:
        """Build a few levels now, so a layout that can never be built is an error at load, not mid-run."""
        for seed in range(4):
            try:
                built = self.make(np.random.default_rng(seed), n_agents)
            except LevelError:
                raise
            except Exception as e:  # a user generator's bug (or arguments it refuses), found before the run
                raise LevelError(f"generator {self.name!r} failed building a level (seed {seed}): "
                                 f"{type(e).__name__}: {e}") from None
            if built.failed:
                raise LevelError(f"{built.failed} of grid.place's objects found no free cell (seed {seed}); make "
                                 "their regions larger or place fewer")
            for x, y, _ in built.agents:
                if built.cells[x, y, 0] != EMPTY and int(built.cells[x, y, 0]) not in (3, 8):  # floor, goal
                    raise LevelError(f"an agent starts on a cell that is not free ({x}, {y}); agents start on "
                                     "empty cells")


def _check_params(name: str, fn: Callable, params: dict) -> None:
    """A family's keyword arguments: known names, each of its default's type (so a typo is an error at load)."""
    import inspect

    accepted = {k: p.default for k, p in list(inspect.signature(fn).parameters.items())[3:]}
    for key, value in params.items():
        if key not in accepted:
            raise LevelError(f"params: the {name} family has no parameter {key!r}; expected "
                             f"{', '.join(accepted) or 'none'}")
        want = type(accepted[key])
        if type(value) is not want and not (want is float and type(value) is int):
            raise LevelError(f"params.{key}: expected {want.__name__} (like the default, {accepted[key]!r}), got "
                             f"{value!r}")


__all__ = ["AGENT_CHARS", "Built", "FAMILY_SIZES", "LevelSource"]
