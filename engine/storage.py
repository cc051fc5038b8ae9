"""Batched struct-of-arrays storage: the entity axis, components and their tensors.

A Sim holds B copies of one world. Every component is one tensor ``[B, N, *shape]`` where N is the
sum of the entity types' capacities; each entity type owns a contiguous slice of the entity axis, in
the order the world file lists them. An ``alive [B, N]`` mask handles spawn/despawn without ever
reallocating, so every system is a handful of whole-tensor operations and one ONNX call can serve
every entity of every world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "int32": torch.int32,
    "int64": torch.int64, "bool": torch.bool,
}


@dataclass(frozen=True)
class Component:
    """Schema of one component: per-entity shape, element type, default, and what it means."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # a key of DTYPES; "float" means the world's float dtype
    default: object
    doc: str


#: Built-in components every world has. "float" = the world's float dtype (float32 unless set).
BUILTIN_COMPONENTS: dict[str, Component] = {c.name: c for c in [
    Component("pos", (2,), "float", 0.0, "position in world units (arena is usually [-1, 1]²)"),
    Component("vel", (2,), "float", 0.0, "velocity, world units per second"),
    Component("mass", (), "float", 1.0, "mass (> 0); force / mass = acceleration"),
    Component("radius", (), "float", 0.05, "collision and drawing radius, world units"),
    Component("color", (3,), "float", [0.5, 0.5, 0.5], "RGB in 0..1, for rendering"),
    Component("max_speed", (), "float", float("inf"), "speed limit after integration (inf = none)"),
    Component("accel", (), "float", 5.0, "action sensitivity: force per unit of action (MPE: 5)"),
    Component("movable", (), "bool", True, "integrated by physics; immovable entities still collide"),
    Component("collide", (), "bool", True, "takes part in contact forces and contact events"),
    Component("action_force", (2,), "float", 0.0, "force from the agent's action this tick (physics input)"),
]}


@dataclass(frozen=True)
class EntitySlice:
    """Where one entity type lives on the entity axis."""

    name: str
    start: int
    capacity: int
    count: int

    @property
    def stop(self) -> int:
        return self.start + self.capacity

    @property
    def sl(self) -> slice:
        return slice(self.start, self.stop)


@dataclass
class Layout:
    """The entity axis (types → slices) and the component table of one world."""

    types: dict[str, EntitySlice]
    components: dict[str, Component]
    float_dtype: torch.dtype
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = sum(t.capacity for t in self.types.values())

    def torch_dtype(self, comp: Component) -> torch.dtype:
        return self.float_dtype if comp.dtype == "float" else DTYPES[comp.dtype]

    def type_index(self) -> torch.Tensor:
        """``[N]`` int64: the index (in world-file order) of each slot's entity type."""
        out = torch.empty(self.n, dtype=torch.int64)
        for i, t in enumerate(self.types.values()):
            out[t.sl] = i
        return out

    def indices(self, type_names: list[str]) -> torch.Tensor:
        """``[K]`` entity indices of the given types, in the order given."""
        parts = [torch.arange(self.types[n].start, self.types[n].stop) for n in type_names]
        return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.int64)
