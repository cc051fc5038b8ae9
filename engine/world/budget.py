"""The memory budget of one world copy: refuse a world that would allocate the machine away.

Every Sim holds B copies of a world, so what one copy needs is what a world file decides. Before
anything large is allocated, the bytes one copy will hold are estimated and compared with
``max_world_bytes()`` (1 GiB unless ``WORLDLOOM_MAX_WORLD_MIB`` says otherwise):

* **state**: every component of every entity slot (checked when the file is validated), observation
  buffers and the state that systems declare — summed;
* **work**: the temporary tensors of the largest per-tick computation — physics contacts between
  every pair of entities (``[N, N]`` planes), a term that compares A agents with K entities
  (``[A, K]``), lifecycle's removable × removing entities — the largest one counts.

A world over the budget is a ``WorldError`` located at what costs most, saying how big it is and
how to make it smaller.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from engine.errors import WorldError

#: Default largest estimated size of one world copy (bytes); ``WORLDLOOM_MAX_WORLD_MIB`` overrides it.
MAX_WORLD_BYTES = 1 << 30
ENV_VAR = "WORLDLOOM_MAX_WORLD_MIB"
#: Bytes per element of each dtype name; ``float`` is the world's float type.
ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "bool": 1, "int8": 1, "uint8": 1}


def max_world_bytes() -> int:
    """The budget of one world copy in bytes."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            mib = float(raw)
        except ValueError:
            raise WorldError(f"expected a number of MiB, got {raw[:40]!r}", where=ENV_VAR) from None
        if not 1 <= mib <= 1 << 30:
            raise WorldError(f"expected a number of MiB in 1..{1 << 30}, got {raw[:40]}", where=ENV_VAR)
        return int(mib * (1 << 20))
    return MAX_WORLD_BYTES


def human(nbytes: float) -> str:
    """``1536`` → ``1.5 KiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} PiB"


def itemsize(dtype: str, float_dtype: str) -> int:
    return ITEMSIZE[float_dtype if dtype == "float" else dtype]


@dataclass
class MemoryBudget:
    """What one world copy is estimated to hold (``state``, summed) and to compute with (``work``, the
    largest counts); ``add`` raises a located ``WorldError`` as soon as the estimate is over budget."""

    limit: int = field(default_factory=max_world_bytes)
    state: int = 0
    work: tuple[int, str] = (0, "")

    @property
    def total(self) -> int:
        return self.state + self.work[0]

    def add(self, ctx, nbytes: int, what: str, path: tuple, fix: str, work: bool = False) -> None:
        """Count ``nbytes`` (per world copy) for ``what`` (named at ``path`` in the world file).

        ``work``: a temporary of one computation (only the largest counts); otherwise state (summed).
        ``fix`` says how to make it smaller. Call it *before* allocating anything of that size.
        """
        nbytes = int(nbytes)
        state = self.state + (0 if work else nbytes)
        tmp = max(self.work, (nbytes, what)) if work else self.work
        if state + tmp[0] > self.limit:
            raise ctx.error(path, f"{what} needs about {human(nbytes)} per world copy (the whole world: about "
                                  f"{human(state + tmp[0])}); expected at most {human(self.limit)} per world copy: "
                                  f"{fix} (Limits in docs/world-format.md; {ENV_VAR} raises the budget)")
        self.state, self.work = state, tmp


def component_bytes(spec, float_dtype: str) -> list[tuple[str, int]]:
    """``(component, bytes per entity)`` of every component, built-in and declared, largest first."""
    from engine.storage import BUILTIN_COMPONENTS

    rows = []
    for c in BUILTIN_COMPONENTS.values():
        rows.append((c.name, _prod(c.shape) * itemsize(c.dtype, float_dtype)))
    for name, decl in spec.components.items():
        rows.append((name, _prod(decl.shape) * itemsize(decl.dtype, float_dtype)))
    return sorted(rows, key=lambda r: -r[1])


def check_components(spec, ctx) -> MemoryBudget:
    """The components of every entity slot must fit the budget (checked when the file is validated)."""
    n = sum(e.slots for e in spec.entities.values())
    rows = component_bytes(spec, spec.world.dtype)
    per_entity = sum(b for _, b in rows) + 1 + 8 + 8  # + alive, lifecycle's killed_by and timer
    budget = MemoryBudget()
    big = rows[0][0]
    path = ("components", big, "shape") if big in spec.components else ("entities",)
    budget.add(ctx, n * per_entity, f"storing the components of {n:,} entity slots ({human(per_entity)} per entity, "
                                    f"the largest: {big})", path,
               "lower entities.<type>.count/capacity or the shape of the largest components")
    return budget


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= int(d)
    return out
