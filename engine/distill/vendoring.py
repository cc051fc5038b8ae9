"""Vendor the PyTorch source of a plugin's models into its folder as ``module.py``.

A plugin folder's ``<stem>.pt`` files hold ``{"class", "init", "state_dict"}`` of classes from
``engine/distill/modules.py``. So that the weights still load after the engine's modules change, each
folder carries a copy of the classes its ``.pt`` files use — and only those, plus the module-level
functions and imports they need. The copy is generated, never edited by hand: ``worldloom distill``
writes it with every model, and

    python -m engine.distill.vendoring plugins/tag_dynamics [plugins/tag_bc …] [--check]

regenerates it (``--check`` only compares, exit 1 when a copy is stale). ``load_vendored`` builds a
model from a ``.pt`` file with the folder's ``module.py`` (not the engine's modules).

Example:
    >>> src = vendored_module_source(["PolicyMLP"])
    >>> "class PolicyMLP(nn.Module):" in src and "def mlp(" in src and "class SplatRenderer" not in src
    True
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import inspect
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from engine.distill import modules
from engine.errors import UserError
from engine.fileio import atomic_write_text

#: The command named in the header of every generated ``module.py``.
COMMAND = "python -m engine.distill.vendoring PLUGIN_DIR"
HEADER = (f"# Generated from engine/distill/modules.py by engine/distill/vendoring.py (`worldloom distill`, or\n"
          f"# `{COMMAND}`). Do not edit by hand: regenerate it.\n")


def _top_level() -> tuple[list[ast.stmt], dict[str, ast.stmt]]:
    """The import statements of ``modules.py`` and its top-level definitions by name, in file order."""
    tree = ast.parse(inspect.getsource(modules))
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    defs: dict[str, ast.stmt] = {}
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[n.name] = n
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                if isinstance(t, ast.Name):
                    defs[t.id] = n
    return imports, defs


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _source(name: str, node: ast.stmt, text: str) -> str:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return inspect.getsource(getattr(modules, name)).rstrip() + "\n"
    return ast.get_source_segment(text, node).rstrip() + "\n"


def vendored_module_source(classes: Iterable[str | type]) -> str:
    """Source of a ``module.py`` holding ``classes`` of ``engine.distill.modules`` and what they need.

    Dependencies are the module-level definitions the classes name (recursively) and the imports
    whose names the kept code uses; everything keeps the order of ``modules.py``. The output depends
    only on the set of classes and on ``modules.py``, so a committed copy can be checked against it.
    """
    imports, defs = _top_level()
    wanted = {c if isinstance(c, str) else c.__name__ for c in classes}
    unknown = sorted(wanted - defs.keys())
    if unknown:
        raise UserError(f"no class {', '.join(map(repr, unknown))} in engine/distill/modules.py "
                        f"(it has {', '.join(n for n, d in defs.items() if isinstance(d, ast.ClassDef))}); "
                        "re-distill the model or remove its stale .pt file")
    keep: set[str] = set()
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend((_names(defs[name]) & defs.keys()) - keep)
    used = set().union(*(_names(defs[n]) for n in keep))
    lines = []
    for imp in imports:
        if isinstance(imp, ast.ImportFrom) and imp.module == "__future__":
            lines.append(ast.unparse(imp))
            continue
        aliases = [a for a in imp.names if (a.asname or a.name).split(".")[0] in used]
        if aliases:
            imp = copy.copy(imp)
            imp.names = aliases
            lines.append(ast.unparse(imp))
    text = inspect.getsource(modules)
    names = ", ".join(f"``{n}``" for n in defs if n in wanted)
    doc = (f'"""The PyTorch source of {names},\nfor the weights in this folder\'s ``.pt`` files.\n\n'
           "Each ``<stem>.pt`` holds ``{\"class\", \"init\", \"state_dict\"}``: build ``class(**init)`` (list "
           "arguments that\nare tensors become ``torch.tensor``), then ``load_state_dict``; "
           "``engine.distill.vendoring.load_vendored``\ndoes both.\n\"\"\"\n")
    future = [ln for ln in lines if ln.startswith("from __future__")]
    rest = [ln for ln in lines if not ln.startswith("from __future__")]
    head = HEADER + doc + "\n" + "".join(ln + "\n" for ln in future) + ("\n" if future else "")
    stdlib = [ln for ln in rest if ln.split()[1].split(".")[0] in sys.stdlib_module_names]
    third = [ln for ln in rest if ln not in stdlib]
    head += "\n".join("".join(ln + "\n" for ln in group) for group in (stdlib, third) if group)  # isort's groups
    body = "\n\n".join(_source(n, d, text) for n, d in defs.items() if n in keep)
    return head + "\n\n" + body


def plugin_classes(folder: str | Path, exclude: Iterable[str] = ()) -> set[str]:
    """The classes named by the ``.pt`` files of a plugin folder (but ``<stem>.pt`` for stems in ``exclude``)."""
    skip = set(exclude)
    out = set()
    for pt in sorted(Path(folder).glob("*.pt")):
        if pt.stem in skip:
            continue
        data = torch.load(pt, map_location="cpu", weights_only=True)
        out.add(data["class"])
    return out


def write_module_source(folder: str | Path, classes: Iterable[str | type] | None = None) -> Path:
    """Write ``folder/module.py`` for ``classes`` (default: those the folder's ``.pt`` files name)."""
    folder = Path(folder)
    source = vendored_module_source(plugin_classes(folder) if classes is None else classes)
    path = folder / "module.py"
    atomic_write_text(path, source)
    return path


def _import_module_py(folder: Path):
    path = folder / "module.py"
    if not path.is_file():
        raise UserError(f"{folder}: no module.py; regenerate it with `{COMMAND}`")
    name = f"_worldloom_plugin_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and pickling look modules up by name
    spec.loader.exec_module(mod)
    return mod


def load_vendored(pt_path: str | Path) -> torch.nn.Module:
    """The model of a plugin's ``<stem>.pt``, built with the ``module.py`` beside it, weights loaded strictly."""
    pt_path = Path(pt_path)
    data = torch.load(pt_path, map_location="cpu", weights_only=True)
    cls = getattr(_import_module_py(pt_path.parent), data["class"], None)
    if cls is None:
        raise UserError(f"{pt_path}: class {data['class']!r} is not in {pt_path.parent / 'module.py'}; "
                        f"regenerate it with `{COMMAND}`")
    params = inspect.signature(cls).parameters
    init: dict[str, Any] = {}
    for k, v in data["init"].items():
        tensor_arg = k in params and "Tensor" in str(params[k].annotation)
        init[k] = torch.tensor(v) if tensor_arg and isinstance(v, list) else v
    model = cls(**init)
    model.load_state_dict(data["state_dict"], strict=True)
    return model.eval()


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m engine.distill.vendoring",
                                description="Regenerate module.py of plugin folders from engine/distill/modules.py "
                                            "(the classes their .pt files name).")
    p.add_argument("folders", nargs="+", help="plugin folders, e.g. plugins/tag_dynamics")
    p.add_argument("--check", action="store_true", help="only compare; exit 1 when a module.py is stale")
    args = p.parse_args(argv)
    stale = 0
    for folder in map(Path, args.folders):
        expected = vendored_module_source(plugin_classes(folder))
        path = folder / "module.py"
        same = path.is_file() and path.read_text() == expected
        if args.check:
            if not same:
                stale += 1
                print(f"{path}: stale; regenerate with `python -m engine.distill.vendoring {folder}`", file=sys.stderr)
        elif not same:
            write_module_source(folder)
            print(f"wrote {path}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
