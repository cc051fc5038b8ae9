"""The JSON contract beside a model in a distilled folder (world model, inverse model), read as untrusted data.

One reader for every folder kind, so each bad file — missing, oversized, not JSON, of another kind, a field
of the wrong type or size — fails the same way: the file, what was expected, what it has, how to fix it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import UserError

MAX_CONTRACT_BYTES = 1 << 20


def read_contract(folder: Path, stem: str, kind: str, fields: dict[str, type], made_by: str) -> dict[str, Any]:
    """``folder/<stem>.json`` checked: its ``kind`` and the types of ``fields``; ``size`` (when listed) must be
    two positive integers. ``made_by`` names the command that writes such folders (for the fix)."""
    path = folder / f"{stem}.json"
    if not path.is_file():
        raise UserError(f"{folder}: no {stem}.json; expected a folder written by `{made_by}`")
    if path.stat().st_size > MAX_CONTRACT_BYTES:
        raise UserError(f"{path}: larger than {MAX_CONTRACT_BYTES} bytes; not a contract")
    try:
        c = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); re-run `{made_by}` to rewrite it") from None
    if not isinstance(c, dict) or c.get("kind") != kind:
        raise UserError(f"{path}: expected kind {kind!r}, found {c.get('kind') if isinstance(c, dict) else c!r}")
    for key, typ in fields.items():
        if not isinstance(c.get(key), typ) or isinstance(c.get(key), bool):
            raise UserError(f"{path}: {key!r}: expected {typ.__name__}, found {c.get(key)!r}")
    size = c.get("size")
    if "size" in fields and not (len(size) == 2 and all(isinstance(v, int) and 0 < v <= 8192 for v in size)):
        raise UserError(f"{path}: 'size': expected [width, height], two integers 1..8192, found {size!r}")
    return c
