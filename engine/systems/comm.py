"""Communication: the message part of agents' actions written into the ``comm`` component (MPE's ``c``).

Agent groups whose action says something (``action: {say: K}``) write, every tick, their message —
one-hot of the chosen word (discrete) or the K values (continuous) — into the rows of ``comm`` of their
agents; everyone else's rows keep their value (silent agents: zeros, as in MPE). Observation terms read
it like any component (``component: {name: comm, of: [speaker]}``). It runs after the controllers, so
scripted and learned speakers are heard in the same tick as external ones.
"""

from __future__ import annotations

import torch

from engine.core.system import SystemDecl


def install_communication(app) -> None:
    """Add the ``communicate`` system when some group says something; a located error without ``comm``."""
    talkers = [g for g in app.groups.values() if g.action_space.say]
    if not talkers:
        return
    comm = app.layout.components.get("comm")
    for g in talkers:
        width = g.action_space.say
        if comm is None or tuple(comm.shape) != (width,) or not comm.dtype.startswith("float"):
            found = "no comm component" if comm is None else f"comm of shape {list(comm.shape)} ({comm.dtype})"
            raise app.ctx.error(("agents", g.name, "action", "say"),
                                f"agents that say {width} values need a float component comm of shape [{width}], "
                                f"found {found}; declare it: components: {{comm: {{shape: [{width}]}}}}")
    pieces = sorted((g.slice.start, g.slice.stop, g) for g in talkers)

    def communicate(state: dict) -> None:
        old, alive = state["comm"], state["alive"]
        parts, cursor = [], 0
        for lo, hi, g in pieces:
            if lo > cursor:
                parts.append(old[:, cursor:lo])
            said = g.action_space.message(state[g.action_key], old.dtype)
            parts.append(said * alive[:, lo:hi].unsqueeze(-1).to(old.dtype))  # the dead say nothing
            cursor = hi
        if cursor < old.shape[1]:
            parts.append(old[:, cursor:])
        state["comm"] = torch.cat(parts, 1)

    keys = tuple(g.action_key for _, _, g in pieces)
    app.add_system(SystemDecl("communicate", communicate, reads=keys + ("comm", "alive"), writes=("comm",),
                              stage="controllers"))
