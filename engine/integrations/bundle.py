"""World bundles: a world file, its overrides, and the code and models it uses, as one plain dict.

A Ray cluster (or any set of processes that share no file system) builds the same world from a bundle:
``world_bundle`` packs it on the driver — after building the world once under the caller's trust
policy, so only what the caller trusts ships — and ``make_sim_from_bundle`` unpacks it into a fresh
folder on the worker and builds the ``Sim``, trusting that folder. Relative paths inside the world file
(``../plugins/x/model.onnx``) resolve as they did on the driver: the files keep their layout below the
bundle's root (the common ancestor of everything carried).

What travels: the world file; the ``.py``/``.onnx`` files and code packages beside it; every file that
a string in the world document names (after overrides), with the code and model files of its folder.
Installed modules a world imports (trusted by module name) must be installed on the workers too.

Example:
    >>> from engine.integrations.bundle import make_sim_from_bundle, world_bundle
    >>> b = world_bundle("tag", overrides={"entities.adversary.count": 2})
    >>> sim = make_sim_from_bundle(b, num_worlds=4)
    >>> sim.reset()[0]["adversary"].shape
    torch.Size([4, 2, 14])
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.errors import UserError

BUNDLE_FORMAT = "worldloom-bundle/1"
#: Model and code files a bundle carries from a referenced file's folder.
CARRIED_SUFFIXES = (".py", ".onnx", ".data", ".bin", ".json", ".yaml", ".yml")
#: Largest bundle (all files together): the bundle rides inside the runner config to every runner.
MAX_BUNDLE_BYTES = 256 << 20


# ---------------------------------------------------------------------- world bundles (no Ray needed)
def _referenced_files(data: Any, base: Path) -> set[Path]:
    """Files that string values of the world document name, relative to the world's folder."""
    out: set[Path] = set()
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, Mapping):
            stack.extend(x.values())
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, str) and ("/" in x or x.endswith(CARRIED_SUFFIXES)) and "\n" not in x and len(x) < 4096:
            p = Path(x) if Path(x).is_absolute() else base / x
            try:
                if p.is_file():
                    out.add(p.resolve())
            except OSError:
                continue
    return out


def _carried_files(world_file: Path, data: Any) -> list[Path]:
    """The world file, the code and models beside it, and the files (with their siblings) it references."""
    base = world_file.parent.resolve()
    files = {world_file.resolve()}
    for p in base.iterdir():
        if p.is_file() and p.suffix in (".py", ".onnx", ".data"):
            files.add(p.resolve())
        elif p.is_dir() and (p / "__init__.py").is_file():  # a package of user code beside the world
            files.update(q.resolve() for q in p.rglob("*.py"))
    for ref in _referenced_files(data, base):
        files.add(ref)
        files.update(q.resolve() for q in ref.parent.iterdir() if q.is_file() and q.suffix in CARRIED_SUFFIXES
                     and q.suffix not in (".yaml", ".yml"))
    return sorted(files)


def world_bundle(world: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
                 trust: list[str] | str | bool | None = None, check: bool = True) -> dict[str, Any]:
    """Pack a world for runners that share no file system with the caller.

    Returns a plain dict (picklable, JSON-able): the world file's path relative to the bundle's root,
    the overrides, and every carried file as base64 text under its path relative to that root (the
    world's folder and, when the world references files above it such as ``../plugins/x/model.onnx``,
    the common ancestor), so relative paths in the world file still resolve after unpacking.
    ``check`` first builds the world here, under ``trust``, so that only what the caller trusts ships.

    Example:
        >>> b = world_bundle("tag_learned")
        >>> b["world"], sorted(b["files"])[:2]
        ('worlds/tag_learned.yaml', ['plugins/tag_bc/adversary.json', 'plugins/tag_bc/adversary.onnx'])
    """
    from engine.paths import resolve_world
    from engine.world.loader import apply_overrides
    from engine.world.yamlio import load_yaml

    world_file = resolve_world(world).resolve()
    overrides = dict(overrides or {})
    if check:
        import engine

        engine.make(world_file, num_worlds=1, overrides=overrides, trust=trust)
    doc = load_yaml(world_file)
    apply_overrides(doc, overrides)
    files = _carried_files(world_file, doc.data)
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    out, total = {}, 0
    for f in files:
        raw = f.read_bytes()
        total += len(raw)
        out[f.relative_to(root).as_posix()] = base64.b64encode(raw).decode("ascii")
    if total > MAX_BUNDLE_BYTES:
        raise UserError(f"the world {world_file} carries {total / 2**20:.0f} MiB of files; a bundle rides in the "
                        f"runner config and is limited to {MAX_BUNDLE_BYTES >> 20} MiB: put large models on a "
                        "shared path and pass the world by path instead")
    modules = [t for t in ([trust] if isinstance(trust, str) else (trust or []) if trust is not True else [])
               if not (os.sep in str(t) or str(t).startswith(".") or Path(str(t)).exists())]
    return {"format": BUNDLE_FORMAT, "name": world_file.stem, "world": world_file.relative_to(root).as_posix(),
            "overrides": overrides, "files": out, "trusted_modules": modules,
            "digest": hashlib.sha1(repr(sorted(out.items())).encode()).hexdigest()}


def unpack_bundle(bundle: Mapping[str, Any], root: str | os.PathLike | None = None) -> Path:
    """Write a bundle's files under ``root`` (default: a fresh temporary folder); returns the world file."""
    if not isinstance(bundle, Mapping) or bundle.get("format") != BUNDLE_FORMAT:
        raise UserError(f"not a worldloom world bundle (expected format {BUNDLE_FORMAT!r})")
    base = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix=f"worldloom-{bundle['name']}-"))
    for rel, text in bundle["files"].items():
        p = (base / rel).resolve()
        if base.resolve() not in p.parents:
            raise UserError(f"bundle file {rel!r} would be written outside the bundle folder")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(base64.b64decode(text))
    return base / bundle["world"]


def make_sim_from_bundle(bundle: Mapping[str, Any], num_worlds: int, seed: int = 0, **kw: Any):
    """Unpack a bundle and build its ``Sim``; the unpacked folder is trusted (the driver checked it)."""
    import engine

    world_file = unpack_bundle(bundle)
    trust = [str(world_file.parents[len(Path(bundle["world"]).parts) - 1])] + list(bundle.get("trusted_modules", []))
    return engine.make(world_file, num_worlds=num_worlds, seed=seed, overrides=bundle.get("overrides") or {},
                       trust=trust, **kw)
