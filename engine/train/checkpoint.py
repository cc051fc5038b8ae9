"""Training checkpoints: one ``.pt`` file with everything needed to resume or to load a policy.

Written atomically (``engine.fileio``), read with ``torch.load(weights_only=True)`` — a checkpoint is
data (tensors, numbers, strings), never pickled code.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError
from engine.fileio import atomic_write_bytes

FORMAT = "worldloom-ppo/1"


def save_checkpoint(path: str | os.PathLike, data: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"format": FORMAT, **data}, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``worldloom train``; a wrong file is a ``UserError``."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint not found: {p}")
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for foreign files
        raise UserError(f"{p}: not a worldloom training checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{p}: not a worldloom training checkpoint (expected format {FORMAT!r})")
    return data


def load_actor(path: str | os.PathLike, group: str):
    """The trained actor of ``group`` from a checkpoint, in eval mode."""
    from engine.train.policy import build_actor

    data = load_checkpoint(path)
    groups = data["groups"]
    if group not in groups:
        raise UserError(f"{path}: no policy for group {group!r}; it has: {', '.join(groups)}")
    actor = build_actor(groups[group]["actor_spec"])
    actor.load_state_dict(groups[group]["actor"])
    return actor.eval()
