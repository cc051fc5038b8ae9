"""Declared state: every tensor a Sim holds is declared once, by whoever owns it.

A component, the ``alive`` mask, a lifecycle timer, a plugin's shadow twin, a metric, an
observation buffer, a user system's private counter: each is a ``StateDecl`` with a name, a scope
(what its leading axes are), a per-item shape, a dtype, a default and a reset rule. The Sim
allocates, resets, snapshots, restores and records *from these declarations* and knows no names —
adding state never means editing the Sim.

Scopes (``B`` = worlds, ``N`` = entity slots, ``A`` = agents of the declaring group):

======== ============================ ==========================================================
scope    tensor shape                 for
======== ============================ ==========================================================
entity   ``[B, N, *shape]``           components, ``alive``, per-entity timers and variables
agent    ``[B, A, *shape]``           a group's actions, rewards, observations (``group=``)
group    ``[B, *shape]``              one value per world for one agent group (a team's score)
world    ``[B, *shape]``              the tick counter, ``done``, per-world metrics
global   ``[*shape]``                 values shared by all worlds (``any_done``)
======== ============================ ==========================================================

``record=True`` entries are stored in recordings and ``info["final_state"]``; ``metric="name"``
entries (``[B]``) are reported as ``info["metrics"]["name"]`` (mean over worlds) and recorded every
step; ``event="name"`` entries (``[B]``, for rare events that also end the episode) are reported per
world as ``info["events"]["name"]`` on the ticks where some episode ended — free on the others.

Reset rules, applied to the worlds being reset: ``default`` (back to the default), ``keep``
(unchanged: actions, metrics, the random key), ``copy:<key>`` (the reset value of another entry:
a shadow twin restarts from the world), ``derived`` (recomputed after the reset by whoever
derives it, e.g. observations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

SCOPES = ("entity", "agent", "group", "world", "global")
RESETS = ("default", "keep", "derived")
DTYPE_NAMES = {"float": None, "float32": torch.float32, "float64": torch.float64, "int32": torch.int32,
               "int64": torch.int64, "bool": torch.bool, "int8": torch.int8, "uint8": torch.uint8}


@dataclass(frozen=True)
class StateDecl:
    """One state entry. ``default`` is a number, a nested list or a tensor of one world's shape.

    Example:
        >>> from engine.core.state import StateDecl
        >>> StateDecl("energy", "entity", (), "float", default=1.0, owner="my_system").reset
        'default'
    """

    name: str
    scope: str
    shape: tuple[int, ...] = ()
    dtype: str | torch.dtype = "float"
    default: Any = 0
    reset: str = "default"
    group: str | None = None
    owner: str = ""
    record: bool = False
    metric: str | None = None
    event: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"state {self.name!r}: scope must be one of {SCOPES}, got {self.scope!r}")
        if self.scope == "agent" and self.group is None:
            raise ValueError(f"state {self.name!r}: agent scope needs group=<agent group>")
        if self.reset not in RESETS and not self.reset.startswith("copy:"):
            raise ValueError(f"state {self.name!r}: reset must be one of {RESETS} or copy:<key>, got {self.reset!r}")

    @property
    def copies(self) -> str | None:
        return self.reset[5:] if self.reset.startswith("copy:") else None


def torch_dtype(dtype: str | torch.dtype, float_dtype: torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPE_NAMES)}")
    return DTYPE_NAMES[dtype] or float_dtype


@dataclass
class StateTable:
    """The declarations of one world, in order, and the sizes their scopes resolve to.

    ``reset_hooks`` fill fresh values before a reset is applied (spawn draws); ``derive_hooks``
    recompute ``derived`` entries after it (observations). Both are registered by their owners.
    """

    n_entities: int
    group_sizes: dict[str, int]
    float_dtype: torch.dtype
    device: torch.device
    decls: dict[str, StateDecl] = field(default_factory=dict)
    reset_hooks: list[Callable[[dict, int, torch.Generator], None]] = field(default_factory=list)
    derive_hooks: list[Callable[[dict], None]] = field(default_factory=list)
    #: ``hook(fresh, B, generator, mask, state)``: for fresh values that are costly per world (a grid level),
    #: made only for the worlds in ``mask`` (all when None); the others may hold anything
    masked_reset_hooks: list[Callable[..., None]] = field(default_factory=list)
    _defaults: dict[str, torch.Tensor] = field(default_factory=dict)
    _expanded: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)  # (name, B) → [B, ...] view

    def declare(self, decl: StateDecl) -> StateDecl:
        """Add a declaration; declaring the same name twice with a different meaning is an error."""
        old = self.decls.get(decl.name)
        if old is not None:
            if old == decl:
                return old
            raise ValueError(f"state {decl.name!r} is declared twice: by {old.owner or 'the engine'} "
                             f"({old.scope} {list(old.shape)} {old.dtype}) and by {decl.owner or 'the engine'} "
                             f"({decl.scope} {list(decl.shape)} {decl.dtype}); expected one owner per name")
        if decl.scope == "agent" and decl.group not in self.group_sizes:
            raise ValueError(f"state {decl.name!r}: unknown agent group {decl.group!r}")
        if decl.copies is not None and decl.copies not in self.decls:
            raise ValueError(f"state {decl.name!r}: copies {decl.copies!r}, which is not declared (declare it first)")
        self.decls[decl.name] = decl
        self._defaults[decl.name] = self._default_tensor(decl)
        self._expanded.clear()
        return decl

    def __contains__(self, name: str) -> bool:
        return name in self.decls

    def names(self) -> list[str]:
        return list(self.decls)

    def lead(self, decl: StateDecl, B: int) -> tuple[int, ...]:
        """The leading axes of an entry for ``B`` worlds."""
        return {"entity": (B, self.n_entities), "agent": (B, self.group_sizes.get(decl.group or "", 0)),
                "group": (B,), "world": (B,), "global": ()}[decl.scope]

    def _default_tensor(self, decl: StateDecl) -> torch.Tensor:
        """The default of one world (entity/agent scope: ``[N or A, *shape]``), on the device."""
        dt = torch_dtype(decl.dtype, self.float_dtype)
        per_world = self.lead(decl, 1)[1:] + tuple(decl.shape)
        value = torch.as_tensor(decl.default, dtype=dt)
        return value.to(self.device).expand(per_world).clone() if value.shape != per_world else \
            value.to(self.device).clone()

    def default(self, name: str) -> torch.Tensor:
        return self._defaults[name]

    def allocate(self, B: int) -> dict[str, torch.Tensor]:
        """Every declared entry for ``B`` worlds, at its default."""
        return {name: self._fresh(decl, B).clone() for name, decl in self.decls.items()}

    def _fresh(self, decl: StateDecl, B: int) -> torch.Tensor:
        """The default of ``decl`` for ``B`` worlds: a read-only view, made once per batch size (an episode
        reset of one world asks for every entry, every 25 ticks)."""
        key = (decl.name, B)
        view = self._expanded.get(key)
        if view is None:
            d = self._defaults[decl.name]
            view = d if decl.scope == "global" else d.unsqueeze(0).expand((B,) + tuple(d.shape))
            self._expanded[key] = view
        return view

    def reset(self, state: dict[str, torch.Tensor], B: int, mask: torch.Tensor | None,
              generator: torch.Generator) -> dict[str, torch.Tensor]:
        """A new state where the worlds in ``mask [B]`` (all when None) start a new episode.

        ``generator`` is the Sim's: reset hooks draw their random values (spawn positions) from it.
        """
        fresh: dict[str, torch.Tensor] = {}
        for name, decl in self.decls.items():
            if decl.reset == "default":
                fresh[name] = self._fresh(decl, B)
        if self.reset_hooks or self.masked_reset_hooks:
            ids = {k: id(v) for k, v in fresh.items()}
            for hook in self.reset_hooks:
                hook(fresh, B, generator)
            for hook in self.masked_reset_hooks:
                hook(fresh, B, generator, mask, state)
            self.check_state(fresh, B, [k for k, v in fresh.items() if ids.get(k) != id(v) and k in self.decls])
        for name, decl in self.decls.items():
            if decl.copies is not None:
                fresh[name] = fresh.get(decl.copies, state[decl.copies])
        out = dict(state)
        for name, value in fresh.items():
            decl = self.decls.get(name)
            if decl is None:
                continue
            if mask is None or decl.scope == "global":
                out[name] = value.clone(memory_format=torch.contiguous_format)  # the layout the tick was traced with
            else:
                m = mask.view((B,) + (1,) * (value.dim() - 1))
                out[name] = torch.where(m, value, state[name])
        if self.derive_hooks:
            before = {k: out[k] for k, d in self.decls.items() if d.reset == "derived"}
            for hook in self.derive_hooks:
                hook(out)
            for k in before:  # the compiled tick reads its inputs with the layout it was traced with
                out[k] = out[k].contiguous()
            if mask is not None:
                for k, old in before.items():
                    out[k] = torch.where(mask.view((B,) + (1,) * (old.dim() - 1)), out[k], old)
        return out

    def by_scope(self, scope: str) -> list[str]:
        return [n for n, d in self.decls.items() if d.scope == scope]

    def recorded(self) -> list[str]:
        return [n for n, d in self.decls.items() if d.record]

    def events(self) -> dict[str, str]:
        """Reported name → state name of every entry declared as an event."""
        return {d.event: n for n, d in self.decls.items() if d.event is not None}

    def metrics(self) -> dict[str, str]:
        """Reported name → state name of every entry declared as a metric."""
        return {d.metric: n for n, d in self.decls.items() if d.metric is not None}

    def check_state(self, state: dict[str, torch.Tensor], B: int, names: Iterable[str] | None = None) -> None:
        """Raise if an entry is missing or has the wrong shape/dtype (restore, user writes)."""
        for name in names if names is not None else self.decls:
            decl = self.decls[name]
            want = self.lead(decl, B) + tuple(decl.shape)
            t = state.get(name)
            if t is None:
                raise ValueError(f"state {name!r} is missing")
            if tuple(t.shape) != want:
                raise ValueError(f"state {name!r}: expected shape {list(want)}, got {list(t.shape)}")
            if t.dtype != self._defaults[name].dtype:
                raise ValueError(f"state {name!r}: expected dtype {self._defaults[name].dtype}, got {t.dtype}")
