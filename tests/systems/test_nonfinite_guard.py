"""State that becomes NaN/inf during a tick is never silent: by default the world is counted and reset,
`raise` stops with a user error, `ignore` leaves it (as asked); huge batches are refused up front."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch

import engine
from engine.errors import UserError

POISON = textwrap.dedent("""\
    import torch

    def poison(state):
        # world 1 gets a NaN velocity on its third tick
        hit = (state["tick"] == 2) & (torch.arange(state["tick"].shape[0]) == 1)
        state["vel"] = torch.where(hit.view(-1, 1, 1), torch.full_like(state["vel"], float("nan")), state["vel"])
    """)


def _world(tmp_path: Path, mode: str) -> Path:
    (tmp_path / "poison.py").write_text(POISON)
    text = (Path(engine.__file__).parent.parent / "worlds" / "tag.yaml").read_text()
    text = text.replace("systems:\n  - physics", "systems:\n  - {system: poison.poison}\n  - physics")
    text = text.replace("world:\n  dt: 0.1", f"world:\n  on_nonfinite: {mode}\n  dt: 0.1", 1)
    assert f"on_nonfinite: {mode}" in text
    (tmp_path / "w.yaml").write_text(text)
    return tmp_path / "w.yaml"


def _run(sim, ticks: int):
    infos = []
    for _ in range(ticks):
        infos.append(sim.step(sim.sample_actions())[4])
    return infos


def test_default_resets_and_counts_the_poisoned_world(tmp_path: Path) -> None:
    sim = engine.make(_world(tmp_path, "reset"), num_worlds=3, trust=[tmp_path])
    sim.reset(seed=0)
    infos = _run(sim, 6)
    hit = infos[2]
    assert hit["done"].tolist() == [False, True, False]
    assert hit["events"]["nonfinite"].tolist() == [False, True, False]
    assert bool(hit["final_state"]["vel"][1].isnan().any())          # what happened is still visible
    assert bool(torch.isfinite(sim.state["vel"]).all())               # and the world went on, reset
    assert all("events" not in i for i in infos[3:5])  # (tick 2 comes again at infos[5])


def test_raise_stops_with_a_user_error(tmp_path: Path) -> None:
    sim = engine.make(_world(tmp_path, "raise"), num_worlds=3, trust=[tmp_path])
    sim.reset(seed=0)
    _run(sim, 2)
    with pytest.raises(UserError, match=r"world\(s\) \[1\] became NaN or infinite at tick 3"):
        _run(sim, 1)


def test_ignore_leaves_it(tmp_path: Path) -> None:
    sim = engine.make(_world(tmp_path, "ignore"), num_worlds=3, trust=[tmp_path])
    sim.reset(seed=0)
    infos = _run(sim, 4)
    assert "events" not in infos[2] and not bool(infos[2]["done"].any())
    assert bool(sim.state["pos"][1].isnan().any())


def test_a_batch_too_big_for_memory_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("WORLDLOOM_MAX_SIM_GIB", "0.001")
    with pytest.raises(UserError, match=r"num_worlds=4,096: 4,096 copies of 'tag' need about"):
        engine.make("tag", num_worlds=4096)
