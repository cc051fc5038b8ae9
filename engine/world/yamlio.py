"""Strict YAML reading for world files.

``yaml.safe_load`` is not strict enough for a file format people edit by hand: it silently keeps the
last of two duplicate keys, expands alias bombs ("billion laughs") until memory runs out, and forgets
where each value came from. This module composes the YAML node graph with PyYAML's safe loader and
builds plain Python values itself, so that it can

* refuse duplicate keys (naming both lines),
* bound the number of nodes that aliases may expand to (refusing a bomb in microseconds),
* remember the ``file:line:col`` of every value by its key path, for error messages,
* refuse hostile input as located ``WorldError``s: control characters, bytes that are not UTF-8,
  nesting deeper than ``MAX_DEPTH`` (checked while composing, long before Python's recursion limit),
  files larger than ``MAX_FILE_BYTES``, scalars that cannot be constructed (``2024-13-45``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import WorldError

#: Most YAML nodes one document may expand to (aliases counted each time they are used).
MAX_NODES = 200_000
#: Deepest nesting of lists and mappings (a value's key path has at most this many parts).
MAX_DEPTH = 64
#: Largest world file read (bytes).
MAX_FILE_BYTES = 8 << 20

Path_ = tuple  # a key path: tuple of str (mapping keys) and int (list indices)


@dataclass
class Document:
    """Plain data read from YAML plus where each value came from.

    ``where[path]`` is ``"file:line:col"`` of the value at ``path`` (a tuple of keys and indices);
    ``key_where[path]`` is the location of the key itself (used for "unknown key" messages).
    """

    data: Any
    source: str
    where: dict[Path_, str] = field(default_factory=dict)
    key_where: dict[Path_, str] = field(default_factory=dict)

    def locate(self, path: Path_, key: bool = False) -> str | None:
        """The location of ``path``, or of its nearest ancestor that has one."""
        table = self.key_where if key else self.where
        p = tuple(path)
        while True:
            if p in table:
                return table[p]
            if key and p in self.where:
                return self.where[p]
            if not p:
                return None
            p = p[:-1]


def format_path(path: Path_) -> str:
    """``('entities', 'prey', 'count')`` → ``entities.prey.count``; list indices as ``[2]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def shorten(text: str, limit: int = 60) -> str:
    """``text`` cut to about ``limit`` characters (messages quote user input, which may be huge)."""
    return text if len(text) <= limit else text[: limit - 21] + "…" + text[-20:]


def too_deep(value: Any, limit: int = MAX_DEPTH) -> Path_ | None:
    """The key path of a value nested more than ``limit`` levels inside ``value``, or None.

    Iterative (an explicit stack), so that a hostile structure cannot exhaust Python's recursion.

    Example:
        >>> too_deep({"a": [[1]]}, limit=2)
        ('a', 0, 0)
        >>> too_deep({"a": [[1]]}, limit=3) is None
        True
    """
    stack: list[tuple[Any, Path_]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        if len(path) > limit:
            return path
        if isinstance(v, dict):
            stack.extend((x, path + (k,)) for k, x in v.items())
        elif isinstance(v, (list, tuple)):
            stack.extend((x, path + (i,)) for i, x in enumerate(v))
    return None


def depth_message(limit: int = MAX_DEPTH) -> str:
    return (f"lists and mappings nested more than {limit} levels deep; expected at most {limit} levels "
            "(a world file never needs more)")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting limit checked as nodes are composed (the composer recurses)."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self.depth = 0

    def compose_node(self, parent, index):
        if self.depth > MAX_DEPTH:
            m = self.peek_event().start_mark
            raise WorldError(depth_message(), where=f"{self.source}:{m.line + 1}:{m.column + 1}")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, source: str) -> None:
        self.loader = loader
        self.source = source
        self.budget = MAX_NODES
        self.doc = Document(data=None, source=source)
        self._active: set[int] = set()

    def mark(self, node: yaml.Node) -> str:
        m = node.start_mark
        return f"{self.source}:{m.line + 1}:{m.column + 1}"

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.budget -= 1
        if self.budget < 0:
            raise WorldError(
                f"the document expands to more than {MAX_NODES:,} YAML nodes (an alias bomb?); "
                "expected a world file of reasonable size",
                where=self.mark(node),
            )
        if len(path) > MAX_DEPTH:  # aliases can nest a deep anchor inside a deep list
            raise WorldError(depth_message(), where=self.mark(node), path=shorten(format_path(path), 80))
        self.doc.where[path] = self.mark(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if id(node) in self._active:
            raise WorldError("a YAML alias refers to its own parent (recursive structure)", where=self.mark(node))
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
            if isinstance(node, yaml.MappingNode):
                return self.build_mapping(node, path)
        finally:
            self._active.discard(id(node))
        raise WorldError(f"unsupported YAML node {type(node).__name__}", where=self.mark(node))

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        """A scalar's value; one YAML resolves but Python cannot build (``2024-13-45``) is located."""
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except Exception as e:  # noqa: BLE001 — PyYAML's constructors raise whatever Python does on bad text
            raise WorldError(f"cannot read the value {shorten(repr(node.value))} as {node.tag.rsplit(':', 1)[-1]}: "
                             f"{shorten(str(e), 100)}; expected a valid value (quote it to make it a string)",
                             where=self.mark(node), path=shorten(format_path(path), 80)) from None

    def build_mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        out: dict = {}
        seen: dict[Any, str] = {}
        merged: list[tuple[yaml.MappingNode, Path_]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                targets = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for t in targets:
                    if not isinstance(t, yaml.MappingNode):
                        raise WorldError("a '<<' merge key needs a mapping", where=self.mark(t),
                                         path=format_path(path))
                    merged.append((t, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise WorldError("mapping keys must be plain scalars", where=self.mark(key_node),
                                 path=format_path(path))
            key = self.scalar(key_node, path)
            if isinstance(key, (list, dict)):
                raise WorldError("mapping keys must be plain scalars", where=self.mark(key_node))
            if key in seen:
                raise WorldError(
                    f"duplicate key {key!r} (first defined at {seen[key]}); expected each key once",
                    where=self.mark(key_node),
                    path=format_path(path + (key,)),
                )
            seen[key] = self.mark(key_node)
            self.doc.key_where[path + (key,)] = self.mark(key_node)
            out[key] = self.build(value_node, path + (key,))
        for t, p in merged:  # explicit keys win over merged ones, as in YAML 1.1
            value = self.build(t, p)
            for k, v in value.items():
                out.setdefault(k, v)
        return out


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based (line, column) of character ``index`` of ``text``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _reader_error(e: yaml.reader.ReaderError, text: str, source: str) -> WorldError:
    line, col = _position(text, max(0, min(e.position, len(text))))
    code = e.character if isinstance(e.character, int) else ord(e.character)
    escape = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    return WorldError(f"character U+{code:04X} is not allowed in a YAML file (control characters must be written "
                      f"as an escape inside a double-quoted string, e.g. \"{escape}\"); expected printable text",
                      where=f"{source}:{line}:{col}")


def parse_yaml(text: str, source: str) -> Document:
    """Parse one YAML document from ``text`` strictly; ``source`` names it in messages."""
    loader = None
    try:
        loader = _Loader(text, source)  # the reader checks every character here
        node = loader.get_single_node()
        builder = _Builder(loader, source)
        builder.doc.data = None if node is None else builder.build(node, ())
        return builder.doc
    except yaml.reader.ReaderError as e:
        raise _reader_error(e, text, source) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = (e.problem or "syntax error").strip()
        ctx = f" ({e.context})" if e.context else ""
        kind = "YAML error" if isinstance(e, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise WorldError(f"{kind}: {problem}{ctx}", where=where) from None
    except yaml.YAMLError as e:
        raise WorldError(f"YAML error: {shorten(str(e), 200)}", where=source) from None
    except RecursionError:  # a safety net: MAX_DEPTH stops nesting long before this
        raise WorldError(depth_message(), where=source) from None
    finally:
        if loader is not None:
            loader.dispose()


def read_text(path: str | Path) -> str:
    """The text of a world file; every way reading it can fail is a ``WorldError`` naming the file."""
    p = Path(path)
    where = shorten(str(path), 120)
    try:
        if p.is_dir():
            raise WorldError("is a folder; expected a world file (.yaml)", where=where)
        with open(p, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise WorldError("file not found", where=where) from None
    except PermissionError:
        raise WorldError("cannot read the file: permission denied", where=where) from None
    except OSError as e:
        raise WorldError(f"cannot read the file: {e.strerror or e}", where=where) from None
    if len(data) > MAX_FILE_BYTES:
        raise WorldError(f"the file is larger than {MAX_FILE_BYTES >> 20} MiB; expected a world file of "
                         "reasonable size", where=where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = len(data[data.rfind(b"\n", 0, e.start) + 1: e.start].decode("utf-8", "replace")) + 1
        raise WorldError(f"byte 0x{data[e.start]:02x} is not UTF-8 text; expected a UTF-8 encoded YAML file",
                         where=f"{where}:{line}:{col}") from None


def load_yaml(path: str | Path) -> Document:
    """Read and strictly parse a YAML file; a missing or unreadable file is a ``WorldError``."""
    return parse_yaml(read_text(path), str(path))


def parse_scalar(text: str) -> Any:
    """Parse an override value the way YAML would (``16`` → int, ``[1, 2]`` → list, ``abc`` → str)."""
    doc = parse_yaml(text, "<--set>")
    return doc.data
