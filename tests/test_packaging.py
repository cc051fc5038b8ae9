"""Every shipped resource is installed with the package (worlds, their code, plugins, shaders)."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _patterns() -> list[str]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [p for globs in cfg["tool"]["setuptools"]["data-files"].values() for p in globs]


def test_every_shipped_file_is_in_the_data_files() -> None:
    patterns = _patterns()
    shipped = [p.relative_to(ROOT).as_posix() for folder in ("worlds", "plugins", "shaders")
               for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    missing = [f for f in shipped if not any(fnmatch.fnmatchcase(f, pat) and f.count("/") == pat.count("/")
                                             for pat in patterns)]
    assert not missing, f"add these to [tool.setuptools.data-files] in pyproject.toml: {missing}"
    assert any(f.startswith("worlds/examples/") for f in shipped)
