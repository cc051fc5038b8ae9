"""The worked example of docs/extending.md: a user system with its own per-entity state and random
numbers (stamina.py) and an extension outside the engine that declares per-world state (weather.py).
Both get reset, snapshot/restore and record/replay from their declarations alone."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import engine
from engine.cli.main import main

WORLD = "examples/energy_tag/energy_tag"


def _run(sim, steps: int, seed: int = 1) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        sim.step(sim.sample_actions(gen))
        out.append({k: sim.state[k].clone() for k in ("pos", "vel", "stamina", "wind", "max_speed")})
    return out


def test_the_example_uses_its_declared_state_and_randomness() -> None:
    sim = engine.make(WORLD, num_worlds=16, seed=0)
    sim.reset()
    assert torch.equal(sim.state["stamina"], torch.ones(16, 6))
    assert torch.equal(sim.state["wind"], torch.zeros(16, 2))
    traj = _run(sim, 40)
    st = traj[-1]
    agents = slice(0, 4)
    assert float(st["stamina"][:, agents].min()) < 0.9, "running should tire agents"
    assert bool((st["stamina"][:, 4:] == 1.0).all()), "obstacles have no stamina to lose"
    assert bool((st["wind"].abs().sum(-1) > 0).any()), "some wind should have blown in 40 ticks"
    assert bool((st["max_speed"][:, agents] < 1.3 + 1e-6).all())
    # worlds draw different numbers: the stamina paths differ
    assert not torch.equal(st["stamina"][0], st["stamina"][1])


def test_snapshot_restore_round_trips_user_state_and_random_draws() -> None:
    sim = engine.make(WORLD, num_worlds=8, seed=3)
    sim.reset()
    _run(sim, 7)
    snap = sim.snapshot()
    first = _run(sim, 30, seed=5)
    sim.restore(snap)
    again = _run(sim, 30, seed=5)
    for a, b in zip(first, again):
        for k in a:
            assert torch.equal(a[k], b[k]), k


def test_reset_restores_declared_defaults() -> None:
    sim = engine.make(WORLD, num_worlds=4, seed=0)
    sim.reset()
    _run(sim, 20)
    sim.reset()
    assert torch.equal(sim.state["stamina"], torch.ones(4, 6)) and torch.equal(sim.state["wind"], torch.zeros(4, 2))
    assert torch.equal(sim.state["max_speed"], sim.table.default("max_speed").expand(4, -1))


def test_record_then_replay_is_bit_exact(tmp_path: Path, capsys) -> None:
    out = tmp_path / "rec"
    world = str(Path(engine.__file__).parent.parent / "worlds" / f"{WORLD}.yaml")
    assert main(["record", world, "--out", str(out), "--worlds", "4", "--steps", "120", "--eager"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"stamina", "wind"} <= set(manifest["entity_keys"]), "declared record=True state is recorded"
    capsys.readouterr()
    assert main(["replay", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["match"] and report["steps"] == 120 and report["mismatches"] == {}


def test_a_perturbed_recording_is_caught(tmp_path: Path, capsys) -> None:
    """The replay check is real: the same recording replayed with another stamina drain mismatches."""
    out = tmp_path / "rec"
    world = str(Path(engine.__file__).parent.parent / "worlds" / f"{WORLD}.yaml")
    assert main(["record", world, "--out", str(out), "--worlds", "2", "--steps", "30", "--eager"]) == 0
    capsys.readouterr()
    code = main(["replay", str(out), "--json", "--set", "systems.0.params.drain=0.3"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1 and not report["match"] and "next.stamina" in report["mismatches"]
