"""Where the renderer's GLSL sources live, and how one program file becomes two shader stages.

Shaders are files, never inline strings, so they can be edited and syntax-highlighted as GLSL. A
checkout keeps them in the repository's top-level ``shaders/`` folder; an installed package ships them
as data files under ``<sys.prefix>/share/worldloom/shaders``. :func:`shader_dir` looks in that order.

One file holds one program, split with ``#if defined VERTEX_SHADER`` / ``#elif defined
FRAGMENT_SHADER`` like moderngl-window's program files: the loader compiles it twice, once with each
define inserted right after the ``#version`` line (GLSL requires ``#version`` to come first).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only; moderngl is imported lazily elsewhere
    import moderngl

STAGES = ("VERTEX_SHADER", "FRAGMENT_SHADER")


def shader_dir() -> Path:
    """Return the folder holding worldloom's ``.glsl`` program files.

    Looks for the checkout's ``shaders/`` folder next to the ``engine`` package first, then for the
    installed data folder ``<sys.prefix>/share/worldloom/shaders``.

    >>> (shader_dir() / "entities.glsl").is_file()
    True
    """
    candidates = [
        Path(__file__).resolve().parents[2] / "shaders",
        Path(sys.prefix) / "share" / "worldloom" / "shaders",
    ]
    for folder in candidates:
        if folder.is_dir():
            return folder
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"worldloom's shaders folder was not found (searched: {searched}); run from a checkout of the "
        "repository or reinstall the package so its shaders/ data files are installed"
    )


def split_program_source(source: str, name: str = "<program>") -> dict[str, str]:
    """Split one program file into ``{"VERTEX_SHADER": src, "FRAGMENT_SHADER": src}``.

    Each stage is the whole file with ``#define <STAGE>`` inserted after the ``#version`` line, so the
    file's ``#if defined`` sections pick the stage.

    >>> stages = split_program_source("#version 330\\n#if defined VERTEX_SHADER\\n#endif\\n")
    >>> stages["VERTEX_SHADER"].splitlines()[1]
    '#define VERTEX_SHADER'
    """
    lines = source.splitlines()
    version_at = next((i for i, line in enumerate(lines) if line.strip().startswith("#version")), None)
    if version_at is None:
        raise ValueError(f"shader program {name} has no '#version' line; expected e.g. '#version 330' first")
    out = {}
    for stage in STAGES:
        staged = lines[: version_at + 1] + [f"#define {stage}"] + lines[version_at + 1 :]
        out[stage] = "\n".join(staged) + "\n"
    return out


def load_program(ctx: moderngl.Context, name: str, folder: Path | None = None) -> moderngl.Program:
    """Compile ``<folder>/<name>`` (default folder: :func:`shader_dir`) into a moderngl program.

    A compile error is re-raised naming the file, so the GLSL line numbers in the driver's message
    can be found.
    """
    path = (folder if folder is not None else shader_dir()) / name
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"shader program {path} does not exist; expected one .glsl file "
                                "per program") from exc
    stages = split_program_source(source, str(path))
    try:
        return ctx.program(vertex_shader=stages["VERTEX_SHADER"], fragment_shader=stages["FRAGMENT_SHADER"])
    except Exception as exc:  # moderngl raises a bare Exception with the driver's log
        raise RuntimeError(f"compiling shader program {path} failed (line numbers are +1 for the "
                           f"inserted #define):\n{exc}") from exc
