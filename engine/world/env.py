"""What system and term factories see while a world is being built: layout, groups, device, params.

Factories turn validated YAML parameters into plain functions over the state dict. They receive a
``BuildEnv`` so they can precompute index tensors and constants once, on the right device, and keep
the tick itself free of allocation and Python branching on tensor values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from engine.storage import EntitySlice, Layout
from engine.world.budget import MemoryBudget
from engine.world.loader import LoadedWorld
from engine.world.schema import AgentGroup, WorldParams
from engine.world.validation import Ctx


@dataclass
class GroupPlan:
    """An agent group resolved against the layout: its entity slice and action space."""

    name: str
    spec: AgentGroup
    slice: EntitySlice
    action_type: str
    obs_size: int = 0
    obs_fns: list[Callable] = field(default_factory=list)
    obs_names: list[tuple[str, int]] = field(default_factory=list)
    reward_fns: list[Callable] = field(default_factory=list)
    mask_fns: list[Callable] = field(default_factory=list)  # fn(state) -> bool [B, A, n]: allowed actions
    pixels: Any = None  # engine.views.pixels.PixelParams when the group observes pixels

    @property
    def size(self) -> int:
        return self.slice.capacity

    @property
    def sl(self) -> slice:
        return self.slice.sl

    @functools.cached_property
    def action_space(self):
        """The group's ``engine.core.actions.ActionSpace`` (what one agent's action holds); the tick asks
        for it on every step, so it is resolved once."""
        from engine.core.actions import movement

        a = self.spec.action
        return movement(self.action_type, a.moves, a.say, tuple(a.actions))

    # The state entries of a group, declared by engine.builtins (one place for their names).
    @property
    def obs_key(self) -> str:
        return "obs." + self.name

    @property
    def action_key(self) -> str:
        return "action." + self.name

    @property
    def reward_key(self) -> str:
        return "reward." + self.name

    @property
    def return_key(self) -> str:
        return "return." + self.name

    @property
    def terminated_key(self) -> str:
        return "terminated." + self.name

    @property
    def truncated_key(self) -> str:
        return "truncated." + self.name

    def agent_names(self) -> list[str]:
        prefix = self.spec.agent_name or self.name
        return [f"{prefix}_{i}" for i in range(self.size)]


@dataclass
class BuildEnv:
    """Everything a factory may read; ``ctx`` locates errors in the world file."""

    loaded: LoadedWorld
    layout: Layout
    groups: dict[str, GroupPlan]
    device: torch.device
    ctx: Ctx
    mortal_types: set[str]
    budget: MemoryBudget = field(default_factory=MemoryBudget, repr=False)

    @property
    def params(self) -> WorldParams:
        return self.loaded.spec.world

    @property
    def dtype(self) -> torch.dtype:
        return self.layout.float_dtype

    def check_types(self, names: list[str], path: tuple, what: str = "entity type") -> list[str]:
        """Every name must be an entity type of this world, listed once; the message lists the known ones."""
        import difflib

        for i, n in enumerate(names):
            at = path + (i,) if len(names) > 1 or path[-1:] != (n,) else path
            if not isinstance(n, str) or n not in self.layout.types:
                close = difflib.get_close_matches(str(n), list(self.layout.types), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.ctx.error(at, f"unknown {what} {n!r}{hint}; expected one of: "
                                         f"{', '.join(self.layout.types)}")
            if n in names[:i]:
                raise self.ctx.error(at, f"{what} {n!r} is listed twice (items {names.index(n)} and {i}); "
                                         "expected each type once")
        return names

    def reserve(self, nbytes: int, what: str, path: tuple, fix: str, work: bool = True) -> None:
        """Count ``nbytes`` per world copy against the memory budget (``engine.world.budget``) *before*
        allocating them: ``work`` for a per-tick temporary (``[B, A, K]`` distances), else state."""
        self.budget.add(self.ctx, nbytes, what, path, fix, work=work)

    @property
    def float_size(self) -> int:
        """Bytes of one element of the world's float type."""
        return self.dtype.itemsize

    def tensor(self, data, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.as_tensor(data, dtype=dtype or self.dtype, device=self.device)
