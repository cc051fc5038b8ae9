"""The structure the architecture promises, checked: layers without cycles, short functions, no names
special-cased by the core, no hard-coded 5-wide movement actions outside the action space."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ENGINE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path, modules: set[str]) -> set[str]:
    """engine modules imported anywhere in the file (functions included), except under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
            for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base
                                                                                               else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in modules:
                n = n.rpartition(".")[0]
            if n and n != me:
                out.add(n)
    return out


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ENGINE.rglob("*.py")}
    return {m: _imports(p, set(files)) for m, p in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle among modules (a submodule importing its own package's __init__ does not count)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if m.startswith(n + "."):
                continue  # importing a parent package is how Python loads a submodule anyway
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_engine_has_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle in engine/: " + " → ".join(cycle)


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_render_knows_nothing_of_the_simulation() -> None:
    graph = _graph()
    allowed = ("engine.render", "engine.errors", "engine.fileio", "engine.paths", "engine")
    bad = {m: sorted(n for n in deps if not n.startswith(allowed[:-1]) and n != "engine")
           for m, deps in graph.items() if m.startswith("engine.render")}
    bad = {m: d for m, d in bad.items() if d}
    assert not bad, f"engine/render/ must draw plain arrays; it imports: {bad}"


def test_core_imports_no_layer_above_it() -> None:
    above = ("engine.builtins", "engine.build", "engine.systems", "engine.terms", "engine.learned", "engine.views",
             "engine.render", "engine.train", "engine.record", "engine.cli", "engine.sim")
    graph = _graph()
    bad = {m: sorted(n for n in deps if n.startswith(above)) for m, deps in graph.items()
           if m.startswith("engine.core")}
    assert not any(bad.values()), f"engine/core/ imports layers above it: { {m: d for m, d in bad.items() if d} }"


def _long_functions(limit: int = 80) -> list[str]:
    out = []
    for p in sorted(ENGINE.rglob("*.py")):
        lines = p.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                head = "\n".join(lines[node.lineno - 1: node.lineno + 2])
                if n > limit and "# long:" not in head:
                    out.append(f"{p.relative_to(ENGINE.parent)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_over_80_lines_without_a_reason() -> None:
    long = _long_functions()
    assert not long, "functions over 80 lines (split them, or say why with '# long: <reason>' on the def line): " + \
        "; ".join(long)


#: The state names whose owners declare them; the generic core (runner, Sim, engine/core) must not know them.
SPECIAL_NAMES = re.compile(r"""["'](obs\.|action\.|shadow\.|metric\.|_respawn\.|reward\.|return\.|terminated\.|"""
                           r"""truncated\.|killed_by|respawn_timer)""")
CORE_FILES = ["sim.py", "scheduler.py"] + [f"core/{p.name}" for p in (ENGINE / "core").glob("*.py")]


@pytest.mark.parametrize("name", CORE_FILES)
def test_core_special_cases_no_state_names(name: str) -> None:
    text = (ENGINE / name).read_text()
    hits = [f"{name}:{i}: {line.strip()}" for i, line in enumerate(text.splitlines(), 1) if SPECIAL_NAMES.search(line)]
    assert not hits, "the core must not special-case state names (declare them where they are owned):\n" + \
        "\n".join(hits)


#: Ways to write MPE's five movement choices as a literal, outside the movement action space.
ACTION_LITERALS = re.compile(r"Discrete\(5\)|MultiDiscrete\(\[5\]|randint\(0, 5\b|\(5,\)|\b(A|agents|size), 5\)|"
                             r"zeros\(5\b|\[5\] \*|N_ACTIONS = 5|out_size = 5")


def _code_lines(path: Path) -> dict[int, str]:
    """The file's lines with strings (docstrings, doctest output) and comments blanked out."""
    import io
    import tokenize

    lines = path.read_text().splitlines()
    keep = [list(line) for line in lines]
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type in (tokenize.STRING, tokenize.COMMENT):
            (r0, c0), (r1, c1) = tok.start, tok.end
            for r in range(r0, r1 + 1):
                row = keep[r - 1]
                a = c0 if r == r0 else 0
                b = c1 if r == r1 else len(row)
                row[a:b] = " " * (b - a)
    return {i: "".join(row) for i, row in enumerate(keep, 1)}


def test_no_five_wide_action_literal_outside_the_action_space() -> None:
    hits = []
    for p in sorted(ENGINE.rglob("*.py")):
        if p == ENGINE / "core" / "actions.py":
            continue
        for i, line in _code_lines(p).items():
            if ACTION_LITERALS.search(line):
                hits.append(f"{p.relative_to(ENGINE.parent)}:{i}: {line.strip()}")
    assert not hits, ("use the group's ActionSpace (engine.core.actions) instead of a 5-wide literal:\n"
                      + "\n".join(hits))


def test_the_literal_check_would_catch_one() -> None:
    assert ACTION_LITERALS.search("space = spaces.Discrete(5)")
    assert ACTION_LITERALS.search("torch.zeros((B, A, 5), dtype=f)")
    assert ACTION_LITERALS.search("x = torch.randint(0, 5, (B, A))")
