"""Walls (segments, boxes, ASCII maps): a disk pushed into a wall stays outside it, a disk at any speed
never tunnels through, corners hold, and the response slides or bounces as declared."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import engine
from engine.errors import UserError
from engine.systems.walls import map_boxes

WORLD = """\
version: 1
name: walls
world: {dt: 0.1, damping: 0.25, arena: [-2.0, 2.0, -2.0, 2.0]}
entities:
  ball: {count: 1, components: {radius: 0.05, accel: 5.0, max_speed: MAXSPEED}, spawn: {pos: START, vel: 0.0}}
agents:
  ball: {entity: ball, action: continuous, observation: [self_pos]}
walls: WALLS
systems: [physics]
episode: {max_steps: 1000}
"""


def _sim(tmp_path: Path, walls: str, start: str = "[0.0, 0.0]", max_speed: float = 1.0, **kw) -> engine.Sim:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD.replace("WALLS", walls).replace("START", start).replace("MAXSPEED", str(max_speed)))
    return engine.make(str(f), num_worlds=kw.pop("worlds", 1), compile=False, **kw)


def _push(sim, direction: list[float], ticks: int) -> list[torch.Tensor]:
    """Hold a continuous action toward ``direction`` (MPE layout: [noop, -x, +x, -y, +y])."""
    dx, dy = direction
    a = torch.tensor([[[0.0, max(-dx, 0), max(dx, 0), max(-dy, 0), max(dy, 0)]]])
    out = []
    for _ in range(ticks):
        sim.step({"ball": a.expand(sim.num_worlds, -1, -1)})
        out.append(sim.state["pos"][:, 0].clone())
    return out


def test_a_disk_pushed_into_a_segment_stays_outside_it(tmp_path: Path) -> None:
    sim = _sim(tmp_path, "{segments: [[0.3, -1.0, 0.3, 1.0]]}")
    sim.reset(seed=0)
    xs = torch.stack([p[0, 0] for p in _push(sim, [1, 0], 200)])
    assert float(xs.max()) <= 0.3 - 0.05 + 1e-6  # penetration ≤ 0 (the contact margin is 1e-3)
    assert float(xs[-1]) > 0.3 - 0.05 - 1e-3  # it got there and rests against the wall


def test_no_tunnelling_at_any_speed(tmp_path: Path) -> None:
    """Max speed 50 (5 units per tick, 100 radii): a thin segment and a box still stop the disk."""
    for walls in ("{segments: [[0.3, -1.0, 0.3, 1.0]]}", "{boxes: [[0.3, -1.0, 0.32, 1.0]]}"):
        sim = _sim(tmp_path, walls, max_speed=50.0)
        sim.reset(seed=0)
        sim.state["vel"] = torch.tensor([[[50.0, 0.0]]])
        xs = torch.stack([p[0, 0] for p in _push(sim, [1, 0], 30)])
        assert float(xs.max()) <= 0.3 - 0.05 + 1e-6, walls


def test_a_corner_holds_the_disk_in_both_directions(tmp_path: Path) -> None:
    sim = _sim(tmp_path, "{boxes: [[0.3, 0.3, 1.0, 1.0]]}", start="[0.0, 0.0]")  # push into the box's corner
    sim.reset(seed=0)
    for p in _push(sim, [1, 1], 150):
        x, y = float(p[0, 0]), float(p[0, 1])
        # outside the box grown by the radius (the corner rounded)
        dx, dy = max(0.3 - x, 0.0, x - 1.0), max(0.3 - y, 0.0, y - 1.0)
        assert (dx * dx + dy * dy) ** 0.5 >= 0.05 - 1e-5, (x, y)


def test_slides_along_the_wall_or_bounces(tmp_path: Path) -> None:
    for restitution, vx_after in ((0.0, 0.0), (1.0, -2.0)):
        sim = _sim(tmp_path, f"{{segments: [[0.3, -2.0, 0.3, 2.0]], restitution: {restitution}}}", max_speed=10.0,
                   overrides={"world.damping": 0.0})
        sim.reset(seed=0)
        sim.state["vel"] = torch.tensor([[[2.0, 1.0]]])
        _push(sim, [0, 0], 3)
        vx, vy = sim.state["vel"][0, 0].tolist()
        assert vx == pytest.approx(vx_after, abs=1e-5) and vy == pytest.approx(1.0, abs=1e-5)  # tangent kept


def test_a_map_becomes_merged_boxes_and_blocks(tmp_path: Path) -> None:
    rows = ["####", "#..#", "####"]
    assert map_boxes(rows, 0.5, (-1.0, -0.75)) == [[-1.0, 0.25, 1.0, 0.75], [-1.0, -0.25, -0.5, 0.25],
                                                  [0.5, -0.25, 1.0, 0.25], [-1.0, -0.75, 1.0, -0.25]]
    sim = _sim(tmp_path, "{map: {rows: ['####', '#..#', '####'], cell: 0.5, origin: [-1.0, -0.75]}}")
    sim.reset(seed=0)
    for direction in ([1, 0], [-1, 0], [0, 1], [0, -1]):
        ps = torch.stack(_push(sim, direction, 60))[:, 0]  # [T, 2]
        assert bool((ps[:, 0].abs() <= 0.5 - 0.05 + 1e-5).all()) and bool((ps[:, 1].abs() <= 0.25 - 0.05 + 1e-5).all())
        assert float(ps.abs().max()) > 0.19  # it reached the wall it was pushed at


@pytest.mark.parametrize("walls, message", [
    ("{boxes: [[0.5, 0.0, 0.2, 1.0]]}", r"walls.boxes\[0\]: expected x_min < x_max"),
    ("{segments: [[0.5, 0.5, 0.5, 0.5]]}", r"walls.segments\[0\]: expected two different end points"),
    ("{segments: [[0.5, 0.5, 0.5]]}", r"walls.segments\[0\]: expected 4 finite numbers"),
    ("{map: {rows: ['#'], cell: 0.1, origin: [0, 0], char: '##'}}", r"walls.map.char: expected one character"),
])
def test_bad_walls_are_located_errors(tmp_path: Path, walls: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _sim(tmp_path, walls)


def test_a_disk_spawned_inside_a_box_leaves_it_on_the_first_tick(tmp_path: Path) -> None:
    sim = _sim(tmp_path, "{boxes: [[-0.5, -0.2, 0.5, 0.3]]}", start="[0.1, 0.2]")  # nearest face: the top
    sim.reset(seed=0)
    _push(sim, [0, 0], 1)
    x, y = sim.state["pos"][0, 0].tolist()
    assert x == pytest.approx(0.1) and y == pytest.approx(0.3 + 0.05, abs=1e-6)


def _distance_to_walls(pos: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` float64 distance from each centre to the nearest wall segment."""
    pos, seg = pos.double(), seg.double()
    a, e = seg[:, :2], seg[:, 2:] - seg[:, :2]
    rel = pos.unsqueeze(-2) - a
    s = ((rel * e).sum(-1) / (e * e).sum(-1)).clamp(0, 1)
    return (rel - s.unsqueeze(-1) * e).norm(dim=-1).amin(-1)


def test_the_walls_world_keeps_every_disk_outside_every_wall() -> None:
    """worlds/walls.yaml (segments, boxes and a map), 256 worlds × 300 random ticks (3 episodes): no centre ever
    closer to a wall than its radius, and none inside a box — the spawns too (place: avoid walls)."""
    sim = engine.make("walls", num_worlds=256, seed=3, compile=False)
    sim.reset(seed=3)
    spec = sim.plan.spec.walls
    seg = torch.tensor(spec.segment_list())
    boxes = torch.tensor(spec.all_boxes())
    gen = torch.Generator().manual_seed(0)
    closest = float("inf")
    for _ in range(300):
        sim.step(sim.sample_actions(gen))
        pos, rad = sim.state["pos"], sim.state["radius"]  # worlds that just reset included: placed clear
        gap = _distance_to_walls(pos, seg) - rad.double()
        closest = min([closest] + ([float(gap.min())] if gap.numel() else []))
        x, y = pos[..., 0:1], pos[..., 1:2]
        inside = (x > boxes[:, 0]) & (x < boxes[:, 2]) & (y > boxes[:, 1]) & (y < boxes[:, 3])
        assert not bool(inside.any())
    assert closest >= -1e-5, closest
    assert closest < 0.01  # and they did run into the walls


PLACED = """\
version: 1
name: placed
world: {arena: [-1.0, 1.0, -1.0, 1.0]}
entities:
  ball:
    count: 6
    components: {radius: 0.1, collide: false}
    spawn: {pos: {uniform: [-0.9, 0.9]}}
    place: {avoid: [walls, ball], tries: TRIES}
walls:
  boxes: [[-1.0, -1.0, 0.0, 1.0]]   # the left half is solid
systems: []
"""


def test_placement_keeps_spawns_clear_of_walls_and_each_other(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(PLACED.replace("TRIES", "64"))
    sim = engine.make(str(f), num_worlds=500, seed=2, compile=False)
    sim.reset(seed=2)
    pos = sim.state["pos"]
    assert bool((pos[..., 0] >= 0.1 - 1e-6).all())  # right of the box by a radius
    d = (pos.unsqueeze(2) - pos.unsqueeze(1)).norm(dim=-1) + torch.eye(6) * 9
    assert float(d.min()) >= 0.2 - 1e-6  # no two balls overlap
    assert int(sim.state["placement.failed"].sum()) == 0
    again = engine.make(str(f), num_worlds=500, seed=2, compile=False)
    again.reset(seed=2)
    assert torch.equal(again.state["pos"], pos)  # seeded: the same layouts


def test_a_placement_that_sometimes_fails_is_counted_not_fatal(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(PLACED.replace("TRIES", "1"))  # one try: about half the draws land in the box
    sim = engine.make(str(f), num_worlds=200, seed=0, compile=False)
    sim.reset(seed=0)
    failed = sim.state["placement.failed"]
    assert 0 < int(failed.sum()) and int((failed == 0).sum()) > 0
    sim.step({})  # and the run goes on


def test_a_layout_that_never_fits_is_refused_at_load(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text(PLACED.replace("TRIES", "64").replace("count: 6", "count: 60"))
    with pytest.raises(UserError, match=r"entities.ball.place: ball \d+ found no clear place in any of 64 trial"):
        engine.make(str(f), num_worlds=1)


def test_placement_is_for_agents_and_objects_not_crowds(tmp_path: Path) -> None:
    """A fuzzed world once asked to place 40,000 entities one at a time (12 GB of index tables): refused."""
    f = tmp_path / "p.yaml"
    f.write_text(PLACED.replace("TRIES", "8").replace("count: 6", "count: 2000"))
    with pytest.raises(UserError, match=r"entities.ball.place: expected at most 1,024 entities placed one at a time"):
        engine.make(str(f), num_worlds=1)
