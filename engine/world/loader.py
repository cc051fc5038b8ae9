"""Read a world file, apply ``--set`` overrides, validate it into a ``WorldSpec``.

Overrides are applied to the plain data *before* validation, so an override is checked exactly like
the file (``--set entities.adversary.count=-1`` fails with the same message as ``count: -1`` in the
file, located at the override instead of a line).
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import WorldError
from engine.paths import resolve_world
from engine.world.schema import WorldSpec
from engine.world.validation import Ctx, parse_dataclass
from engine.world.yamlio import (
    MAX_DEPTH,
    Document,
    depth_message,
    format_path,
    load_yaml,
    parse_scalar,
    shorten,
    too_deep,
)


@dataclass
class LoadedWorld:
    """A validated world: the typed spec, where its values came from, and the folder paths resolve against."""

    spec: WorldSpec
    ctx: Ctx
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        """A path written inside the world file, resolved relative to the world file."""
        p = Path(relative)
        return p if p.is_absolute() else (self.base_dir / p)


def _split_key(key: str, shown: str) -> list[str | int]:
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise WorldError(f"expected a dotted key like entities.prey.count, got {shorten(repr(key))}", where=shown)
    parts = key.split(".")
    if len(parts) > MAX_DEPTH:
        raise WorldError(f"expected a key of at most {MAX_DEPTH} parts, got {len(parts)}", where=shown)
    return [int(p) if p.lstrip("-").isdigit() and len(p) < 20 else p for p in parts]


def apply_overrides(doc: Document, overrides: Mapping[str, Any] | None, origin: str = "--set") -> None:
    """Set ``dotted.key`` values in ``doc.data`` in place; a string value is parsed as YAML.

    ``*`` matches every key of a mapping (``agents.*.action=continuous``). Missing intermediate
    mappings are created (and then validated like anything else).
    """
    for key, raw in (overrides or {}).items():
        shown = shorten(f"{origin} {key}={raw if isinstance(raw, str) else reprlib.repr(raw)}", 120)
        parts = _split_key(key, shown)
        try:
            value = parse_scalar(raw) if isinstance(raw, str) else raw
        except WorldError as e:  # located in the value's own text: say which override it was
            col = f" (column {e.where.rsplit(':', 1)[-1]} of the value)" if e.where and e.where.count(":") >= 2 else ""
            raise WorldError(f"{e.message}{col}", where=shown, path=key) from None
        deep = too_deep(value, MAX_DEPTH - len(parts))
        if deep is not None:
            raise WorldError(depth_message(), where=shown, path=shorten(format_path(tuple(parts) + deep), 80))
        _set(doc, doc.data, (), parts, value, shown)


def _set(doc: Document, node: Any, path: tuple, parts: list, value: Any, shown: str) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        if not isinstance(node, dict) or not node:
            raise WorldError(f"'*' needs a mapping with entries at {format_path(path)}", where=shown)
        for k in list(node):
            _set(doc, node, path, [k] + rest, value, shown)
        return
    if isinstance(node, list):
        if not isinstance(head, int) or not -len(node) <= head < len(node):
            raise WorldError(f"expected an index 0..{len(node) - 1} into the list at {format_path(path)}, "
                             f"got {head!r}", where=shown)
        head = head % len(node)
    elif not isinstance(node, dict):
        raise WorldError(f"cannot set a key inside {format_path(path)}: it is not a mapping", where=shown)
    if not rest:
        node[head] = value
        _mark(doc, path + (head,), value, shown)
        return
    if isinstance(node, dict) and head not in node:
        node[head] = {}
        doc.where[path + (head,)] = shown
    _set(doc, node[head], path + (head,), rest, value, shown)


def _mark(doc: Document, path: tuple, value: Any, shown: str) -> None:
    """``value`` now comes from the override ``shown``: forget where the values it replaces came from."""
    n = len(path)
    for table in (doc.where, doc.key_where):
        for p in [p for p in table if p[:n] == path]:
            del table[p]
    stack = [(path, value)]
    while stack:
        p, v = stack.pop()
        doc.where[p] = shown
        doc.key_where[p] = shown
        if isinstance(v, dict):
            stack.extend((p + (k,), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((p + (i,), x) for i, x in enumerate(v))


def _float_dtype(data: dict) -> str:
    """The world's float type, read before validation: float constants are checked against its range."""
    world = data.get("world")
    return "float64" if isinstance(world, dict) and world.get("dtype") == "float64" else "float32"


def load_world(world: str | Path, overrides: Mapping[str, Any] | None = None,
               origin: str = "--set") -> LoadedWorld:
    """Load and validate a world file (a path, or the name of a shipped world such as ``tag``).

    Example:
        >>> w = load_world("tag", overrides={"entities.adversary.count": 6})
        >>> w.spec.entities["adversary"].count
        6
    """
    path = resolve_world(world)
    doc = load_yaml(path)
    if doc.data is None:
        raise WorldError("the file is empty; expected a world (version, name, entities, …)", where=str(path))
    if not isinstance(doc.data, dict):
        raise WorldError(f"expected a mapping at the top level, got {type(doc.data).__name__}",
                         where=doc.locate(()))
    apply_overrides(doc, overrides, origin)
    ctx = Ctx(doc, float_dtype=_float_dtype(doc.data))
    spec = parse_dataclass(WorldSpec, doc.data, ctx, ())
    return LoadedWorld(spec=spec, ctx=ctx, path=path)
