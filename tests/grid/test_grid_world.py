"""Grid worlds written in YAML, through ``engine.make`` as a user writes them: several agents (cells
shared by declared policy, agents blocking and seeing each other), maps and legends, ``grid.place``
(uniform free cells, failures counted mid-run without crashing), a user's level generator under the
trust policy, and the located errors a wrong grid world gets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import engine
from engine.errors import UserError
from engine.grid.view import BALL, KEY, WALL

ROOT = Path(__file__).resolve().parents[2]
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)

HEAD = """\
version: 1
name: {name}
entities:
  agent: {{count: {agents}}}
agents:
  agent:
    entity: agent
    action:
      type: discrete
      moves: false
      actions: {{left: {{}}, right: {{}}, forward: {{}}, pickup: {{}}, drop: {{}}, toggle: {{}}, done: {{}}}}
    observation: [grid_view, grid_direction]
    reward: [grid_success]
systems: [grid]
episode: {{max_steps: 50}}
"""


def world(tmp_path: Path, grid: str, agents: int = 2, name: str = "g") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(name=name, agents=agents) + "grid:\n" + textwrap.indent(textwrap.dedent(grid), "  "))
    return path


def act(sim, *per_agent: int) -> tuple:
    return sim.step({"agent": torch.tensor([list(per_agent)] * sim.num_worlds)})


FACING = """\
level:
  map:
    - "#######"
    - "#>...<#"
    - "#######"
"""


@pytest.mark.parametrize("policy, expected", [("lowest_index", [[3, 1], [4, 1]]), ("nobody", [[2, 1], [4, 1]])])
def test_two_agents_stepping_into_one_cell_resolve_by_the_declared_policy(tmp_path, policy, expected) -> None:
    """`>.<` with one free cell between after a step each: both step forward into the middle one."""
    sim = engine.make(world(tmp_path, FACING + f"same_cell: {policy}\n"), num_worlds=3)
    sim.reset(seed=0)
    assert sim.state["grid.pos"][0].tolist() == [[1, 1], [5, 1]]
    act(sim, FORWARD, FORWARD)
    assert sim.state["grid.pos"][0].tolist() == [[2, 1], [4, 1]]  # (3, 1) free between them
    act(sim, FORWARD, FORWARD)
    assert sim.state["grid.pos"].tolist() == [expected] * 3
    act(sim, FORWARD, FORWARD)  # the same again: blocked by each other (lowest_index), or contested (nobody)
    assert sim.state["grid.pos"].tolist() == [expected] * 3


def test_an_agent_never_enters_another_agents_cell_and_sees_it(tmp_path) -> None:
    sim = engine.make(world(tmp_path, FACING), num_worlds=1)
    obs, _ = sim.reset(seed=0)
    image = obs["agent"][0, 0, :7 * 7 * 3].view(7, 7, 3)  # agent 0 looks right: agent 1 is 4 cells ahead
    # in the egocentric view the agent sits at (3, 6) looking up; 4 cells ahead is (3, 2)
    assert image[3, 2].tolist() == [10.0, 1.0, 2.0], "agent 1 (colour index 1, facing left = 2)"
    for _ in range(5):
        act(sim, FORWARD, DONE)
    assert sim.state["grid.pos"][0].tolist() == [[4, 1], [5, 1]], "agent 0 stops in front of agent 1"
    act(sim, DROP, FORWARD)
    assert sim.state["grid.pos"][0, 1].tolist() == [5, 1]


def test_an_agent_cannot_drop_onto_another_agent(tmp_path) -> None:
    grid = """\
    level:
      map:
        - "######"
        - "#>K<.#"
        - "######"
    """
    sim = engine.make(world(tmp_path, grid), num_worlds=1)
    sim.reset(seed=0)
    act(sim, PICKUP, DONE)
    assert sim.state["grid.carrying"][0, 0, 0] == KEY
    act(sim, FORWARD, DONE)  # agent 0 moves onto the key's old cell, next to agent 1
    act(sim, DROP, DONE)
    assert sim.state["grid.carrying"][0, 0, 0] == KEY, "the cell in front holds agent 1: nothing is dropped"


def test_maps_are_drawn_per_reset_and_the_legend_adds_objects(tmp_path) -> None:
    grid = """\
    level:
      maps:
        - ["#####", "#>.r#", "#####"]
        - ["#####", "#>R.#", "#####"]
    legend:
      r: {object: ball, color: red}
      R: {object: door, color: red, state: locked}
    """
    sim = engine.make(world(tmp_path, grid, agents=1), num_worlds=64)
    sim.reset(seed=1)
    cells = sim.state["grid.cells"]
    ball = (cells[:, 3, 1] == torch.tensor([BALL, 0, 0], dtype=torch.uint8)).all(-1)
    door = (cells[:, 2, 1] == torch.tensor([4, 0, 2], dtype=torch.uint8)).all(-1)
    assert bool((ball ^ door).all()), "each world holds one of the two maps"
    assert 12 <= int(ball.sum()) <= 52, f"both maps drawn ({int(ball.sum())} of 64 hold the first)"


def test_place_puts_objects_on_distinct_free_cells_of_the_region_uniformly(tmp_path) -> None:
    grid = """\
    level: {generator: empty}
    size: [8, 8]
    place:
      - {object: ball, count: 3, region: [2, 2, 5, 5]}
      - {object: key, color: red, at: [6, 1]}
    """
    sim = engine.make(world(tmp_path, grid, agents=1), num_worlds=2000)
    sim.reset(seed=3)
    cells = sim.state["grid.cells"]
    balls = cells[..., 0] == BALL
    assert bool((balls.sum((1, 2)) == 3).all()), "three balls in every world"
    assert not bool(balls[:, :2].any() or balls[:, 6:].any() or balls[:, :, :2].any() or balls[:, :, 6:].any())
    assert bool((cells[:, 6, 1] == torch.tensor([KEY, 0, 0], dtype=torch.uint8)).all())
    counts = balls[:, 2:6, 2:6].sum(0).flatten().double()  # 16 cells, 6,000 balls: uniform → 375 each
    chi2 = float(((counts - counts.mean()) ** 2 / counts.mean()).sum())
    assert chi2 < 37.7, f"ball cells not uniform: chi² {chi2:.1f} (15 dof, p = 0.001 at 37.7)"
    pos = sim.state["grid.pos"][:, 0]
    assert not bool(balls[torch.arange(2000), pos[:, 0], pos[:, 1]].any()), "never on the agent"


def test_a_placement_that_can_never_fit_is_refused_at_load(tmp_path) -> None:
    grid = """\
    level: {map: ["#####", "#>..#", "#####"]}
    place: [{object: ball, count: 3}]
    """
    with pytest.raises(UserError, match=r"g\.yaml:\d+:\d+: grid.level: .*1 of grid.place's objects found no free"):
        engine.make(world(tmp_path, grid, agents=1), num_worlds=1)


GENERATOR = '''\
import numpy as np

calls = [0]


def crowded(rng, width, height, walls=0):
    """Open levels for the first 4 builds (the check at load), then levels with no room for the ball."""
    calls[0] += 1
    rows = ["#" * width] + ["#" + "." * (width - 2) + "#" for _ in range(height - 2)] + ["#" * width]
    if calls[0] > 4:
        rows[1:-1] = ["#" + "L" * (width - 2) + "#" for _ in range(height - 2)]
        rows[1] = "#>" + "L" * (width - 3) + "#"
    return rows
'''


def test_a_user_generator_runs_only_under_trust_and_failed_placements_are_counted(tmp_path) -> None:
    (tmp_path / "levelgen.py").write_text(GENERATOR)
    grid = """\
    level: {generator: levelgen.crowded}
    size: [6, 5]
    place: [{object: ball}]
    """
    path = world(tmp_path, grid, agents=1)
    with pytest.raises(UserError, match="--trust"):
        engine.make(path, num_worlds=1)
    sim = engine.make(path, num_worlds=4, trust=[str(tmp_path)])
    sim.reset(seed=0)  # the fifth build on: lava everywhere but the agent's cell
    assert sim.state["grid.place_failed"].tolist() == [1, 1, 1, 1]
    assert not bool((sim.state["grid.cells"][..., 0] == BALL).any()), "the ball that found no cell is skipped"
    for _ in range(3):  # the run goes on: lava ends every episode, autoreset builds (crowded) levels again
        _, _, term, _, info = act(sim, FORWARD)
        assert bool(term["agent"].all())
        assert info["events"]["grid_place_failed"].tolist() == [1, 1, 1, 1], "reported with the ended episode"
        assert sim.state["tick"].tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("grid, agents, where, message", [
    ("level: {map: ['####', '#>?#', '####']}\n", 1, "grid.level", "'?'"),
    ("level: {map: ['####', '#>.#', '####']}\nsize: [8, 8]\n", 1, "grid.level", "grid.size is [8, 8] but the map is"),
    ("level: {generator: doorkey}\nplace: [{object: ball, at: [0, 0]}]\n", 1, "grid.level", "no free cell"),
    ("level: {generator: multiroom, params: {rooms: 3}}\n", 1, "grid.level", "no parameter 'rooms'"),
    ("level: {generator: doorky}\n", 1, "grid.level.generator", "unknown level family 'doorky' (did you mean "
                                                               "'doorkey'?)"),
    ("level: {generator: mygen.mazes}\n", 1, "grid.size", "(mygen.mazes) needs grid.size"),
    ("level: {generator: doorkey}\nview: 6\n", 1, "grid.view", "odd"),
    ("level: {map: ['#####', '#>.<#', '#####']}\n", 4, "grid.level", "no free cell for agent 3 of 4"),
])
def test_a_wrong_grid_world_is_one_located_error_exit_2(tmp_path, grid, agents, where, message) -> None:
    path = world(tmp_path, grid, agents=agents)
    proc = subprocess.run([sys.executable, "-m", "engine", "validate", str(path)], capture_output=True, text=True,
                          cwd=ROOT)
    err = proc.stderr.strip()
    assert proc.returncode == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "g.yaml:" in err and f": {where}" in err and message in err, err


def test_grid_agents_must_take_minigrids_actions_and_worlds_must_run_the_grid_system(tmp_path) -> None:
    path = world(tmp_path, "level: {generator: doorkey}\n", agents=1)
    text = path.read_text()
    path.write_text(text.replace("drop: {}, toggle: {}", "toggle: {}, drop: {}"))
    with pytest.raises(UserError, match=r"agents.agent.action: a grid agent takes MiniGrid's actions"):
        engine.make(path, num_worlds=1)
    path.write_text(text.replace("systems: [grid]", "systems: [physics]"))
    with pytest.raises(UserError, match=r"systems: a world with a grid: section runs the grid system; expected "
                                        r"systems to list grid \(e.g. systems: \[grid\]\), got \[physics\]"):
        engine.make(path, num_worlds=1)
    path.write_text(text.split("grid:\n")[0])  # grid terms and system, no grid: section
    with pytest.raises(UserError, match=r"systems: grid terms and the grid system need a grid: section"):
        engine.make(path, num_worlds=1)


def test_the_walls_of_a_map_world_are_walls_in_every_view(tmp_path) -> None:
    sim = engine.make(world(tmp_path, "level: {map: ['#####', '#>..#', '#####']}\n", agents=1), num_worlds=1)
    obs, _ = sim.reset(seed=0)
    image = obs["agent"][0, 0, :147].view(7, 7, 3)
    assert image[3, 6].tolist() == [1.0, 0.0, 0.0], "the agent's own cell: empty hands"
    assert image[2, 6, 0] == WALL and image[4, 6, 0] == WALL, "walls on its left and right"
    assert np.count_nonzero(image[..., 0].numpy() == 0) > 30, "what is behind the walls is unseen"


def test_validate_describes_a_grid_world() -> None:
    proc = subprocess.run([sys.executable, "-m", "engine", "validate", "grid/multiroom"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "grid: 25 × 25 cells, levels from generator multiroom, view 7 × 7" in proc.stdout
    assert "actions: an integer in 0..6 (left, right, forward, pickup, drop, toggle, done)" in proc.stdout
