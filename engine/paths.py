"""Where the shipped resources live: ``worlds/``, ``plugins/``, ``shaders/``.

From a checkout (or an editable install) they sit next to the ``engine`` package; from an installed
wheel they are installed as data files under ``<prefix>/share/worldloom/``. Everything that needs one
of these folders asks here, so both layouts work without configuration.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.errors import WorldError

_RESOURCE_DIRS = ("worlds", "plugins", "shaders")


def resource_dir(name: str) -> Path:
    """The folder of shipped resources ``name`` (one of worlds, plugins, shaders).

    ``WORLDLOOM_HOME`` (a checkout) takes precedence; then the checkout this package sits in; then
    the installed data files.
    """
    if name not in _RESOURCE_DIRS:
        raise ValueError(f"unknown resource folder {name!r}; expected one of {_RESOURCE_DIRS}")
    candidates = []
    if os.environ.get("WORLDLOOM_HOME"):
        candidates.append(Path(os.environ["WORLDLOOM_HOME"]) / name)
    candidates.append(Path(__file__).resolve().parent.parent / name)
    candidates.append(Path(sys.prefix) / "share" / "worldloom" / name)
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[-1]


def resolve_world(world: str | os.PathLike) -> Path:
    """A world given as a path, or as the name of a shipped world (``tag`` → ``worlds/tag.yaml``).

    Every way the path can be unusable (missing, a folder, a name too long for the file system, a
    NUL byte) is a ``WorldError`` naming it.
    """
    shown = str(world) if len(str(world)) <= 120 else str(world)[:99] + "…" + str(world)[-20:]
    try:
        p = Path(world)
        if p.is_file():
            return p
        shipped = resource_dir("worlds")
        for cand in (shipped / p, shipped / f"{p}.yaml"):
            if cand.is_file():
                return cand
        if p.is_dir():
            raise WorldError("is a folder; expected a world file (.yaml) or the name of a shipped world",
                             where=shown)
    except (OSError, ValueError, TypeError) as e:
        reason = getattr(e, "strerror", None) or str(e)
        raise WorldError(f"cannot use this as a world file: {reason}", where=shown) from None
    names = list(shipped_worlds()) if shipped.is_dir() else []
    raise WorldError(f"world file not found: {shown} (shipped worlds: {', '.join(names) or 'none'})")


#: Folders of worlds/ whose worlds are shipped by name as ``<folder>/<stem>`` (``mpe/simple_spread``).
WORLD_FOLDERS = ("mpe", "grid")


def shipped_worlds() -> dict[str, Path]:
    """Name → file of every shipped world: ``tag`` for ``worlds/tag.yaml``, ``mpe/simple`` for
    ``worlds/mpe/simple.yaml`` (the worked examples under ``worlds/examples/`` are named by path)."""
    shipped = resource_dir("worlds")
    out = {p.stem: p for p in sorted(shipped.glob("*.yaml"))}
    for folder in WORLD_FOLDERS:
        out.update({f"{folder}/{p.stem}": p for p in sorted((shipped / folder).glob("*.yaml"))})
    return out


def data_dirs() -> list[Path]:
    """The shipped folders whose code is trusted by default (``worlds/``, ``plugins/``)."""
    return [resource_dir("worlds"), resource_dir("plugins")]
