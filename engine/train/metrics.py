"""Contacts between agent groups, counted inside the tick by a probe system.

The Sim autoresets finished worlds before ``step`` returns, so the positions of an episode's last tick
are gone by the time the caller sees them. A probe appended to the world's systems (a user system by
dotted path, like any other) counts, every tick, the pairs of living entities of two different agent
groups that touch (distance < r_a + r_b), and leaves the counts in ``state["metric.contacts.<a>-<b>"]
[B]`` — entries it declares with ``reset: keep``, so they survive the autoreset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.kinds import system
from engine.core.state import StateDecl
from engine.world.validation import fld

PREFIX = "metric.contacts."


def contact_pairs(groups: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Unordered pairs of distinct agent groups, in world-file order."""
    names = list(groups)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


@dataclass(kw_only=True)
class ProbeParams:
    """Which agent groups to count contacts between."""

    pairs: list[list[str]] = fld(doc="[[group_a, group_b], ...]")


@system(params=ProbeParams)
def contact_probe(app, params: ProbeParams):
    """The probe system: declares one per-world metric per pair and counts the pairs touching each tick."""
    for a, b in params.pairs:
        for g in (a, b):
            if g not in app.groups:
                raise ValueError(f"unknown agent group {g!r}; expected one of {', '.join(app.groups)}")
    slices = [(f"{PREFIX}{a}-{b}", app.groups[a].slice, app.groups[b].slice) for a, b in params.pairs]
    for key, _, _ in slices:
        app.add_state(StateDecl(key, "world", (), "float", 0, reset="keep", owner="contact_probe",
                                metric=key[len("metric."):], doc="agent pairs of two groups touching this tick"))

    def contact_probe(state: dict) -> None:
        pos, rad, alive = state["pos"], state["radius"], state["alive"]
        for key, sa, sb in slices:
            d = (pos[:, sa.sl].unsqueeze(2) - pos[:, sb.sl].unsqueeze(1)).square().sum(-1).sqrt()
            touch = d < rad[:, sa.sl].unsqueeze(2) + rad[:, sb.sl].unsqueeze(1)
            touch = touch & alive[:, sa.sl].unsqueeze(2) & alive[:, sb.sl].unsqueeze(1)
            state[key] = touch.sum((1, 2)).to(pos.dtype)

    return contact_probe


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
