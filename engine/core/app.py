"""The App: what every extension's ``build(app)`` receives while a world is being built.

One mechanism extends the engine (bevy's ``Plugin::build``): built-in systems, observation terms,
reward terms and plugin kinds register through it, and so does a user's own extension named by a
dotted path. While building, an extension may

* declare state — ``app.add_state(StateDecl(...))`` (allocated, reset, snapshotted, recorded by the Sim);
* add systems — ``app.add_system(SystemDecl(...))`` at a stage of the schedule;
* register kinds the world file can then name — ``app.register_system(...)``,
  ``register_observation``, ``register_reward``, ``register_plugin_kind``;
* hook resets — ``add_reset_hook`` (fresh values, e.g. spawn draws) and ``add_derive_hook``
  (entries recomputed after a reset, e.g. observations).

The App also carries what factories read: the layout, agent groups, device, float dtype and
``ctx`` (which turns a key path of the world file into ``file:line:col`` for error messages).
After the build the schedule is frozen (``freeze``): nothing changes it once the Sim exists.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.core.kinds import ObservationKind, PluginKind, RewardKind, SystemKind
from engine.core.resolver import TrustPolicy, resolve
from engine.core.state import StateDecl, StateTable
from engine.core.system import STAGES, SystemDecl
from engine.errors import UserCodeError, UserError
from engine.world.env import BuildEnv


@dataclass
class UserCodeCheck:
    """A piece of user code to dry-run once at load, eagerly, on a copy of the first state."""

    what: str
    path: tuple
    run: Callable[[dict], None]
    user_file: str | None


@dataclass
class App(BuildEnv):
    """The build context (see the module docstring). Create it through ``engine.build.build_world``."""

    state: StateTable | None = None
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    system_kinds: dict[str, SystemKind] = field(default_factory=dict)
    observation_kinds: dict[str, ObservationKind] = field(default_factory=dict)
    reward_kinds: dict[str, RewardKind] = field(default_factory=dict)
    plugin_kinds: dict[str, PluginKind] = field(default_factory=dict)
    stages: dict[str, list[SystemDecl]] = field(default_factory=lambda: {s: [] for s in STAGES})
    user_checks: list[UserCodeCheck] = field(default_factory=list)
    spawn_plans: list = field(default_factory=list)
    observers: list[Callable[[Any], Any]] = field(default_factory=list)
    episode_end_hooks: list[Callable[[dict], None]] = field(default_factory=list)
    pre_tick: list[Callable[[dict, Any, int], None]] = field(default_factory=list)
    code: list[tuple[str, str, str | None]] = field(default_factory=list)  # (dotted, key path, file) resolved
    end_flags: list[str] = field(default_factory=list)  # world-scope bool entries that end an episode
    respawn_timers: list[str] = field(default_factory=list)  # entity int entries > 0 while one is coming back
    notes: list[str] = field(default_factory=list)  # things `worldloom validate` reports that are not errors
    frozen: bool = False

    # ------------------------------------------------------------------ declarations
    def add_state(self, decl: StateDecl | None = None, /, **kwargs: Any) -> StateDecl:
        """Declare a state entry (a ``StateDecl`` or its fields as keywords); returns the declaration."""
        self._not_frozen("add_state")
        decl = decl if decl is not None else StateDecl(**kwargs)
        try:
            return self.state.declare(decl)
        except ValueError as e:
            raise UserError(str(e)) from None

    def add_system(self, decl: SystemDecl) -> SystemDecl:
        """Put a system into the schedule at ``decl.stage`` (after those already there)."""
        self._not_frozen("add_system")
        if decl.stage not in self.stages:
            raise UserError(f"system {decl.name!r}: unknown stage {decl.stage!r}; expected one of {', '.join(STAGES)}")
        for g in decl.controls:
            if g not in self.groups:
                raise self.ctx.error(decl.path, f"system {decl.name!r} controls unknown agent group {g!r}; expected "
                                                f"one of: {', '.join(self.groups) or 'none'}")
        self.stages[decl.stage].append(decl)
        return decl

    def replace_system(self, name: str, make: Callable[[SystemDecl], SystemDecl], path: tuple) -> SystemDecl:
        """Put ``make(old)`` where the system called ``name`` is; returns the new one."""
        self._not_frozen("replace_system")
        for stage in self.stages.values():
            for i, s in enumerate(stage):
                if s.name == name:
                    new = make(s)
                    new.stage = s.stage
                    stage[i] = new
                    return new
        names = ", ".join(s.name for s in self.schedule())
        raise self.ctx.error(path, f"no system named {name!r} in the schedule ({names})")

    def add_action_mask(self, group: str, fn: Callable[[dict], Any]) -> None:
        """``fn(state) -> bool [B, A, n]``: which of a discrete group's actions are available now. Masks of
        one group are combined with AND; the Sim serves them as ``info["action_mask"]`` and samples
        random actions among the available ones."""
        self._not_frozen("add_action_mask")
        if group not in self.groups:
            raise UserError(f"action mask for unknown agent group {group!r}; expected one of: {', '.join(self.groups)}")
        if not self.groups[group].action_space.discrete:
            raise UserError(f"action mask for {group!r}: masks apply to discrete action spaces")
        self.groups[group].mask_fns.append(fn)

    def add_end_flag(self, key: str) -> None:
        """A declared ``[B]`` bool entry that, when set by a system, ends the world's episode this tick
        (terminated, as when all agents die): the rules' ``end`` effect."""
        self._not_frozen("add_end_flag")
        self.end_flags.append(key)

    def add_reset_hook(self, hook: Callable[[dict, int, Any], None]) -> None:
        """``hook(fresh, B, generator)`` fills fresh values of entries before a reset is applied."""
        self.state.reset_hooks.append(hook)

    def add_masked_reset_hook(self, hook: Callable[..., None]) -> None:
        """``hook(fresh, B, generator, mask, state)`` fills fresh values only for the worlds being reset
        (``mask [B]``, None: all) — for values made per world in Python (grid levels); ``state`` is the
        current one (the other worlds' rows may be copied from it)."""
        self.state.masked_reset_hooks.append(hook)

    def add_derive_hook(self, hook: Callable[[dict], None]) -> None:
        """``hook(state)`` recomputes ``derived`` entries after a reset."""
        self.state.derive_hooks.append(hook)

    def add_pre_tick(self, hook: Callable[[dict, Any, int], None]) -> None:
        """``hook(state, generator, B)`` runs eagerly before each tick, outside any compiled region."""
        self.pre_tick.append(hook)

    def add_after_episode_end(self, hook: Callable[[dict], None]) -> None:
        """``hook(state)`` runs after a tick in which some world's episode ended, before autoreset (the
        Sim learns that from one flag it reads anyway, so the hook costs nothing on other ticks)."""
        self.episode_end_hooks.append(hook)

    def add_observer(self, factory: Callable[[Any], Any]) -> None:
        """``factory(sim)`` makes an object whose ``observe(state) -> {key: tensor}`` adds observations served
        beside the vectors (pixels); it is created when the Sim is (e.g. opening a GL context)."""
        self.observers.append(factory)

    def add_user_check(self, check: UserCodeCheck) -> None:
        self.user_checks.append(check)

    # ------------------------------------------------------------------ registries
    def register_system(self, kind: SystemKind) -> None:
        self._register(self.system_kinds, kind.name, kind, "system")

    def register_observation(self, kind: ObservationKind) -> None:
        self._register(self.observation_kinds, kind.name, kind, "observation term")

    def register_reward(self, kind: RewardKind) -> None:
        self._register(self.reward_kinds, kind.name, kind, "reward term")

    def register_plugin_kind(self, kind: PluginKind) -> None:
        self._register(self.plugin_kinds, kind.kind, kind, "plugin kind")

    def _register(self, table: dict, name: str, kind: Any, what: str) -> None:
        self._not_frozen("register")
        if name in table and table[name] is not kind:
            raise UserError(f"{what} {name!r} is registered twice; expected unique names")
        table[name] = kind

    @staticmethod
    def lookup(table: dict, name: str, what: str) -> str:
        """An error message for an unknown name, with the closest known one."""
        close = difflib.get_close_matches(str(name), list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {what} {name!r}{hint}; expected one of: {', '.join(table)}"

    # ------------------------------------------------------------------ code and schedule
    def resolve(self, dotted: str, path: tuple, module_ok: bool = False) -> Any:
        """A dotted path of the world file → the object, under the trust policy; errors are located."""
        from engine.world.yamlio import format_path

        where = self.ctx.where(path)
        try:
            obj = resolve(dotted, self.loaded.base_dir, self.trust, module_ok)
            self.code.append((dotted, format_path(path), getattr(obj, "__file__", None) or source_file(obj)))
            return obj
        except UserCodeError as e:
            raise UserCodeError(e.message, where=where, user_frame=e.user_frame) from e.__cause__
        except UserError as e:
            raise self.ctx.error(path, str(e)) from None

    def call_user(self, what: str, path: tuple, fn: Callable, *args: Any, user_file: str | None = None,
                  **kwargs: Any) -> Any:
        """Call user code at build time; an exception becomes a located ``UserCodeError``."""
        try:
            return fn(*args, **kwargs)
        except UserError:
            raise
        except Exception as e:
            raise UserCodeError.from_exception(what, e, user_file or source_file(fn),
                                               where=self.ctx.where(path)) from e

    def schedule(self) -> list[SystemDecl]:
        """The systems of one tick, in order: stage by stage, in the order they were added."""
        return [s for stage in STAGES for s in self.stages[stage]]

    def freeze(self) -> None:
        self.frozen = True

    def _not_frozen(self, what: str) -> None:
        if self.frozen:
            raise RuntimeError(f"{what}: the schedule is frozen once the world is built")


def source_file(obj: Any) -> str | None:
    """The file a function (or the function inside a declared kind) was defined in."""
    import inspect

    target = getattr(obj, "fn", obj)
    try:
        return inspect.getsourcefile(target)
    except TypeError:
        return None
