"""Static zones (zones:): boxes, disks, polygons and map cells, tested by the rules' inside condition, the
in_zone observation and a gated reward on hand-placed entities; unknown names are located errors; the
renderer draws them translucent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import UserError

WORLD = """\
version: 1
name: zones
components:
  visits: {dtype: int64}
entities:
  walker: {count: 8, components: {collide: false}}
zones:
  base: {boxes: [[-1.0, -1.0, -0.5, -0.5]], disks: [[0.5, 0.5, 0.2]], color: [0.9, 0.2, 0.2], opacity: 0.5}
  swamp: {polygons: [[[0.0, -0.8], [0.6, -0.8], [0.3, -0.2]]]}
  water: {map: {rows: ["~~.", "..~"], cell: 0.2, origin: [-0.9, 0.4], char: "~"}}
agents:
  walker:
    entity: walker
    observation: [{in_zone: {zones: [base, swamp, water], inside: 1.0, outside: 0.0}}]
    reward:
      - distance: {to: [walker], scale: 0.0}
      - bounds_penalty: {scale: -1.0, inner: 0.0, outer: 10.0, slope: 1.0, when: [{inside: {zones: [base]}}]}
rules:
  - name: in_base
    of: [walker]
    when: [{inside: {zones: [base]}}]
    do: [{add: [self.visits, 1]}]
systems: []
"""
# walker positions and where they are: base (box, disk edge), swamp (triangle), water (map cells)
POINTS = [[-0.75, -0.75], [0.5, 0.65], [0.5, 0.71], [0.3, -0.5], [0.05, -0.7], [-0.8, 0.7], [-0.4, 0.5],
          [0.0, 0.0]]
BASE = [True, True, False, False, False, False, False, False]
SWAMP = [False, False, False, True, False, False, False, False]
WATER = [False, False, False, False, False, True, True, False]  # cells (0,0), (0,1) top row; (-0.4, 0.5): (1,2)


def _sim(tmp_path: Path, text: str = WORLD) -> engine.Sim:
    f = tmp_path / "w.yaml"
    f.write_text(text)
    sim = engine.make(str(f), num_worlds=1, compile=False)
    sim.reset(seed=0)
    sim.state["pos"] = torch.tensor([POINTS], dtype=sim.state["pos"].dtype)
    return sim


def test_rules_and_observations_see_each_kind_of_zone(tmp_path: Path) -> None:
    sim = _sim(tmp_path)
    obs, rew, *_ = sim.step({"walker": torch.zeros(1, 8, dtype=torch.int64)})
    assert sim.state["visits"][0].tolist() == [int(b) for b in BASE]
    o = obs["walker"][0]
    assert o[:, 0].bool().tolist() == BASE and o[:, 1].bool().tolist() == SWAMP and o[:, 2].bool().tolist() == WATER
    # the bounds penalty (|x| + |y| here) is paid only inside the base
    want = [float(abs(x) + abs(y)) if b else 0.0 for (x, y), b in zip(POINTS, BASE)]
    assert rew["walker"][0].tolist() == pytest.approx(want, abs=1e-6)


def test_polygon_membership_matches_a_float64_reference() -> None:
    from engine.world.schema import ZoneSpec
    from engine.world.zones import Zone

    poly = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.4], [0.0, 1.0]]  # concave (a notch from the top)
    zone = Zone.build(ZoneSpec(polygons=[poly]), torch.float64, torch.device("cpu"))
    pts = torch.rand(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 1.4 - 0.2

    def ref(x: float, y: float) -> bool:
        inside = False
        for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1]):
            if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                inside = not inside
        return inside

    got = zone.inside(pts)
    assert got.tolist() == [ref(float(x), float(y)) for x, y in pts]
    assert 0.3 < got.double().mean() < 0.6


@pytest.mark.parametrize("edit, message", [
    ("{inside: {zones: [base]}}]\n    do", r"rules\[0\].when\[0\].inside.zones\[0\]: unknown zone 'bsae' \(did you "),
    ("zones: [base, swamp, water]", r"observation\[0\].in_zone.zones\[0\]: unknown zone 'bsae'"),
])
def test_an_unknown_zone_is_a_located_error(tmp_path: Path, edit: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _sim(tmp_path, WORLD.replace(edit, edit.replace("base", "bsae", 1)))


def test_bad_zone_shapes_are_located_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"zones.swamp.polygons\[0\]: expected 3 or more"):
        _sim(tmp_path, WORLD.replace("[[[0.0, -0.8], [0.6, -0.8], [0.3, -0.2]]]", "[[[0.0, -0.8], [0.6, -0.8]]]"))
    with pytest.raises(UserError, match=r"zones.base.disks\[0\]: expected \[x, y, radius\] with radius > 0"):
        _sim(tmp_path, WORLD.replace("[[0.5, 0.5, 0.2]]", "[[0.5, 0.5, -0.2]]"))


def test_zones_are_drawn_translucent(tmp_path: Path) -> None:
    from engine.render import GLUnavailableError, create_headless_context
    from engine.views.sim_view import SimView

    try:
        ctx = create_headless_context()
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    sim = _sim(tmp_path)
    sim.state["pos"] = torch.full_like(sim.state["pos"], 5.0)  # walkers out of view
    view = SimView(sim, size=(256, 256), ctx=ctx)
    image = view.render(0).astype(float)
    cam = view.camera()
    scale = 256 / (2 * cam[2])

    def at(x: float, y: float) -> np.ndarray:
        return image[int(round(128 - (y - cam[1]) * scale)), int(round(128 + (x - cam[0]) * scale))]

    background = np.array(sim.plan.spec.render.background) * 255
    half = 0.5 * np.array([0.9, 0.2, 0.2]) * 255 + 0.5 * background  # base: opacity 0.5 over the floor
    np.testing.assert_allclose(at(-0.75, -0.75), half, atol=3)
    np.testing.assert_allclose(at(0.5, 0.5), half, atol=3)
    np.testing.assert_allclose(at(0.0, 0.0), background, atol=1)
    view.release()
    ctx.release()
