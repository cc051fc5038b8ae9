"""Typed configuration from plain data: validation and JSON Schema from one set of dataclasses.

The world format is a tree of frozen dataclasses (``engine.world.schema``). This module turns the
plain data of a YAML document into instances of them, checking every value against the field's type
hint and its metadata (range, choices, description), and generates the JSON Schema that editors use
for autocompletion from the very same definitions, so the two can never disagree.

Every error names where the value came from (``file:line:col`` or the ``--set`` override), its key
path, what was expected and what was found; an unknown key suggests the closest known one.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from engine.errors import WorldError
from engine.world.yamlio import Document, format_path, shorten

MISSING = dataclasses.MISSING


def fld(default: Any = MISSING, *, doc: str, ge: float | None = None, gt: float | None = None,
        le: float | None = None, factory: Any = MISSING, max_items: int | None = None,
        min_items: int | None = None, alias: str | None = None, schema: dict | None = None) -> Any:
    """A dataclass field with the metadata the validator and the schema generator read.

    ``ge``/``gt``/``le`` bound numbers; ``min_items``/``max_items`` bound lists and mappings;
    ``alias`` is the YAML key when it is not a valid Python name (e.g. ``with``); ``schema`` is the JSON
    Schema of a field whose Python type cannot say it (a list of rule conditions).
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "max_items": max_items, "min_items": min_items,
            "alias": alias, "schema": schema}
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


#: Largest finite value of each float type: a float constant beyond it would be inf in the tensors.
FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
#: Integer range of each integer type.
INT_RANGE = {"int32": (-(1 << 31), (1 << 31) - 1), "int64": (-(1 << 63), (1 << 63) - 1)}


class Ctx:
    """Where values came from: the parsed document (and override locations), and the world's float type.

    ``float_dtype`` (float32 or float64) is the type every float constant ends up in: a number beyond
    its range (3.4e38 for float32) is refused where it is read, not found as inf/NaN at tick 3.
    """

    def __init__(self, doc: Document | None = None, float_dtype: str = "float32") -> None:
        self.doc = doc
        self.float_dtype = float_dtype

    @property
    def float_max(self) -> float:
        return FLOAT_MAX[self.float_dtype]

    def where(self, path: tuple, key: bool = False) -> str | None:
        return self.doc.locate(path, key=key) if self.doc else None

    def error(self, path: tuple, message: str, key: bool = False) -> WorldError:
        return WorldError(message, where=self.where(path, key), path=format_path(path))


def describe(value: Any) -> str:
    """How a found value is shown in messages: its YAML-ish type and a short repr."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {shorten(str(value), 40)}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {shorten(repr(value))}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        keys = shorten(", ".join(map(str, list(value)[:4])))
        return f"a mapping ({keys}{', …' if len(value) > 4 else ''})"
    return type(value).__name__


def expected_text(tp: Any) -> str:
    """A human phrase for a type hint ("a number", "a list of numbers", "one of 'a', 'b'")."""
    origin = get_origin(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is bool:
        return "true or false"
    if tp is str:
        return "a string"
    if tp is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict:
        return f"a mapping of names to {_plural(get_args(tp)[1])}"
    if origin in (Union, types.UnionType):
        return " or ".join(expected_text(a) for a in get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _plural(tp: Any) -> str:
    return {int: "integers", float: "numbers", bool: "booleans", str: "strings"}.get(
        tp, expected_text(tp))


def _range_text(meta: dict) -> str:
    parts = []
    if meta.get("ge") is not None:
        parts.append(f">= {meta['ge']:g}")
    if meta.get("gt") is not None:
        parts.append(f"> {meta['gt']:g}")
    if meta.get("le") is not None:
        parts.append(f"<= {meta['le']:g}")
    return " and ".join(parts)


def parse_value(tp: Any, value: Any, ctx: Ctx, path: tuple, meta: dict | None = None) -> Any:
    """Check ``value`` against the type hint ``tp`` (and field ``meta``); return the typed value."""
    meta = meta or {}
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return parse_value(a, value, ctx, path, meta)
            except WorldError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise ctx.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
    if dataclasses.is_dataclass(tp):
        return parse_dataclass(tp, value, ctx, path)
    if origin is Literal:
        if value not in get_args(tp) or isinstance(value, bool) != any(isinstance(a, bool) for a in get_args(tp)):
            hint = ""
            if isinstance(value, str):
                close = difflib.get_close_matches(value, [str(a) for a in get_args(tp)], n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ctx.error(path, f"expected {expected_text(tp)}, got {describe(value)}{hint}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ctx.error(path, f"expected true or false, got {describe(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.error(path, f"expected an integer{_sfx(meta)}, got {describe(value)}")
        _check_range(value, meta, ctx, path, "an integer")
        lo, hi = INT_RANGE["int64"]
        if not lo <= value <= hi:
            raise ctx.error(path, f"expected an integer{_sfx(meta) or ' in the int64 range'}, got {describe(value)}")
        return value
    if tp is float:
        return check_float(value, ctx, path, meta)
    if tp is str:
        if not isinstance(value, str):
            raise ctx.error(path, f"expected a string, got {describe(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ctx.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
        _check_items(value, meta, ctx, path)
        item_tp = get_args(tp)[0] if get_args(tp) else Any
        item_meta = {k: meta.get(k) for k in ("ge", "gt", "le")}
        items = [parse_value(item_tp, v, ctx, path + (i,), item_meta) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ctx.error(path, f"expected {expected_text(tp)}, got {describe(value)}")
        _check_items(value, meta, ctx, path)
        key_tp, val_tp = get_args(tp)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ctx.error(path + (k,), f"expected a name (string) as key, got {describe(k)}", key=True)
            out[k] = parse_value(val_tp, v, ctx, path + (k,))
        return out
    raise TypeError(f"spec: unsupported type hint {tp!r}")


def check_float(value: Any, ctx: Ctx, path: tuple, meta: dict | None = None, allow_inf: bool = False,
                dtype: str | None = None) -> float:
    """A number, finite (``allow_inf``: or ±inf) and within the range of ``dtype`` (default: the world's
    float type), and within the field's bounds; returns it as a float."""
    meta = meta or {}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ctx.error(path, f"expected a number{_sfx(meta)}, got {describe(value)}")
    inf = isinstance(value, float) and math.isinf(value)
    if (inf and not allow_inf) or (isinstance(value, float) and math.isnan(value)):
        raise ctx.error(path, f"expected a finite number{_sfx(meta)}, got {describe(value)}")
    dtype = dtype or ctx.float_dtype
    if not inf and abs(value) > FLOAT_MAX[dtype]:
        shown = f"{value:.4g}" if isinstance(value, float) else shorten(str(value), 30)
        raise ctx.error(path, f"expected a number{_sfx(meta)} within the range of {dtype} "
                              f"(|x| <= {FLOAT_MAX[dtype]:.4g}), got {shown}")
    _check_range(value, meta, ctx, path, "a number")
    return float(value)


def _sfx(meta: dict) -> str:
    r = _range_text(meta)
    return f" {r}" if r else ""


def _check_range(value: float, meta: dict, ctx: Ctx, path: tuple, kind: str) -> None:
    bad = ((meta.get("ge") is not None and value < meta["ge"])
           or (meta.get("gt") is not None and value <= meta["gt"])
           or (meta.get("le") is not None and value > meta["le"]))
    if bad:
        raise ctx.error(path, f"expected {kind} {_range_text(meta)}, got {shorten(str(value), 30)}")


def _check_items(value: Any, meta: dict, ctx: Ctx, path: tuple) -> None:
    n = len(value)
    if meta.get("min_items") is not None and n < meta["min_items"]:
        raise ctx.error(path, f"expected at least {meta['min_items']} item(s), got {n}")
    if meta.get("max_items") is not None and n > meta["max_items"]:
        raise ctx.error(path, f"expected at most {meta['max_items']} item(s), got {n}")


def yaml_key(f: dataclasses.Field) -> str:
    return f.metadata.get("alias") or f.name


def parse_dataclass(cls: type, value: Any, ctx: Ctx, path: tuple) -> Any:
    """Build ``cls`` from a mapping; unknown keys, missing required keys and bad values are errors.

    A class may define ``__coerce__(value) -> value`` (a classmethod) to accept a shorthand, e.g. a
    bare string for a mapping with one required field.
    """
    coerce = getattr(cls, "__coerce__", None)
    if coerce is not None:
        value = coerce(value)
    if not isinstance(value, dict):
        raise ctx.error(path, f"expected {expected_text(cls)}, got {describe(value)}")
    hints = typing.get_type_hints(cls)
    fields = {yaml_key(f): f for f in dataclasses.fields(cls) if f.init}
    for k in value:
        if k not in fields:
            close = difflib.get_close_matches(str(k), list(fields), n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(fields)
            raise ctx.error(path + (k,), f"unknown key {k!r}{hint}; expected one of: {known}", key=True)
    kwargs = {}
    for key, f in fields.items():
        if key in value:
            kwargs[f.name] = parse_value(hints[f.name], value[key], ctx, path + (key,), dict(f.metadata))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ctx.error(path, f"missing required key {key!r} ({f.metadata.get('doc', '')})")
    obj = cls(**kwargs)
    check = getattr(obj, "__check__", None)
    if check is not None:
        check(ctx, path)
    return obj


# ----------------------------------------------------------------------------------------- JSON Schema

def json_schema_of(tp: Any, meta: dict | None = None, defs: dict | None = None) -> dict:
    """The JSON Schema of a type hint; dataclasses go into ``defs`` and are referenced."""
    meta = meta or {}
    origin = get_origin(tp)
    if tp is Any:
        return {}
    if origin in (Union, types.UnionType):
        return {"anyOf": [json_schema_of(a, meta, defs) for a in get_args(tp)]}
    if tp is type(None):
        return {"type": "null"}
    if dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = dataclass_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    if origin is Literal:
        return {"enum": list(get_args(tp))}
    if tp is bool:
        return {"type": "boolean"}
    if tp in (int, float):
        s: dict = {"type": "integer" if tp is int else "number"}
        if meta.get("ge") is not None:
            s["minimum"] = meta["ge"]
        if meta.get("gt") is not None:
            s["exclusiveMinimum"] = meta["gt"]
        if meta.get("le") is not None:
            s["maximum"] = meta["le"]
        return s
    if tp is str:
        return {"type": "string"}
    if origin in (list, tuple):
        args = [a for a in get_args(tp) if a is not Ellipsis]
        s = {"type": "array"}
        if args:
            s["items"] = json_schema_of(args[0], {k: meta.get(k) for k in ("ge", "gt", "le")}, defs)
        if meta.get("min_items") is not None:
            s["minItems"] = meta["min_items"]
        if meta.get("max_items") is not None:
            s["maxItems"] = meta["max_items"]
        return s
    if origin is dict:
        s = {"type": "object", "additionalProperties": json_schema_of(get_args(tp)[1], None, defs)}
        if meta.get("max_items") is not None:
            s["maxProperties"] = meta["max_items"]
        return s
    raise TypeError(f"spec: unsupported type hint {tp!r}")


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return {yaml_key(f): _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def dataclass_schema(cls: type, defs: dict) -> dict:
    hints = typing.get_type_hints(cls)
    props = {}
    required = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        s = json_schema_of(hints[f.name], dict(f.metadata), defs)
        s = dict(s)
        if f.metadata.get("schema") is not None:
            s.update(f.metadata["schema"])
        s["description"] = f.metadata.get("doc", "")
        if f.default is not MISSING:
            s["default"] = _jsonable(f.default)
        elif f.default_factory is not MISSING:
            s["default"] = _jsonable(f.default_factory())
        else:
            required.append(yaml_key(f))
        props[yaml_key(f)] = s
    out = {"type": "object", "title": cls.__name__, "description": (cls.__doc__ or "").strip().split("\n\n")[0],
           "properties": props, "additionalProperties": False}
    if required:
        out["required"] = required
    extra = getattr(cls, "__schema_alternatives__", None)
    if extra is not None:
        return {"anyOf": [out] + extra(), "title": cls.__name__, "description": out["description"]}
    return out


def named_entry(ctx: Ctx, entry: Any, path: tuple, expected: str) -> tuple[str, Any]:
    """A list item written ``name`` or ``{name: {params}}`` → ``(name, params)``; ``expected`` says what
    the list accepts, for the error message."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, dict) and len(entry) == 1:
        name, params = next(iter(entry.items()))
        return name, ({} if params is None else params)
    raise ctx.error(path, f"expected {expected}, got {describe(entry)}")
