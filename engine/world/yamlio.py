"""Strict YAML reading for world files.

``yaml.safe_load`` is not strict enough for a file format people edit by hand: it silently keeps the
last of two duplicate keys, expands alias bombs ("billion laughs") until memory runs out, and forgets
where each value came from. This module composes the YAML node graph with PyYAML's safe loader and
builds plain Python values itself, so that it can

* refuse duplicate keys (naming both lines),
* bound the number of nodes that aliases may expand to (refusing a bomb in microseconds),
* remember the ``file:line:col`` of every value by its key path, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.errors import WorldError

#: Most YAML nodes one document may expand to (aliases counted each time they are used).
MAX_NODES = 200_000

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
        self.doc.where[path] = self.mark(node)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
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
            key = self.loader.construct_object(key_node, deep=True)
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


def parse_yaml(text: str, source: str) -> Document:
    """Parse one YAML document from ``text`` strictly; ``source`` names it in messages."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
            problem = (e.problem or "syntax error").strip()
            ctx = f" ({e.context})" if e.context else ""
            raise WorldError(f"YAML syntax error: {problem}{ctx}", where=where) from None
        except yaml.YAMLError as e:
            raise WorldError(f"YAML error: {e}", where=source) from None
        builder = _Builder(loader, source)
        if node is None:
            builder.doc.data = None
        else:
            try:
                builder.doc.data = builder.build(node, ())
            except yaml.constructor.ConstructorError as e:
                mark = e.problem_mark
                where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
                raise WorldError(f"YAML error: {e.problem}", where=where) from None
        return builder.doc
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> Document:
    """Read and strictly parse a YAML file; a missing or unreadable file is a ``WorldError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldError(f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorldError(f"cannot read {p}: {e}") from None
    return parse_yaml(text, str(path))


def parse_scalar(text: str) -> Any:
    """Parse an override value the way YAML would (``16`` → int, ``[1, 2]`` → list, ``abc`` → str)."""
    doc = parse_yaml(text, "<--set>")
    return doc.data
