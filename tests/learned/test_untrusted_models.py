"""Model files are data from outside: unreadable ones are located errors, ones outside the world's
folder need the opt-in, external data cannot escape the model's folder, and non-finite outputs are
counted and shown in every on_nan mode."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import engine
from engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
PREY = ROOT / "plugins" / "tag_bc" / "prey.onnx"


def _world(folder: Path, model: str, on_nan: str = "raise") -> Path:
    text = (ROOT / "worlds" / "tag.yaml").read_text()
    plugins = textwrap.dedent(f"""\
        plugins:
          prey_brain:
            kind: policy
            model: {model}
            agents: prey
            inputs: {{obs: observation}}
            outputs: {{logits: action}}
            on_nan: {on_nan}
        """)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "world.yaml"
    path.write_text(text + plugins)
    return path


@pytest.mark.parametrize("content", [b"not an onnx model at all", PREY.read_bytes()[:300], b""],
                         ids=["text", "truncated", "empty"])
def test_an_unreadable_model_is_a_located_error(tmp_path: Path, capsys, content: bytes) -> None:
    (tmp_path / "brain.onnx").write_bytes(content)
    path = _world(tmp_path, "brain.onnx")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "world.yaml:" in err and "plugins.prey_brain.model" in err and "brain.onnx" in err
    assert "not a readable ONNX model" in err and "Traceback" not in err


def test_a_model_outside_the_worlds_folder_needs_the_opt_in(tmp_path: Path, capsys) -> None:
    models = tmp_path / "elsewhere"
    models.mkdir()
    shutil.copy(PREY, models / "prey.onnx")
    path = _world(tmp_path / "world", "../elsewhere/prey.onnx")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "outside the world's folder" in err and f"--trust {models}" in err
    assert main(["validate", str(path), "--trust", str(models)]) == 0


def test_external_data_must_stay_beside_the_model(tmp_path: Path, capsys) -> None:
    w = helper.make_tensor("w", TensorProto.FLOAT, [14, 5], np.zeros(70, np.float32).tobytes(), raw=True)
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../../etc/passwd"), ("offset", "0"), ("length", "280")):
        w.external_data.add(key=k, value=v)
    graph = helper.make_graph([helper.make_node("MatMul", ["obs", "w"], ["logits"])], "g",
                              [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 14])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], [w])
    w.ClearField("raw_data")
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    (tmp_path / "evil.onnx").write_bytes(model.SerializeToString())  # onnx.save itself refuses the '..'
    path = _world(tmp_path, "evil.onnx")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "stores its data at ../../../etc/passwd, outside the model's folder" in err


def _nan_policy(folder: Path) -> None:
    """obs [batch, 14] → logits [batch, 5] that are all NaN (0 * inf)."""
    inf = helper.make_tensor("inf", TensorProto.FLOAT, [14, 5], np.full(70, np.inf, np.float32))
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [helper.make_node("Mul", ["obs", "zero"], ["z"]), helper.make_node("MatMul", ["z", "inf"], ["logits"])]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 14])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])], [inf, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, str(folder / "nan.onnx"))


@pytest.mark.parametrize("mode", ["zero", "fallback"])
def test_non_finite_policy_outputs_are_counted_and_shown(tmp_path: Path, capsys, mode: str) -> None:
    _nan_policy(tmp_path)
    path = _world(tmp_path, "nan.onnx", on_nan=mode)
    if mode == "fallback":  # fallback needs a hand-coded controller to fall back to
        text = path.read_text().replace("on_nan: fallback", "on_nan: fallback\n    replaces: scripted_flee")
        flee = "{scripted_flee: {agents: prey, threat: [adversary]}}"
        text = text.replace("systems:\n  - physics", f"systems:\n  - {flee}\n  - physics")
        path.write_text(text)
    sim = engine.make(path, num_worlds=3)
    sim.reset(seed=0)
    _, _, _, _, info = sim.step(sim.sample_actions())
    assert float(info["metrics"]["prey_brain.nonfinite"]) == 5.0  # 5 NaN logits per world, every world
    assert sim.plugin_report()["prey_brain"]["nonfinite"] == 15
    capsys.readouterr()
    assert main(["run", str(path), "--worlds", "2", "--steps", "4", "--eager"]) == 0
    out = capsys.readouterr().out
    assert f"40 non-finite output values (on_nan: {mode})" in out
    assert "prey_brain.nonfinite (mean per tick): 5" in out


def test_raise_mode_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    _nan_policy(tmp_path)
    path = _world(tmp_path, "nan.onnx", on_nan="raise")
    sim = engine.make(path, num_worlds=1)
    sim.reset(seed=0)
    with pytest.raises(engine.UserError, match="prey_brain"):
        sim.step(sim.sample_actions())
