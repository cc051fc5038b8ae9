"""The world format, version 1: one dataclass per section of a world file.

These classes are the single source of truth for what a world file may contain: the validator
(``engine.world.validation``) checks files against them and ``worldloom schema`` writes the JSON Schema
that editors autocomplete from (shipped as ``worlds/world.schema.json``). Semantic checks that span
sections (an agent group naming an entity type that exists, system parameters, observation terms)
happen when the world is built (``engine.build``), with the same located messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.world.validation import Ctx, describe, fld

FORMAT_VERSION = 1
#: Upper bounds that keep a typo from allocating the machine away; documented in docs/world-format.md.
MAX_CAPACITY_PER_TYPE = 65_536
MAX_ENTITIES = 65_536
MAX_STEPS = 1_000_000_000
MAX_GROUPS = 64
#: Largest dimension of a component's (or declared state's) per-item shape, and most elements per item.
MAX_SHAPE_DIM = 65_536
MAX_ITEM_ELEMENTS = 65_536


#: The rules' condition and effect names, with what each holds (the builders live in engine.rules).
RULE_CONDITIONS = {
    "touching": "subject and object overlap (d < r_self + r_other); written as the bare word `touching`",
    "near": "R: subject and object are closer than R",
    "partner": "PAIRING: the object is the subject's partner in that pairing",
    "action": "NAME: the subject took the named action this tick",
    "compare": "[LEFT, OP, RIGHT]: e.g. [self.cooldown, '==', 0]",
    "inside": "[TYPES] or {of: self|other, types}: inside a living entity of TYPES",
    "carries": "[TYPES] or {of, types}: carries an entity of TYPES",
    "count": "{types, within, op, value, of}: how many living entities of TYPES are within R",
    "chance": "P: a seeded coin per match",
    "every": "K: the world's tick is a multiple of K",
    "not": "CONDITION: the condition does not hold",
}
RULE_EFFECTS = {
    "set": "[TARGET, VALUE]", "add": "[TARGET, VALUE]: once per match",
    "reward": "{to: self|other|team|other_team|all, value}", "despawn": "self|other or {of, respawn_after}",
    "respawn": "self|other or {of, at: spawn|place}", "spawn": "{type, at: self|other|spawn|random|[x, y], within}",
    "teleport": "{of, to: spawn|random|self|other|[x, y]}", "attach": "{of: other, to: self}",
    "detach": "self|other", "drop": "self|other", "end": "win|lose|draw",
}


def _one_of_named(names: dict[str, str], bare: tuple[str, ...] = ()) -> dict:
    """JSON Schema of a list of ``{name: params}`` items (or bare names) whose names are ``names``."""
    item: dict = {"type": "object", "minProperties": 1, "maxProperties": 1,
                  "propertyNames": {"enum": list(names)},
                  "properties": {n: {"description": d} for n, d in names.items()}}
    return {"items": {"anyOf": [{"enum": list(bare)}, item]} if bare else item}


CONDITIONS_SCHEMA = _one_of_named(RULE_CONDITIONS, ("touching",))
EFFECTS_SCHEMA = _one_of_named(RULE_EFFECTS)


def check_shape(shape: list[int], ctx: Ctx, path: tuple) -> None:
    """A per-item shape may hold at most ``MAX_ITEM_ELEMENTS`` elements (each dimension is bounded by
    the field: ``MAX_SHAPE_DIM``)."""
    n = 1
    for d in shape:
        n *= d
    if n > MAX_ITEM_ELEMENTS:
        raise ctx.error(path, f"expected a shape of at most {MAX_ITEM_ELEMENTS:,} elements per item, got "
                              f"{list(shape)} = {n:,} elements")


@dataclass(kw_only=True)
class WorldParams:
    """Physical constants of the world (MPE's defaults)."""

    dt: float = fld(0.1, gt=0, le=10, doc="Simulated seconds per tick.")
    damping: float = fld(0.25, ge=0, le=1, doc="Fraction of velocity lost per tick (before forces are added).")
    contact_force: float = fld(100.0, ge=0, doc="Stiffness of the soft contact force between colliding entities.")
    contact_margin: float = fld(1e-3, gt=0, doc="Softness of contacts: penetration is softplus(-(d - r1 - r2)/m)*m.")
    arena: list[float] = fld(factory=lambda: [-1.0, 1.0, -1.0, 1.0], min_items=4, max_items=4,
                             doc="x_min, x_max, y_min, y_max: the camera fits it; the `bounds` system keeps "
                                 "entities inside it.")
    dtype: Literal["float32", "float64"] = fld("float32", doc="Floating-point precision of all components.")
    event_log: bool = fld(False, doc="Keep every rule's matches of the last tick in the state "
                                     "(rules.match.<rule>, [B, S, O]) for an event log (worldloom run --event-log): "
                                     "a debugging aid that costs memory and time.")
    on_nonfinite: Literal["reset", "raise", "ignore"] = fld(
        "reset", doc="A world whose positions, velocities or rewards become NaN/inf: reset: end its episode and "
                     "count it (metric state.nonfinite); raise: stop with an error; ignore: no check.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        a = self.arena
        if not (a[0] < a[1] and a[2] < a[3]):
            raise ctx.error(path + ("arena",), f"expected x_min < x_max and y_min < y_max, got {a}")


@dataclass(kw_only=True)
class CellMap:
    """Cells drawn as text (walls, zones): each ``char`` is a square cell of side ``cell``."""

    rows: list[str] = fld(min_items=1, max_items=4096, doc="The map, top row first (e.g. '#....#').")
    cell: float = fld(gt=0, doc="Side of one character's cell, in world units.")
    origin: list[float] = fld(min_items=2, max_items=2, doc="World position of the map's bottom-left corner.")
    char: str = fld("#", doc="The character that marks a cell (a wall, or a cell of the zone).")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if len(self.char) != 1:
            raise ctx.error(path + ("char",), f"expected one character, got {self.char!r}")

    def boxes(self) -> list[list[float]]:
        """The marked cells as ``[x0, y0, x1, y1]`` boxes, runs of a row merged."""
        from engine.systems.walls import map_boxes

        return map_boxes(self.rows, self.cell, tuple(self.origin), self.char)


@dataclass(kw_only=True)
class Walls:
    """Static walls (continuous worlds): moving, colliding disks stay outside them, never tunnel through."""

    segments: list[list[float]] = fld(factory=list, max_items=65536,
                                      doc="Line segments [x0, y0, x1, y1] (zero thickness: a disk keeps its "
                                          "radius away).")
    boxes: list[list[float]] = fld(factory=list, max_items=65536, doc="Axis-aligned boxes [x_min, y_min, x_max, "
                                                                      "y_max].")
    map: CellMap | None = fld(None, doc="An ASCII map whose marked cells are walls (only their outline counts).")
    restitution: float = fld(0.0, ge=0, le=1, doc="0: a disk hitting a wall slides along it; 1: it bounces.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        import math

        for key, n in (("segments", 4), ("boxes", 4)):
            for i, item in enumerate(getattr(self, key)):
                if len(item) != n or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in item):
                    raise ctx.error(path + (key, i), f"expected {n} finite numbers, got {item}")
                if key == "boxes" and not (item[0] < item[2] and item[1] < item[3]):
                    raise ctx.error(path + (key, i), f"expected x_min < x_max and y_min < y_max, got {item}")
                if key == "segments" and item[:2] == item[2:]:
                    raise ctx.error(path + (key, i), f"expected two different end points, got {item}")

    def segment_list(self) -> list[list[float]]:
        """Every wall as segments: the segments, each box's four edges, the outline of the map's wall cells."""
        from engine.systems.walls import box_edges, map_segments

        out = [list(map(float, s)) for s in self.segments]
        for b in self.boxes:
            out += box_edges(*map(float, b))
        if self.map is not None:
            out += map_segments(self.map.rows, self.map.cell, tuple(self.map.origin), self.map.char)
        return out

    def all_boxes(self) -> list[list[float]]:
        extra = self.map.boxes() if self.map else []
        return [list(map(float, b)) for b in self.boxes] + extra


@dataclass(kw_only=True)
class ZoneSpec:
    """A named static region: entities whose centre lies in it are inside (rules, observations, rewards)."""

    boxes: list[list[float]] = fld(factory=list, max_items=65536, doc="Boxes [x_min, y_min, x_max, y_max].")
    disks: list[list[float]] = fld(factory=list, max_items=65536, doc="Disks [x, y, radius].")
    polygons: list[list[list[float]]] = fld(factory=list, max_items=4096,
                                            doc="Polygons, each a list of [x, y] corners (3 or more).")
    map: CellMap | None = fld(None, doc="Map cells that belong to the zone.")
    color: list[float] = fld(factory=lambda: [0.4, 0.6, 0.9], ge=0, le=1, min_items=3, max_items=3,
                             doc="Drawn in this colour, translucent (under walls and entities).")
    opacity: float = fld(0.25, ge=0, le=1, doc="How strongly the colour covers the floor.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        import math

        def finite(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        for i, b in enumerate(self.boxes):
            if len(b) != 4 or not all(map(finite, b)) or not (b[0] < b[2] and b[1] < b[3]):
                raise ctx.error(path + ("boxes", i), f"expected [x_min, y_min, x_max, y_max] with min < max, got {b}")
        for i, d in enumerate(self.disks):
            if len(d) != 3 or not all(map(finite, d)) or d[2] <= 0:
                raise ctx.error(path + ("disks", i), f"expected [x, y, radius] with radius > 0, got {d}")
        for i, poly in enumerate(self.polygons):
            if len(poly) < 3 or any(len(c) != 2 or not all(map(finite, c)) for c in poly):
                raise ctx.error(path + ("polygons", i), f"expected 3 or more [x, y] corners, got {poly}")
        if not (self.boxes or self.disks or self.polygons or self.map):
            raise ctx.error(path, "expected at least one of boxes, disks, polygons, map")

    def all_boxes(self) -> list[list[float]]:
        extra = self.map.boxes() if self.map else []
        return [list(map(float, b)) for b in self.boxes] + extra


#: [width, height] of each built-in level family (MiniGrid's registered sizes: DoorKey-8x8, LavaCrossingS9N1 …)
GRID_FAMILY_SIZES = {"empty": (8, 8), "fourrooms": (19, 19), "doorkey": (8, 8), "lavacrossing": (9, 9),
                     "unlock": (11, 6), "multiroom": (25, 25)}
GRID_OBJECTS = ("wall", "empty", "floor", "door", "key", "ball", "box", "goal", "lava")
GRID_COLORS = ("red", "green", "blue", "purple", "yellow", "grey")
MAX_GRID_SIDE = 256


@dataclass(kw_only=True)
class GridObject:
    """What a map character (or a placed object) puts in a cell: MiniGrid's object, colour and door state."""

    object: Literal["wall", "empty", "floor", "door", "key", "ball", "box", "goal", "lava"] = fld(
        doc="The object type (MiniGrid's).")
    color: Literal["red", "green", "blue", "purple", "yellow", "grey"] | None = fld(
        None, doc="Its colour (default: MiniGrid's for the type — walls grey, goals green, keys and doors yellow).")
    state: Literal["open", "closed", "locked"] = fld("closed", doc="A door's state (other objects: ignored).")

    @classmethod
    def __coerce__(cls, value: Any) -> Any:
        return {"object": value} if isinstance(value, str) else value

    def encoded(self) -> tuple[str, str | None, int]:
        return self.object, self.color, ("open", "closed", "locked").index(self.state) if self.object == "door" else 0


@dataclass(kw_only=True)
class GridPlace(GridObject):
    """Objects (or agents) put at random free cells at every reset, after the level is built."""

    object: Literal["agent", "wall", "floor", "door", "key", "ball", "box", "goal", "lava"] = fld(
        doc="What to place; agent: the agents the level did not start (all of them: count is ignored).")
    count: int = fld(1, ge=1, le=4096, doc="How many.")
    region: list[int] | None = fld(None, min_items=4, max_items=4, ge=0, le=MAX_GRID_SIDE,
                                   doc="Cells [x0, y0, x1, y1] (inclusive, y down as in MiniGrid) to place in; "
                                       "default: the whole grid.")
    at: list[int] | None = fld(None, min_items=2, max_items=2, ge=0, le=MAX_GRID_SIDE,
                               doc="One cell [x, y] instead of a random one (count must be 1).")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if self.at is not None and (self.region is not None or self.count != 1):
            raise ctx.error(path + ("at",), "expected at: (one cell) or region:/count:, not both")
        r = self.region
        if r is not None and not (r[0] <= r[2] and r[1] <= r[3]):
            raise ctx.error(path + ("region",), f"expected x0 <= x1 and y0 <= y1, got {r}")


@dataclass(kw_only=True)
class GridLevel:
    """Where each reset's layout comes from: a generator, one ASCII map, or a set of maps."""

    generator: str | None = fld(None, doc="A level family (empty, fourrooms, doorkey, lavacrossing, unlock, "
                                          "multiroom) or the dotted path of a function fn(rng, width, height, "
                                          "**params) -> Level or ASCII rows (code outside the package needs "
                                          "--trust).")
    params: dict[str, Any] = fld(factory=dict, max_items=64, doc="Keyword arguments of the generator.")
    map: list[str] | None = fld(None, min_items=1, max_items=MAX_GRID_SIDE,
                                doc="One ASCII level, top row first (legend: docs/world-format.md#grid-worlds).")
    maps: list[list[str]] | None = fld(None, min_items=1, max_items=4096,
                                       doc="Several ASCII levels of one size; each reset picks one at random.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        given = [k for k in ("generator", "map", "maps") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ctx.error(path, f"expected exactly one of generator, map, maps; got {given or 'none'}")
        if self.params and self.generator is None:
            raise ctx.error(path + ("params",), "params: are the generator's arguments; this level has no generator")


@dataclass(kw_only=True)
class GridSpec:
    """A grid world (MiniGrid's rules): agents occupy cells, turn and step, pick up, drop and toggle."""

    level: GridLevel = fld(doc="The layout of each reset (generator, map or maps).")
    size: list[int] | None = fld(None, min_items=2, max_items=2, ge=3, le=MAX_GRID_SIDE,
                                 doc="[width, height] in cells, outer walls included (default: the map's, or the "
                                     "generator family's); `--set grid.size=[16,16]` resizes a generated world.")
    view: int = fld(7, ge=3, le=31, doc="Side of the egocentric view (odd), MiniGrid's agent_view_size.")
    see_through_walls: bool = fld(False, doc="Every cell of the view is visible (MiniGrid's flag; Empty sets it).")
    success: Literal["goal", "door_open"] = fld(
        "goal", doc="What wins: stepping onto a goal, or a toggle that leaves a door open (MiniGrid's Unlock). "
                    "Winning or stepping into lava ends the world's episode.")
    same_cell: Literal["lowest_index", "nobody"] = fld(
        "lowest_index", doc="Two agents stepping into one cell in a tick: the lower-index agent takes it (agents act "
                            "in index order), or neither moves.")
    legend: dict[str, GridObject] = fld(factory=dict, max_items=128,
                                        doc="Map characters beyond the defaults (# wall, . empty, G goal, L lava, "
                                            "K key, D locked door, d closed door, / open door, B ball, X box, _ floor; "
                                            "> v < ^ an agent facing right/down/left/up).")
    place: list[GridPlace] = fld(factory=list, max_items=64,
                                 doc="Objects (and agents) put at random free cells after the level, each reset.")
    cell: float = fld(1.0, gt=0, doc="Side of one cell in world units (positions of agents, drawing).")

    def dims(self) -> tuple[int, int]:
        """[width, height]: grid.size, else the first map's, else the family's."""
        if self.size is not None:
            return self.size[0], self.size[1]
        rows = self.level.map or (self.level.maps[0] if self.level.maps else None)
        if rows is not None:
            return max(len(r) for r in rows), len(rows)
        return GRID_FAMILY_SIZES.get(self.level.generator or "", (8, 8))

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if self.view % 2 == 0:
            raise ctx.error(path + ("view",), f"expected an odd view side (the agent sits in the middle column), "
                                              f"got {self.view}")
        lvl = self.level
        gen = lvl.generator
        if gen is not None and gen not in GRID_FAMILY_SIZES and "." not in gen:
            import difflib

            close = difflib.get_close_matches(gen, list(GRID_FAMILY_SIZES), n=1)
            raise ctx.error(path + ("level", "generator"),
                            f"unknown level family {gen!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; expected one of {', '.join(GRID_FAMILY_SIZES)}, or the dotted path of a "
                              "function of your own (module.function)")
        if self.size is None and gen is not None and gen not in GRID_FAMILY_SIZES:
            raise ctx.error(path + ("size",), f"a level generator of your own ({gen}) needs grid.size: [width, "
                                              "height]; got none")
        for ch in self.legend:
            if len(ch) != 1 or ch in "><^v":
                raise ctx.error(path + ("legend", ch), f"expected one character other than > < ^ v (agents), got "
                                                       f"{ch!r}", key=True)


@dataclass(kw_only=True)
class ComponentDecl:
    """A user-declared component: one value of this shape per entity, in every world."""

    shape: list[int] = fld(factory=list, ge=1, le=MAX_SHAPE_DIM, max_items=4,
                           doc=f"Shape of one entity's value ([] = scalar); at most {MAX_ITEM_ELEMENTS:,} "
                               "elements.")
    dtype: Literal["float32", "float64", "int32", "int64", "bool"] = fld("float32", doc="Element type.")
    default: Any = fld(0, doc="Value every entity starts with (a number/boolean, or a nested list of the shape).")
    countdown: bool = fld(False, doc="A timer: the `rules` system lowers it by 1 every tick, down to 0 "
                                     "(cooldowns, freeze times); needs a numeric scalar.")
    doc: str = fld("", doc="What the component holds, its units and range.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        check_shape(self.shape, ctx, path + ("shape",))


@dataclass(kw_only=True)
class RingSpawn:
    """A position at a fixed distance from another entity, in a random direction (MPE simple_line's far
    landmark)."""

    around: str = fld(doc="Entity type whose first entity is the centre (it must be spawned earlier on the "
                          "entity axis or have a fixed position).")
    radius: float = fld(gt=0, doc="Distance from the centre.")
    outside: Literal["rotate", "keep"] = fld(
        "rotate", doc="A point outside the arena: rotate (turn the direction by `step_degrees` until the point is "
                      "strictly inside — MPE simple_line's loop, which favours some directions; kept for "
                      "parity) or keep it where it fell.")
    step_degrees: float = fld(5.0, gt=0, le=180, doc="Rotation step of `outside: rotate`.")


@dataclass(kw_only=True)
class SpawnRule:
    """How a component is set when an entity (re)spawns: a constant, or a random draw per world."""

    constant: Any = fld(None, doc="A fixed value (number or list of the component's shape).")
    uniform: list[Any] | None = fld(None, min_items=2, max_items=2,
                                    doc="[low, high]: uniform draw; each a number or a list of the shape.")
    normal: list[Any] | None = fld(None, min_items=2, max_items=2, doc="[mean, std]: normal draw.")
    each: list[Any] | None = fld(None, doc="One fixed value per slot of the type, in order (e.g. positions).")
    ring: RingSpawn | None = fld(None, doc="pos only: at `radius` from the first entity of `around`, in a random "
                                           "direction.")
    integers: list[int] | None = fld(None, min_items=2, max_items=2,
                                     doc="[low, high): a uniform whole number, high excluded (numpy's "
                                         "Generator.integers), for int components (a treasure's type).")

    @classmethod
    def __coerce__(cls, value: Any) -> Any:
        if isinstance(value, (int, float, list)) and not isinstance(value, bool):
            return {"constant": value}
        return value

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        kinds = ("constant", "uniform", "normal", "each", "ring", "integers")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ctx.error(path, f"expected exactly one of {', '.join(kinds)}; got {given or 'none'}")
        if self.integers is not None:
            lo, hi = self.integers
            if not all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 62 for v in (lo, hi)):
                raise ctx.error(path + ("integers",), f"expected two whole numbers [low, high), got {self.integers}")
            if hi <= lo:
                raise ctx.error(path + ("integers",), f"expected low < high (high is excluded), got {self.integers}")

    @classmethod
    def __schema_alternatives__(cls) -> list[dict]:
        return [{"type": "number"}, {"type": "array", "items": {"type": "number"}}]


@dataclass(kw_only=True)
class Lifecycle:
    """Despawn/respawn rules: how entities of this type leave the world and come back."""

    despawn_on_contact: list[str] = fld(factory=list, doc="Entity types whose touch removes this entity.")
    respawn_after: int | None = fld(None, ge=1, le=MAX_STEPS,
                                    doc="Ticks until a removed entity respawns (fresh spawn values); "
                                        "omit: it stays removed until the episode resets.")


@dataclass(kw_only=True)
class Placement:
    """Where a (re)spawned entity may land: its spawn position is redrawn until it is clear."""

    avoid: list[str] = fld(factory=lambda: ["walls"], min_items=1,
                           doc="What the disk may not overlap: walls (segments, boxes, map cells) and entity "
                               "types (those already placed this reset, and every entity of a type without "
                               "place:).")
    tries: int = fld(64, ge=1, le=4096, doc="Draws per entity before giving up (then the last draw is kept and "
                                            "counted in info['events']['placement_failed']).")
    gap: float = fld(0.0, ge=0, doc="Extra clearance beyond touching, in world units.")


@dataclass(kw_only=True)
class EntityType:
    """An archetype: a contiguous slice of the entity axis with a fixed capacity."""

    count: int = fld(ge=0, le=MAX_CAPACITY_PER_TYPE, doc="Entities of this type alive at reset.")
    capacity: int | None = fld(None, ge=0, le=MAX_CAPACITY_PER_TYPE,
                               doc="Slots reserved on the entity axis (default: count); extra slots start dead.")
    components: dict[str, Any] = fld(factory=dict,
                                     doc="Values of components for this type, e.g. radius: 0.05, color: [1, 0, 0].")
    spawn: dict[str, SpawnRule] = fld(factory=dict, doc="Per component: how it is set at (re)spawn.")
    lifecycle: Lifecycle | None = fld(None, doc="Despawn/respawn rules (omit: entities never leave).")
    place: Placement | None = fld(None, doc="Redraw the spawn position until clear of walls and other entities "
                                            "(at each episode start; one entity at a time: for agents and "
                                            "objects, not crowds).")
    team: str | None = fld(None, doc="The agent group (team) these entities belong to, for rules that say team / "
                                     "other_team (a team's flag, base); an agent group's own type is its team.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if self.capacity is not None and self.capacity < self.count:
            raise ctx.error(path + ("capacity",),
                            f"expected a capacity >= count ({self.count}), got {self.capacity}")

    @property
    def slots(self) -> int:
        return self.count if self.capacity is None else self.capacity


@dataclass(kw_only=True)
class NamedAction:
    """A named discrete action (``zap``, ``pick_up``): when it is available, and its key in ``play``."""

    available: list[Any] = fld(factory=list, max_items=32, schema=CONDITIONS_SCHEMA,
                               doc="Conditions on the agent (rules' condition language, self only) under which "
                                   "the action is allowed: the action mask. Empty: always.")
    key: str | None = fld(None, doc="Key that takes the action in `worldloom play` (e.g. SPACE, E).")

    @classmethod
    def __coerce__(cls, value: Any) -> Any:
        return {} if value is None else value


@dataclass(kw_only=True)
class ActionSpec:
    """An agent group's action space."""

    type: Literal["discrete", "continuous"] = fld(
        "discrete", doc="discrete: 5 choices (no-op, -x, +x, -y, +y) × accel; continuous: MPE's 5 values in "
                        "[0, 1], force = (a2 - a1, a4 - a3) × accel.")
    moves: bool = fld(True, doc="The action has a movement part (false: MPE's immovable speakers).")
    say: int = fld(0, ge=0, le=1024, doc="Width of a message part written into the `comm` component (MPE's "
                                         "dim_c): discrete a = move + 5 × word (one-hot), continuous 5 + say "
                                         "values; 0: silent.")
    actions: dict[str, NamedAction] = fld(factory=dict, max_items=64,
                                          doc="Named discrete actions after the movement choices (a = 5, 6, … in "
                                              "order; no movement that tick): name → {available: [conditions], "
                                              "key: KEY}. Rules test them with {action: name}.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if not self.moves and not self.say and not self.actions:
            raise ctx.error(path, "expected moves: true, say > 0 or named actions: an action that does nothing")
        if self.actions and (self.type != "discrete" or self.say):
            raise ctx.error(path + ("actions",), "named actions extend a discrete movement action without a message "
                                                 f"part; got type {self.type}" + (f", say {self.say}" if self.say else
                                                                                  "") + ": use type: discrete, say: 0")
        for name in self.actions:
            if not (name.isascii() and name.isidentifier()):
                raise ctx.error(path + ("actions", name), f"expected an action name of letters, digits and _, got "
                                                          f"{describe(name)}", key=True)

    @classmethod
    def __coerce__(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @classmethod
    def __schema_alternatives__(cls) -> list[dict]:
        return [{"enum": ["discrete", "continuous"]}]


@dataclass(kw_only=True)
class AgentGroup:
    """Agents that share an observation/action/reward definition (and usually a policy)."""

    entity: str = fld(doc="The entity type whose entities are this group's agents.")
    action: ActionSpec = fld(factory=ActionSpec, doc="Action space (discrete or continuous).")
    observation: list[Any] = fld(factory=list, max_items=256,
                                 doc="Observation terms, concatenated in order: a name (self_pos) or "
                                     "{name: {params}}. See docs/world-format.md.")
    reward: list[Any] = fld(factory=list, max_items=256, doc="Reward terms, summed: {name: {params}}.")
    agent_name: str | None = fld(None, doc="Prefix of the agents' names in PettingZoo, TorchRL and RLlib "
                                           "(<prefix>_<i>); default: the group's name (a group `good` with "
                                           "agent_name: agent gives mpe2's agent_0, agent_1 …).")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        name = self.agent_name
        if name is not None and not (name.isascii() and name.isidentifier() and len(name) <= 64):
            raise ctx.error(path + ("agent_name",), f"expected a name of letters, digits and _ (at most 64, not "
                                                    f"starting with a digit), got {describe(name)}")


@dataclass(kw_only=True)
class Episode:
    """When an episode ends."""

    max_steps: int = fld(25, ge=1, le=MAX_STEPS, doc="Ticks until every agent is truncated.")
    end_when: Literal["never", "all_agents_dead"] = fld(
        "never", doc="Termination condition for the whole world (agents also terminate when they die).")


@dataclass(kw_only=True)
class SessionOptions:
    """ONNX Runtime session options for one plugin."""

    intra_op_threads: int | None = fld(None, ge=0, le=256, doc="ORT intra-op threads (default: by batch size).")
    inter_op_threads: int | None = fld(None, ge=0, le=256, doc="ORT inter-op threads.")
    graph_optimization: Literal["disabled", "basic", "extended", "all"] = fld("all", doc="ORT graph optimisation.")


#: Upper bounds of a planner's budget: a typo must not turn one tick into minutes of imagination.
MAX_PLAN_HORIZON = 128
MAX_PLAN_CANDIDATES = 4096
MAX_PLAN_ITERATIONS = 32
#: Most imagined world-ticks (horizon × candidates × iterations) per world and tick.
MAX_PLAN_WORK = 1 << 20


@dataclass(kw_only=True)
class PlanSpec:
    """A ``planner`` plugin's budget and objective: model-predictive control by CEM or MPPI.

    Each tick, ``iterations`` rounds sample ``candidates`` action sequences of ``horizon`` ticks per
    world, imagine them with the dynamics model (one call per round and step for all worlds ×
    candidates), score them with the objective and refit the sampling distribution; the group
    then takes the first action of the plan (see docs/planners.md).
    """

    method: Literal["cem", "mppi"] = fld("cem", doc="cem: refit on the best `elites` candidates; mppi: on all "
                                                    "candidates weighted by exp(return / temperature).")
    horizon: int = fld(8, ge=1, le=MAX_PLAN_HORIZON, doc="Ticks each candidate sequence looks ahead.")
    candidates: int = fld(64, ge=2, le=MAX_PLAN_CANDIDATES, doc="Action sequences imagined per world and "
                                                               "iteration.")
    iterations: int = fld(3, ge=1, le=MAX_PLAN_ITERATIONS, doc="Sample → imagine → refit rounds per tick.")
    elites: int = fld(8, ge=1, le=MAX_PLAN_CANDIDATES, doc="cem: how many of the best candidates the "
                                                          "distribution is refitted on (at most `candidates`).")
    temperature: float = fld(0.5, gt=0, le=1000, doc="mppi: softness of the weights, in units of the spread "
                                                     "(standard deviation) of the candidates' returns.")
    smoothing: float = fld(0.1, ge=0, le=0.99, doc="Weight the previous distribution keeps at each refit "
                                                   "(0: replace it).")
    discount: float = fld(0.95, gt=0, le=1, doc="Reward k ticks ahead counts discount^k.")
    warm_start: float = fld(0.5, ge=0, le=1, doc="Weight of last tick's plan, shifted by one tick, in the first "
                                                 "round's distribution (0: start uniform every tick); the "
                                                 "shifted plan is also always one of the candidates unless 0.")
    objective: list[Any] = fld(factory=lambda: ["rewards"], min_items=1, max_items=64,
                               doc="What a candidate earns per imagined tick (mean over the group's agents), "
                                   "summed: `rewards` (the group's own reward terms from agents:) and/or "
                                   "reward terms {name: {params}} of the same vocabulary (e.g. a distance "
                                   "shaping term).")
    others: Literal["hold", "noop"] = fld("hold", doc="What the other entities do while imagining: hold: "
                                                      "repeat the force they applied last tick; noop: no "
                                                      "force (they coast).")
    dynamics: Literal["physics"] | None = fld(None, doc="Imagine with the hand-coded physics (the world's "
                                                        "`physics` parameters) instead of an ONNX `model:`.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        work = self.horizon * self.candidates * self.iterations
        if work > MAX_PLAN_WORK:
            raise ctx.error(path, f"expected horizon × candidates × iterations <= {MAX_PLAN_WORK:,} imagined ticks per "
                                  f"world and tick, got {self.horizon} × {self.candidates} × {self.iterations} = "
                                  f"{work:,}; lower one of them")
        if self.method == "cem" and self.elites > self.candidates:
            raise ctx.error(path + ("elites",), f"expected at most `candidates` ({self.candidates}) elites, got "
                                                f"{self.elites}; lower elites or raise candidates")


@dataclass(kw_only=True)
class PluginSpec:
    """A learned subsystem: an ONNX model bound to the ECS (or, for a planner, imagined with one)."""

    kind: Literal["policy", "dynamics", "renderer", "planner"] = fld(doc="What the model does.")
    model: str | None = fld(None, doc="Path of the .onnx file, relative to the world file (a planner with "
                                      "plan.dynamics: physics has none).")
    agents: str | None = fld(None, doc="policy/planner: the agent group it controls.")
    entities: list[str] | None = fld(None, doc="dynamics/renderer/planner: the entity types the model reads and "
                                               "writes.")
    rows: Literal["entity", "world"] = fld(
        "entity", doc="dynamics: one model row per bound entity ([B*K, F]) or per world ([B, K*F], so the "
                      "model sees every bound entity, e.g. for contacts).")
    inputs: dict[str, Any] = fld(factory=dict, doc="ONNX input name → what feeds it (see docs/plugins.md).")
    outputs: dict[str, Any] = fld(factory=dict, doc="ONNX output name → where it goes (see docs/plugins.md).")
    providers: Literal["auto", "cpu", "cuda"] = fld("auto", doc="Execution provider: auto = CUDA if usable.")
    session: SessionOptions = fld(factory=SessionOptions, doc="ONNX Runtime session options.")
    on_nan: Literal["raise", "fallback", "zero"] = fld(
        "raise", doc="What to do with NaN/Inf outputs: raise, fall back to the hand-coded system, or zero them.")
    sample: Literal["argmax", "sample"] = fld("argmax", doc="policy with logits: argmax or seeded sampling.")
    constraints: list[Any] = fld(factory=list, doc="Projected onto learned outputs: bounds, max_speed, "
                                                   "non_penetration.")
    replaces: str | None = fld(None, doc="Name of the system this plugin replaces in the tick.")
    shadow: bool = fld(False, doc="Also advance an open-loop twin with the replaced hand-coded system; "
                                  "report drift.")
    resync_above: float | None = fld(None, gt=0, doc="Copy the twin into the world when drift exceeds this.")
    enabled: bool = fld(True, doc="false: the hand-coded system it replaces runs instead.")
    plan: PlanSpec | None = fld(None, doc="planner: budget, method and objective (see PlanSpec, docs/planners.md).")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if self.kind == "planner":
            if self.plan is None:
                raise ctx.error(path, "a planner needs plan: {horizon, candidates, iterations, …} (see "
                                      "docs/planners.md), e.g. plan: {horizon: 8, candidates: 64, iterations: 3}")
            if (self.model is None) == (self.plan.dynamics is None):
                got = "both" if self.model is not None else "neither"
                raise ctx.error(path + (("plan", "dynamics") if self.model is not None else ("model",)),
                                f"a planner imagines with model: PATH (ONNX dynamics) or plan.dynamics: physics "
                                f"(hand-coded); expected exactly one, got {got}")
            return
        if self.plan is not None:
            raise ctx.error(path + ("plan",), f"plan: is for planner plugins; this plugin is a {self.kind}",
                            key=True)
        if self.model is None:
            raise ctx.error(path, "missing required key 'model' (Path of the .onnx file, relative to the world file.)")


@dataclass(kw_only=True)
class ColorBy:
    """An entity type's colour from the value of one of its int components (a treasure's type, what a
    collector holds): ``colors[value]``; values outside the list keep the ``color`` component."""

    component: str = fld(doc="An int component of the type (declared under components:).")
    colors: list[list[float]] = fld(min_items=1, max_items=256, ge=0, le=1,
                                    doc="RGB in 0..1 for the values 0, 1, 2 … in order.")


@dataclass(kw_only=True)
class RenderSettings:
    """How the world looks (window, offscreen frames, pixel observations)."""

    size: list[int] = fld(factory=lambda: [512, 512], ge=16, le=8192, min_items=2, max_items=2,
                          doc="Width, height in pixels of the window / offscreen frames.")
    background: list[float] = fld(factory=lambda: [1.0, 1.0, 1.0], ge=0, le=1, min_items=3, max_items=3,
                                  doc="Background RGB in 0..1.")
    shapes: dict[str, Literal["circle", "square"]] = fld(factory=dict, doc="Per entity type: drawn shape.")
    color_by: dict[str, ColorBy] = fld(factory=dict, doc="Per entity type: draw it in the colour of an int "
                                                         "component's value (variables drawn by the renderer).")
    tick_rate: float | None = fld(None, gt=0, le=1000,
                                  doc="Ticks per second in the window (default: 1/dt).")
    controls: dict[str, str] = fld(factory=dict,
                                   doc="Key bindings for the controlled agent: up, down, left, right "
                                       "→ key names (default arrows/WASD).")


@dataclass(kw_only=True)
class PairingSpec:
    """Binds every entity of some types to one partner entity of another type, drawn at each reset
    ("goal i belongs to agent i", "the listener's target landmark"): terms then say "own partner"
    (``partner_pos``, ``partner_distance``) without index arithmetic; the binding is state
    (``pair.<name>``: the partner's entity index), recorded and snapshotted like the rest."""

    of: list[str] = fld(min_items=1, doc="Entity types whose entities each get a partner, in entity-axis order.")
    to: str = fld(doc="Entity type the partners are chosen from.")
    choose: Literal["fixed", "cycled", "shuffled", "random", "shared"] = fld(
        "fixed", doc="fixed: the i-th entity of `of` gets the i-th of `to` (same counts); cycled: the (i+1)-th, "
                     "the last the first (same counts; with `to` = `of`, each its next: MPE reference's other "
                     "agent); shuffled: a random "
                     "one-to-one assignment per world (same counts); random: each picks any `to` entity "
                     "independently; shared: one random `to` entity per world for all (MPE's goal landmark).")


@dataclass(kw_only=True)
class VariableSpec:
    """A value per world or per team (agent group), changed by rules and read by rules and observations.
    Per-entity values are components (``components:``)."""

    scope: Literal["world", "team"] = fld("world", doc="world: one value per world; team: one per agent group.")
    dtype: Literal["float32", "float64", "int32", "int64", "bool"] = fld("int64", doc="Element type.")
    default: Any = fld(0, doc="Value at every episode start.")
    countdown: bool = fld(False, doc="Lowered by 1 every tick down to 0 by the `rules` system (a timer).")
    doc: str = fld("", doc="What it holds.")


@dataclass(kw_only=True)
class RuleSpec:
    """``when`` → ``do``, evaluated for every subject (and object) in every world in one batched step."""

    name: str = fld(doc="Name of the rule: its firings are counted per episode (info['events'][name]).")
    of: list[str] = fld(min_items=1, doc="Entity types of the subject (`self`).")
    with_: list[str] | None = fld(None, alias="with",
                                  doc="Entity types of the object (`other`): the rule matches pairs.")
    alive: Literal["alive", "dead", "any"] = fld("alive", doc="Which subjects it considers (dead: regrowth).")
    when: list[Any] = fld(factory=list, max_items=32, schema=CONDITIONS_SCHEMA,
                          doc="Conditions, all of which must hold (see docs/world-format.md#rules).")
    do: list[Any] = fld(min_items=1, max_items=32, schema=EFFECTS_SCHEMA,
                        doc="Effects, applied in order to every match.")
    exclusive: Literal["none", "self", "other", "both", "world"] | None = fld(
        None, doc="At most one match per object (other), per subject (self), both, or per world (world: the "
                  "rule fires once); default: other for pair rules (two agents cannot grab one flag), none "
                  "otherwise.")
    pick: Literal["lowest", "random"] = fld("lowest", doc="Which match wins an exclusive conflict: the lowest "
                                                          "entity index or a seeded random one.")


@dataclass(kw_only=True)
class WorldSpec:
    """A worldloom world file."""

    version: int = fld(doc=f"World format version; this release reads version {FORMAT_VERSION}.")
    name: str = fld(doc="Short name of the world.")
    description: str = fld("", doc="What the world is about.")
    world: WorldParams = fld(factory=WorldParams, doc="Physical constants.")
    components: dict[str, ComponentDecl] = fld(factory=dict, max_items=256,
                                               doc="User-declared components beyond the built-in ones.")
    entities: dict[str, EntityType] = fld(min_items=1, max_items=MAX_GROUPS,
                                          doc="Entity types, in entity-axis order.")
    pairings: dict[str, PairingSpec] = fld(factory=dict, max_items=64,
                                           doc="Named bindings of entities to partner entities (see PairingSpec).")
    agents: dict[str, AgentGroup] = fld(factory=dict, max_items=MAX_GROUPS, doc="Agent groups.")
    variables: dict[str, VariableSpec] = fld(factory=dict, max_items=256,
                                             doc="Per-world and per-team variables (see VariableSpec).")
    rules: list[RuleSpec] = fld(factory=list, max_items=256,
                                doc="Game rules, evaluated in order by the `rules` system (see RuleSpec).")
    extensions: list[str] = fld(factory=list, max_items=64,
                                doc="Dotted paths of extensions (objects with build(app)) that register systems, "
                                    "terms and plugin kinds and declare state; code outside the package needs "
                                    "--trust (see docs/extending.md).")
    systems: list[Any] = fld(factory=lambda: ["physics"], max_items=256,
                             doc="Systems run each tick, in order: a name, {name: {params}}, or "
                                 "{system: dotted.path, params: {...}}.")
    episode: Episode = fld(factory=Episode, doc="Episode length and termination.")
    plugins: dict[str, PluginSpec] = fld(factory=dict, max_items=64, doc="Learned subsystems (ONNX).")
    render: RenderSettings = fld(factory=RenderSettings, doc="Rendering settings.")
    walls: Walls = fld(factory=Walls, doc="Static walls: segments, boxes, an ASCII map (see Walls).")
    zones: dict[str, ZoneSpec] = fld(factory=dict, max_items=256,
                                     doc="Named static regions (bases, swamps): rules' inside, the in_zone term.")
    grid: GridSpec | None = fld(None, doc="Make this a grid world (MiniGrid's cells, objects and actions): see "
                                          "GridSpec and docs/world-format.md#grid-worlds.")

    def __check__(self, ctx: Ctx, path: tuple) -> None:
        if self.grid is not None:  # a grid world's arena is its grid (drawing, positions of agents)
            w, h = self.grid.dims()
            self.world.arena = [0.0, w * self.grid.cell, 0.0, h * self.grid.cell]
            names = [s if isinstance(s, str) else next(iter(s), "?") if isinstance(s, dict) and len(s) == 1
                     else str(s.get("system", "?")) if isinstance(s, dict) else "?" for s in self.systems]
            if "grid" not in names:
                raise ctx.error(path + ("systems",), "a world with a grid: section runs the grid system; expected "
                                                     f"systems to list grid (e.g. systems: [grid]), got "
                                                     f"[{', '.join(names)}]")
        if self.version != FORMAT_VERSION:
            raise ctx.error(path + ("version",),
                            f"expected world format version {FORMAT_VERSION}, got {describe(self.version)}")
        total = sum(e.slots for e in self.entities.values())
        if total > MAX_ENTITIES:
            raise ctx.error(path + ("entities",),
                            f"expected at most {MAX_ENTITIES:,} entity slots in all, got {total:,}")
        for i, ext in enumerate(self.extensions):
            if ext in self.extensions[:i]:
                raise ctx.error(path + ("extensions", i), f"extension {ext!r} is listed twice; expected each once")
        from engine.world.budget import check_components

        check_components(self, ctx)
