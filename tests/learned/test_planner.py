"""The ``planner`` plugin kind: it plans what brute force finds, is seeded, is validated, and catches prey."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch

import engine
from engine.cli.main import main
from engine.core.actions import MOVE_DIRECTIONS

ROOT = Path(__file__).resolve().parents[2]
CHASE = Path(__file__).with_name("planner_chase.yaml")
PLANNER = ROOT / "worlds" / "tag_planner.yaml"
PHYSICS = ROOT / "worlds" / "tag_planner_physics.yaml"
#: a small budget: these tests check behaviour, not strength
SMALL = {"plugins.adversary_planner.plan.horizon": 4, "plugins.adversary_planner.plan.candidates": 16,
         "plugins.adversary_planner.plan.iterations": 2, "plugins.adversary_planner.plan.elites": 4}


def _place(sim, pos, vel) -> None:
    sim.state["pos"] = torch.tensor(pos, dtype=sim.state["pos"].dtype).expand_as(sim.state["pos"]).clone()
    sim.state["vel"] = torch.tensor(vel, dtype=sim.state["vel"].dtype).expand_as(sim.state["vel"]).clone()


def _brute_force(hunter, vel, target, horizon: int, discount: float) -> dict[tuple, float]:
    """Every discrete plan's discounted return (−distance to the target after each tick), in float64, with the
    integration written out (MPE's order: position from the old velocity, then damping, force, speed clamp)."""
    dt, damping, accel, max_speed = 0.1, 0.25, 3.0, 1.0
    out = {}
    for seq in itertools.product(range(len(MOVE_DIRECTIONS)), repeat=horizon):
        p, v = torch.tensor(hunter, dtype=torch.float64), torch.tensor(vel, dtype=torch.float64)
        total = 0.0
        for t, a in enumerate(seq):
            p = p + v * dt
            v = v * (1 - damping) + torch.tensor(MOVE_DIRECTIONS[a], dtype=torch.float64) * accel * dt
            speed = float(v.norm())
            if speed > max_speed:
                v = v / speed * max_speed
            total += discount ** t * -float((p - torch.tensor(target, dtype=torch.float64)).norm())
        out[seq] = total
    return out


def test_the_physics_planner_finds_the_brute_force_optimum():
    hunter, vel, target = [-0.5, 0.1], [0.3, 0.4], [0.4, -0.3]
    sim = engine.make(CHASE, num_worlds=3, seed=0)
    sim.reset(seed=0)
    _place(sim, [hunter, target], [vel, [0.0, 0.0]])
    sim.step({})
    returns = _brute_force(hunter, vel, target, horizon=3, discount=0.9)
    best = max(returns, key=returns.get)
    firsts = {a: max(r for s, r in returns.items() if s[0] == a) for a in range(len(MOVE_DIRECTIONS))}
    assert sorted(firsts.values())[-1] - sorted(firsts.values())[-2] > 1e-3  # the best first move is unique
    chosen = sim.state["action.hunter"][:, 0]
    assert chosen.tolist() == [best[0]] * 3  # +x or -y: toward the target, in every world
    assert MOVE_DIRECTIONS[best[0]] in ((1.0, 0.0), (0.0, -1.0))
    value = sim.state["metric.brain.value"]
    assert torch.allclose(value.double(), torch.full((3,), returns[best], dtype=torch.float64), atol=1e-4)


def _moves_toward_prey(world, overrides=None) -> float:
    """Mean cosine between the adversaries' chosen force direction and the direction to the prey (first tick)."""
    sim = engine.make(world, num_worlds=4, seed=1, overrides={**SMALL, **(overrides or {})})
    sim.reset(seed=1)
    pos = sim.state["pos"].clone()
    sim.step({"prey": torch.zeros(4, 1, dtype=torch.int64)})
    table = torch.tensor(MOVE_DIRECTIONS)
    d = table[sim.state["action.adversary"]]  # [B, 3, 2]
    to_prey = pos[:, 3:4] - pos[:, 0:3]
    return float(torch.nn.functional.cosine_similarity(d, to_prey, dim=-1).mean())


@pytest.mark.parametrize("world", [PHYSICS, PLANNER], ids=["hand-coded", "learned"])
def test_adversaries_head_for_the_prey(world):
    assert _moves_toward_prey(world) > 0.5


def test_a_planner_is_reproducible_from_the_seed_and_from_snapshots():
    def actions(sim, ticks: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(4)
        out = []
        for _ in range(ticks):
            sim.step({"prey": torch.randint(0, 5, (3, 1), generator=g)})
            out.append(sim.state["action.adversary"].flatten().tolist())
        return out

    a = engine.make(PLANNER, num_worlds=3, seed=5, overrides=SMALL)
    b = engine.make(PLANNER, num_worlds=3, seed=5, overrides=SMALL)
    a.reset(seed=5)
    b.reset(seed=5)
    assert actions(a, 6) == actions(b, 6)
    snap = a.snapshot()
    first = actions(a, 4)
    a.restore(snap)
    assert actions(a, 4) == first  # the warm-start plan and the random counter are state


def test_continuous_actions_are_planned_inside_the_action_space():
    sim = engine.make(PHYSICS, num_worlds=2, seed=0, overrides={**SMALL, "agents.adversary.action": "continuous"})
    sim.reset(seed=0)
    for _ in range(3):
        sim.step({"prey": torch.zeros(2, 1, dtype=torch.int64)})
    act = sim.state["action.adversary"]
    assert act.shape == (2, 3, 5) and bool(((act >= 0) & (act <= 1)).all())
    assert sim.state["planner.adversary_planner.plan"].shape == (2, 3, 4, 5)


def test_the_planner_controls_its_group_and_reports_per_tick():
    sim = engine.make(PHYSICS, num_worlds=2, seed=0, overrides=SMALL)
    assert sim.external_groups == ["prey"] and sim.controlled_by["adversary"] == "adversary_planner"
    sim.reset(seed=0)
    for _ in range(3):
        sim.step({"prey": torch.zeros(2, 1, dtype=torch.int64)})
    rep = sim.plugin_report()["adversary_planner"]
    assert rep["kind"] == "planner" and rep["provider"] == "hand-coded" and rep["calls"] == 3
    host = sim.plugins["adversary_planner"]
    assert host.model_calls == 3 * 4 * 2  # ticks × horizon × iterations: one call for all worlds × candidates


def test_flipping_a_learned_planner_imagines_with_the_hand_coded_physics():
    sim = engine.make(PLANNER, num_worlds=2, seed=0, overrides=SMALL)
    sim.reset(seed=0)
    host = sim.plugins["adversary_planner"]
    sim.step({"prey": torch.zeros(2, 1, dtype=torch.int64)})
    calls = host.model_calls
    sim.set_learned(False)
    sim.step({"prey": torch.zeros(2, 1, dtype=torch.int64)})
    assert host.model_calls == calls and host._physics_calls == 4 * 2


def _eval_contacts(world, *extra: str, capsys) -> float:
    code = main(["eval", str(world), "--episodes", "24", "--worlds", "24", "--seed", "3", "--json", *extra])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0
    return json.loads(out)["contacts adversary–prey"][0]


def test_a_short_eval_planner_catches_more_than_random(capsys):
    flee = ["--controller", "prey=scripted_flee:adversary"]
    sets = [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]
    planner = _eval_contacts(PHYSICS, *flee, *sets, capsys=capsys)
    random = _eval_contacts(ROOT / "worlds" / "tag.yaml", *flee, capsys=capsys)
    assert planner > random + 0.5, (planner, random)


# ------------------------------------------------------------------ validation: exit 2, one located line
def _validate(capsys, path, *extra: str) -> str:
    code = main(["validate", str(path), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 0, err
    return err


@pytest.mark.parametrize("edits, expected", [
    ({"horizon: 5 ": "horizon: 0 "}, "plan.horizon: expected an integer >= 1 and <= 128, got 0"),
    ({"elites: 4 ": "elites: 33 "}, "plan.elites: expected at most `candidates` (32) elites, got 33"),
    ({"method: cem": "method: cme"}, "expected one of 'cem', 'mppi', got string 'cme' (did you mean 'cem'?)"),
    ({"horizon: 5 ": "horizon: 128 ", "candidates: 32 ": "candidates: 4096 ", "iterations: 2 ": "iterations: 3 "},
     "expected horizon × candidates × iterations <= 1,048,576 imagined ticks per world and tick, got 128 × 4096 × 3"),
    ({"    count: 2\n": "    count: 900\n"}, "expected candidates × horizon × iterations × entity slots <= 262,144 "
                                             "imagined entity-ticks per world and tick, got 32 × 5 × 2 × 904"),
    ({"others: hold": "others: freeze"}, "plan.others: expected one of 'hold', 'noop'"),
    ({"- distance: {to: [prey]": "- distanse: {to: [prey]"},
     "unknown reward term 'distanse' (did you mean 'distance'?)"),
    ({"- distance: {to: [prey], scale: -1.0}": "- distance: {to: [prey], scael: -1.0}"}, "unknown key 'scael'"),
    ({"agents: adversary\n    plan:": "agents: adversaries\n    plan:"}, "expected the agent group it plans for"),
    ({"      dynamics: physics ": "      dynamics: learned "}, "plan.dynamics: expected one of 'physics'"),
    ({"      dynamics: physics ": "      "}, "a planner imagines with model: PATH (ONNX dynamics) or plan.dynamics: "
                                             "physics (hand-coded); expected exactly one, got neither"),
    ({"kind: planner": "kind: policy"}, "plan: is for planner plugins; this plugin is a policy"),
    ({"  - physics ": "  - bounds "}, "the world's physics system, and this world's systems: list has none"),
])
def test_bad_planner_fields_are_located_errors(tmp_path, capsys, edits, expected):
    text = PHYSICS.read_text()
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "tag_planner_physics.yaml"
    path.write_text(text)
    err = _validate(capsys, path)
    assert f"error: {path}:" in err and expected in err, err


def test_a_learned_planner_must_bind_its_agents(capsys):
    err = _validate(capsys, PLANNER, "--set", "plugins.adversary_planner.entities=[prey, obstacle]")
    assert "the model must move the planning agents: expected entities to include 'adversary'" in err, err


def test_a_missing_plan_is_a_located_error(tmp_path, capsys):
    text = PHYSICS.read_text()
    start, end = text.index("    plan:\n"), text.index("\nepisode:")
    path = tmp_path / "w.yaml"
    path.write_text(text[:start] + text[end:])
    err = _validate(capsys, path)
    assert "a planner needs plan: {horizon, candidates, iterations, …}" in err, err
