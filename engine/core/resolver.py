"""The one way a world file reaches code: dotted paths, resolved under a trust policy.

Every dotted path in a world file — systems, observation and reward terms, extensions, factories —
comes through ``resolve``. Two rules:

* **Trust before import.** The package's own code (``engine``, and modules beside the shipped
  ``worlds/`` and ``plugins/``) is trusted. Anything else — a module beside a world file someone
  sent you, an installed package — is imported only when the user allowed it: ``--trust PATH`` on
  the CLI, ``engine.make(..., trust=[...])``, or ``WORLDLOOM_TRUST`` (paths or module names separated
  by ``os.pathsep``; ``*`` trusts everything). Otherwise the world fails to load with a located error
  that names what would run and how to allow it — and nothing was imported.
* **Beside-the-world modules load by file path, under a name unique to their folder**
  (``_worldloom_user_<hash>.rules``), so two worlds that each ship a ``rules.py`` never collide and
  nothing is added to ``sys.path``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import UserError

ENV_VAR = "WORLDLOOM_TRUST"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _shipped_roots() -> list[Path]:
    from engine.paths import data_dirs

    return [p.resolve() for p in data_dirs()]


@dataclass(frozen=True)
class TrustPolicy:
    """What code a world may import: folders (and files) and module-name prefixes the user allowed.

    Example:
        >>> from engine.core.resolver import TrustPolicy
        >>> TrustPolicy.from_args(["mypkg"]).allows_module("mypkg.systems")
        True
        >>> TrustPolicy.from_args([]).allows_module("mypkg.systems")
        False
    """

    paths: tuple[Path, ...] = ()
    modules: tuple[str, ...] = ()
    everything: bool = False
    sources: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, trust: Iterable[str | os.PathLike] | str | bool | None = None,
                  use_env: bool = True) -> TrustPolicy:
        """Build a policy from ``trust`` (paths / module names / ``"*"`` / ``True``) plus ``WORLDLOOM_TRUST``."""
        items: list[str] = []
        if trust is True:
            items.append("*")
        elif isinstance(trust, (str, os.PathLike)):
            items.append(os.fspath(trust))
        elif trust:
            items += [os.fspath(t) for t in trust]
        if use_env and os.environ.get(ENV_VAR):
            items += [t for t in os.environ[ENV_VAR].split(os.pathsep) if t]
        paths, modules, everything = [], [], False
        for it in items:
            if it == "*":
                everything = True
            elif os.sep in it or it.startswith(".") or Path(it).exists():
                paths.append(Path(it).expanduser().resolve())
            else:
                modules.append(it)
        return cls(tuple(paths), tuple(modules), everything, tuple(items))

    def allows_path(self, path: Path) -> bool:
        path = path.resolve()
        if self.everything:
            return True
        roots = list(self.paths) + _shipped_roots()
        return any(path == r or r in path.parents for r in roots)

    def allows_module(self, name: str) -> bool:
        if self.everything or name == "engine" or name.startswith("engine."):
            return True
        return any(name == m or name.startswith(m + ".") for m in self.modules)


def _user_package_name(base_dir: Path) -> str:
    return f"_worldloom_user_{hashlib.sha1(str(base_dir).encode()).hexdigest()[:12]}"


def forget_user_modules(base_dir: Path) -> list[str]:
    """Drop the modules imported from beside the world files in ``base_dir`` (returns their names), so
    the next build imports them afresh: ``play``'s reload (F6) picks up an edited ``rules.py``. Objects
    a running Sim already holds keep working; only later builds see the new code."""
    name = _user_package_name(base_dir)
    gone = [m for m in sys.modules if m == name or m.startswith(name + ".")]
    for m in gone:
        del sys.modules[m]
    importlib.invalidate_caches()
    return gone


def _user_package(base_dir: Path) -> str:
    """A synthetic package whose ``__path__`` is the world's folder: unique per folder."""
    name = _user_package_name(base_dir)
    if name not in sys.modules:
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(base_dir)]
        pkg.__package__ = name
        pkg.__doc__ = f"modules beside the world files in {base_dir}"
        sys.modules[name] = pkg
    return name


def _beside(base_dir: Path | None, top: str) -> Path | None:
    if base_dir is None:
        return None
    for cand in (base_dir / f"{top}.py", base_dir / top / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _how_to_allow(what: str) -> str:
    return (f"to allow it, pass --trust {what} on the command line, trust=[{what!r}] to engine.make, or set "
            f"{ENV_VAR}={what}")


def plan_import(dotted: str, base_dir: Path | None, trust: TrustPolicy,
                module_ok: bool = False) -> tuple[str, str | None, Path | None]:
    """Where ``dotted`` would be imported from, checked against ``trust`` *without importing anything*.

    Returns ``(module name to import, attribute or None, file)``; ``module_ok`` accepts a bare module
    (``weather``) for an extension. Raises ``UserError`` when the path is malformed, the module does
    not exist, or the policy does not allow it.
    """
    module_name, _, attr = dotted.rpartition(".")
    if module_ok and not module_name:
        module_name, attr = dotted, None
    if not module_name or (attr is not None and not attr) or not all(p.isidentifier() for p in dotted.split(".")):
        raise UserError(f"expected a dotted path like module.function, got {dotted!r}")
    top = module_name.split(".")[0]
    beside = _beside(base_dir, top)
    if beside is not None:
        if not trust.allows_path(beside):
            raise UserError(f"{dotted!r} would import {beside}, which is not trusted: a world file runs code only "
                            f"where you allowed it; {_how_to_allow(str(base_dir))}")
        return f"{_user_package(base_dir)}.{module_name}", attr, beside
    spec = importlib.util.find_spec(top)  # top-level only: finds, does not execute
    if spec is None:
        where = f" beside the world file ({base_dir}) or" if base_dir else ""
        raise UserError(f"cannot find module {top!r} for {dotted!r}: expected {top}.py{where} an installed module")
    origin = Path(spec.origin).resolve() if spec.origin and spec.origin not in ("built-in", "frozen") else None
    own = origin is not None and origin.is_relative_to(_PACKAGE_ROOT / "engine")
    trusted = trust.allows_module(module_name) or own
    if not trusted:
        raise UserError(f"{dotted!r} would import the installed module {module_name!r}"
                        f"{f' ({origin})' if origin else ''}, which is not trusted; {_how_to_allow(top)}")
    return module_name, attr, origin


def resolve(dotted: str, base_dir: Path | None, trust: TrustPolicy, module_ok: bool = False) -> Any:
    """``module.attr`` → the object, imported under the trust policy. Errors are ``UserError``\\ s
    (the builder adds the world-file location); an exception raised while importing user code is a
    ``UserCodeError`` that points at the user's file and line."""
    from engine.errors import UserCodeError

    module_name, attr, origin = plan_import(dotted, base_dir, trust, module_ok)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise UserError(f"cannot import module {module_name.split('.', 1)[-1]!r} for {dotted!r}: {e}") from None
    except Exception as e:  # the user's module raised while being imported
        raise UserCodeError.from_exception(f"importing {dotted!r}", e, origin) from e
    if attr is None:
        return module
    try:
        return getattr(module, attr)
    except AttributeError:
        import difflib

        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"module {module_name.rsplit('.', 1)[-1]!r} has no attribute {attr!r}{hint}") from None
