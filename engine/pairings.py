"""Pairings: every entity of some types bound to a partner entity of another type, drawn at each reset.

A pairing named ``goal`` is one state entry, ``pair.goal`` ``[B, K]`` int64: for the k-th entity of its
``of`` types (in entity-axis order), the entity index of its partner. It is drawn by a reset hook from
the Sim's generator, so it is reproducible, recorded, snapshotted and reset like everything else, and
terms read it with one gather (``partner_pos``, ``partner_distance``) — "own goal" with no index
arithmetic in the world file. Only the first ``count`` entities of the ``to`` type (those alive at
the start of an episode) are chosen as partners.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.core.state import StateDecl


@dataclass(frozen=True)
class PairingColumns:
    """Where the agents of one group find their partners: ``state[key][:, columns]`` ``[B, A]``."""

    key: str
    columns: torch.Tensor  # [A] columns of the pairing's state entry


def state_key(name: str) -> str:
    return f"pair.{name}"


def _check(app, name: str, spec, path: tuple) -> tuple[torch.Tensor, int, int]:
    """Located errors for a pairing; returns (of entity indices, first `to` index, `to` count)."""
    app.check_types(spec.of, path + ("of",))
    to = app.layout.types.get(spec.to)
    if to is None:
        import difflib

        close = difflib.get_close_matches(spec.to, list(app.layout.types), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise app.ctx.error(path + ("to",), f"unknown entity type {spec.to!r}{hint}; expected one of: "
                                            f"{', '.join(app.layout.types)}")
    of = app.layout.indices(spec.of)
    if to.count < 1:
        raise app.ctx.error(path + ("to",), f"pairing {name!r}: entity type {spec.to!r} has count 0; expected at "
                                            "least one entity to pair with")
    if spec.choose in ("fixed", "cycled", "shuffled") and len(of) != to.count:
        raise app.ctx.error(path + ("choose",),
                            f"pairing {name!r}: choose {spec.choose!r} pairs each of the {len(of)} entity slots of "
                            f"{spec.of} with its own {spec.to!r}, of which there are {to.count}; expected the same "
                            "counts (or choose: random / shared, where partners may repeat)")
    return of, to.start, to.count


def install_pairings(app) -> None:
    """Declare ``pair.<name>`` for every pairing of the world file and the reset hook that draws them."""
    for name, spec in app.loaded.spec.pairings.items():
        path = ("pairings", name)
        of, start, count = _check(app, name, spec, path)
        k = len(of)
        fixed = ((torch.arange(k) + (spec.choose == "cycled")) % count) + start
        app.add_state(StateDecl(state_key(name), "world", (k,), "int64", fixed, owner=f"pairings.{name}",
                                record=True, doc=f"partner ({spec.to!r} entity index) of each entity of {spec.of}"))
        if spec.choose not in ("fixed", "cycled"):
            app.add_reset_hook(_drawer(state_key(name), spec.choose, k, start, count))


def _drawer(key: str, choose: str, k: int, start: int, count: int):
    def draw(fresh: dict, B: int, generator: torch.Generator) -> None:
        dev = generator.device
        if choose == "shuffled":
            pick = torch.rand((B, k), generator=generator, device=dev).argsort(-1)
        elif choose == "random":
            pick = torch.randint(count, (B, k), generator=generator, device=dev)
        else:  # shared: one partner per world
            pick = torch.randint(count, (B, 1), generator=generator, device=dev).expand(B, k)
        fresh[key] = (pick + start).contiguous()

    return draw


def partner_columns(env, pairing: str, types: list[str], path: tuple) -> PairingColumns:
    """The columns of ``pair.<pairing>`` holding the partners of the entities of ``types`` (for terms)."""
    spec = env.loaded.spec.pairings.get(pairing)
    if spec is None:
        known = ", ".join(env.loaded.spec.pairings) or "none declared (add a pairings: section)"
        raise env.ctx.error(path, f"unknown pairing {pairing!r}; expected one of: {known}")
    missing = [t for t in types if t not in spec.of]
    if missing:
        raise env.ctx.error(path, f"pairing {pairing!r} binds entities of {spec.of}, not {missing}; expected a "
                                  f"type it pairs (add it to pairings.{pairing}.of)")
    of = env.layout.indices(spec.of)
    wanted = env.layout.indices(types)
    columns = torch.stack([(of == e).nonzero()[0, 0] for e in wanted]) if len(wanted) else \
        torch.zeros(0, dtype=torch.int64)
    return PairingColumns(state_key(pairing), columns.to(env.device))
