"""Import user code named by a dotted path in a world file (the only code a world file can run)."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from engine.world.spec import Ctx


def import_dotted(dotted: str, ctx: Ctx, path: tuple, base_dir: str | None = None) -> Any:
    """``package.module.name`` → the object; a failure is a located ``WorldError``, not a traceback.

    The world file's folder is searched too, so a world can ship its systems beside it.
    """
    module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise ctx.error(path, f"expected a dotted path like package.module.function, got {dotted!r}")
    added = False
    if base_dir and base_dir not in sys.path:
        sys.path.insert(0, base_dir)
        added = True
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ctx.error(path, f"cannot import module {module_name!r} for {dotted!r}: {e}") from None
    finally:
        if added:
            sys.path.remove(base_dir)
    try:
        obj = getattr(module, attr)
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        import difflib

        close = difflib.get_close_matches(attr, names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ctx.error(path, f"module {module_name!r} has no attribute {attr!r}{hint}") from None
    if not callable(obj):
        raise ctx.error(path, f"expected {dotted!r} to be callable, got {type(obj).__name__}")
    return obj
