"""The schedule: stages in a documented order, lifecycle placeable by the world file, frozen at build."""

from __future__ import annotations

import pytest

import engine
from engine.core.state import StateDecl
from engine.errors import WorldError


def _names(sim) -> list[str]:
    return [s.name for s in sim.plan.systems]


def test_lifecycle_defaults_to_after_the_worlds_systems() -> None:
    sim = engine.make("forage", num_worlds=2)
    names = _names(sim)
    assert names[:2] == ["check_actions", "tick_start"] and names[-1] == "observations+rewards+termination"
    assert names == ["check_actions", "tick_start", "physics", "bounds", "lifecycle",
                     "observations+rewards+termination"]


def test_the_world_file_can_place_lifecycle() -> None:
    sim = engine.make("forage", num_worlds=2, overrides={"systems": ["lifecycle", "physics", "bounds"]})
    assert _names(sim)[2:4] == ["lifecycle", "physics"]
    sim.reset(seed=0)
    for _ in range(30):
        sim.step(sim.sample_actions())  # and it runs


def test_lifecycle_listed_without_rules_is_a_located_error() -> None:
    with pytest.raises(WorldError, match="no entity type declares lifecycle rules"):
        engine.make("tag", overrides={"systems": ["physics", "lifecycle"]})


def test_a_learned_plugin_takes_the_place_of_the_system_it_replaces() -> None:
    sim = engine.make("tag_learned", num_worlds=2)
    names = _names(sim)
    assert "physics" not in names and "learned_physics" in names
    decl = sim.plan.systems[names.index("learned_physics")]
    assert decl.replaces == "physics" and decl.stage == "update" and not decl.compilable


def test_the_schedule_is_frozen_once_built() -> None:
    sim = engine.make("tag", num_worlds=1)
    with pytest.raises(RuntimeError, match="frozen"):
        sim.plan.app.add_state(StateDecl("late", "world"))
    with pytest.raises(RuntimeError, match="frozen"):
        sim.plan.app.add_system(sim.plan.systems[1])
