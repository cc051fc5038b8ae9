"""Input for the play loop: key bindings, scripted key events, and held keys → the controlled agent's action.

The keyboard never assumes an action layout: the held directions go to the group's
:class:`~engine.core.actions.ActionSpace` (``from_directions``), which knows what a direction means in
its own space (a discrete choice, a continuous vector, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.render.window import InputEvent

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.core.actions import ActionSpace

DIRECTIONS = ("left", "right", "down", "up")
DEFAULT_CONTROLS = {"up": ["UP", "W"], "down": ["DOWN", "S"], "left": ["LEFT", "A"], "right": ["RIGHT", "D"]}
COMMAND_KEYS = {"TAB": "next_agent", "P": "pause", "N": "step", "R": "reset", "L": "learned", "F5": "snapshot",
                "F9": "restore", "F6": "reload", "F12": "screenshot", "V": "video", "H": "help", "ESCAPE": "quit",
                "G": "reanchor", "X": "hide_real"}


class Controls:
    """Key bindings for the controlled agent and the action the held keys mean.

    ``bindings`` is the world file's ``render.controls`` (direction → key names, several separated by
    commas); a direction it names replaces that direction's defaults (arrows + WASD).

    >>> c = Controls({"up": "I"})
    >>> c.direction_of("I"), c.direction_of("W"), c.direction_of("RIGHT")
    ('up', None, 'right')
    """

    def __init__(self, bindings: Mapping[str, str] | None = None, valid_keys: set[str] | None = None,
                 actions: Mapping[str, str] | None = None) -> None:
        keys = {d: list(v) for d, v in DEFAULT_CONTROLS.items()}
        for direction, value in (bindings or {}).items():
            keys[direction] = _parse_binding(direction, value, valid_keys)
        for name, value in (actions or {}).items():  # named actions (zap: SPACE) from the world file
            keys[name] = _parse_binding(name, value, valid_keys, f"agents.<group>.action.actions.{name}.key")
        self._direction = {k: d for d, names in keys.items() for k in names}
        self.keys = keys

    def direction_of(self, key: str) -> str | None:
        return self._direction.get(key)

    def describe(self) -> str:
        return " ".join(f"{d}:{'/'.join(k)}" for d, k in self.keys.items())


def _parse_binding(direction: str, value: Any, valid_keys: set[str] | None, where: str | None = None
                   ) -> list[str]:
    """``render.controls.<direction>`` (or a named action's ``key``) → key names; a ``UserError`` naming the
    bad direction or key."""
    where = where or f"render.controls.{direction}"
    if where.startswith("render.") and direction not in DEFAULT_CONTROLS:
        raise UserError(f"render.controls: unknown direction {direction!r}; expected up, down, left, right")
    names = [k.strip().upper() for k in str(value).replace("/", ",").split(",") if k.strip()]
    if not names:
        raise UserError(f"{where}: expected a key name such as W or UP, got {value!r}")
    for name in names:
        if valid_keys is not None and name not in valid_keys:
            examples = "A..Z, 0..9, UP, DOWN, LEFT, RIGHT, SPACE, KP_8, F1.."
            raise UserError(f"{where}: unknown key {value!r}; expected a glfw key name ({examples})")
    return names


def action_keys(groups) -> dict[str, str]:
    """Named action → its key, from every agent group's ``action.actions.<name>.key``."""
    out: dict[str, str] = {}
    for g in groups.values():
        for name, na in g.spec.action.actions.items():
            if na.key is not None:
                out.setdefault(name, na.key)
    return out


def valid_key_names() -> set[str] | None:
    """Every glfw key name, or None without glfw (bindings then go unchecked; scripted keys still work)."""
    from engine.render.window import key_names

    try:
        return set(key_names().values())
    except ImportError:
        return None


def apply_key(controls: Controls, held: list[str], key: str, action: str) -> str | None:
    """Apply one key event: a movement key updates ``held`` (most recent last); a pressed command key
    returns its command name (see :data:`COMMAND_KEYS`). Movement bindings win over command keys.

    >>> held = []
    >>> apply_key(Controls(), held, "RIGHT", "press"), held
    (None, ['right'])
    >>> apply_key(Controls(), held, "P", "press")
    'pause'
    """
    direction = controls.direction_of(key)
    if direction is not None:
        if action == "press" and direction not in held:
            held.append(direction)
        elif action == "release" and direction in held:
            held.remove(direction)
        return None
    if action != "press":
        return None
    return COMMAND_KEYS.get(key)


def keyboard_action(space: ActionSpace, held: list[str], like: torch.Tensor) -> torch.Tensor:
    """One agent's action for the held keys, in its group's action space: the most recent held named
    action of the space (``zap``) if any, else the held directions.

    ``like`` is the group's action tensor: a floating one gives the dtype of a continuous action.

    >>> import torch
    >>> from engine.core.actions import movement
    >>> keyboard_action(movement("discrete"), ["up", "right"], torch.zeros(1, 3, dtype=torch.int64)).item()
    2
    >>> keyboard_action(movement("discrete", named=("zap",)), ["up", "zap"], torch.zeros(1, dtype=torch.int64)).item()
    5
    """
    import torch

    named = [h for h in held if h in space.named]
    if named:
        return torch.tensor(space.index(named[-1]), dtype=torch.int64)
    directions = [h for h in held if h in DIRECTIONS]
    if like.is_floating_point():
        return space.from_directions(directions, like.dtype)
    return space.from_directions(directions)


@dataclass
class ScriptedEvent:
    at: float
    event: InputEvent


def load_script(path: str | Path) -> list[ScriptedEvent]:
    """Parse a ``--script`` file: one ``SECONDS ACTION [KEY]`` per line (``#`` comments).

    ACTION is ``down``/``up`` (hold/release a key), ``tap`` (press then release on the next frame)
    or ``quit``. Times are seconds since the loop started; keys are glfw names (``RIGHT``, ``P``)::

        0.5 down RIGHT
        1.5 up RIGHT
        2.0 tap P
        3.0 quit
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"--script {path}: cannot read it ({exc.strerror})") from None
    out: list[ScriptedEvent] = []
    for no, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if line:
            out.extend(_script_line(line, f"{p}:{no}", raw.strip()))
    out.sort(key=lambda e: e.at)
    return out


def _script_line(line: str, where: str, raw: str) -> list[ScriptedEvent]:
    """The events of one non-empty script line (a tap is a press and, just after, a release)."""
    parts = line.split()
    try:
        at = float(parts[0])
    except ValueError:
        raise UserError(f"{where}: expected SECONDS ACTION [KEY], got {raw!r}") from None
    action = parts[1].lower() if len(parts) > 1 else ""
    if action == "quit" and len(parts) == 2:
        return [ScriptedEvent(at, InputEvent("close"))]
    if action in ("down", "up", "tap") and len(parts) == 3:
        key = parts[2].upper()
        if action == "tap":
            return [ScriptedEvent(at, InputEvent("key", key=key, action="press")),
                    ScriptedEvent(at + 1e-6, InputEvent("key", key=key, action="release"))]
        return [ScriptedEvent(at, InputEvent("key", key=key, action="press" if action == "down" else "release"))]
    raise UserError(f"{where}: expected SECONDS down|up|tap KEY or SECONDS quit, got {raw!r}")
