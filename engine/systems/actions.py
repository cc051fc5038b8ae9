"""Actions checked inside the tick: out-of-range or non-finite actions are clamped and flagged.

The Sim converts actions at the API boundary (type, shape, device: no tensor work); this system,
fused into the compiled tick, makes every action safe to use (discrete choices clamped into range,
continuous values into the space's bounds, NaN to the low end) and raises the ``action_error``
flag when it had to change one. The flag joins ``any_done`` — the one value the Sim reads back each
tick anyway — so with ``action_check="error"`` the Sim raises a located ``ActionError`` and keeps
the state from before the step, at no cost on the ticks where every action was valid.
"""

from __future__ import annotations

import torch

from engine.core.state import StateDecl
from engine.core.system import SystemDecl

FLAG = "action_error"


def install_action_check(app) -> None:
    groups = list(app.groups.values())
    if not groups:
        return
    app.add_state(StateDecl(FLAG, "global", (), "bool", False, owner="actions",
                            doc="some action of this tick was out of its space (clamped; an error by default)"))

    def check_actions(state: dict) -> None:
        bad = None
        for g in groups:
            a, space = state[g.action_key], g.action_space
            if space.discrete:
                safe = a.clamp(0, space.n - 1)
                wrong = (safe != a).any()
            else:
                wrong = (~((a >= space.low) & (a <= space.high))).any()  # NaN compares false
                safe = torch.nan_to_num(a, nan=space.low).clamp(space.low, space.high)
            state[g.action_key] = safe
            bad = wrong if bad is None else bad | wrong
        state[FLAG] = bad

    keys = tuple(g.action_key for g in groups)
    app.add_system(SystemDecl("check_actions", check_actions, reads=keys, writes=keys + (FLAG,), stage="start"))
