"""Per-entity records (``entities`` / ``own`` with ``fields``), filtered distances (``distance`` with
``where`` / ``otherwise``) and whole-number spawns (``integers``), each on a hand-placed world whose
expected values are written out here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.errors import UserError

WORLD = """\
version: 1
name: records
components:
  holding: {dtype: int64, default: -1}
  accepts: {dtype: int64, default: -1}
entities:
  carrier: {count: 2, components: {collide: false}}
  depot: {count: 2, components: {collide: false, movable: false, accepts: {each: [0, 1]}}}
  gem: {count: 3, capacity: 4, components: {collide: false, movable: false}, spawn: {kind: {integers: [0, 3]}}}
agents:
  carrier:
    entity: carrier
    observation:
      - own: {fields: [{one_hot: {name: holding, n: 2}}, pos]}
      - entities: {of: [carrier, depot], nearest: 3, fields: [relative_pos, {one_hot: {name: accepts, n: 2}}]}
      - entities: {of: [gem], nearest: 4, fields: [relative_pos, {one_hot: {name: kind, n: 3}}]}
    reward:
      - distance: {to: [depot], scale: -1.0, where: [{compare: [other.accepts, "==", self.holding]}]}
  depot:
    entity: depot
    observation: [self_pos]
    reward:
      - distance: {to: [carrier], scale: -1.0, where: [{compare: [other.holding, "==", self.accepts]}],
                   otherwise: centroid}
systems: []
"""
EXTRA = "components:\n  kind: {dtype: int64, default: 0}\n"


def _sim(tmp_path: Path, text: str = WORLD, **kw) -> engine.Sim:
    f = tmp_path / "w.yaml"
    f.write_text(text.replace("components:\n", EXTRA, 1) if "kind:" not in text.split("entities:")[0] else text)
    return engine.make(str(f), num_worlds=kw.pop("num_worlds", 1), compile=False, **kw)


def _place(sim, pos: list, **ints) -> None:
    st = dict(sim.state)
    st["pos"] = torch.tensor([pos], dtype=st["pos"].dtype)
    for k, v in ints.items():
        st[k] = torch.tensor([v])
    sim.state = st
    for hook in sim.table.derive_hooks:
        hook(sim.state)


def test_records_put_each_entitys_fields_side_by_side_nearest_first(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    assert sim.groups["carrier"].obs_size == (2 + 2) + 3 * (2 + 2) + 4 * (2 + 3)
    sim.reset(seed=0)
    # carriers 0, 1; depots 2, 3; gems 4, 5, 6 (slot 7 free)
    _place(sim, [[0, 0], [0.5, 0], [0, 0.2], [-0.9, 0], [0.1, 0], [0, -0.3], [0.7, 0.7], [0, 0]],
           holding=[1, -1, -1, -1, -1, -1, -1, -1], kind=[0, 0, 0, 0, 2, 0, 1, 0])
    o = sim.observations()["carrier"][0, 0]
    assert o[:4].tolist() == pytest.approx([0, 1, 0, 0])  # holds type 1, at the origin
    others = o[4:16].view(3, 4)  # nearest first: depot 2 (0.2), carrier 1 (0.5), depot 3 (0.9)
    assert torch.allclose(others, torch.tensor([[0, 0.2, 1, 0], [0.5, 0, 0, 0], [-0.9, 0, 0, 1]]), atol=1e-6)
    gems = o[16:].view(4, 5)  # gems 4 (0.1), 5 (0.3), 6 (0.99); the free slot as zeros, last
    assert torch.allclose(gems, torch.tensor([[0.1, 0, 0, 0, 1], [0, -0.3, 1, 0, 0], [0.7, 0.7, 0, 1, 0],
                                              [0, 0, 0, 0, 0]]), atol=1e-6)


def test_distance_where_counts_only_the_pairs_that_hold_and_otherwise_falls_back(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    sim.reset(seed=0)
    _place(sim, [[0, 0], [0.5, 0], [0, 0.2], [-0.9, 0], [0.1, 0], [0, -0.3], [0.7, 0.7], [0, 0]],
           holding=[1, -1, -1, -1, -1, -1, -1, -1])
    st = dict(sim.state)
    r = {g: sum(fn(st, st["alive"]) for fn in sim.groups[g].reward_fns)[0] for g in ("carrier", "depot")}
    # carrier 0 holds type 1: only depot 3 (accepts 1) counts, 0.9 away; carrier 1 holds nothing: zero
    assert r["carrier"].tolist() == pytest.approx([-0.9, 0.0], abs=1e-6)
    # depot 3 (accepts 1): the carrier holding type 1 is 0.9 away; depot 2: no carrier holds type 0 → the
    # centroid of the carriers (0.25, 0), at distance sqrt(0.25² + 0.2²)
    assert r["depot"].tolist() == pytest.approx([-(0.25 ** 2 + 0.2 ** 2) ** 0.5, -0.9], abs=1e-6)


def test_integers_spawn_draws_whole_numbers_uniformly_in_low_high(tmp_path: Path) -> None:
    sim = _sim(tmp_path, num_worlds=3000)
    sim.reset(seed=1)
    kinds = sim.state["kind"][:, 4:7].flatten()
    assert kinds.dtype == torch.int64 and set(kinds.tolist()) == {0, 1, 2}
    share = torch.bincount(kinds, minlength=3).double() / len(kinds)
    assert torch.allclose(share, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.02)
    assert sim.state["kind"][:, :4].eq(0).all()  # types without the spawn rule keep their value


@pytest.mark.parametrize("bad, message", [
    ("{integers: [2, 2]}", "expected low < high"),
    ("{uniform: [0, 3]}", "holds int64 values: spawn it with constant, each or integers"),
    ("{integers: [0.5, 2]}", r"integers\[0\]: expected an integer, got number 0.5"),
])
def test_bad_integer_spawns_are_located_errors(tmp_path: Path, bad: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _sim(tmp_path, WORLD.replace("{integers: [0, 3]}", bad))


def test_one_hot_needs_an_int_component(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="one_hot reads a single int component; 'radius' is float"):
        _sim(tmp_path, WORLD.replace("{one_hot: {name: holding, n: 2}}", "{one_hot: {name: radius, n: 2}}"))


@pytest.mark.parametrize("name", ["{a: 1}", "0"])
def test_a_one_hot_name_that_is_not_a_name_is_a_located_error(tmp_path: Path, name: str) -> None:
    """Found by fuzzing: a mapping or a number as the component's name crashed the build."""
    with pytest.raises(UserError, match=r"one_hot.name: expected a component name, got"):
        _sim(tmp_path, WORLD.replace("{one_hot: {name: holding, n: 2}}", f"{{one_hot: {{name: {name}, n: 2}}}}"))
