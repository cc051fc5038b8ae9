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
