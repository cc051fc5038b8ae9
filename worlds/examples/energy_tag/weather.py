"""Weather: an extension that lives beside the world file, not in the engine.

``build(app)`` is all it takes: it declares the per-world ``wind`` (recorded, reset to calm) and
registers a system kind, ``gusts``, that the world file then lists by name like a built-in. The
engine allocates, resets, snapshots, restores, records and replays ``wind`` from the declaration.
"""

from dataclasses import dataclass

import torch

from engine.extend import Random, StateDecl, SystemDecl, SystemKind


@dataclass
class GustParams:
    """Wind that shifts now and then: each tick, with probability ``change``, a new random wind."""

    strength: float = 0.5  # standard deviation of each wind component (world units / s²)
    change: float = 0.05   # per-tick probability that the wind changes


def make_gusts(app, p: GustParams, path: tuple) -> SystemDecl:
    dt = app.params.dt

    def gusts(state: dict) -> None:
        B = state["wind"].shape[0]
        rng = Random(state, "weather")
        shift = rng.bernoulli((B, 1), p.change)
        new = rng.normal((B, 2), std=p.strength, dtype=state["wind"].dtype)
        wind = torch.where(shift, new, state["wind"])
        state["wind"] = wind
        push = (state["movable"] & state["alive"]).unsqueeze(-1)
        state["vel"] = torch.where(push, state["vel"] + wind.unsqueeze(1) * dt, state["vel"])

    return SystemDecl("gusts", gusts, reads=("wind", "vel", "movable", "alive"), writes=("wind", "vel"), path=path)


def build(app) -> None:
    app.add_state(StateDecl("wind", "world", (2,), "float", 0.0, owner="weather", record=True,
                            doc="the wind's acceleration this tick, world units / s²"))
    app.register_system(SystemKind("gusts", make_gusts, GustParams, "random wind that pushes every movable entity"))
