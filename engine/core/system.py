"""Declared systems: a function over the state dict, with what it reads, writes and controls.

A system is a plain function ``fn(state: dict) -> None`` that replaces entries of the state dict with
new tensors (it never mutates a tensor in place, so snapshots stay cheap and a compiled tick can
fuse it). Its ``SystemDecl`` says where it runs and what it touches; the schedule is built from the
declarations and frozen before the first tick.

Stages, in tick order (documented in docs/extending.md):

* ``start`` — bookkeeping at the start of the tick (``alive_before``);
* ``controllers`` — systems that write actions for agent groups (policy plugins, scripted NPCs
  added by extensions);
* ``update`` — the world file's ``systems:`` list, in file order;
* ``post_update`` — built-ins with a documented default place after the world's systems
  (``lifecycle``), unless the world file lists them in ``systems:`` to place them itself;

* ``finish`` — the end of the tick: observations, rewards, termination, the random counter.

Autoreset follows the tick (the Sim resets the worlds whose episode ended).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STAGES = ("start", "controllers", "update", "post_update", "finish")


@dataclass
class SystemDecl:
    """One entry of the schedule.

    ``reads``/``writes`` (state names) are checked against the declared state when the world is
    built; ``None`` means "not declared" (allowed for quick user systems: the load-time dry run then
    reports any unknown key they touch). ``compilable=False`` keeps it out of ``torch.compile``
    (ONNX calls, non-torch code). ``user_file`` marks user code: its exceptions become
    ``UserCodeError``\\ s that name the world-file location and the user's ``file:line``.
    """

    name: str
    fn: Callable[[dict], None]
    reads: tuple[str, ...] | None = None
    writes: tuple[str, ...] | None = None
    controls: tuple[str, ...] = ()
    compilable: bool = True
    stage: str = "update"
    path: tuple = ()
    user_file: str | None = None
    replaces: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
