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

import torch

from engine.core.actions import continuous_action_force, direction_table, discrete_action_force
from engine.world.validation import fld

#: Up to this many entities per world, contacts are computed on the list of entity pairs (see below).
PAIR_LIST_MAX_ENTITIES = 12


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
                 not_self: torch.Tensor | None = None, colliders: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Forces (actions + contacts) and integration on a state dict; returns new ``(pos, vel)``.

    ``colliders`` (entity indices) restricts contacts to the entities that can collide: the others
    neither push nor are pushed, so leaving them out changes nothing but the work."""
    alive = state["alive"]
    force = action_force
    if contacts and colliders is None:
        force = force + contact_forces(state["pos"], state["radius"], state["collide"] & alive,
                                       contact_force, margin, pairs, not_self)
    elif contacts and len(colliders):
        c = colliders
        sub = contact_forces(state["pos"][:, c], state["radius"][:, c], (state["collide"] & alive)[:, c],
                             contact_force, margin, pairs, not_self)
        force = force.index_add(1, c, sub)
    return integrate(state["pos"], state["vel"], force, state["mass"], state["max_speed"],
                     state["movable"] & alive, dt, damping)


@dataclass(kw_only=True)
class PhysicsParams:
    """Parameters of the built-in ``physics`` system (actions → forces → contacts → integration)."""

    contacts: bool = fld(True, doc="Apply soft contact forces between colliding entities.")
    substeps: int = fld(1, ge=1, le=100, doc="Integration substeps per tick (dt / substeps each).")


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
    not_self = pairs = None
    if contacts:
        env.reserve(n * n * (PAIR_FLOATS * env.float_size + PAIR_BOOLS),
                    f"physics contacts between {n:,} entities ([N, N] pair temporaries)", path,
                    "lower the entities' count/capacity, or turn contacts off (physics: {contacts: false})")
        pairs = PairList.build(n, env.dtype, env.device) if 1 < n <= PAIR_LIST_MAX_ENTITIES else None
        not_self = ~torch.eye(n, dtype=torch.bool, device=env.device)
    small_batch = 64  # below this many worlds the extra matrix products cost more than they save

    def physics(state: dict) -> None:
        force = action_forces(state)
        state["action_force"] = force
        pl = pairs if state["pos"].shape[0] >= small_batch else None
        for _ in range(substeps):
            state["pos"], state["vel"] = physics_step(state, force, dt, damping, cf, margin, contacts, pl,
                                                      not_self, colliders)

    return physics


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
