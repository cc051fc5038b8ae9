"""Stamina: a user system that declares its own per-entity state and draws random numbers.

Running drains stamina; standing still recovers a random amount each tick; a tired agent's speed
limit drops. Everything it owns is declared (``stamina``), so reset, ``snapshot()``/``restore()``,
recordings and replays carry it; its random numbers come from ``engine.extend.Random``, which is
part of the state, so replays are bit-exact.
"""

from dataclasses import dataclass

import torch

from engine.extend import Random, StateDecl, observation, system

STAMINA = StateDecl("stamina", "entity", (), "float", 1.0, owner="stamina", record=True,
                    doc="0 (exhausted) .. 1 (fresh)")


@dataclass
class TireParams:
    """How fast stamina drains and recovers (per tick), and how slow an exhausted agent gets."""

    drain: float = 0.25       # stamina lost per unit of speed per tick
    recover: float = 0.06     # at most this much regained per tick while slow
    slow_speed: float = 0.3   # below this speed an agent recovers
    weakest: float = 0.4      # speed limit of an exhausted agent, as a fraction of its normal one


@system(params=TireParams, state=[STAMINA], reads=["stamina", "vel", "alive"], writes=["stamina", "max_speed"])
def tire(app, p: TireParams):
    """Factory: runs once at build time; returns the tick function."""
    base = app.state.default("max_speed")  # [N]: every entity's normal limit, from the world file
    agents = torch.zeros(app.layout.n, dtype=torch.bool, device=app.device)
    for g in app.groups.values():
        agents[g.sl] = True

    def tick(state: dict) -> None:
        speed = state["vel"].square().sum(-1).sqrt()                          # [B, N]
        gain = Random(state, "stamina").uniform(speed.shape, 0.0, p.recover)  # seeded, replayable
        change = torch.where(speed < p.slow_speed, gain, -p.drain * speed)
        stamina = (state["stamina"] + change).clamp(0.0, 1.0)
        stamina = torch.where(agents & state["alive"], stamina, state["stamina"])
        state["stamina"] = stamina
        state["max_speed"] = torch.where(agents, base * (p.weakest + (1 - p.weakest) * stamina), base)

    return tick


@observation(size=1)
def own_stamina(state, group):
    """An agent's own stamina, ``[B, A, 1]``."""
    return state["stamina"][:, group.sl].unsqueeze(-1)
