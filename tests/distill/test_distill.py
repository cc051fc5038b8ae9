"""distill: a short training run lowers held-out error and writes a plugin folder the engine can load."""

import json
from pathlib import Path

import pytest

import engine
from engine.cli.main import main
from engine.paths import resolve_world

SCRIPTED = ("systems=[{scripted_chase: {agents: adversary, target: [prey]}}, "
            "{scripted_flee: {agents: prey, threat: [adversary]}}, physics]")

# torch.onnx notes that two inputs share the dynamic batch axis: expected, nothing to act on
pytestmark = pytest.mark.filterwarnings("ignore:# The axis name")


@pytest.fixture(scope="module")
def scripted_recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "scripted"
    assert main(["record", "tag", "--out", str(out), "--worlds", "16", "--steps", "100", "--seed", "1", "--eager",
                 "--set", SCRIPTED]) == 0
    return out


def test_distill_dynamics_lowers_validation_error(scripted_recording, tmp_path, capsys):
    out = tmp_path / "dyn"
    assert main(["distill", "tag", "--subsystem", "dynamics", "--data", str(scripted_recording), "--out", str(out),
                 "--epochs", "3", "--horizon", "3", "--batch-size", "64", "--logdir", str(tmp_path / "tb")]) == 0
    printed = capsys.readouterr().out
    assert "kind: dynamics" in printed and "held-out validation" in printed
    contract = json.loads((out / "model.json").read_text())
    m = contract["metrics"]
    assert m["one_step_pos_error"] < m["before_one_step_pos_error"]
    assert m["median_pos_error_3"] < m["before_median_pos_error_3"]
    for name in ("model.onnx", "model.pt", "module.py", "README.md"):
        assert (out / name).is_file()
    assert "`delta`" in (out / "README.md").read_text()
    assert list((tmp_path / "tb").iterdir())  # TensorBoard events
    # the printed snippet plugs the model into the world as written
    world = tmp_path / "tag_dyn.yaml"
    world.write_text(resolve_world("tag").read_text() + contract["yaml"].replace(
        contract["yaml"].split("model: ")[1].split("\n")[0], str(out / "model.onnx")))
    sim = engine.make(world, num_worlds=4)
    sim.reset(seed=0)
    _, _, _, _, info = sim.step(sim.sample_actions())
    assert float(info["metrics"]["learned_physics.drift_pos"]) < 0.05


def test_distill_policy_clones_the_scripted_controller(scripted_recording, tmp_path):
    out = tmp_path / "bc"
    assert main(["distill", "tag", "--subsystem", "policy", "--group", "adversary", "--data",
                 str(scripted_recording), "--out", str(out), "--epochs", "20", "--logdir", str(tmp_path / "tb")]) == 0
    m = json.loads((out / "adversary.json").read_text())["metrics"]
    assert m["accuracy"] > max(0.8, m["before_accuracy"])


def test_distill_rejects_a_folder_that_is_not_a_recording(tmp_path, capsys):
    assert main(["distill", "tag", "--subsystem", "dynamics", "--data", str(tmp_path)]) == 2
    assert "not a recording" in capsys.readouterr().err
