"""Checks of literal values written in a world file (component values, spawn bounds) against a shape."""

from __future__ import annotations

import math
from typing import Any

from engine.world.validation import Ctx, describe


def shape_of(value: Any) -> tuple[int, ...] | None:
    """The shape of a nested list (``()`` for a scalar, None when ragged)."""
    if isinstance(value, list):
        inner = {shape_of(v) for v in value}
        if len(inner) != 1 or None in inner:
            return None if value else (0,)
        return (len(value),) + inner.pop()
    return ()


def _flatten(value: Any, out: list) -> list:
    if isinstance(value, list):
        for x in value:
            _flatten(x, out)
    else:
        out.append(value)
    return out


def check_value(ctx: Ctx, path: tuple, value: Any, shape: tuple, dtype: str) -> None:
    """A value must be a scalar (broadcast) or a nested list of exactly ``shape``, of the right kind."""
    for v in _flatten(value, []):
        if dtype == "bool":
            if not isinstance(v, bool):
                raise ctx.error(path, f"expected true/false values, got {describe(v)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ctx.error(path, f"expected numbers, got {describe(v)}")
        elif isinstance(v, float) and math.isnan(v):
            raise ctx.error(path, "expected a number, got NaN")
    got = shape_of(value)
    if got != () and got != shape:
        want = f"shape {list(shape)}" if shape else "a single value"
        raise ctx.error(path, f"expected {want} (or a single value broadcast to it), got "
                              f"{'a ragged list' if got is None else 'shape ' + str(list(got))}")
