"""ONNX export equals the PyTorch policy; controllers and the train/eval commands work end to end."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.cli.main import main
from engine.train import evaluate
from engine.train.export import export_policies
from engine.train.policy import Actor


@pytest.mark.parametrize("action_type", ["discrete", "continuous"])
def test_exported_onnx_policy_acts_like_pytorch(tmp_path, action_type):
    torch.manual_seed(0)
    actor = Actor(16, action_type, [32, 32])
    with torch.no_grad():  # make the outputs spread out, so argmax ties cannot hide a mismatch
        for p in actor.parameters():
            p.mul_(20.0)
    paths = export_policies({"adversary": actor}, tmp_path, world="tag")
    sess = ort.InferenceSession(str(paths["adversary"]), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["obs"]
    assert [o.name for o in sess.get_outputs()] == ["logits" if action_type == "discrete" else "action"]
    obs = torch.randn(1000, 16)  # another batch size than the export example: the batch axis is dynamic
    out = sess.run(None, {"obs": obs.numpy()})[0]
    want = actor.act(obs, deterministic=True).numpy()
    if action_type == "discrete":
        np.testing.assert_array_equal(out.argmax(-1), want)
    else:
        np.testing.assert_allclose(out, want, atol=1e-5)
    readme = (tmp_path / "README.md").read_text()
    assert "[batch, 16]" in readme and "kind: policy" in readme
    assert paths["adversary"].stat().st_size < 1_000_000


def test_scripted_chase_beats_random_adversaries():
    flee = {"prey": "scripted_flee:adversary"}
    kw = {"episodes": 256, "worlds": 256, "seed": 7}
    rnd = evaluate("tag", {"adversary": "random", **flee}, **kw)
    chase = evaluate("tag", {"adversary": "scripted_chase:prey", **flee}, **kw)
    c_rnd = rnd.summary()["contacts adversary–prey"][0]
    c_chase = chase.summary()["contacts adversary–prey"][0]
    assert c_chase > 3 * c_rnd
    # contacts are counted from positions; the adversaries' shared reward counts the same events (+10 each)
    assert chase.summary()["return/adversary"][0] == pytest.approx(10 * c_chase, rel=1e-4)
    assert "| adversary | scripted_chase:prey |" in chase.table()


def test_train_then_eval_command_line(tmp_path, capsys):
    export = tmp_path / "npc"
    rc = main(["train", "tag", "--eager", "--threads", "1", "--worlds", "32", "--steps", str(32 * 25 * 2),
               "--out", str(tmp_path / "run"), "--export", str(export), "--export-every", "1",
               "--cfg", "checkpoint_every=1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "agent-steps/s" in out and "adversary_brain:" in out and "outputs: {logits: action}" in out
    assert (export / "adversary.onnx").is_file() and (tmp_path / "run" / "checkpoints" / "final.pt").is_file()
    assert list((tmp_path / "run").glob("events.out.tfevents.*")), "TensorBoard event file"
    rc = main(["train", "tag", "--eager", "--threads", "1", "--steps", str(32 * 25 * 3), "--no-export",
               "--resume", str(tmp_path / "run" / "checkpoints" / "update_000001.pt"), "--out", str(tmp_path / "r2")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "resumed at update 1" in out and "done: 3 updates" in out
    rc = main(["eval", "tag", "--episodes", "32", "--worlds", "32", "--eager",
               "--controller", f"adversary=onnx:{export / 'adversary.onnx'}",
               "--controller", "prey=scripted_flee:adversary"])
    assert rc == 0
    assert "contacts adversary–prey per episode" in capsys.readouterr().out
    rc = main(["eval", "tag", "--eager", "--episodes", "4", "--controller",
               f"adversary=ckpt:{tmp_path / 'run' / 'checkpoints' / 'final.pt'}"])
    assert rc == 0


def test_iterations_counts_ppo_updates_without_ray_too(tmp_path, capsys):
    rc = main(["train", "tag", "--eager", "--threads", "1", "--worlds", "8", "--iterations", "2", "--no-export",
               "--out", str(tmp_path / "run")])
    assert rc == 0 and "done: 2 updates" in capsys.readouterr().out
    rc = main(["train", "tag", "--iterations", "2", "--steps", "100"])
    assert rc == 2 and "--steps and --iterations both" in capsys.readouterr().err


@pytest.mark.parametrize("spec,message", [
    ("adversary=scripted_chase:preyy", "unknown entity type"),
    ("adversary=onnx:/nonexistent.onnx", "file not found"),
    ("adversary=randm", "did you mean 'random'"),
    ("wolves=random", "unknown agent group"),
])
def test_bad_controllers_are_user_errors(spec, message, capsys):
    assert main(["eval", "tag", "--eager", "--episodes", "1", "--controller", spec]) == 2
    assert message in capsys.readouterr().err
