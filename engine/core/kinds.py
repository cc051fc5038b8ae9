"""Kinds: the named things a world file can use — systems, observation terms, reward terms, plugins.

A kind pairs a name with a parameters dataclass (validated from YAML with located errors) and a
factory that turns validated parameters into tensor functions at build time. Built-ins are kinds;
a user's own are the same objects, made with the decorators below and named by dotted path in the
world file (or registered by an extension's ``build(app)`` under a short name)::

    from engine.extend import system, observation, StateDecl

    @system(state=[StateDecl("energy", "entity", default=1.0, owner="drain")], reads=["energy"], writes=["energy"])
    def drain(state):
        state["energy"] = state["energy"] - 0.01

    @observation(size=1)
    def energy(state, group):
        return state["energy"][:, group.sl].unsqueeze(-1)

Factories receive the ``App`` (``engine.core.app``): layout, groups, device, and the declaration
methods. See docs/extending.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.core.state import StateDecl


@dataclass(frozen=True)
class SystemKind:
    """``factory(app, params, path) -> fn(state) | SystemDecl``; ``params`` a dataclass or None."""

    name: str
    factory: Callable[..., Any]
    params: type | None = None
    doc: str = ""


@dataclass(frozen=True)
class ObservationKind:
    """``factory(app, group, params, path) -> (size, fn(state) -> [B, A, size])``."""

    name: str
    factory: Callable[..., Any]
    params: type | None = None
    doc: str = ""


@dataclass(frozen=True)
class RewardKind:
    """``factory(app, group, params, path) -> fn(state, alive_before) -> [B, A]``."""

    name: str
    factory: Callable[..., Any]
    params: type | None = None
    doc: str = ""


@dataclass(frozen=True)
class PluginKind:
    """``factory(app, name, spec, path)`` binds one ``plugins:`` entry (an ONNX model) into the build."""

    kind: str
    factory: Callable[..., Any]
    doc: str = ""


@dataclass(frozen=True)
class UserSystem:
    """A user system declared with ``@system``: the function and what it declares.

    With ``params`` (a dataclass), ``fn`` is a factory ``fn(app, params) -> tick function``;
    without, ``fn`` is the tick function ``fn(state)`` itself.
    """

    fn: Callable[..., Any]
    params: type | None = None
    reads: tuple[str, ...] | None = None
    writes: tuple[str, ...] | None = None
    controls: tuple[str, ...] = ()
    compile: bool = True
    state: tuple[StateDecl, ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


@dataclass(frozen=True)
class UserTerm:
    """A user observation (``size`` set) or reward term declared with ``@observation`` / ``@reward``."""

    fn: Callable[..., Any]
    size: int | None = None
    state: tuple[StateDecl, ...] = field(default=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _names(x: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if x is None else tuple(x)


def system(fn: Callable | None = None, *, params: type | None = None, reads: Sequence[str] | None = None,
           writes: Sequence[str] | None = None, controls: Sequence[str] = (), compile: bool = True,
           state: Sequence[StateDecl] = ()) -> Any:
    """Declare a user system (decorator). See the module docstring and docs/extending.md."""
    def wrap(f: Callable) -> UserSystem:
        return UserSystem(f, params, _names(reads), _names(writes), tuple(controls), compile, tuple(state))

    return wrap(fn) if fn is not None else wrap


def observation(fn: Callable | None = None, *, size: int, state: Sequence[StateDecl] = ()) -> Any:
    """Declare a user observation term ``fn(state, group) -> [B, A, size]`` (decorator)."""
    def wrap(f: Callable) -> UserTerm:
        return UserTerm(f, size, tuple(state))

    return wrap(fn) if fn is not None else wrap


def reward(fn: Callable | None = None, *, state: Sequence[StateDecl] = ()) -> Any:
    """Declare a user reward term ``fn(state, group) -> [B, A]`` (decorator)."""
    def wrap(f: Callable) -> UserTerm:
        return UserTerm(f, None, tuple(state))

    return wrap(fn) if fn is not None else wrap
