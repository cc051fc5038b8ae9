"""Built-in systems and how a world file's ``systems:`` list becomes callables.

A system is a plain function ``fn(state: dict) -> None`` that replaces entries of the state dict
with new tensors. Built-ins are created by factories from their validated parameters; user systems
are named by dotted path (``{system: mypkg.systems.gravity, params: {...}}``) and are called as
``factory(env, **params)`` when the object is a factory marked with ``worldloom_factory = True``, or
used directly as ``fn(state)`` otherwise. No registry edit is ever needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.world.env import BuildEnv
from engine.world.spec import fld, parse_dataclass


@dataclass
class System:
    """One entry of the tick: a name (for profiles and messages), the function, and what it controls."""

    name: str
    fn: Callable[[dict], None]
    controls: tuple[str, ...] = ()
    compilable: bool = True
    path: tuple = ()
    replaces: str | None = None
    meta: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class UserSystem:
    """A user system found by dotted path."""

    system: str = fld(doc="Dotted path of the function (or factory) to call each tick.")
    params: dict[str, Any] = fld(factory=dict, doc="Keyword arguments for a factory.")
    name: str | None = fld(None, doc="Name in profiles (default: the function's name).")
    controls: list[str] = fld(factory=list, doc="Agent groups whose actions it writes.")
    compile: bool = fld(True, doc="false: keep it out of torch.compile (e.g. it calls non-torch code).")


def _physics(env: BuildEnv, p, path):
    from engine.systems.physics import make_physics

    return make_physics(env, p)


def _bounds(env: BuildEnv, p, path):
    from engine.systems.physics import make_bounds

    return make_bounds(env.params.arena, p.mode, env.dtype, env.device)


def _chase(env, p, path):
    from engine.systems.scripted import make_chase

    return make_chase(env, p, path)


def _flee(env, p, path):
    from engine.systems.scripted import make_flee

    return make_flee(env, p, path)


def builtin_systems() -> dict[str, tuple[type, Callable]]:
    """name → (params class, factory(env, params, path) -> fn)."""
    from engine.systems.physics import BoundsParams, PhysicsParams
    from engine.systems.scripted import ChaseParams, FleeParams

    return {
        "physics": (PhysicsParams, _physics),
        "bounds": (BoundsParams, _bounds),
        "scripted_chase": (ChaseParams, _chase),
        "scripted_flee": (FleeParams, _flee),
    }


def build_system(env: BuildEnv, entry: Any, path: tuple) -> System:
    """One item of ``systems:`` → a ``System``; every mistake is a located error."""
    import difflib

    from engine.world.dotted import import_dotted

    registry = builtin_systems()
    if isinstance(entry, dict) and "system" in entry:
        us = parse_dataclass(UserSystem, entry, env.ctx, path)
        obj = import_dotted(us.system, env.ctx, path + ("system",), str(env.loaded.base_dir))
        if getattr(obj, "worldloom_factory", False):
            try:
                fn = obj(env, **us.params)
            except TypeError as e:
                raise env.ctx.error(path + ("params",), f"bad parameters for {us.system!r}: {e}") from None
        else:
            if us.params:
                raise env.ctx.error(path + ("params",), f"{us.system!r} is a plain system (fn(state)); "
                                                        "expected no params (mark a factory with "
                                                        "worldloom_factory = True)")
            fn = obj
        return System(us.name or getattr(obj, "__name__", us.system), fn, tuple(us.controls),
                      us.compile, path)
    if isinstance(entry, str):
        name, params = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        name, params = next(iter(entry.items()))
        params = {} if params is None else params
    else:
        raise env.ctx.error(path, "expected a system name, {name: {params}}, or {system: dotted.path}, "
                                  f"got {entry!r}")
    if name not in registry:
        close = difflib.get_close_matches(str(name), list(registry), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise env.ctx.error(path, f"unknown system {name!r}{hint}; built-ins: {', '.join(registry)}; "
                                  "or use {system: package.module.function}")
    params_cls, factory = registry[name]
    ppath = path if isinstance(entry, str) else path + (name,)
    p = parse_dataclass(params_cls, params, env.ctx, ppath)
    fn = factory(env, p, ppath)
    return System(name, fn, tuple(getattr(fn, "controls", ())), True, path)
