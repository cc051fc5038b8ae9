"""The world's own physics as a latent dynamics: what a perfect dynamics model would score from the frames.

A pixel world model sees the world only through its encoder's keypoints. Even exact dynamics, started
from keypoints a few hundredths of a pixel off, drift after enough steps where the world is chaotic —
in tag, adversaries that press into the fleeing prey at full speed turn a 0.02 px error into pixels
within 25 steps — and no model can place an agent that was off screen or hidden in the frames it
starts from. ``PhysicsLatentDynamics`` runs the engine's own contact forces and integration
(``engine.systems.physics``) on the latent, in the latent's image units, with the entities' radii,
masses, accelerations and speed limits from the world file, so ``worldloom drift --physics-reference``
shows that floor beside the learned model, scored on the same frames by the same decoder.

It covers worlds whose only system is the built-in ``physics`` with its defaults (no walls, one
substep): the tag family the pixel world model is built for. Entities are matched to the encoder's
colour slots by their spawn colours, so every entity must have its own colour (as the world model
itself needs).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from engine.errors import UserError

#: an entity's spawn colour and its slot's palette colour differ by less than this (0..1, every channel)
COLOR_MATCH = 0.06


def _check_physics_only(spec, world: str) -> None:
    systems = spec.systems
    plain = len(systems) == 1 and (systems[0] == "physics" or systems[0] == {"physics": {}}
                                   or systems[0] == {"physics": None})
    walls = spec.walls
    if not plain or walls.segments or walls.boxes or walls.map is not None or spec.grid is not None:
        raise UserError(f"{world}: --physics-reference steps the built-in `physics` system alone (no walls, no grid, "
                        f"default settings); this world has systems {systems!r}. Measure its world model without it")


def _slot_of_entities(colors: torch.Tensor, slot_colors: torch.Tensor, world: str) -> list[int]:
    """Each entity's colour slot; every slot must be one entity's."""
    diff = (colors.unsqueeze(1) - slot_colors.unsqueeze(0)).abs().amax(-1)  # [N, K]
    best, slot = diff.min(1)
    if best.max() > COLOR_MATCH or len(set(slot.tolist())) != slot_colors.shape[0] or len(slot) != len(slot_colors):
        shown = [[round(v, 2) for v in c] for c in colors.tolist()]
        raise UserError(f"{world}: its {len(colors)} entities' colours {shown} do not match the world model's "
                        f"{len(slot_colors)} slot colours one to one (each entity needs its own colour, within "
                        f"{COLOR_MATCH} of a slot's); measure the model on the world it was distilled from")
    return slot.tolist()


class PhysicsLatentDynamics(nn.Module):
    """``latent [N, 4K]``, joint ``action [N, A, n]`` → next latent, by the world's own physics (the same
    contract as the learned ``SlotDynamics``). Absent slots (off screen or hidden) neither push nor move."""

    def __init__(self, world: str | os.PathLike, slot_colors: torch.Tensor, size: tuple[int, int],
                 agents: dict[str, int], overrides: dict[str, str] | None = None) -> None:
        super().__init__()
        import engine
        from engine.core.actions import MOVE_DIRECTIONS
        from engine.render.frame import fit_camera

        sim = engine.make(world, num_worlds=1, overrides=overrides, threads=None)
        try:
            spec = sim.plan.spec
            _check_physics_only(spec, str(world))
            sim.reset(seed=0)
            st = {k: v[0].detach().clone() for k, v in sim.state.items() if k in (
                "color", "radius", "mass", "max_speed", "accel", "movable", "collide")}
            groups = {name: g.slice for name, g in sim.groups.items()}
        finally:
            sim.close()
        if {g: s.count for g, s in groups.items()} != dict(agents):
            raise UserError(f"{world}: agents {({g: s.count for g, s in groups.items()})}, but the world model's are "
                            f"{dict(agents)}")
        slot = _slot_of_entities(st["color"].float(), slot_colors.float(), str(world))
        order = torch.empty(len(slot), dtype=torch.long)
        order[torch.tensor(slot)] = torch.arange(len(slot))  # order[k]: the entity drawn in slot k
        for key in ("radius", "mass", "max_speed", "accel"):
            self.register_buffer(key, st[key].float()[order])
        self.register_buffer("movable", st["movable"].bool()[order])
        self.register_buffer("collide", st["collide"].bool()[order])
        agent_entity = [s.start + i for g in agents for s in [groups[g]] for i in range(s.count)]
        agent_of = torch.zeros(len(slot), len(agent_entity))  # [K, A]: slot k is agent a
        for a, e in enumerate(agent_entity):
            agent_of[slot[e], a] = 1.0
        self.register_buffer("agent_of", agent_of)
        self.register_buffer("table", torch.tensor(MOVE_DIRECTIONS, dtype=torch.float32))
        w = spec.world
        self.dt, self.damping, self.contact_force, self.margin = w.dt, w.damping, w.contact_force, w.contact_margin
        cx, cy, half = fit_camera(w.arena, *size)
        s = min(size)
        # image units: x from −1 (left) to 1 (right), y from −1 (top) to 1 (bottom); world y points up
        self.center = (cx, cy)
        self.scale = (half * size[0] / s, -half * size[1] / s)

    def forward(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        from engine.systems.physics import contact_forces, integrate

        b, k = latent.shape[0], self.radius.shape[0]
        x, dx = latent[:, :2 * k].reshape(b, k, 2), latent[:, 2 * k:].reshape(b, k, 2)
        scale = torch.tensor(self.scale, dtype=latent.dtype)
        center = torch.tensor(self.center, dtype=latent.dtype)
        present = (x.abs() < 1.5).all(-1)  # an absent slot sits at ABSENT, off the image
        pos, vel = x * scale + center, dx * scale / self.dt
        n = action.shape[-1]
        push = torch.matmul(self.agent_of, torch.matmul(action.float(), self.table[:n]))  # [B, K, 2]
        force = push * self.accel.view(1, k, 1)
        force = force + contact_forces(pos, self.radius.expand(b, k), self.collide & present, self.contact_force,
                                       self.margin)
        new_pos, new_vel = integrate(pos, vel, force, self.mass.expand(b, k), self.max_speed.expand(b, k),
                                     self.movable & present, self.dt, self.damping)
        out_x = torch.where(present.unsqueeze(-1), (new_pos - center) / scale, x)
        out_dx = torch.where(present.unsqueeze(-1), new_vel * self.dt / scale, dx)
        return torch.cat([out_x.reshape(b, 2 * k), out_dx.reshape(b, 2 * k)], -1)


class PhysicsReferenceModel:
    """A world model's encoder and decoder around the world's own physics (``PhysicsLatentDynamics``): the
    same interface as ``OnnxWorldModel`` for ``open_loop_curves``."""

    def __init__(self, model, world: str | os.PathLike, overrides: dict[str, str] | None = None) -> None:
        slot_colors = torch.tensor(model.contract.get("slot_colors", []), dtype=torch.float32)
        if slot_colors.shape != (model.slots, 3):
            raise UserError(f"{model.folder}/encoder.json: no slot_colors for its {model.slots} slots; distill the "
                            "world model again to measure it against the physics")
        self.model, self.background = model, model.background
        self.physics = PhysicsLatentDynamics(world, slot_colors, (model.width, model.height), model.agents,
                                             overrides)
        self.folder = f"{world} physics"

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model.encode(frames)

    @torch.no_grad()
    def step(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.physics(latent, action)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.model.decode(latent)
