"""A dynamics plugin that wraps tag's exact physics, exported to ONNX, must shadow the hand-coded physics
with ~zero drift: this proves the whole path (gather → ONNX Runtime → scatter, shadow twin, metrics)."""

import pytest
import torch

import engine
from engine.distill.drift import measure_drift

# torch.onnx notes that two inputs share the dynamic batch axis: expected, nothing to act on
pytestmark = pytest.mark.filterwarnings("ignore:# The axis name")


def test_exact_physics_plugin_has_no_drift(exact_physics_world):
    sim = engine.make(exact_physics_world, num_worlds=32, seed=3)
    sim.reset(seed=3)
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    moved = 0.0
    for _ in range(100):
        before = sim.state["pos"]
        _, _, _, _, info = sim.step(sim.sample_actions(gen))
        assert float(info["metrics"]["exact_physics.nonfinite"]) == 0
        worst = max(worst, float(sim.state["metric.exact_physics.drift_pos_max"].max()),
                    float(sim.state["metric.exact_physics.drift_vel"].max()))
        moved += float((sim.state["pos"] - before).abs().sum())
    assert sim.plugin_report()["exact_physics"]["calls"] == 100
    assert moved > 1.0  # the learned path really moved the entities
    assert worst <= 1e-5, f"exact physics through ONNX drifted by {worst:.3g} from the hand-coded physics"


def test_drift_of_the_exact_physics_plugin_is_zero(exact_physics_world, tmp_path):
    from engine.distill.drift import write_drift

    result = measure_drift(exact_physics_world, "exact_physics", horizon=30, starts=16, worlds=8, seed=1)
    assert result.errors.shape == (16, 30)
    assert float(result.errors.max()) <= 1e-5
    summary = write_drift(result, tmp_path)
    assert (tmp_path / "drift.png").stat().st_size > 0 and summary["median_at_horizon"] <= 1e-5


def test_drift_cli_writes_json_and_plot(exact_physics_world, tmp_path, capsys):
    import json

    from engine.cli.main import main

    assert main(["drift", str(exact_physics_world), "--plugin", "exact_physics", "--horizon", "6", "--starts", "4",
                 "--worlds", "4", "--out", str(tmp_path)]) == 0
    assert "median error after 6 steps" in capsys.readouterr().out
    data = json.loads((tmp_path / "drift.json").read_text())
    assert len(data["median"]) == 6 and {"p10", "p25", "p75", "p90"} <= set(data)
    assert (tmp_path / "drift.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["drift", str(exact_physics_world), "--plugin", "nope", "--horizon", "3"]) == 2
