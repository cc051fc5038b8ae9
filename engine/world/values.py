"""Checks of literal values written in a world file (component values, spawn bounds) against a shape.

Every number must fit the component's element type: floats finite and within the float type's range
(3.4e38 for float32; +inf only where the component allows it, e.g. ``max_speed``), integers within
int32/int64, so that no value becomes inf, NaN or a wrapped-around integer inside a tensor.
"""

from __future__ import annotations

import math
from typing import Any

from engine.world.validation import FLOAT_MAX, INT_RANGE, Ctx, check_float, describe


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


def check_value(ctx: Ctx, path: tuple, value: Any, shape: tuple | None, dtype: str, allow_inf: bool = False) -> None:
    """A value must be a scalar (broadcast) or a nested list of exactly ``shape`` (None: any), of the right kind.

    ``dtype``: ``float`` (the world's float type), float32, float64, int32, int64 or bool; ``allow_inf``:
    +inf is a meaningful value (``max_speed``: no limit).
    """
    float_dtype = ctx.float_dtype if dtype == "float" else dtype
    for v in _flatten(value, []):
        if dtype == "bool":
            if not isinstance(v, bool):
                raise ctx.error(path, f"expected true/false values, got {describe(v)}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ctx.error(path, f"expected numbers, got {describe(v)}")
        elif dtype in INT_RANGE:
            lo, hi = INT_RANGE[dtype]
            if (isinstance(v, float) and not v.is_integer()) or not lo <= v <= hi:
                raise ctx.error(path, f"expected integers in {dtype}'s range ({lo}..{hi}), got {describe(v)}")
        elif float_dtype in FLOAT_MAX:
            if allow_inf and isinstance(v, float) and math.isinf(v) and v < 0:
                raise ctx.error(path, f"expected a number or +inf (.inf), got {describe(v)}")
            check_float(v, ctx, path, allow_inf=allow_inf, dtype=float_dtype)
    got = shape_of(value)
    if shape is not None and got != () and got != shape:
        want = f"shape {list(shape)}" if shape else "a single value"
        raise ctx.error(path, f"expected {want} (or a single value broadcast to it), got "
                              f"{'a ragged list' if got is None else 'shape ' + str(list(got))}")


def check_spawn_range(ctx: Ctx, path: tuple, kind: str, a: Any, b: Any, dtype: str) -> None:
    """A spawn draw must stay finite: ``uniform`` computes low + (high - low)·u, ``normal`` mean + std·z
    (|z| < 8 in practice), both in the component's float type."""
    big = FLOAT_MAX[ctx.float_dtype if dtype == "float" else dtype]
    a_s, b_s = _flatten(a, []), _flatten(b, [])
    pairs = zip(a_s * len(b_s) if len(a_s) == 1 else a_s, b_s * len(a_s) if len(b_s) == 1 else b_s)
    for lo, hi in pairs:
        span = abs(hi - lo) if kind == "uniform" else abs(lo) + 8 * abs(hi)
        if span > big:
            what = "high - low" if kind == "uniform" else "|mean| + 8·std"
            raise ctx.error(path, f"expected {what} within the range of the component's float type "
                                  f"(<= {big:.4g}), got {span:.4g}: the draws would overflow to inf")
