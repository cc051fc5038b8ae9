"""Fixtures for the distillation tests: a world whose dynamics plugin wraps tag's exact physics."""

from pathlib import Path

import pytest
import torch
from torch import nn

import engine
from engine.learned.export import export_torch_module
from engine.paths import resolve_world
from engine.systems.physics import contact_forces, integrate


class ExactTagPhysics(nn.Module):
    """tag's physics step for one world row: ``state [B, K*4]`` (pos, vel), ``act [B, K*2]`` → ``next [B, K*4]``.

    Radii, masses, max speeds and the movable/collide flags of the K slots are baked in, as are the
    world constants; contacts and integration are the engine's own pure functions.
    """

    def __init__(self, radius, mass, max_speed, movable, collide, dt, damping, contact_force, margin):
        super().__init__()
        self.k = radius.numel()
        for name, t in (("radius", radius), ("mass", mass), ("max_speed", max_speed)):
            self.register_buffer(name, t.float())
        self.register_buffer("movable", movable.bool())
        self.register_buffer("collide", collide.bool())
        self.dt, self.damping, self.cf, self.margin = dt, damping, contact_force, margin

    def forward(self, state, act):
        b = state.shape[0]
        s = state.reshape(b, self.k, 4)
        pos, vel = s[..., :2], s[..., 2:]
        radius = self.radius.expand(b, -1)
        force = act.reshape(b, self.k, 2) + contact_forces(pos, radius, self.collide.expand(b, -1), self.cf,
                                                           self.margin)
        new_pos, new_vel = integrate(pos, vel, force, self.mass.expand(b, -1), self.max_speed.expand(b, -1),
                                     self.movable.expand(b, -1), self.dt, self.damping)
        return torch.cat([new_pos, new_vel], -1).reshape(b, self.k * 4)


@pytest.fixture(scope="session")
def exact_physics_world(tmp_path_factory) -> Path:
    """tag.yaml plus a shadowed dynamics plugin ``exact_physics`` (rows: world, mode: set) exported to ONNX."""
    folder = tmp_path_factory.mktemp("exact")
    sim = engine.make("tag", num_worlds=2)
    sim.reset(seed=0)
    st, w = sim.state, sim.plan.spec.world
    module = ExactTagPhysics(st["radius"][0], st["mass"][0], st["max_speed"][0], st["movable"][0], st["collide"][0],
                             w.dt, w.damping, w.contact_force, w.contact_margin)
    k = module.k
    model = folder / "exact.onnx"
    example = {"state": torch.randn(8, k * 4) * 0.3, "act": torch.randn(8, k * 2)}
    export_torch_module(module, example, model, output_names=["next"], tolerance=1e-5)
    text = resolve_world("tag").read_text() + f"""
plugins:
  exact_physics:
    kind: dynamics
    model: {model.name}
    entities: [adversary, prey, obstacle]
    rows: world
    inputs: {{state: [pos, vel], act: action_force}}
    outputs: {{next: {{write: [pos, vel], mode: set}}}}
    replaces: physics
    shadow: true
"""
    path = folder / "tag_exact.yaml"
    path.write_text(text)
    return path
