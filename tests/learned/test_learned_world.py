"""Learned plugins inside a world: contract errors located in the world file, policy actions equal the
PyTorch model's, NaN handling per mode, seeded sampling, shadow metrics."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

import engine
from engine.cli.main import main
from engine.learned.export import export_torch_module

ROOT = Path(__file__).resolve().parents[2]


def world_with(tmp_path: Path, plugins: str, systems: str = "systems: [physics]\n") -> Path:
    """tag.yaml with a plugins section appended (the world is copied next to the models)."""
    text = (ROOT / "worlds" / "tag.yaml").read_text().replace("systems:\n  - physics", "")
    path = tmp_path / "world.yaml"
    path.write_text(text + systems + "plugins:\n" + textwrap.indent(textwrap.dedent(plugins), "  "))
    return path


POLICY = """\
    adv_brain:
      kind: policy
      model: {model}
      agents: adversary
      inputs: {{obs: observation}}
      outputs: {{logits: action}}
      sample: {sample}
    """


def test_policy_plugin_actions_equal_the_pytorch_model(tmp_path, exported_mlp):
    module, onnx_path = exported_mlp
    shutil.copy(onnx_path, tmp_path / "adv.onnx")
    world = world_with(tmp_path, POLICY.format(model="adv.onnx", sample="argmax"))
    sim = engine.make(world, num_worlds=64, seed=0)
    assert sim.external_groups == ["prey"] and sim.controlled_by == {"adversary": "adv_brain"}
    obs, _ = sim.reset()
    for _ in range(5):
        with torch.no_grad():
            expected = module(obs["adversary"].reshape(-1, 16)).argmax(-1).view(64, 3)
        obs, *_ = sim.step({"prey": torch.zeros(64, 1, dtype=torch.long)})
        assert torch.equal(sim.state["action.adversary"], expected)
    report = sim.plugin_report()["adv_brain"]
    assert report["provider"] == "CPUExecutionProvider" and report["calls"] == 5


def test_seeded_sampling_is_deterministic(tmp_path, exported_mlp):
    shutil.copy(exported_mlp[1], tmp_path / "adv.onnx")
    world = world_with(tmp_path, POLICY.format(model="adv.onnx", sample="sample"))
    runs = []
    for seed in (1, 1, 2):
        sim = engine.make(world, num_worlds=32, seed=seed)
        sim.reset()
        acts = []
        for _ in range(6):
            sim.step({"prey": torch.zeros(32, 1, dtype=torch.long)})
            acts.append(sim.state["action.adversary"].clone())
        runs.append(torch.stack(acts))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    assert len(torch.unique(runs[0])) > 1, "sampling, not argmax"


def _contract_error(tmp_path, capsys, model_path: Path) -> str:
    world = world_with(tmp_path, POLICY.format(model=model_path.name, sample="argmax"))
    assert main(["validate", str(world)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "plugin 'adv_brain'" in err and f"{world}:" in err
    return err


def test_contract_wrong_input_name(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"observation": ("batch", 16)}))
    assert "'obs'" in err and "observation" in err


def test_contract_wrong_feature_size(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"obs": ("batch", 14)}))
    assert "expected float32 [batch, 16]" in err and "[batch, 14]" in err


def test_contract_wrong_dtype(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"obs": ("batch", 16)}, dtype=TensorProto.DOUBLE))
    assert "float64" in err and "float32" in err


def test_contract_missing_batch_axis(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"obs": (16,)}))
    assert "rank 1 instead of 2" in err


def test_contract_static_batch_of_the_wrong_size(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"obs": (8, 16)}, out_batch=8))
    assert "fixed batch of 8" in err and "dynamic" in err


def test_contract_wrong_output_size(tmp_path, capsys, linear_onnx):
    err = _contract_error(tmp_path, capsys, linear_onnx({"obs": ("batch", 16)}, out_features=4))
    assert "'logits'" in err and "[batch, 5]" in err


# ----------------------------------------------------------------------------- dynamics + NaN guards

def nan_dynamics(tmp_path: Path) -> Path:
    """state [b, 4], act [b, 2] -> delta [b, 4] = 0.01 * state + NaN where pos_x < 0 (via log)."""
    s = helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", 4])
    a = helper.make_tensor_value_info("act", TensorProto.FLOAT, ["batch", 2])
    d = helper.make_tensor_value_info("delta", TensorProto.FLOAT, ["batch", 4])
    k = numpy_helper.from_array(np.array(0.01, dtype=np.float32), name="k")
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), name="zero")
    starts = numpy_helper.from_array(np.array([0], dtype=np.int64), name="s0")
    ends = numpy_helper.from_array(np.array([1], dtype=np.int64), name="s1")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), name="ax")
    nodes = [
        helper.make_node("Mul", ["state", "k"], ["scaled"]),
        helper.make_node("Slice", ["state", "s0", "s1", "ax"], ["px"]),
        helper.make_node("Log", ["px"], ["logx"]),  # NaN for px < 0
        helper.make_node("Mul", ["logx", "zero"], ["poison"]),  # 0 * NaN = NaN, 0 otherwise
        helper.make_node("Add", ["scaled", "poison"], ["delta"]),
    ]
    graph = helper.make_graph(nodes, "nan_dyn", [s, a], [d], initializer=[k, zero, starts, ends, axes])
    from onnx import save

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    save(model, tmp_path / "dyn.onnx")
    return tmp_path / "dyn.onnx"


DYNAMICS = """\
    learned_physics:
      kind: dynamics
      model: dyn.onnx
      entities: [adversary, prey]
      inputs: {{state: [pos, vel], act: action_force}}
      outputs: {{delta: {{write: [pos, vel], mode: add}}}}
      replaces: physics
      on_nan: {mode}
      shadow: true
    """


def _dyn_sim(tmp_path, mode):
    nan_dynamics(tmp_path)
    sim = engine.make(world_with(tmp_path, DYNAMICS.format(mode=mode)), num_worlds=8, seed=0)
    sim.reset()
    return sim


def _noop(sim):
    return {"adversary": torch.zeros(8, 3, dtype=torch.long), "prey": torch.zeros(8, 1, dtype=torch.long)}


def test_nan_mode_raise(tmp_path):
    sim = _dyn_sim(tmp_path, "raise")
    sim.state["pos"][:, :4, 0] = 0.5
    sim.step(_noop(sim))  # all finite
    sim.state["pos"][3, 1, 0] = -0.5
    with pytest.raises(engine.UserError, match="learned_physics"):
        sim.step(_noop(sim))


def test_nan_mode_zero(tmp_path):
    sim = _dyn_sim(tmp_path, "zero")
    sim.state["pos"][:, :4, 0] = 0.5
    sim.state["pos"][3, 1, 0] = -0.5
    before = sim.state["pos"].clone()
    _, _, _, _, info = sim.step(_noop(sim))
    assert torch.isfinite(sim.state["pos"]).all()
    # the poisoned row's delta is zeroed in full; the other rows moved by 1 %
    assert torch.equal(sim.state["pos"][3, 1], before[3, 1])
    assert torch.allclose(sim.state["pos"][0, 0], before[0, 0] * 1.01)
    assert float(info["metrics"]["learned_physics.nonfinite"]) > 0


def test_nan_mode_fallback_uses_the_hand_coded_system_for_that_world(tmp_path):
    sim = _dyn_sim(tmp_path, "fallback")
    ref = engine.make("tag", num_worlds=8, seed=0)
    ref.reset()
    sim.state["pos"][:, :4, 0] = 0.5
    sim.state["pos"][3, 1, 0] = -0.5
    for k in ("pos", "vel"):
        ref.state[k] = sim.state[k].clone()
    before = sim.state["pos"].clone()
    sim.step(_noop(sim))
    ref.step(_noop(ref))
    assert torch.equal(sim.state["pos"][3], ref.state["pos"][3]), "world 3 fell back to the hand-coded physics"
    assert torch.allclose(sim.state["pos"][0, :4], before[0, :4] * 1.01), "the others stayed learned"


def test_flipping_to_hand_coded_live(tmp_path):
    sim = _dyn_sim(tmp_path, "raise")
    ref = engine.make("tag", num_worlds=8, seed=0)
    ref.reset()
    for k in ("pos", "vel"):
        ref.state[k] = sim.state[k].clone()
    sim.set_learned(False)
    sim.step(_noop(sim))
    ref.step(_noop(ref))
    assert torch.equal(sim.state["pos"], ref.state["pos"])


def test_shadow_reports_drift_of_a_wrong_model(tmp_path):
    sim = _dyn_sim(tmp_path, "zero")
    sim.state["pos"][:, :4, 0] = 0.5
    drifts = []
    for _ in range(5):
        _, _, _, _, info = sim.step(_noop(sim))
        drifts.append(float(info["metrics"]["learned_physics.drift_pos"]))
    assert drifts[0] > 0 and drifts[-1] > drifts[0], "the open-loop twin drifts further every tick"


class TinyPolicy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(14, 5)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.lin(obs)


def test_continuous_policy_outputs_are_clamped_actions(tmp_path):
    torch.manual_seed(0)
    module = TinyPolicy().eval()
    export_torch_module(module, {"obs": torch.randn(4, 14)}, tmp_path / "prey.onnx", output_names=["action"])
    plugin = """\
        prey_brain:
          kind: policy
          model: prey.onnx
          agents: prey
          inputs: {obs: observation}
          outputs: {action: action}
        """
    world = world_with(tmp_path, plugin)
    sim = engine.make(world, num_worlds=4, seed=0, overrides={"agents.*.action": "continuous"})
    obs, _ = sim.reset()
    with torch.no_grad():
        expected = module(obs["prey"].reshape(-1, 14)).clamp(0, 1).view(4, 1, 5)
    sim.step({"adversary": torch.zeros(4, 3, 5)})
    assert torch.allclose(sim.state["action.prey"], expected, atol=1e-6)
