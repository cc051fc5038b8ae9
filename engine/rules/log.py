"""The event log: one line per rule match (rule, world, tick, entities), for debugging a rule set.

It reads the matches the ``rules`` system keeps when ``world.event_log`` is on (``rules.match.<rule>``,
``[B, S, O]``) after each step: ``worldloom run WORLD --event-log FILE`` writes them as JSON lines.
"""

from __future__ import annotations

from typing import Any

from engine.rules.system import MATCH_PREFIX


def entity_names(layout) -> list[str]:
    """``<type>_<i>`` for every slot of the entity axis."""
    return [f"{t.name}_{i}" for t in layout.types.values() for i in range(t.capacity)]


class EventLog:
    """Collects the rule matches of each step of a Sim whose world has ``world.event_log: true``."""

    def __init__(self, sim: Any) -> None:
        from engine.rules.context import RuleContext

        spec = sim.plan.spec
        self.sim = sim
        self.names = entity_names(sim.layout)
        self.rules = []
        for i, rule in enumerate(spec.rules):
            key = MATCH_PREFIX + rule.name
            if key in sim.state:
                rc = RuleContext(sim.plan.app, rule.of, rule.with_, ("rules", i))
                self.rules.append((rule.name, key, rc.S.tolist(), rc.O.tolist() if rc.O is not None else None))
        self.ticks = [0] * sim.num_worlds

    def step(self, info: dict) -> list[dict]:
        """The matches of the step just taken (call after every ``sim.step``), oldest rule first."""
        lines = []
        self.ticks = [t + 1 for t in self.ticks]
        for name, key, subjects, objects in self.rules:
            for b, s, o in self.sim.state[key].nonzero().tolist():
                line = {"rule": name, "world": b, "tick": self.ticks[b], "self": self.names[subjects[s]]}
                if objects is not None:
                    line["other"] = self.names[objects[o]]
                lines.append(line)
        for b in info["done"].nonzero().flatten().tolist():
            self.ticks[b] = 0
        return lines
