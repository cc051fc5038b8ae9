"""Action spaces: what an agent group's action tensor holds and how it becomes a force.

Every place that needs to know an action's layout — the Sim's action buffers, random and scripted
controllers, the keyboard in ``play``, policy plugins, PPO heads, the PettingZoo and Gymnasium
spaces — asks the group's ``ActionSpace`` instead of assuming MPE's five movement choices. Today's
two movement layouts are two instances; richer spaces (named actions, composites) are more.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

#: Discrete movement choice → unit force direction, MPE's order: no-op, -x, +x, -y, +y.
MOVE_DIRECTIONS = ((0.0, 0.0), (-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))
MOVE_LABELS = ("no-op", "-x", "+x", "-y", "+y")


@dataclass(frozen=True)
class ActionSpace:
    """The action of one agent: ``discrete`` (an int in ``0..n-1``) or ``continuous`` (``n`` floats in [lo, hi]).

    Example:
        >>> from engine.core.actions import movement
        >>> space = movement("discrete")
        >>> space.n, space.per_agent_shape, space.labels[2]
        (5, (), '+x')
        >>> movement("continuous").per_agent_shape
        (5,)
    """

    kind: str
    n: int
    labels: tuple[str, ...]
    low: float = 0.0
    high: float = 1.0
    moves: bool = True  # the action holds a movement part (MPE: the agent is movable)
    say: int = 0  # width of the message part (MPE's dim_c for agents that are not silent), 0: silent
    named: tuple[str, ...] = ()  # named discrete actions after the 5 movement choices (a = 5 + i)

    def index(self, name: str) -> int:
        """The action value of the named action ``name`` (``zap`` → 5 when it is the first)."""
        return (len(MOVE_DIRECTIONS) if self.moves else 0) + self.named.index(name)

    @property
    def discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def per_agent_shape(self) -> tuple[int, ...]:
        """Shape of one agent's action: ``()`` for discrete, ``(n,)`` for continuous."""
        return () if self.discrete else (self.n,)

    def dtype(self, float_dtype: torch.dtype) -> torch.dtype:
        return torch.int64 if self.discrete else float_dtype

    def zeros(self, batch: tuple[int, ...], float_dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
        """The "do nothing" action for every agent in ``batch`` (e.g. ``(B, A)``)."""
        return torch.zeros(batch + self.per_agent_shape, dtype=self.dtype(float_dtype), device=device)

    def sample(self, batch: tuple[int, ...], generator: torch.Generator | None, float_dtype: torch.dtype,
               device: torch.device | str) -> torch.Tensor:
        """Uniformly random actions for every agent in ``batch``, drawn from ``generator``."""
        if self.discrete:
            return torch.randint(0, self.n, batch, generator=generator, device=device)
        u = torch.rand(batch + self.per_agent_shape, generator=generator, device=device, dtype=float_dtype)
        return self.low + (self.high - self.low) * u

    def describe(self) -> str:
        if self.say and self.discrete:
            parts = (f"move = a % 5 ({', '.join(MOVE_LABELS)}), " if self.moves else "") + \
                (f"message = a // 5 of {self.say}" if self.moves else f"message {self.say}-way")
            return f"an integer in 0..{self.n - 1} ({parts})"
        if self.say:
            head = "5 movement values, then " if self.moves else ""
            return f"{self.n} floats in [{self.low:g}, {self.high:g}] ({head}{self.say} message values)"
        if self.discrete:
            return f"an integer in 0..{self.n - 1} ({', '.join(self.labels)})"
        return f"{self.n} floats in [{self.low:g}, {self.high:g}] ({', '.join(self.labels)})"

    def move_part(self, action: torch.Tensor) -> torch.Tensor | None:
        """The movement part of ``action`` (MPE's layout: discrete ``a % 5``, continuous the first 5), or
        None when the agents do not move."""
        if not self.moves:
            return None
        if self.named:  # a named action does not move
            return torch.where(action < len(MOVE_DIRECTIONS), action, torch.zeros_like(action))
        if not self.say:
            return action
        return action % len(MOVE_DIRECTIONS) if self.discrete else action[..., :len(MOVE_DIRECTIONS)]

    def message(self, action: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The message part as MPE's channel ``c`` ``[..., say]``: one-hot for discrete, the values for
        continuous."""
        if self.discrete:
            word = action // len(MOVE_DIRECTIONS) if self.moves else action
            return torch.nn.functional.one_hot(word, self.say).to(dtype)
        return action[..., len(MOVE_DIRECTIONS) if self.moves else 0:]

    def from_directions(self, held: list[str], float_dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The action for held movement keys (``"up"``, ``"left"``, … most recent last): the keyboard in play."""
        index = {"left": 1, "right": 2, "down": 3, "up": 4}
        if self.discrete:
            return torch.tensor(index[held[-1]] if held and self.moves else 0, dtype=torch.int64)
        a = torch.zeros(self.n, dtype=float_dtype)
        for d in held if self.moves else ():
            a[index[d]] = self.high
        return a

    def gym_space(self, agents: int | None = None):
        """The Gymnasium space of one agent (``agents=None``) or of ``agents`` stacked agents."""
        import numpy as np
        from gymnasium import spaces

        if self.discrete:
            return spaces.Discrete(self.n) if agents is None else spaces.MultiDiscrete([self.n] * agents)
        shape = self.per_agent_shape if agents is None else (agents,) + self.per_agent_shape
        return spaces.Box(self.low, self.high, shape, np.float32)


DISCRETE_MOVE = ActionSpace("discrete", len(MOVE_DIRECTIONS), MOVE_LABELS)
#: MPE's continuous layout: ``[no-op, -x, +x, -y, +y]`` in [0, 1]; force = ``(a2 - a1, a4 - a3) × accel``.
CONTINUOUS_MOVE = ActionSpace("continuous", len(MOVE_DIRECTIONS), MOVE_LABELS)


@functools.cache
def movement(kind: str, moves: bool = True, say: int = 0, named: tuple[str, ...] = ()) -> ActionSpace:
    """The action space named by a world file's ``action: discrete | continuous`` (``{type, moves, say}``).

    Named actions (``zap``, ``pick_up``) follow the movement choices: ``Discrete(5 + len(named))``,
    ``a = 5 + i`` takes the i-th named action and does not move that tick (Melting Pot's layout).
    With a message part (``say`` > 0) the layout is MPE's: discrete actions are flattened as
    ``a = move + 5 × word`` (``Discrete(5 × say)``; ``Discrete(say)`` for agents that do not move), so
    ``simple_reference``'s ``Discrete(50)`` is exact; continuous ones are 5 movement values then ``say``
    message values.
    """
    k = len(MOVE_DIRECTIONS) if moves else 0
    if named:  # discrete only (checked by the world format): movement choices, then the named actions
        labels = (MOVE_LABELS if moves else ()) + tuple(named)
        return ActionSpace("discrete", len(labels), labels, moves=moves, named=tuple(named))
    if moves and not say:
        return DISCRETE_MOVE if kind == "discrete" else CONTINUOUS_MOVE
    if kind == "discrete":
        n = max(k, 1) * say
        labels = tuple(f"{MOVE_LABELS[a % k]}+say{a // k}" if k else f"say{a}" for a in range(n)) if say else ("no-op",)
        return ActionSpace("discrete", n, labels, moves=moves, say=say)
    labels = (MOVE_LABELS if moves else ()) + tuple(f"say{i}" for i in range(say))
    return ActionSpace("continuous", max(k + say, 1), labels or ("no-op",), moves=moves, say=say)


def direction_table(dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """``[n, 2]`` unit force per discrete movement choice."""
    return torch.tensor(MOVE_DIRECTIONS, dtype=dtype, device=device)


def discrete_action_force(action: torch.Tensor, accel: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``action [B, A]`` ints → force ``[B, A, 2]`` = direction × accel."""
    return table[action] * accel.unsqueeze(-1)


def continuous_action_force(action: torch.Tensor, accel: torch.Tensor) -> torch.Tensor:
    """MPE's continuous layout ``[B, A, n]`` → force ``(a2 - a1, a4 - a3) × accel``."""
    u = torch.stack((action[..., 2] - action[..., 1], action[..., 4] - action[..., 3]), dim=-1)
    return u * accel.unsqueeze(-1)


def direction_to_action(space: ActionSpace, direction: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Desired directions ``[B, A, 2]`` → the movement action that best follows them (scripted NPCs).

    Discrete: the choice whose unit force points most along the direction (no-op scores 0, so it is
    chosen only when nothing is better). Continuous: the normalised direction split into MPE's layout.
    """
    if not space.moves:
        return space.zeros(direction.shape[:-1], direction.dtype, direction.device)
    if space.discrete:
        return (direction @ table.T).argmax(-1)  # message 0
    n = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    zero = torch.zeros_like(n[..., 0])
    move = torch.stack((zero, (-n[..., 0]).clamp_min(0), n[..., 0].clamp_min(0), (-n[..., 1]).clamp_min(0),
                        n[..., 1].clamp_min(0)), dim=-1)
    return torch.cat([move, move.new_zeros(move.shape[:-1] + (space.say,))], -1) if space.say else move
