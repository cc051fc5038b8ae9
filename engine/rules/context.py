"""What a rule's conditions and effects are built against: its subjects, objects, teams and references.

A rule matches *subjects* (``of:``, written ``self``) and, for pair rules, *objects* (``with:``,
written ``other``). Everything a condition computes is a boolean tensor that broadcasts to
``[B, S, O]`` (``O`` = 1 for rules without objects): a subject-only test is ``[B, S, 1]``, an
object-only one ``[B, 1, O]``, a pair test ``[B, S, O]`` and a per-world one ``[B, 1, 1]``. References
in the rule language name where a value lives:

=================== ===================================== ======================
reference           value                                 shape
=================== ===================================== ======================
``self.X``          component X of the subject            ``[B, S, 1]``
``other.X``         component X of the object             ``[B, 1, O]``
``team.X``          team variable X of the subject's team ``[B, S, 1]``
``other_team.X``    … of the other team (two teams only)  ``[B, S, 1]``
``world.X``         world variable X                      ``[B, 1, 1]``
``self`` / ``other`` the entity index (carried_by: self)  ``[1, S, 1]`` / ``[1, 1, O]``
=================== ===================================== ======================

Every mistake (unknown variable, a reference to a team where the subject has none, a comparison of
a flag with a number) is a located error at load time, never in the tick.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import torch

from engine.world.validation import describe

#: State names of the variables a world declares (``variables:``).
VAR_PREFIX = "var."
#: Where the entity index of a carrier is kept (declared when a rule attaches).
CARRIED_BY = "carried_by"
SCOPES = ("self", "other", "team", "other_team", "world")


def var_key(name: str) -> str:
    return VAR_PREFIX + name


@dataclass(frozen=True)
class Ref:
    """A resolved reference: how to read it in the tick, its scalar kind and per-item shape."""

    scope: str  # self, other, team, other_team, world, index
    name: str  # the variable / component, or "self"/"other" for an entity index
    kind: str  # bool, int, float, entity
    shape: tuple[int, ...] = ()


def kind_of(dtype: Any) -> str:
    text = str(dtype)
    if "bool" in text:
        return "bool"
    return "float" if "float" in text else "int"


class RuleContext:
    """Index tensors and lookups one rule (or one action mask) is built with."""

    def __init__(self, app, subjects: list[str], objects: list[str] | None, path: tuple,
                 extra: dict[str, str] | None = None) -> None:
        self.app, self.path = app, path
        self.extra = extra or {}  # per-entity state the rules declare (carried_by) → its kind
        self.ctx = app.ctx
        layout = app.layout
        self.subject_types, self.object_types = subjects, objects
        self.S = self.indices(subjects)
        self.O = self.indices(objects) if objects is not None else None
        self.teams = list(app.groups)
        team_of = torch.full((layout.n,), -1, dtype=torch.int64)
        for tname, et in app.loaded.spec.entities.items():
            team = _team_of_type(app, tname, et)
            if team is not None:
                team_of[layout.types[tname].sl] = self.teams.index(team)
        self.team_of = team_of.to(app.device)

    def indices(self, types: list[str]) -> torch.Tensor:
        """Entity indices of ``types``, one tensor per distinct list in the whole world, so distances
        between the same sets are computed once per tick however many rules ask (by tensor identity)."""
        interned = self.app.__dict__.setdefault("_rule_indices", {})
        key = tuple(types)
        if key not in interned:
            interned[key] = self.app.layout.indices(list(types)).to(self.app.device)
        return interned[key]

    @property
    def pairwise(self) -> bool:
        return self.O is not None

    def error(self, path: tuple, message: str):
        return self.ctx.error(path, message)

    def team_rows(self, side: str, path: tuple) -> torch.Tensor:
        """``[S]`` (or ``[O]``) team index of the subjects (objects); a located error where one has none."""
        idx = self.S if side == "self" else self.O
        names = self.subject_types if side == "self" else self.object_types
        rows = self.team_of[idx]
        if len(rows) and bool((rows < 0).any()):
            lonely = [t for t in names if int(self.team_of[self.app.layout.types[t].start]) < 0]
            raise self.error(path, f"entity type(s) {lonely} belong to no team, so 'team' means nothing for them; "
                                   "make them an agent group's type or set entities.<type>.team: <agent group>")
        return rows

    def other_team_rows(self, path: tuple) -> torch.Tensor:
        rows = self.team_rows("self", path)
        if len(self.teams) != 2:
            raise self.error(path, f"'other_team' needs exactly two teams (agent groups), this world has "
                                   f"{len(self.teams)}: {self.teams}; use team, world or the team's name")
        return 1 - rows

    # ------------------------------------------------------------------ references
    def ref(self, text: Any, path: tuple) -> Ref:
        """Parse ``self.X`` / ``other.X`` / ``team.X`` / ``other_team.X`` / ``world.X`` / ``self`` / ``other``."""
        if not isinstance(text, str):
            raise self.error(path, f"expected a reference like self.cooldown, team.score or world.timer, got "
                                   f"{describe(text)}")
        if text in ("self", "other"):
            self._need_object(text, path)
            return Ref("index", text, "entity")
        scope, dot, name = text.partition(".")
        if not dot or scope not in SCOPES or not name:
            raise self.error(path, f"expected a reference <scope>.<name> with scope one of {', '.join(SCOPES)} "
                                   f"(e.g. self.cooldown, team.score), got {text!r}")
        self._need_object(scope, path)
        if scope in ("self", "other"):
            comps = self.app.layout.components
            if name in self.extra:
                return Ref(scope, name, self.extra[name])
            if name == CARRIED_BY:
                raise self.error(path, f"{CARRIED_BY} exists only in worlds where a rule attaches (do: "
                                       "[{attach: {of: other, to: self}}])")
            if name not in comps:
                raise self.error(path, self._unknown(name, list(comps), "component",
                                                     "declare it under components: (per-entity values)"))
            c = comps[name]
            return Ref(scope, name, kind_of(c.dtype), tuple(c.shape))
        variables = self.app.loaded.spec.variables
        want = "team" if scope in ("team", "other_team") else "world"
        if name not in variables or variables[name].scope != want:
            known = [v for v, s in variables.items() if s.scope == want]
            raise self.error(path, self._unknown(name, known, f"{want} variable",
                                                 f"declare it: variables: {{{name}: {{scope: {want}}}}}"))
        if scope == "team":
            self.team_rows("self", path)
        elif scope == "other_team":
            self.other_team_rows(path)
        return Ref(scope, name, kind_of(variables[name].dtype))

    def _need_object(self, scope: str, path: tuple) -> None:
        if scope == "other" and not self.pairwise:
            raise self.error(path, "this refers to 'other', but the rule has no objects; add with: [<types>] to "
                                   "match pairs, or refer to self, team or world")

    @staticmethod
    def _unknown(name: str, known: list[str], what: str, fix: str) -> str:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {what} {name!r}{hint}; known: {', '.join(known) or 'none'}; {fix}"

    def read(self, ref: Ref):
        """A function ``state → tensor`` broadcasting to ``[B, S, O, *shape]`` for ``ref``."""
        S, objs = self.S, self.O
        if ref.scope == "index":
            idx = S.view(1, -1, 1) if ref.name == "self" else objs.view(1, 1, -1)
            return lambda state: idx
        if ref.scope == "self":
            return lambda state: state[ref.name][:, S].unsqueeze(2)
        if ref.scope == "other":
            return lambda state: state[ref.name][:, objs].unsqueeze(1)
        key = var_key(ref.name)
        if ref.scope == "world":
            return lambda state: state[key].view(-1, 1, 1)
        rows = self.team_rows("self", ()) if ref.scope == "team" else self.other_team_rows(())
        return lambda state: state[key][:, rows].unsqueeze(2)

    def value(self, raw: Any, path: tuple, want: Ref | None = None):
        """A literal number/boolean or a reference → ``(fn(state) → tensor, kind)``; a literal is checked
        against ``want``'s kind (a flag compared with a number is a located error)."""
        if isinstance(raw, str):
            ref = self.ref(raw, path)
            return self.read(ref), ref.kind
        if isinstance(raw, bool):
            kind = "bool"
        elif isinstance(raw, int):
            kind = "int"
        elif isinstance(raw, float):
            kind = "float"
        elif isinstance(raw, list) and want is not None and want.shape and len(raw) == want.shape[0] and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
            kind = "float" if want.kind == "float" else "int"
        else:
            raise self.error(path, f"expected a number, true/false or a reference (self.X, team.X, world.X), "
                                   f"got {describe(raw)}")
        from engine.world.values import check_value

        dtype = {"bool": torch.bool, "int": torch.int64}.get(kind, self.app.layout.float_dtype)
        check_value(self.ctx, path, raw, want.shape if isinstance(raw, list) and want is not None else (),
                    {"bool": "bool", "int": "int64"}.get(kind, str(self.app.layout.float_dtype).split(".")[-1]))
        const = torch.tensor(raw, dtype=dtype, device=self.app.device)
        return (lambda state: const), kind


def _team_of_type(app, tname: str, et) -> str | None:
    """The team of an entity type: its agent group, or its ``team:`` (checked)."""
    for g in app.groups.values():
        if g.slice.name == tname:
            if et.team is not None and et.team != g.name:
                raise app.ctx.error(("entities", tname, "team"),
                                    f"entity type {tname!r} holds the agents of group {g.name!r}, so its team is "
                                    f"{g.name!r}; got team: {et.team!r} (remove it)")
            return g.name
    if et.team is not None and et.team not in app.groups:
        close = difflib.get_close_matches(et.team, list(app.groups), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise app.ctx.error(("entities", tname, "team"), f"unknown team {et.team!r}{hint}; a team is an agent "
                                                         f"group: {', '.join(app.groups) or 'none declared'}")
    return et.team


def compatible(a: str, b: str) -> bool:
    """Kinds that may be compared or assigned: numbers with numbers, flags with flags, entities with ints."""
    if a == b:
        return True
    numeric = {"int", "float"}
    if a in numeric and b in numeric:
        return not (a == "int" and b == "float")
    return {a, b} == {"entity", "int"}
