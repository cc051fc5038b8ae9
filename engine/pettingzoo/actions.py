"""PettingZoo actions (one per agent name) → one action tensor per agent group, checked on the way in.

The env checks each agent's action here (type, shape, range, finiteness) with a message naming the
agent, and hands the Sim tensors it has already checked (the Sim then runs with ``action_check="off"``
and skips its own whole-tensor checks). The common cases cost almost nothing: a Python or NumPy
integer in range for a discrete agent, a float array of the right shape for a continuous one (checked
for its whole group at once). Anything else goes through :func:`agent_action`, which converts what it
can and explains what it cannot.

With ``action_check="clip"`` or ``"off"`` actions are only converted here (their shape checked), and
the Sim clips them or takes them as they are.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from engine.core.actions import ActionSpace
from engine.errors import UserError

#: Types taken as a discrete action without conversion (``Discrete.sample()`` returns ``np.int64``).
_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint64, np.uint32, np.uint16, np.uint8})


@dataclass
class _Group:
    """One external agent group: its space, agents, and the zero action buffer copied each step."""

    name: str
    space: ActionSpace
    agents: list[str]
    template: np.ndarray  # [1, A, *per_agent_shape], the "do nothing" action of every agent

    @property
    def discrete(self) -> bool:
        return self.space.discrete


class ActionEncoder:
    """Turns ``{agent: action}`` into ``{group: tensor [1, A, ...]}`` for ``Sim.step``.

    ``mode`` is the env's ``action_check``: ``error`` checks every action here; ``clip`` and ``off``
    only convert (the Sim clips, or trusts). Agents not in ``live`` are ignored (their slot keeps the
    "do nothing" action), as are live agents without an action.
    """

    def __init__(self, sim, groups: list[str], mode: str) -> None:
        self.strict = mode == "error"
        self.device = sim.device
        self.on_cpu = torch.device(sim.device).type == "cpu"
        self.groups: list[_Group] = []
        self.where: dict[str, tuple[int, int]] = {}  # agent → (group number, slot in group)
        self._slots: dict[str, tuple[int, int, int]] = {}  # agent → (group, slot, n of the int fast path or -1)
        for gi, name in enumerate(groups):
            plan = sim.groups[name]
            like = sim.state[plan.action_key]
            dtype = like.dtype if self.strict or not plan.action_space.discrete else torch.float64
            template = torch.zeros(like.shape, dtype=dtype).numpy()  # NaN/fractions reach a clipping Sim
            agents = plan.agent_names()
            self.groups.append(_Group(name, plan.action_space, agents, template))
            fast_n = plan.action_space.n if self.strict and plan.action_space.discrete else -1
            for i, a in enumerate(agents):
                self.where[a] = (gi, i)
                self._slots[a] = (gi, i, fast_n)
        self._names = [g.name for g in self.groups]
        self._templates = [g.template for g in self.groups]
        self._check = [(gi, g) for gi, g in enumerate(self.groups) if self.strict and not g.discrete]

    def encode(self, actions: Mapping[str, Any], live: Collection[str]) -> dict[str, torch.Tensor]:
        if type(actions) is not dict and not isinstance(actions, Mapping):
            raise UserError(f"actions: expected a dict {{agent: action}}, got {type(actions).__name__}")
        bufs = [t.copy() for t in self._templates]
        slots = self._slots
        for a, act in actions.items():
            s = slots.get(a)
            if s is None:
                raise UserError(f"actions for unknown agent {a!r}; expected some of: {', '.join(slots)}")
            if a not in live:
                continue  # a finished agent's action is ignored, as in PettingZoo's own envs
            gi, i, n = s
            if type(act) in _INT_TYPES and 0 <= act < n:  # the common discrete case, checked
                bufs[gi][0, i] = act
            else:
                bufs[gi][0, i] = self._one(a, act, self.groups[gi])
        for gi, g in self._check:
            self._check_range(g, bufs[gi])
        if self.on_cpu:
            return dict(zip(self._names, map(torch.from_numpy, bufs)))
        return {name: torch.from_numpy(b).to(self.device) for name, b in zip(self._names, bufs)}

    def _one(self, agent: str, act: Any, g: _Group) -> Any:
        if not self.strict:
            return convert_action(agent, act, g.space)
        if not g.discrete and type(act) is np.ndarray and act.shape == g.template.shape[2:] and act.dtype.kind == "f":
            return act  # range and finiteness: checked for the whole group at once (_check_range)
        return agent_action(agent, act, g.space)

    @staticmethod
    def _check_range(g: _Group, buf: np.ndarray) -> None:
        lo, hi = g.space.low, g.space.high
        if not ((buf >= lo) & (buf <= hi)).all():  # NaN compares false: caught too
            for i, row in enumerate(buf[0]):
                agent_action(g.agents[i], row, g.space)  # raises with the agent's name and values


def _as_array(agent: str, act: Any, space: ActionSpace) -> np.ndarray:
    try:
        v = np.asarray(act, dtype=np.float64)
    except (TypeError, ValueError):
        v = None
    if act is None or v is None or isinstance(act, (str, bytes)):
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got {type(act).__name__} {act!r}")
    return v


def agent_action(agent: str, act: Any, space: ActionSpace) -> int | np.ndarray:
    """One agent's action, checked against its space (type, shape, range, finiteness): an ``int``
    (discrete) or a float64 array of ``space.per_agent_shape`` (continuous)."""
    v = _as_array(agent, act, space)
    if space.discrete:
        if v.size != 1 or not np.isfinite(v).all() or float(v.reshape(())) != int(v.reshape(())) \
                or not 0 <= int(v.reshape(())) < space.n:
            raise UserError(f"action of {agent!r}: expected {space.describe()}, got {act!r}")
        return int(v.reshape(()))
    v = v.reshape(-1)
    if v.shape != space.per_agent_shape:
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got shape {list(v.shape)}")
    if not ((v >= space.low) & (v <= space.high)).all():
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got {v.tolist()}")
    return v


def convert_action(agent: str, act: Any, space: ActionSpace) -> float | np.ndarray:
    """One agent's action as numbers of the right shape, values unchecked (``action_check`` clip/off)."""
    v = _as_array(agent, act, space)
    if space.discrete:
        if v.size != 1:
            raise UserError(f"action of {agent!r}: expected {space.describe()}, got {act!r}")
        return float(v.reshape(()))
    v = v.reshape(-1)
    if v.shape != space.per_agent_shape:
        raise UserError(f"action of {agent!r}: expected {space.describe()}, got shape {list(v.shape)}")
    return v
