"""StateTable: allocation, reset rules (default, keep, copy, derived) with and without a world mask."""

from __future__ import annotations

import pytest
import torch

from engine.core.state import StateDecl, StateTable


def _table() -> StateTable:
    t = StateTable(3, {"team": 2}, torch.float32, torch.device("cpu"))
    t.declare(StateDecl("pos", "entity", (2,), "float", [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    t.declare(StateDecl("twin", "entity", (2,), "float", 0.0, reset="copy:pos"))
    t.declare(StateDecl("score", "group", (), "int64", 0, group="team"))
    t.declare(StateDecl("act", "agent", (), "int64", 0, reset="keep", group="team"))
    t.declare(StateDecl("obs", "agent", (1,), "float", 0.0, reset="derived", group="team"))
    t.declare(StateDecl("flag", "global", (), "bool", False))
    return t


def test_allocate_uses_scopes_and_defaults() -> None:
    st = _table().allocate(4)
    assert st["pos"].shape == (4, 3, 2) and st["pos"][2, 1].tolist() == [1.0, 1.0]
    assert st["score"].shape == (4,) and st["score"].dtype == torch.int64
    assert st["act"].shape == (4, 2) and st["obs"].shape == (4, 2, 1) and st["flag"].shape == ()


def test_masked_reset_touches_only_the_masked_worlds() -> None:
    t = _table()
    t.derive_hooks.append(lambda s: s.__setitem__("obs", s["pos"][:, :2, :1] * 10))
    st = t.allocate(3)
    st = {k: (v + 5 if v.dtype != torch.bool else ~v) for k, v in st.items()}
    out = t.reset(st, 3, torch.tensor([False, True, False]), torch.Generator())
    assert out["pos"][1].tolist() == [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]  # default
    assert out["pos"][0, 0].tolist() == [5.0, 5.0]                          # untouched world
    assert out["twin"][1].tolist() == out["pos"][1].tolist()                # copy of the reset value
    assert out["act"][1].tolist() == [5, 5]                                 # keep
    assert out["score"].tolist() == [5, 0, 5]
    assert out["obs"][1, 1, 0] == 10.0 and out["obs"][0, 0, 0] == 5.0       # derived only where reset
    assert not bool(out["flag"])                                            # global: reset whatever the mask


def test_reset_hooks_fill_fresh_values() -> None:
    t = _table()
    t.reset_hooks.append(lambda fresh, B, gen: fresh.__setitem__("pos", torch.full((B, 3, 2), 7.0)))
    out = t.reset(t.allocate(2), 2, None, torch.Generator())
    assert bool((out["pos"] == 7).all()) and bool((out["twin"] == 7).all())


def test_conflicting_declarations_are_refused() -> None:
    t = _table()
    t.declare(StateDecl("pos", "entity", (2,), "float", [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))  # same: fine
    with pytest.raises(ValueError, match="declared twice"):
        t.declare(StateDecl("pos", "world", (), "float", 0.0, owner="mine"))
    with pytest.raises(ValueError, match="unknown agent group"):
        t.declare(StateDecl("x", "agent", (), "float", 0.0, group="nobody"))
    with pytest.raises(ValueError, match="scope"):
        StateDecl("y", "galaxy")


def test_restore_refuses_a_snapshot_of_another_world() -> None:
    import engine

    tag, forage = engine.make("tag", num_worlds=2), engine.make("forage", num_worlds=2)
    with pytest.raises(ValueError, match="another world"):
        tag.restore(forage.snapshot())
    with pytest.raises(ValueError, match="expected shape"):
        engine.make("tag", num_worlds=3).restore(tag.snapshot())
