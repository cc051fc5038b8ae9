"""Every piece of code a world file names, found without importing anything.

``worldloom validate`` lists them (with where each would be imported from and whether the trust
policy allows it) before building the world, so a world someone sent you can be inspected without
running a line of it.
"""

from __future__ import annotations

from typing import Any

from engine.world.schema import WorldSpec


def code_references(spec: WorldSpec) -> list[tuple[tuple, str]]:
    """``(key path, dotted path)`` for extensions, user systems and custom observation/reward terms."""
    refs: list[tuple[tuple, str]] = [(("extensions", i), d) for i, d in enumerate(spec.extensions)]
    for i, entry in enumerate(spec.systems):
        if isinstance(entry, dict) and isinstance(entry.get("system"), str):
            refs.append((("systems", i, "system"), entry["system"]))
    for gname, group in spec.agents.items():
        for section in ("observation", "reward"):
            for i, term in enumerate(getattr(group, section)):
                fn = _custom_fn(term)
                if fn is not None:
                    refs.append((("agents", gname, section, i, "custom", "fn"), fn))
    return refs


def _custom_fn(term: Any) -> str | None:
    if isinstance(term, dict) and len(term) == 1 and "custom" in term and isinstance(term["custom"], dict):
        fn = term["custom"].get("fn")
        return fn if isinstance(fn, str) else None
    return None
