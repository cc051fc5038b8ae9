"""MPE-style 2-D point-mass physics as whole-tensor functions, and the systems built from them.

The numerics follow ``mpe2`` exactly (checked by ``tests/test_mpe_parity.py``): per movable entity,
``pos += vel*dt`` first (old velocity), then ``vel = vel*(1 - damping) + force/mass*dt``, then the
speed is clamped to ``max_speed``; contacts are soft: ``force = contact_force * Δp/|Δp| *
softplus(-(|Δp| - r_a - r_b)/margin) * margin`` between every pair of colliding entities.

Each function is pure (tensors in, tensors out) so that the same code serves the tick, the
open-loop twin of shadow mode and the exact-physics models exported to ONNX in tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from engine.core.actions import continuous_action_force, direction_table, discrete_action_force
from engine.systems.broadphase import UniformGrid, grid_contact_forces
from engine.world.validation import fld

#: Up to this many entities per world, contacts are computed on the list of entity pairs (see below).
PAIR_LIST_MAX_ENTITIES = 12
#: Above this many colliding entities per world, ``broadphase: auto`` finds contacts through a grid.
GRID_MIN_ENTITIES = 256
#: Entities left out of contacts because their grid cell was full, per episode (see broadphase).
CROWDED = "physics.crowded"


@dataclass(frozen=True)
class PairList:
    """The unordered entity pairs (i < j) of a world and their incidence matrix, built once per world.

    With few entities per world, a ``[B, N, N]`` formulation leaves the compiled kernel an inner loop of
    N (6 for tag) that cannot use full SIMD vectors, and the transcendental ``softplus`` dominates the
    tick. On the pair list everything is a contiguous ``[B, P]`` array (P = N(N-1)/2: half the work),
    differences and force sums are two small matrix products with the ±1 incidence matrix (exact:
    products by ±1 and 0), and the compiled tick is 2.4× faster at 4096 worlds.
    """

    i: torch.Tensor  # [P]
    j: torch.Tensor  # [P]
    inc: torch.Tensor  # [P, N]: +1 at i, -1 at j
    inc_t: torch.Tensor  # [N, P]

    @staticmethod
    def build(n: int, dtype: torch.dtype, device: torch.device) -> PairList:
        i, j = torch.triu_indices(n, n, 1)
        inc = torch.zeros(len(i), n, dtype=dtype)
        inc[torch.arange(len(i)), i] = 1.0
        inc[torch.arange(len(i)), j] = -1.0
        return PairList(i.to(device), j.to(device), inc.to(device), inc.t().contiguous().to(device))


def contact_forces(pos: torch.Tensor, radius: torch.Tensor, active: torch.Tensor,
                   contact_force: float, margin: float, pairs: PairList | None = None,
                   not_self: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of soft pairwise contact forces on each entity, ``[B, N, 2]``.

    ``active [B, N]`` = collide & alive; inactive entities neither push nor are pushed. With
    ``pairs`` the pair-list formulation is used (few entities per world); otherwise the x and y
    components are separate ``[B, N, N]`` planes so that every reduction runs over the last,
    contiguous axis: torch.compile then parallelises over worlds × entities instead of opening a
    parallel region per entity for a 2-element reduction (which made 2 threads 2.5× slower than 1).
    """
    px, py = pos[..., 0], pos[..., 1]
    if pairs is not None:
        dx, dy = px @ pairs.inc_t, py @ pairs.inc_t  # [B, P]: p_i - p_j
        dist = (dx * dx + dy * dy).sqrt()
        dist_min = radius[:, pairs.i] + radius[:, pairs.j]
        penetration = torch.nn.functional.softplus(-(dist - dist_min) / margin) * margin
        pair = active[:, pairs.i] & active[:, pairs.j]
        scale = torch.where(pair, contact_force * penetration / dist.clamp_min(1e-12), 0.0)
        return torch.stack(((dx * scale) @ pairs.inc, (dy * scale) @ pairs.inc), dim=-1)
    n = pos.shape[1]
    dx = px.unsqueeze(2) - px.unsqueeze(1)  # [B, N, N]: a - b
    dy = py.unsqueeze(2) - py.unsqueeze(1)
    dist = (dx * dx + dy * dy).sqrt()
    dist_min = radius.unsqueeze(2) + radius.unsqueeze(1)
    penetration = torch.nn.functional.softplus(-(dist - dist_min) / margin) * margin
    if not_self is None:  # callers in the tick pass it in, made once
        not_self = ~torch.eye(n, dtype=torch.bool, device=pos.device)
    pair = active.unsqueeze(2) & active.unsqueeze(1) & not_self
    scale = torch.where(pair, contact_force * penetration / dist.clamp_min(1e-12), 0.0)
    return torch.stack(((dx * scale).sum(-1), (dy * scale).sum(-1)), dim=-1)


def integrate(pos: torch.Tensor, vel: torch.Tensor, force: torch.Tensor, mass: torch.Tensor,
              max_speed: torch.Tensor, moving: torch.Tensor, dt: float, damping: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One semi-implicit step in MPE's order; entities with ``moving [B, N]`` false keep their state."""
    new_pos = pos + vel * dt
    new_vel = vel * (1.0 - damping) + force / mass.unsqueeze(-1) * dt
    speed = new_vel.square().sum(-1, keepdim=True).sqrt()
    limit = max_speed.unsqueeze(-1)
    new_vel = torch.where(speed > limit, new_vel / speed * limit, new_vel)
    m = moving.unsqueeze(-1)
    return torch.where(m, new_pos, pos), torch.where(m, new_vel, vel)


def physics_step(state: dict, action_force: torch.Tensor, dt: float, damping: float,
                 contact_force: float, margin: float, contacts: bool = True, pairs: PairList | None = None,
                 not_self: torch.Tensor | None = None, colliders: torch.Tensor | None = None,
                 grid: GridContacts | None = None, movers: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forces (actions + contacts) and integration on a state dict; returns new ``(pos, vel)``.

    ``colliders`` (entity indices) restricts contacts to the entities that can collide: the others
    neither push nor are pushed, so leaving them out changes nothing but the work. With ``grid`` the
    contacts are found through a uniform-grid broad phase (see ``GridContacts``). ``movers`` (entity
    indices) are the only entities integrated: those declared movable (the others never move)."""
    alive = state["alive"]
    force = action_force
    if contacts and grid is not None:
        force = force + grid_forces(state, grid, contact_force, margin)
    elif contacts and colliders is None:
        force = force + contact_forces(state["pos"], state["radius"], state["collide"] & alive,
                                       contact_force, margin, pairs, not_self)
    elif contacts and len(colliders):
        c = colliders
        sub = contact_forces(state["pos"][:, c], state["radius"][:, c], (state["collide"] & alive)[:, c],
                             contact_force, margin, pairs, not_self)
        force = force.index_add(1, c, sub)
    if movers is None:
        return integrate(state["pos"], state["vel"], force, state["mass"], state["max_speed"],
                         state["movable"] & alive, dt, damping)
    m = movers  # only the types declared movable can move: the others are copied, not integrated
    pos, vel = state["pos"], state["vel"]
    new_pos, new_vel = integrate(pos[:, m], vel[:, m], force[:, m], state["mass"][:, m], state["max_speed"][:, m],
                                 (state["movable"] & alive)[:, m], dt, damping)
    return pos.index_copy(1, m, new_pos), vel.index_copy(1, m, new_vel)


@dataclass(kw_only=True)
class PhysicsParams:
    """Parameters of the built-in ``physics`` system (actions → forces → contacts → integration)."""

    contacts: bool = fld(True, doc="Apply soft contact forces between colliding entities.")
    substeps: int = fld(1, ge=1, le=100, doc="Integration substeps per tick (dt / substeps each).")
    broadphase: Literal["auto", "grid", "all_pairs"] = fld(
        "auto", doc="How contacts are found: all_pairs (N² work), grid (a uniform grid over the arena: work "
                    "∝ N), auto: grid above 256 colliding entities.")
    per_cell: int | None = fld(None, ge=1, le=256, doc="Grid: entities one cell holds (more are left out of "
                                                       "contacts for the tick and counted in info['events']"
                                                       "['crowded']); default: as many disks of the smallest "
                                                       "radius as fit in a cell overlapping by 10 %.")
    cell: float | None = fld(None, gt=0, doc="Grid: cell side (default: the largest contact distance, 2 × the "
                                             "largest radius + 20 contact margins).")


@dataclass(kw_only=True)
class BoundsParams:
    """Parameters of the built-in ``bounds`` system: keep movable entities inside the arena."""

    mode: str = fld("clamp", doc="clamp: stop at the wall; bounce: reflect velocity; wrap: torus.")

    def __check__(self, ctx, path) -> None:
        if self.mode not in ("clamp", "bounce", "wrap"):
            raise ctx.error(path + ("mode",), f"expected one of 'clamp', 'bounce', 'wrap', got {self.mode!r}")


@dataclass(kw_only=True)
class NoParams:
    """This system takes no parameters."""


def make_bounds(arena: list[float], mode: str, dtype: torch.dtype, device: torch.device):
    """The ``bounds`` system: clamp, bounce or wrap movable entities at the arena's walls."""
    lo = torch.tensor([arena[0], arena[2]], dtype=dtype, device=device)
    hi = torch.tensor([arena[1], arena[3]], dtype=dtype, device=device)

    def bounds(state: dict) -> None:
        pos, vel = state["pos"], state["vel"]
        r = state["radius"].unsqueeze(-1)
        moving = (state["movable"] & state["alive"]).unsqueeze(-1)
        if mode == "wrap":
            new_pos = lo + torch.remainder(pos - lo, hi - lo)
            new_vel = vel
        else:
            new_pos = torch.minimum(torch.maximum(pos, lo + r), hi - r)
            hit = new_pos != pos
            new_vel = torch.where(hit, -vel if mode == "bounce" else torch.zeros_like(vel), vel)
        state["pos"] = torch.where(moving, new_pos, pos)
        state["vel"] = torch.where(moving, new_vel, vel)

    return bounds


def make_action_forces(env):
    """``fn(state) -> [B, N, 2]``: every group's actions turned into forces (zero for non-agents/dead)."""
    table = direction_table(env.dtype, env.device)
    n = env.layout.n
    pieces = []  # (start, stop, group or None) covering the entity axis in order
    cursor = 0
    for g in sorted(env.groups.values(), key=lambda g: g.slice.start):
        if g.slice.start > cursor:
            pieces.append((cursor, g.slice.start, None))
        pieces.append((g.slice.start, g.slice.stop, g))
        cursor = g.slice.stop
    if cursor < n:
        pieces.append((cursor, n, None))

    spaces = {g.name: g.action_space for _, _, g in pieces if g is not None}

    def action_forces(state: dict) -> torch.Tensor:
        accel = state["accel"]
        parts = []
        for lo, hi, g in pieces:
            move = None if g is None else spaces[g.name].move_part(state[g.action_key])
            if move is None:  # not an agent, or agents that only speak
                parts.append(torch.zeros_like(state["pos"][:, lo:hi]))
            elif g.action_type == "discrete":
                parts.append(discrete_action_force(move, accel[:, lo:hi], table))
            else:
                parts.append(continuous_action_force(move, accel[:, lo:hi]))
        force = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return force * state["alive"].unsqueeze(-1).to(force.dtype)

    return action_forces


#: Estimated bytes per entity pair of one world while contacts are computed on ``[B, N, N]`` planes:
#: about 8 float temporaries (dx, dy, dist, dist_min, penetration, scale, dx·scale, dy·scale) and 2 masks.
PAIR_FLOATS, PAIR_BOOLS = 8, 2


def make_physics(env, p: PhysicsParams, path: tuple = ("systems",)):
    """The ``physics`` system: every group's actions → forces, contacts, integration (MPE order).

    Contacts need ``[N, N]`` temporaries per world: they are counted in the world's memory budget
    before anything is built, and without contacts nothing of size N² is allocated.
    """
    w = env.params
    dt, damping, cf, margin = w.dt / p.substeps, w.damping, w.contact_force, w.contact_margin
    action_forces = make_action_forces(env)
    substeps, contacts = p.substeps, p.contacts
    colliders = _colliders(env) if contacts else None
    n = env.layout.n if colliders is None else len(colliders)
    not_self = pairs = grid = None
    if contacts and (p.broadphase == "grid" or (p.broadphase == "auto" and n > GRID_MIN_ENTITIES)):
        grid = _grid(env, p, colliders, margin, path)
    elif contacts:
        env.reserve(n * n * (PAIR_FLOATS * env.float_size + PAIR_BOOLS),
                    f"physics contacts between {n:,} entities ([N, N] pair temporaries)", path,
                    "lower the entities' count/capacity, turn contacts off (physics: {contacts: false}) or use "
                    "the grid broad phase (physics: {broadphase: grid})")
        pairs = PairList.build(n, env.dtype, env.device) if 1 < n <= PAIR_LIST_MAX_ENTITIES else None
        not_self = ~torch.eye(n, dtype=torch.bool, device=env.device)
    small_batch = 64  # below this many worlds the extra matrix products cost more than they save

    walls = _walls(env)
    movers = movable_entities(env)

    def advance(state: dict, force: torch.Tensor) -> None:
        pl = pairs if state["pos"].shape[0] >= small_batch else None
        for _ in range(substeps):
            before = state["pos"]
            state["pos"], state["vel"] = physics_step(state, force, dt, damping, cf, margin, contacts, pl,
                                                      not_self, colliders, grid, movers)
            if walls is not None:
                walls(state, before)

    def physics(state: dict) -> None:
        force = action_forces(state)
        state["action_force"] = force
        advance(state, force)

    # the step from given forces, for whoever imagines with the hand-coded physics (planners)
    physics.advance = advance
    return physics


def _walls(env):
    """``fn(state, pos_before)``: keep moving, colliding disks outside the world's walls (None: no walls)."""
    from engine.systems.walls import resolve_walls

    spec = env.loaded.spec.walls
    segments = spec.segment_list()
    if not segments:
        return None
    seg = torch.tensor(segments, dtype=env.dtype, device=env.device)
    decls = env.state.decls
    who = (decls["movable"].default.to(torch.bool) & decls["collide"].default.to(torch.bool)).cpu()
    rows = who.nonzero().flatten().to(env.device)
    env.reserve(len(rows) * len(seg) * 12 * env.float_size, f"the walls ({len(seg):,} segments × {len(rows):,} "
                f"moving entities)", ("walls",), "use fewer wall segments (merge boxes) or fewer moving entities")
    restitution = float(spec.restitution)
    boxes = torch.tensor(spec.all_boxes(), dtype=env.dtype, device=env.device) if spec.all_boxes() else None

    def walls(state: dict, before: torch.Tensor) -> None:
        pos, vel = state["pos"], state["vel"]
        moving = (state["movable"] & state["alive"] & state["collide"])[:, rows].unsqueeze(-1)
        p1, v1 = resolve_walls(before[:, rows], pos[:, rows], vel[:, rows], state["radius"][:, rows], seg,
                               restitution, boxes)
        state["pos"] = pos.index_copy(1, rows, torch.where(moving, p1, pos[:, rows]))
        state["vel"] = vel.index_copy(1, rows, torch.where(moving, v1, vel[:, rows]))
    return walls


@dataclass(frozen=True)
class GridContacts:
    """The broad phase of one world: the moving colliders binned in a grid sized by *their* radii, and the
    static colliders (pillars, obstacles: few, often large) checked against every mover directly — so a
    big static entity does not force big cells on a crowd of small disks, and static pairs cost nothing."""

    grid: UniformGrid
    movers: torch.Tensor  # [M] entity indices
    statics: torch.Tensor  # [S] entity indices


def grid_forces(state: dict, gc: GridContacts, contact_force: float, margin: float) -> torch.Tensor:
    """``[B, N, 2]`` contact forces on the moving colliders (zeros elsewhere); counts crowded movers."""
    pos, radius, active = state["pos"], state["radius"], state["collide"] & state["alive"]
    m = gc.movers
    pm, rm, am = pos[:, m], radius[:, m], active[:, m]
    sub, crowded = grid_contact_forces(pm, rm, am, None, gc.grid, contact_force, margin)
    state[CROWDED] = state[CROWDED] + crowded
    if len(gc.statics):
        s = gc.statics
        sub = sub + cross_contact_forces(pm, rm, am, pos[:, s], radius[:, s], active[:, s], contact_force, margin)
    return torch.zeros_like(pos).index_add(1, m, sub)


def cross_contact_forces(pos_a: torch.Tensor, rad_a: torch.Tensor, act_a: torch.Tensor, pos_b: torch.Tensor,
                         rad_b: torch.Tensor, act_b: torch.Tensor, contact_force: float, margin: float
                         ) -> torch.Tensor:
    """``[B, A, 2]`` soft contact forces on the ``a`` entities from the (distinct) ``b`` entities."""
    dx = pos_a[..., 0].unsqueeze(2) - pos_b[..., 0].unsqueeze(1)  # [B, A, Bn]
    dy = pos_a[..., 1].unsqueeze(2) - pos_b[..., 1].unsqueeze(1)
    dist = (dx * dx + dy * dy).sqrt()
    penetration = torch.nn.functional.softplus(-(dist - rad_a.unsqueeze(2) - rad_b.unsqueeze(1)) / margin) * margin
    pair = act_a.unsqueeze(2) & act_b.unsqueeze(1)
    scale = torch.where(pair, contact_force * penetration / dist.clamp_min(1e-12), 0.0)
    return torch.stack(((dx * scale).sum(-1), (dy * scale).sum(-1)), dim=-1)


def _grid(env, p: PhysicsParams, colliders: torch.Tensor | None, margin: float, path: tuple) -> GridContacts:
    """The broad phase: a grid over the arena for the moving colliders, the static ones apart."""
    from engine.core.state import StateDecl

    decls = env.state.decls
    radius = decls["radius"].default.to(torch.float64).cpu()
    movable = decls["movable"].default.to(torch.bool).cpu()
    idx = colliders.cpu() if colliders is not None else torch.arange(len(radius))
    movers, statics = idx[movable[idx]], idx[~movable[idx]]
    max_r = float(radius[movers].max()) if len(movers) else 0.0
    min_r = float(radius[movers].min()) if len(movers) else 0.0
    if p.cell is not None and p.cell < 2 * max_r:
        raise env.ctx.error(path + ("cell",), f"expected a cell of at least the largest contact distance between "
                                              f"moving entities (2 × radius {max_r:g} = {2 * max_r:g}), got {p.cell:g}")
    side = max(float(p.cell or 0.0), 2 * max_r + 20 * margin)
    per_cell = p.per_cell or int(min(256, max(4, (side / max(1.8 * min_r, 1e-9) + 1) ** 2)))
    grid = UniformGrid.build(list(env.params.arena), max_r + 10 * margin, per_cell, p.cell)
    env.reserve((grid.cells + 1) * grid.per_cell * 8 + len(movers) * (9 * grid.per_cell + len(statics))
                * (8 * env.float_size + 9), f"the contact grid ({grid.nx} × {grid.ny} cells × {grid.per_cell}, "
                f"{len(movers):,} moving and {len(statics):,} static colliders)", path,
                "use a larger cell or fewer entities per cell (physics: {cell, per_cell})")
    env.add_state(StateDecl(CROWDED, "world", (), "int64", 0, owner="physics", record=True, event="crowded",
                            doc="entities left out of contacts because their grid cell was full (this episode)"))
    return GridContacts(grid, movers.to(env.device), statics.to(env.device))


def movable_entities(env) -> torch.Tensor | None:
    """Entity indices of the types declared movable (a rule may not change ``movable``), or None when most
    are: integrating a subset only pays when it skips many static entities (apples, coins, walls of bricks)."""
    flags = env.state.decls["movable"].default.to(torch.bool).cpu()
    if int(flags.sum()) * 2 > len(flags):
        return None
    return flags.nonzero().flatten().to(env.device)


def _colliders(env) -> torch.Tensor | None:
    """Entity indices whose ``collide`` is true in the world file (decided at build time: a type declared
    ``collide: false`` costs no contact work), or None when every entity collides."""
    decl = env.state.decls.get("collide")
    if decl is None or not isinstance(decl.default, torch.Tensor):
        return None
    flags = decl.default.to(torch.bool).cpu()
    if bool(flags.all()):
        return None
    return flags.nonzero().flatten().to(env.device)
