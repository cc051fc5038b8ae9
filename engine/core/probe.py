"""The load-time dry run of user code: each piece runs once, eagerly, on a copy of the first state.

A state dict that knows what is declared turns a misspelled key into a message that names the key,
the closest declared one, the world-file location and the user's line — at load, not at tick 1 of
a training run. The copy keeps the Sim's own state untouched.
"""

from __future__ import annotations

import difflib

import torch

from engine.errors import UserCodeError, UserError


class UnknownStateKey(KeyError):
    """A user function read a state key that nothing declares."""


class ProbeState(dict):
    """A state dict whose missing keys raise ``UnknownStateKey`` with the closest declared name."""

    def __missing__(self, key: str):
        close = difflib.get_close_matches(str(key), [str(k) for k in self], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownStateKey(f"state {key!r} is not declared{hint}")


def run_checks(app, state: dict[str, torch.Tensor]) -> None:
    """Run every ``app.user_checks`` entry; raise a located ``UserCodeError`` on the first problem."""
    for check in app.user_checks:
        probe = ProbeState({k: v.clone() for k, v in state.items()})
        where = app.ctx.where(check.path)
        try:
            check.run(probe)
        except UserCodeError as e:
            cause = e.__cause__
            if isinstance(cause, UnknownStateKey):
                raise UserCodeError(f"{check.what} reads {cause.args[0]}; declare it (components:, a system's "
                                    "state:) or fix the name", where=where, user_frame=e.user_frame) from cause
            raise
        except UserError:
            raise
        except UnknownStateKey as e:
            raise UserCodeError.from_exception(check.what, e, check.user_file, where=where) from e
        except Exception as e:
            raise UserCodeError.from_exception(check.what, e, check.user_file, where=where) from e
