"""User-written observation and reward terms: resolved under the trust policy, checked at load.

A term named by dotted path may be a plain function ``fn(state, group)`` or one declared with
``@engine.extend.observation(size=...)`` / ``@reward`` (which may also declare state). Each is
dry-run once when the world loads (``Sim`` runs the checks on a copy of the first state): a
misspelled state key, an exception or a result of the wrong shape is a ``UserCodeError`` naming
the world-file location and the user's ``file:line`` — never a matrix-multiply error at training.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from engine.core.app import App, UserCodeCheck, source_file
from engine.core.kinds import UserTerm
from engine.errors import UserCodeError
from engine.world.env import GroupPlan


def _unwrap(app: App, dotted: str, path: tuple) -> tuple[Callable, int | None]:
    obj = app.resolve(dotted, path)
    if isinstance(obj, UserTerm):
        for decl in obj.state:
            app.add_state(decl)
        return obj.fn, obj.size
    if not callable(obj):
        raise app.ctx.error(path, f"expected {dotted!r} to be a function fn(state, group), got {type(obj).__name__}")
    return obj, None


def guarded(fn: Callable, what: str, where: str, user_file: str | None) -> Callable:
    """``fn`` that turns an exception into a located ``UserCodeError`` (eager only: a compiled tick
    calls ``fn`` directly, and the runner re-runs a failing compiled segment eagerly to locate it)."""
    def call(*args: Any) -> Any:
        if torch.compiler.is_compiling():
            return fn(*args)
        try:
            return fn(*args)
        except UserCodeError:
            raise
        except Exception as e:
            raise UserCodeError.from_exception(what, e, user_file, where=where) from e

    return call


def _check_result(out: Any, want: tuple, what: str, where: str, user_file: str | None, hint: str) -> None:
    if not isinstance(out, torch.Tensor):
        raise UserCodeError(f"{what} returned {type(out).__name__}; expected a tensor of shape {list(want)}",
                            where=where, user_frame=(user_file, 0) if user_file else None)
    if tuple(out.shape) != want:
        raise UserCodeError(f"{what} returned shape {list(out.shape)}; expected {list(want)} {hint}",
                            where=where, user_frame=(user_file, 0) if user_file else None)


def user_observation(app: App, group: GroupPlan, dotted: str, size: int | None, path: tuple):
    """``(size, term)`` for a user observation term, with its load-time check registered."""
    fn, declared = _unwrap(app, dotted, path + ("fn",))
    if size is None and declared is None:
        raise app.ctx.error(path, f"expected size: the number of features {dotted!r} returns per agent")
    if size is not None and declared is not None and size != declared:
        raise app.ctx.error(path + ("size",), f"expected {declared} ({dotted!r} declares size={declared}), got {size}")
    size = size if size is not None else declared
    what, where, user_file = f"observation term {dotted!r}", app.ctx.where(path), source_file(fn)
    call = guarded(fn, what, where, user_file)

    def term(state: dict) -> torch.Tensor:
        return call(state, group)

    def check(state: dict) -> None:
        B = state["alive"].shape[0]
        _check_result(term(state), (B, group.size, size), what, where, user_file,
                      f"([worlds, agents of {group.name!r}, size]: fix the function or the size: in the world file)")

    app.add_user_check(UserCodeCheck(what, path, check, user_file))
    return size, term


def user_reward(app: App, group: GroupPlan, dotted: str, path: tuple):
    """The term function of a user reward, with its load-time check registered."""
    fn, _ = _unwrap(app, dotted, path + ("fn",))
    what, where, user_file = f"reward term {dotted!r}", app.ctx.where(path), source_file(fn)
    call = guarded(fn, what, where, user_file)

    def term(state: dict, alive_before: torch.Tensor) -> torch.Tensor:
        return call(state, group)

    def check(state: dict) -> None:
        B = state["alive"].shape[0]
        _check_result(term(state, state["alive"]), (B, group.size), what, where, user_file,
                      f"([worlds, agents of {group.name!r}])")

    app.add_user_check(UserCodeCheck(what, path, check, user_file))
    return term
