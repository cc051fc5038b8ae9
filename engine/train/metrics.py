"""Contacts between agent groups, counted inside the tick by a probe system.

The Sim autoresets finished worlds before ``step`` returns, so the positions of an episode's last tick
are gone by the time the caller sees them. A probe appended to the world's systems (a user system by
dotted path, like any other) counts, every tick, the pairs of living entities of two different agent
groups that touch (distance < r_a + r_b), and leaves the counts in ``state["metric.contacts.<a>-<b>"]
[B]`` — keys the reset never touches, so they survive the autoreset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIX = "metric.contacts."


def contact_pairs(groups: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Unordered pairs of distinct agent groups, in world-file order."""
    names = list(groups)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def contact_probe(env, pairs: list[list[str]]):
    """Factory of the probe system (``worldloom_factory``): ``pairs`` = [[group_a, group_b], ...]."""
    slices = [(f"{PREFIX}{a}-{b}", env.groups[a].slice, env.groups[b].slice) for a, b in pairs]

    def contact_probe(state: dict) -> None:
        pos, rad, alive = state["pos"], state["radius"], state["alive"]
        for key, sa, sb in slices:
            d = (pos[:, sa.sl].unsqueeze(2) - pos[:, sb.sl].unsqueeze(1)).square().sum(-1).sqrt()
            touch = d < rad[:, sa.sl].unsqueeze(2) + rad[:, sb.sl].unsqueeze(1)
            touch = touch & alive[:, sa.sl].unsqueeze(2) & alive[:, sb.sl].unsqueeze(1)
            state[key] = touch.sum((1, 2)).to(pos.dtype)

    return contact_probe


contact_probe.worldloom_factory = True


def with_contact_probe(world, overrides: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """World overrides that append the contact probe to the systems; also the metric keys it writes."""
    from engine.world.loader import load_world

    overrides = dict(overrides or {})
    loaded = load_world(world, overrides, origin="overrides")
    pairs = contact_pairs(loaded.spec.agents)
    if not pairs:
        return overrides, []
    probe = {"system": "engine.train.metrics.contact_probe", "name": "contact_probe",
             "params": {"pairs": [list(p) for p in pairs]}}
    overrides["systems"] = list(loaded.spec.systems) + [probe]
    return overrides, [f"{PREFIX}{a}-{b}" for a, b in pairs]


def short_name(key: str) -> str:
    """``metric.contacts.adversary-prey`` → ``contacts adversary–prey``."""
    return "contacts " + key[len(PREFIX):].replace("-", "–")
