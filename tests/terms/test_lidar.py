"""The lidar term against a float64 reference written out with loops: rays against disks (dead ones
and the agent's own ignored) and wall segments, nearest-of-all and per-type channels."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import engine
from engine.errors import UserError

WORLD = """\
version: 1
name: lidar
entities:
  scout: {count: 2, components: {radius: 0.05}, spawn: {pos: {uniform: [-0.8, 0.8]}}}
  rock: {count: 5, components: {radius: 0.1, movable: false}, spawn: {pos: {uniform: [-0.9, 0.9]}}}
agents:
  scout:
    entity: scout
    observation:
      - lidar: {rays: 24, range: 1.5, of: [scout, rock], angle: 7.5}
      - lidar: {rays: 8, range: 1.5, of: [scout, rock], per_type: true}
walls:
  segments: [[-1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, 1.0, 1.0], [0.2, -0.3, 0.6, 0.4]]
  boxes: [[-1.2, -1.0, -1.0, 1.0]]
systems: []
"""


def _ray_disk(o, u, c, r) -> float:
    m = o - c
    b, cc = m @ u, m @ m - r * r
    if cc < 0:
        return 0.0
    disc = b * b - cc
    if disc < 0:
        return math.inf
    t = -b - math.sqrt(disc)
    return t if t >= 0 else math.inf


def _ray_segment(o, u, seg) -> float:
    a, e = np.array(seg[:2]), np.array(seg[2:]) - np.array(seg[:2])
    den = u[0] * e[1] - u[1] * e[0]
    if abs(den) < 1e-12:
        return math.inf
    q = a - o
    t, s = (q[0] * e[1] - q[1] * e[0]) / den, (q[0] * u[1] - q[1] * u[0]) / den
    return t if t >= 0 and 0 <= s <= 1 else math.inf


def _segments() -> list[list[float]]:
    segs = [[-1.0, -1.0, 1.0, -1.0], [-1.0, 1.0, 1.0, 1.0], [0.2, -0.3, 0.6, 0.4]]
    x0, y0, x1, y1 = -1.2, -1.0, -1.0, 1.0
    return segs + [[x0, y0, x1, y0], [x1, y0, x1, y1], [x1, y1, x0, y1], [x0, y1, x0, y0]]


def _reference(state, rays: int, angle: float, per_type: bool) -> np.ndarray:
    pos, rad, alive = (state[k][0].double().numpy() for k in ("pos", "radius", "alive"))
    out = []
    for a in range(2):
        o = pos[a]
        row = []
        for k in range(rays):
            th = math.radians(angle) + 2 * math.pi * k / rays
            u = np.array([math.cos(th), math.sin(th)])
            per = {}
            for name, idx in (("scout", [0, 1]), ("rock", range(2, 7))):
                per[name] = min([_ray_disk(o, u, pos[j], rad[j]) for j in idx if j != a and alive[j]] + [math.inf])
            per["walls"] = min(_ray_segment(o, u, s) for s in _segments())
            row.append([min(v, 1.5) for v in per.values()] if per_type else [min(min(per.values()), 1.5)])
        out.append(np.array(row).T.flatten() if per_type else np.array(row).flatten())
    return np.stack(out)


@pytest.mark.parametrize("seed", range(5))
def test_lidar_matches_a_float64_reference(tmp_path: Path, seed: int) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD)
    sim = engine.make(str(f), num_worlds=1, compile=False)
    sim.reset(seed=seed)
    if seed == 4:  # a dead rock stops nothing; a scout inside a rock reads 0
        alive = sim.state["alive"].clone()
        alive[0, 3] = False
        sim.state["alive"] = alive
        sim.state["pos"][0, 1] = sim.state["pos"][0, 4]
        for hook in sim.table.derive_hooks:
            hook(sim.state)
    obs = sim.observations()["scout"][0].double().numpy()
    np.testing.assert_allclose(obs[:, :24], _reference(sim.state, 24, 7.5, False), atol=1e-5)
    np.testing.assert_allclose(obs[:, 24:], _reference(sim.state, 8, 0.0, True), atol=1e-5)
    assert (obs[:, :24] < 1.5).mean() > 0.3  # the rays do hit things


def test_lidar_needs_something_to_hit(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(WORLD.replace("walls:\n  segments", "unused:\n  segments").replace(
        "of: [scout, rock], angle: 7.5", "angle: 7.5").split("unused:")[0] + "systems: []\n")
    with pytest.raises(UserError, match="expected something for the rays to hit"):
        engine.make(str(f), num_worlds=1)
