"""Built-in systems, and how a world file's ``systems:`` list becomes declared systems.

An entry of ``systems:`` is one of

* a registered kind by name — ``physics``, ``{bounds: {mode: bounce}}``, ``lifecycle`` and ``rules``
  (placing them; by default both run after the world's systems, rules first) or a kind a world
  extension registered;
* a user system by dotted path — ``{system: rules.gravity, params: {...}, reads: [...], writes:
  [...], state: {...}}`` — a plain ``fn(state)``, or one declared with ``@engine.extend.system``
  (which may take ``params`` and declare state), resolved under the trust policy.

Every system becomes a ``SystemDecl`` in the ``update`` stage, in file order.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from engine.core.app import App, UserCodeCheck, source_file
from engine.core.kinds import SystemKind, UserSystem
from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.errors import UserCodeError
from engine.world.schema import MAX_ITEM_ELEMENTS, MAX_SHAPE_DIM, check_shape
from engine.world.validation import fld, named_entry, parse_dataclass


@dataclass(kw_only=True)
class StateEntry:
    """A state entry a user system declares in the world file."""

    scope: str = fld("entity", doc="entity [B, N, ...], world [B, ...], global [...], or agent/group with group:.")
    shape: list[int] = fld(factory=list, ge=1, le=MAX_SHAPE_DIM, max_items=4,
                           doc=f"Shape of one item ([] = scalar); at most {MAX_ITEM_ELEMENTS:,} elements.")
    dtype: str = fld("float", doc="float (the world's), float32, float64, int32, int64, bool.")
    default: Any = fld(0, doc="Starting value (a number, or a nested list of one world's shape).")
    reset: str = fld("default", doc="At episode reset: default, keep, or copy:<other entry>.")
    group: str | None = fld(None, doc="agent/group scope: the agent group.")
    record: bool = fld(False, doc="Store it in recordings.")
    doc: str = fld("", doc="What it holds.")

    def __check__(self, ctx, path: tuple) -> None:
        check_shape(self.shape, ctx, path + ("shape",))


@dataclass(kw_only=True)
class UserSystemEntry:
    """A user system found by dotted path."""

    system: str = fld(doc="Dotted path of the function (or declared system) to call each tick.")
    params: dict[str, Any] = fld(factory=dict, doc="Parameters of a system declared with params=.")
    name: str | None = fld(None, doc="Name in profiles and messages (default: the function's name).")
    controls: list[str] = fld(factory=list, doc="Agent groups whose actions it writes.")
    compile: bool = fld(True, doc="false: keep it out of torch.compile (e.g. it calls non-torch code).")
    reads: list[str] | None = fld(None, doc="State it reads (checked at load).")
    writes: list[str] | None = fld(None, doc="State it writes (checked at load).")
    state: dict[str, StateEntry] = fld(factory=dict, doc="State it owns: name → {scope, shape, dtype, default, "
                                                         "reset, doc}.")


def _physics(app: App, p, path):
    from engine.systems.physics import make_physics

    return make_physics(app, p, path)


def _bounds(app: App, p, path):
    from engine.systems.physics import make_bounds

    return make_bounds(app.params.arena, p.mode, app.dtype, app.device)


def _chase(app: App, p, path):
    from engine.systems.scripted import make_chase

    return SystemDecl("scripted_chase", make_chase(app, p, path), controls=(p.agents,), path=path)


def _flee(app: App, p, path):
    from engine.systems.scripted import make_flee

    return SystemDecl("scripted_flee", make_flee(app, p, path), controls=(p.agents,), path=path)


def _lifecycle(app: App, p, path):
    from engine.systems.lifecycle import make_lifecycle

    decl = make_lifecycle(app, path)
    if decl is None:
        raise app.ctx.error(path, "lifecycle is listed in systems: but no entity type declares lifecycle rules "
                                  "(entities.<type>.lifecycle); remove it or add the rules")
    return decl


def _rules(app: App, p, path):
    from engine.rules.system import install_rules

    return install_rules(app, path)


def builtin_system_kinds() -> list[SystemKind]:
    from engine.rules.system import RulesParams
    from engine.systems.lifecycle import LifecycleParams
    from engine.systems.physics import BoundsParams, PhysicsParams
    from engine.systems.scripted import ChaseParams, FleeParams

    return [
        SystemKind("physics", _physics, PhysicsParams, "actions → forces, soft contacts, integration (MPE)"),
        SystemKind("bounds", _bounds, BoundsParams, "keep entities inside the arena"),
        SystemKind("scripted_chase", _chase, ChaseParams, "move agents toward the nearest target"),
        SystemKind("scripted_flee", _flee, FleeParams, "move agents away from threats"),
        SystemKind("lifecycle", _lifecycle, LifecycleParams, "despawn on contact, respawn, agent death"),
        SystemKind("rules", _rules, RulesParams, "the world's rules: (when → do), timers, events"),
    ]


def _as_decl(result: Any, name: str, path: tuple) -> SystemDecl:
    if isinstance(result, SystemDecl):
        if not result.path:
            result.path = path
        return result
    return SystemDecl(name, result, path=path)


def build_system(app: App, entry: Any, path: tuple) -> SystemDecl:
    """One item of ``systems:`` → a ``SystemDecl``; every mistake is a located error."""
    if isinstance(entry, dict) and "system" in entry:
        return _user_system(app, parse_dataclass(UserSystemEntry, entry, app.ctx, path), path)
    name, params = named_entry(app.ctx, entry, path, "a system name, {name: {params}}, or {system: dotted.path}")
    if name not in app.system_kinds:
        raise app.ctx.error(path, app.lookup(app.system_kinds, name, "system") +
                            "; or use {system: module.function}")
    kind = app.system_kinds[name]
    ppath = path if isinstance(entry, str) else path + (name,)
    p = parse_dataclass(kind.params, params, app.ctx, ppath) if kind.params is not None else params
    return _as_decl(kind.factory(app, p, ppath), name, path)


def build_systems(app: App, plan) -> None:
    """The world's ``systems:`` into the ``update`` stage; ``lifecycle`` at its default place unless listed."""
    listed = rules_listed = False
    for i, entry in enumerate(app.loaded.spec.systems):
        decl = build_system(app, entry, ("systems", i))
        listed |= entry == "lifecycle" or (isinstance(entry, dict) and "lifecycle" in entry)
        rules_listed |= entry == "rules" or (isinstance(entry, dict) and "rules" in entry)
        app.add_system(decl)
    if not rules_listed:
        from engine.rules.system import install_rules

        decl = install_rules(app)
        if decl is not None:
            app.add_system(decl)
    if not listed:
        from engine.systems.lifecycle import make_lifecycle

        decl = make_lifecycle(app, ("entities",))
        if decl is not None:
            decl.stage = "post_update"
            app.add_system(decl)


def _reserve_yaml_state(app: App, name: str, e: StateEntry, path: tuple) -> None:
    """Check a YAML state entry's default and count its size in the memory budget before it is allocated."""
    from engine.world.budget import ITEMSIZE
    from engine.world.values import check_value

    dtype = app.ctx.float_dtype if e.dtype == "float" else e.dtype
    if dtype in ITEMSIZE and dtype not in ("int8", "uint8"):
        check_value(app.ctx, path + ("state", name, "default"), e.default, None, dtype)
    lead = {"entity": app.layout.n, "agent": getattr(app.groups.get(e.group or ""), "size", 1)}.get(e.scope, 1)
    size = lead * ITEMSIZE.get(dtype, 8)
    for d in e.shape:
        size *= d
    app.reserve(size, f"state {name!r} ({e.scope} {list(e.shape)} {e.dtype})", path + ("state", name),
                "make its shape smaller", work=False)


def _declare_yaml_state(app: App, us: UserSystemEntry, owner: str, path: tuple) -> None:
    for name, e in us.state.items():
        _reserve_yaml_state(app, name, e, path)
        try:
            decl = StateDecl(name, e.scope, tuple(e.shape), e.dtype, e.default, e.reset, e.group, owner, e.record,
                             None, e.doc)
        except ValueError as err:
            raise app.ctx.error(path + ("state", name), str(err)) from None
        try:
            app.state.declare(decl)
        except (ValueError, TypeError, RuntimeError) as err:
            raise app.ctx.error(path + ("state", name), str(err)) from None


def _user_system(app: App, us: UserSystemEntry, path: tuple) -> SystemDecl:
    obj = app.resolve(us.system, path + ("system",))
    label = us.name or getattr(getattr(obj, "fn", obj), "__name__", us.system)
    what = f"system {us.system!r}"
    user_file = source_file(obj)
    _declare_yaml_state(app, us, label, path)
    reads, writes, controls, compilable = us.reads, us.writes, list(us.controls), us.compile
    if isinstance(obj, UserSystem):
        for decl in obj.state:
            app.add_state(decl)
        reads = reads if reads is not None else obj.reads
        writes = writes if writes is not None else obj.writes
        controls += [c for c in obj.controls if c not in controls]
        compilable = compilable and obj.compile
        fn = _user_factory(app, obj, us, what, path, user_file) if obj.params is not None else obj.fn
    elif getattr(obj, "worldloom_factory", False):
        warnings.warn(f"{us.system}: `worldloom_factory = True` is deprecated; declare the system with "
                      "@engine.extend.system(params=...) instead (docs/extending.md)", DeprecationWarning, stacklevel=2)
        fn = app.call_user(what, path + ("params",), obj, app, **us.params, user_file=user_file)
    elif callable(obj):
        if us.params:
            raise app.ctx.error(path + ("params",), f"{us.system!r} is a plain system fn(state); expected no "
                                                    "params (declare it with @engine.extend.system(params=...))")
        fn = obj
    else:
        raise app.ctx.error(path + ("system",), f"expected {us.system!r} to be a function, got {type(obj).__name__}")
    decl = SystemDecl(label, _guard_system(fn, what, app.ctx.where(path), user_file),
                      tuple(reads) if reads is not None else None, tuple(writes) if writes is not None else None,
                      tuple(controls), compilable, "update", path, user_file)
    app.add_user_check(UserCodeCheck(what, path, decl.fn, user_file))
    return decl


def _user_factory(app: App, obj: UserSystem, us: UserSystemEntry, what: str, path: tuple, user_file):
    params = parse_dataclass(obj.params, us.params, app.ctx, path + ("params",))
    return app.call_user(what, path + ("params",), obj.fn, app, params, user_file=user_file)


def _guard_system(fn, what: str, where: str, user_file: str | None):
    from engine.terms.user import guarded

    call = guarded(fn, what, where, user_file)

    def system(state: dict) -> None:
        call(state)

    system.__name__ = getattr(fn, "__name__", "system")
    return system


__all__ = ["build_system", "build_systems", "builtin_system_kinds", "UserCodeError"]
