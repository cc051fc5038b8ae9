"""Helpers shared by test modules across folders (importable from any test: ``tests/`` is on the path
through its conftest.py): a tiny valid world, an action-mask extension, and a polling wait."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

TAG = Path(__file__).resolve().parents[1] / "worlds" / "tag.yaml"

#: The smallest world that exercises entities, an agent group, terms and physics; tests mutate it.
TINY_WORLD = textwrap.dedent("""\
    version: 1
    name: tiny
    entities:
      runner:
        count: 2
        components: {radius: 0.05, color: [0.2, 0.4, 0.9]}
        spawn: {pos: {uniform: [-1.0, 1.0]}}
      rock:
        count: 1
        components: {radius: 0.2, movable: false}
    agents:
      runner:
        entity: runner
        observation: [self_pos, self_vel, {relative_pos: {of: [rock]}}]
        reward: [{contact: {with: [rock], value: -1.0}}]
    systems: [physics]
    """)

#: An extension masking actions of tag's adversaries: no moving -x (action 1) in the right half.
MASKS_EXT = textwrap.dedent("""\
    import torch

    def no_left_when_right_half(state):
        x = state["pos"][:, 0:3, 0]
        mask = torch.ones(x.shape + (5,), dtype=torch.bool)
        mask[..., 1] = x < 0
        return mask

    def build(app):
        app.add_action_mask("adversary", no_left_when_right_half)
    """)


def masked_tag_world(folder: Path, name: str = "tag") -> Path:
    """``tag`` with the ``MASKS_EXT`` extension beside it in ``folder`` (trust ``folder`` to load it)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "masks.py").write_text(MASKS_EXT)
    world = TAG.read_text().replace("\nname: tag\n", f"\nname: {name}\nextensions: [masks]\n")
    (folder / "tag.yaml").write_text(world)
    return folder / "tag.yaml"


def wait_for(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` every 50 ms; fail naming ``what`` after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
