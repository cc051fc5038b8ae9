"""Grid levels: MiniGrid's six level families as generators, and ASCII maps.

A level is what a reset puts into one world: the cells (MiniGrid's encoding, ``[W, H, 3]``, indexed
``[x, y]``) and each agent's start cell and facing direction. A generator is a function
``fn(rng, width, height, **params) -> Level`` of a ``numpy.random.Generator``; the built-in ones draw
from it in the very order MiniGrid's ``_gen_grid`` does, so for the same seed they build the same
level as the ``minigrid`` package (tests/grid/test_levels.py checks that on 1,000 seeds per family,
and checks the families' invariants on levels of our own seeds). A user's generator is a dotted path
(trusted code, see docs/world-format.md#grid-worlds) with the same signature; it may return a
``Level`` or a list of ASCII rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.grid.view import BALL, BOX, DOOR, EMPTY, FLOOR, GOAL, KEY, LAVA, LOCKED, WALL

#: minigrid.core.constants.COLOR_TO_IDX, and COLOR_NAMES (sorted, as MiniGrid draws from it)
COLORS = {"red": 0, "green": 1, "blue": 2, "purple": 3, "yellow": 4, "grey": 5}
COLOR_NAMES = sorted(COLORS)
#: object name → (type index, default colour); a door's state is 0 open, 1 closed, 2 locked
OBJECTS = {"empty": (EMPTY, 0), "wall": (WALL, 5), "floor": (FLOOR, 2), "door": (DOOR, 4), "key": (KEY, 4),
           "ball": (BALL, 2), "box": (BOX, 4), "goal": (GOAL, 1), "lava": (LAVA, 0)}
#: the characters a map may use without declaring them (a world's ``legend`` adds or overrides)
DEFAULT_LEGEND = {"#": ("wall", None, 0), ".": ("empty", None, 0), " ": ("empty", None, 0),
                  "G": ("goal", None, 0), "L": ("lava", None, 0), "_": ("floor", None, 0),
                  "K": ("key", "yellow", 0), "D": ("door", "yellow", LOCKED), "d": ("door", "yellow", 1),
                  "/": ("door", "yellow", 0), "B": ("ball", "blue", 0), "X": ("box", "purple", 0)}
#: agent start characters: facing right, down, left, up (MiniGrid's directions 0-3)
AGENT_CHARS = {">": 0, "v": 1, "<": 2, "^": 3}


@dataclass
class Level:
    """One world's layout: ``cells [W, H, 3]`` int64 and the agents' starts ``(x, y, direction)``."""

    cells: np.ndarray
    agents: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.cells.shape[0]), int(self.cells.shape[1])


def encode(name: str, color: str | None = None, state: int = 0) -> tuple[int, int, int]:
    kind, default = OBJECTS[name]
    return kind, COLORS[color] if color is not None else default, state


class LevelError(ValueError):
    """A level that cannot be built (a map of the wrong size, a generator that returned nonsense)."""


class _Grid:
    """The few ``minigrid`` grid and env operations the families use, with the same draws."""

    def __init__(self, rng: np.random.Generator, width: int, height: int) -> None:
        self.rng, self.width, self.height = rng, width, height
        self.cells = np.zeros((width, height, 3), dtype=np.int64)
        self.cells[..., 0] = EMPTY
        self.agent: tuple[int, int] = (-1, -1)
        self.dir = 0

    def rand_int(self, low: int, high: int) -> int:
        return int(self.rng.integers(low, high))

    def rand_elem(self, items: list):
        return items[self.rand_int(0, len(items))]

    def free(self, x: int, y: int) -> bool:
        return int(self.cells[x, y, 0]) == EMPTY

    def put(self, x: int, y: int, obj: tuple[int, int, int]) -> None:
        self.cells[x, y] = obj

    def horz_wall(self, x: int, y: int, length: int | None = None) -> None:
        for i in range(self.width - x if length is None else length):
            self.put(x + i, y, encode("wall"))

    def vert_wall(self, x: int, y: int, length: int | None = None) -> None:
        for j in range(self.height - y if length is None else length):
            self.put(x, y + j, encode("wall"))

    def wall_rect(self, x: int, y: int, w: int, h: int) -> None:
        self.horz_wall(x, y, w)
        self.horz_wall(x, y + h - 1, w)
        self.vert_wall(x, y, h)
        self.vert_wall(x + w - 1, y, h)

    def place_obj(self, obj: tuple[int, int, int] | None, top=(0, 0), size=None,
                  reject: Callable[[tuple[int, int]], bool] | None = None, max_tries: float = float("inf")
                  ) -> tuple[int, int]:
        """MiniGrid's rejection sampling: a random empty cell of the rectangle, not the agent's."""
        top = (max(top[0], 0), max(top[1], 0))
        size = size if size is not None else (self.width, self.height)
        tries = 0
        while True:
            if tries > max_tries:
                raise LevelError("rejection sampling found no free cell for an object")
            tries += 1
            pos = (self.rand_int(top[0], min(top[0] + size[0], self.width)),
                   self.rand_int(top[1], min(top[1] + size[1], self.height)))
            if not self.free(*pos) or pos == self.agent or (reject is not None and reject(pos)):
                continue
            break
        if obj is not None:
            self.put(*pos, obj)
        return pos

    def place_agent(self, top=(0, 0), size=None, max_tries: float = float("inf")) -> tuple[int, int]:
        self.agent = (-1, -1)
        self.agent = self.place_obj(None, top, size, max_tries=max_tries)
        self.dir = self.rand_int(0, 4)
        return self.agent

    def level(self) -> Level:
        return Level(self.cells, [(self.agent[0], self.agent[1], self.dir)])


# ---------------------------------------------------------------------------------------------- families
def empty(rng: np.random.Generator, width: int = 8, height: int = 8, random_start: bool = False) -> Level:
    """MiniGrid-Empty: a walled room, the goal in the bottom-right corner, the agent at (1, 1) facing right
    (``random_start``: anywhere, any direction, as Empty-Random)."""
    g = _Grid(rng, width, height)
    g.wall_rect(0, 0, width, height)
    g.put(width - 2, height - 2, encode("goal"))
    if random_start:
        g.place_agent()
    else:
        g.agent, g.dir = (1, 1), 0
    return g.level()


def four_rooms(rng: np.random.Generator, width: int = 19, height: int = 19) -> Level:
    """MiniGrid-FourRooms: four rooms joined by one gap per inner wall; agent and goal anywhere free."""
    g = _Grid(rng, width, height)
    g.horz_wall(0, 0)
    g.horz_wall(0, height - 1)
    g.vert_wall(0, 0)
    g.vert_wall(width - 1, 0)
    room_w, room_h = width // 2, height // 2
    for j in range(2):
        for i in range(2):
            x_l, y_t = i * room_w, j * room_h
            x_r, y_b = x_l + room_w, y_t + room_h
            if i + 1 < 2:
                g.vert_wall(x_r, y_t, room_h)
                g.put(x_r, g.rand_int(y_t + 1, y_b), encode("empty"))
            if j + 1 < 2:
                g.horz_wall(x_l, y_b, room_w)
                g.put(g.rand_int(x_l + 1, x_r), y_b, encode("empty"))
    g.place_agent()
    g.place_obj(encode("goal"))
    return g.level()


def doorkey(rng: np.random.Generator, width: int = 8, height: int = 8) -> Level:
    """MiniGrid-DoorKey: a wall splits the room; its locked yellow door opens with the yellow key on the
    agent's side; the goal is in the bottom-right corner."""
    g = _Grid(rng, width, height)
    g.wall_rect(0, 0, width, height)
    g.put(width - 2, height - 2, encode("goal"))
    split = g.rand_int(2, width - 2)
    g.vert_wall(split, 0)
    g.place_agent(size=(split, height))
    door = g.rand_int(1, height - 2)
    g.put(split, door, encode("door", "yellow", LOCKED))
    g.place_obj(encode("key", "yellow"), top=(0, 0), size=(split, height))
    return g.level()


def lava_crossing(rng: np.random.Generator, width: int = 9, height: int = 9, crossings: int = 1,
                  obstacle: str = "lava") -> Level:
    """MiniGrid-LavaCrossing (``obstacle: wall``: SimpleCrossing): rivers of lava with one gap each, on a
    path from the agent at (1, 1) to the goal in the bottom-right corner."""
    if width % 2 == 0 or height % 2 == 0:
        raise LevelError(f"lava_crossing needs an odd width and height, got {width} × {height}")
    g = _Grid(rng, width, height)
    g.wall_rect(0, 0, width, height)
    g.agent, g.dir = (1, 1), 0
    g.put(width - 2, height - 2, encode("goal"))
    rivers = [("v", i) for i in range(2, height - 2, 2)] + [("h", j) for j in range(2, width - 2, 2)]
    rng.shuffle(rivers)  # a list, shuffled in place as MiniGrid does
    rivers = rivers[:crossings]
    rivers_v = sorted(p for d, p in rivers if d == "v")
    rivers_h = sorted(p for d, p in rivers if d == "h")
    for i, j in itertools.chain(itertools.product(range(1, width - 1), rivers_h),
                                itertools.product(rivers_v, range(1, height - 1))):
        g.put(i, j, encode(obstacle))
    path = ["h"] * len(rivers_v) + ["v"] * len(rivers_h)
    rng.shuffle(path)
    limits_v, limits_h = [0] + rivers_v + [height - 1], [0] + rivers_h + [width - 1]
    room_i = room_j = 0
    for d in path:
        if d == "h":
            i, j = limits_v[room_i + 1], int(rng.choice(range(limits_h[room_j] + 1, limits_h[room_j + 1])))
            room_i += 1
        else:
            i, j = int(rng.choice(range(limits_v[room_i] + 1, limits_v[room_i + 1]))), limits_h[room_j + 1]
            room_j += 1
        g.put(i, j, encode("empty"))
    return g.level()


def unlock(rng: np.random.Generator, width: int = 11, height: int = 6) -> Level:
    """MiniGrid-Unlock: two rooms side by side; the door between them is locked, of a random colour, and
    its key lies in the agent's (left) room. Opening the door is the goal (``grid.success: door_open``)."""
    room = height
    if width != 2 * (room - 1) + 1:
        raise LevelError(f"unlock builds two rooms of side height: width must be 2·(height − 1) + 1 = "
                         f"{2 * (room - 1) + 1}, got {width}")
    g = _Grid(rng, width, height)
    tops = [(0, 0), (room - 1, 0)]
    for top in tops:
        g.wall_rect(*top, room, room)
    door_pos = (room - 1, g.rand_int(1, room - 1))  # room 0's east door (RoomGrid draws it while building)
    g.agent = ((2 // 2) * (room - 1) + room // 2, room // 2)  # RoomGrid's default start, until placed
    color = g.rand_elem(COLOR_NAMES)
    g.put(*door_pos, encode("door", color, LOCKED))

    def next_to_agent(pos: tuple[int, int]) -> bool:
        return abs(g.agent[0] - pos[0]) + abs(g.agent[1] - pos[1]) < 2

    g.place_obj(encode("key", color), (0, 0), (room, room), reject=next_to_agent, max_tries=1000)
    vec = ((1, 0), (0, 1), (-1, 0), (0, -1))
    while True:  # RoomGrid.place_agent: until the agent faces an empty cell or a wall
        g.place_agent((0, 0), (room, room), max_tries=1000)
        fx, fy = g.agent[0] + vec[g.dir][0], g.agent[1] + vec[g.dir][1]
        if int(g.cells[fx, fy, 0]) in (EMPTY, WALL):
            break
    return g.level()


def multi_room(rng: np.random.Generator, width: int = 25, height: int = 25, min_rooms: int = 4,
               max_rooms: int = 4, max_room: int = 5) -> Level:
    """MiniGrid-MultiRoom: a chain of rooms joined by closed doors of changing colours; the agent starts
    in the first room and the goal is in the last."""
    if not 1 <= min_rooms <= max_rooms or max_room < 4:
        raise LevelError(f"multi_room needs 1 ≤ min_rooms ≤ max_rooms and max_room ≥ 4, got {min_rooms}, "
                         f"{max_rooms}, {max_room}")
    g = _Grid(rng, width, height)
    want = g.rand_int(min_rooms, max_rooms + 1)
    rooms: list[list] = []
    tries = 0
    while len(rooms) < want:
        tries += 1
        if tries > 10_000:
            raise LevelError(f"multi_room could not fit {want} rooms in {width} × {height}")
        current: list[list] = []
        entry = (g.rand_int(0, width - 2), g.rand_int(0, width - 2))
        _place_room(g, want, current, 4, max_room, 2, entry)
        if len(current) > len(rooms):
            rooms = current
    prev_color = None
    for idx, (top, size, entry) in enumerate(rooms):
        g.wall_rect(top[0], top[1], size[0], size[1])
        if idx > 0:
            colors = sorted(set(COLOR_NAMES) - ({prev_color} if prev_color else set()))
            color = g.rand_elem(colors)
            g.put(*entry, encode("door", color, 1))
            prev_color = color
    g.place_agent(rooms[0][0], rooms[0][1])
    g.place_obj(encode("goal"), rooms[-1][0], rooms[-1][1])
    return g.level()


def _place_room(g: _Grid, left: int, rooms: list, lo: int, hi: int, entry_wall: int, entry: tuple) -> bool:
    """MultiRoomEnv._placeRoom: a room of random size through ``entry``, then (recursively) the next."""
    sx, sy = g.rand_int(lo, hi + 1), g.rand_int(lo, hi + 1)
    if not rooms:
        tx, ty = entry
    elif entry_wall == 0:
        tx, ty = entry[0] - sx + 1, g.rand_int(entry[1] - sy + 2, entry[1])
    elif entry_wall == 1:
        tx, ty = g.rand_int(entry[0] - sx + 2, entry[0]), entry[1] - sy + 1
    elif entry_wall == 2:
        tx, ty = entry[0], g.rand_int(entry[1] - sy + 2, entry[1])
    else:
        tx, ty = g.rand_int(entry[0] - sx + 2, entry[0]), entry[1]
    if tx < 0 or ty < 0 or tx + sx > g.width or ty + sy >= g.height:
        return False
    for top, size, _ in rooms[:-1]:
        if not (tx + sx < top[0] or top[0] + size[0] <= tx or ty + sy < top[1] or top[1] + size[1] <= ty):
            return False
    rooms.append(((tx, ty), (sx, sy), entry))
    if left == 1:
        return True
    for _ in range(8):
        exit_wall = g.rand_elem(sorted({0, 1, 2, 3} - {entry_wall}))
        if exit_wall == 0:
            door = (tx + sx - 1, ty + g.rand_int(1, sy - 1))
        elif exit_wall == 1:
            door = (tx + g.rand_int(1, sx - 1), ty + sy - 1)
        elif exit_wall == 2:
            door = (tx, ty + g.rand_int(1, sy - 1))
        else:
            door = (tx + g.rand_int(1, sx - 1), ty)
        if _place_room(g, left - 1, rooms, lo, hi, (exit_wall + 2) % 4, door):
            break
    return True


#: the families a world names by ``level: {generator: NAME}``
FAMILIES: dict[str, Callable[..., Level]] = {
    "empty": empty, "fourrooms": four_rooms, "doorkey": doorkey, "lavacrossing": lava_crossing,
    "unlock": unlock, "multiroom": multi_room}


# ---------------------------------------------------------------------------------------------- maps
def parse_map(rows: list[str], legend: dict[str, tuple[str, str | None, int]]) -> Level:
    """ASCII rows (top row first, ``x`` across) → a Level; agent characters ``> v < ^`` start agents in
    reading order on an empty cell. Raises ``LevelError`` naming the row and column of a bad character."""
    height, width = len(rows), max((len(r) for r in rows), default=0)
    if height == 0 or width == 0:
        raise LevelError("expected at least one row of at least one character")
    cells = np.zeros((width, height, 3), dtype=np.int64)
    cells[..., 0] = EMPTY
    agents = []
    for y, row in enumerate(rows):
        if len(row) != width:
            raise LevelError(f"row {y} has {len(row)} characters, row 0 has {width}; expected rows of one width")
        for x, ch in enumerate(row):
            if ch in AGENT_CHARS:
                agents.append((x, y, AGENT_CHARS[ch]))
            elif ch in legend:
                cells[x, y] = encode(*legend[ch])
            else:
                known = "".join(sorted(set(legend) | set(AGENT_CHARS)))
                raise LevelError(f"row {y}, column {x}: unknown character {ch!r}; expected one of {known!r} "
                                 "or a character declared in grid.legend")
    return Level(cells, agents)


def as_level(value, legend: dict, where: str) -> Level:
    """A generator's result (a Level, or ASCII rows) → a checked Level."""
    if isinstance(value, list) and all(isinstance(r, str) for r in value):
        return parse_map(value, legend)
    if not isinstance(value, Level):
        raise LevelError(f"{where} returned {type(value).__name__}; expected an engine.grid.levels.Level or a list "
                         "of ASCII rows")
    c = np.asarray(value.cells)
    if c.ndim != 3 or c.shape[2] != 3:
        raise LevelError(f"{where} returned cells of shape {list(c.shape)}; expected [width, height, 3]")
    return Level(c.astype(np.int64), list(value.agents))
