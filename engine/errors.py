"""User-facing errors.

worldloom separates *user errors* (a bad world file, a bad override, a model whose contract does not
match its binding) from bugs. User errors carry enough context to be printed as one line —
``file:line:col: key.path: what was expected, what was found`` — and make the CLI exit with status 2
without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """An error caused by the user's input; the CLI prints it as one message and exits 2."""


class WorldError(UserError):
    """A problem in a world file or an override, located by ``where`` (``file:line:col`` or ``--set k=v``).

    Example:
        >>> str(WorldError("expected an integer >= 0, got -3", where="tag.yaml:4:12", path="entities.prey.count"))
        'tag.yaml:4:12: entities.prey.count: expected an integer >= 0, got -3'
    """

    def __init__(self, message: str, *, where: str | None = None, path: str | None = None) -> None:
        self.message = message
        self.where = where
        self.path = path
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [p for p in (self.where, self.path) if p]
        return ": ".join(parts + [self.message])


def _user_frame(tb, user_file: str | None) -> tuple[str, int] | None:
    """The deepest traceback frame in the user's file (or, failing that, outside engine/ and torch)."""
    import os
    import traceback

    frames = traceback.extract_tb(tb)
    if user_file:
        target = os.path.realpath(user_file)
        mine = [f for f in frames if os.path.realpath(f.filename) == target]
        if mine:
            return mine[-1].filename, mine[-1].lineno or 0
    engine_dir = os.path.dirname(os.path.abspath(__file__))
    for f in reversed(frames):
        path = os.path.abspath(f.filename)
        if not path.startswith(engine_dir) and "site-packages" not in path and "<" not in f.filename:
            return f.filename, f.lineno or 0
    return None


class UserCodeError(UserError):
    """An exception raised by the user's own code (a system, a term, a factory, an extension).

    The message names the world-file location that named the code and the user's ``file:line``;
    the original exception is chained (``__cause__``), and the CLI's ``--traceback`` prints it.

    Example:
        >>> try:
        ...     raise ZeroDivisionError("division by zero")
        ... except ZeroDivisionError as e:
        ...     err = UserCodeError.from_exception("system 'mine'", e, None, where="w.yaml:3:5")
        >>> str(err).startswith("w.yaml:3:5: system 'mine' raised ZeroDivisionError: division by zero")
        True
    """

    def __init__(self, message: str, *, where: str | None = None, user_frame: tuple[str, int] | None = None) -> None:
        self.message, self.where, self.user_frame = message, where, user_frame
        parts = [p for p in (where, message) if p]
        text = ": ".join(parts)
        if user_frame is not None:
            text += f" (at {user_frame[0]}:{user_frame[1]})"
        super().__init__(text)

    @classmethod
    def from_exception(cls, what: str, exc: BaseException, user_file: str | None, *,
                       where: str | None = None) -> UserCodeError:
        frame = _user_frame(exc.__traceback__, str(user_file) if user_file else None)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        msg = f"{what} raised {type(exc).__name__}" + (f": {detail}" if detail else "")
        return cls(msg, where=where, user_frame=frame)


class ActionError(UserError, ValueError):
    """Actions that do not fit the agent group's action space (shape, type, range, finiteness).

    A ``ValueError`` too, so code that caught the shape errors of earlier versions keeps working.
    """
