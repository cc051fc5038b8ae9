"""Actions at the API boundary: converted, and checked, before they can do harm.

An out-of-range discrete action would index past the direction table (silently "up" for -1, an
``IndexError`` or an out-of-bounds kernel error when compiled); a NaN would poison the state; a
continuous value of 300 would apply 300× the force. Type, shape and device are checked here, in
Python, with no tensor work; the values are clamped and flagged *inside* the tick
(``engine.systems.actions``, fused with the rest), and the Sim reads the flag with ``any_done``.
Modes per Sim:

* ``error`` (default): a bad action raises ``ActionError`` naming the group, the agent, what was
  expected and what was found (``check_actions`` below finds it), and the step changes nothing;
* ``clip``: out-of-range values are clipped into the space (NaN → the space's low end);
* ``off``: no error either (values are still clamped in the tick: never undefined behaviour).
"""

from __future__ import annotations

from typing import Any

import torch

from engine.core.actions import ActionSpace
from engine.errors import ActionError

MODES = ("error", "clip", "off")


def _first_bad(bad: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in bad.nonzero()[0])


def _convert(group: str, a: Any, like: torch.Tensor, space: ActionSpace) -> torch.Tensor:
    if a is None or isinstance(a, (str, bytes)):
        raise ActionError(f"actions[{group!r}]: expected a tensor of {space.describe()} per agent, got "
                          f"{type(a).__name__}")
    try:
        t = torch.as_tensor(a, device=like.device)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ActionError(f"actions[{group!r}]: expected a tensor of {space.describe()} per agent, got "
                          f"{type(a).__name__} that torch cannot convert ({e})") from None
    if t.shape != like.shape:
        layout = ", ".join(["worlds", "agents"] + [str(d) for d in space.per_agent_shape])
        raise ActionError(f"actions[{group!r}]: expected shape {list(like.shape)} ([{layout}]: {space.describe()} "
                          f"per agent), got {list(t.shape)}")
    return t


def _check_dtype(group: str, t: torch.Tensor, space: ActionSpace) -> None:
    if t.dtype == torch.bool or t.dtype.is_complex:
        raise ActionError(f"actions[{group!r}]: expected numbers ({space.describe()}), got dtype {t.dtype}")


def convert_actions(group: str, a: Any, like: torch.Tensor, space: ActionSpace, mode: str = "error") -> torch.Tensor:
    """``a`` as a tensor of ``like``'s shape, dtype and device; values are checked in the tick.

    Only floats given for a discrete space are checked here: whole numbers in ``error`` mode; in the
    other modes they are rounded (NaN → 0).
    """
    t = a if type(a) is torch.Tensor and a.shape == like.shape and a.device == like.device else \
        _convert(group, a, like, space)
    if t.dtype == like.dtype:
        return t.contiguous()  # the compiled tick reads its inputs with the strides it was traced with
    _check_dtype(group, t, space)
    if space.discrete and t.dtype.is_floating_point and mode != "error":
        t = torch.nan_to_num(t, nan=0.0, posinf=space.n - 1, neginf=0.0).round()
    elif space.discrete and t.dtype.is_floating_point:
        whole = torch.nan_to_num(t, nan=0.5) == torch.nan_to_num(t, nan=0.5).round()
        if not bool(whole.all()):
            where = _first_bad(~whole)
            raise ActionError(f"actions[{group!r}]: agent {where[1]} of world {where[0]}: expected "
                              f"{space.describe()}, got {float(t[where])}")
    return t.to(like.dtype).contiguous()


def check_actions(group: str, a: Any, like: torch.Tensor, space: ActionSpace, mode: str) -> torch.Tensor:
    """``a`` as a tensor shaped and typed like ``like`` ([B, A, ...]), checked per ``mode``."""
    t = a if type(a) is torch.Tensor and a.shape == like.shape and a.device == like.device else \
        _convert(group, a, like, space)
    _check_dtype(group, t, space)
    if space.discrete:
        if t.dtype.is_floating_point:
            if mode == "error" and bool((t != t.round()).any()):
                where = _first_bad(t != t.round())
                raise ActionError(f"actions[{group!r}]: agent {where[1]} of world {where[0]}: expected "
                                  f"{space.describe()}, got {float(t[where])}")
            t = torch.nan_to_num(t, nan=0.0)
        if t.dtype != like.dtype:
            t = t.to(like.dtype)
        if mode == "off":
            return t
        bad = (t < 0) | (t >= space.n)
        if bool(bad.any()):
            if mode == "clip":
                return t.clamp(0, space.n - 1)
            where = _first_bad(bad)
            raise ActionError(f"actions[{group!r}]: agent {where[1]} of world {where[0]}: expected {space.describe()}, "
                              f"got {int(t[where])}")
        return t
    if t.dtype != like.dtype:
        t = t.to(like.dtype)
    if mode == "off":
        return t
    bad = ~((t >= space.low) & (t <= space.high))  # NaN compares false: caught here too
    if bool(bad.any()):
        if mode == "clip":
            return torch.nan_to_num(t, nan=space.low).clamp(space.low, space.high)
        where = _first_bad(bad)
        raise ActionError(f"actions[{group!r}]: agent {where[1]} of world {where[0]}, value {where[2]}: expected "
                          f"{space.describe()}, got {float(t[where])}")
    return t
