"""BoundRunner: IOBinding on torch tensors gives session.run's and torch's results, without copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.learned import LearnedPluginError
from engine.learned.model import OnnxModel
from engine.learned.runner import BoundRunner


@pytest.fixture
def mlp_runner(exported_mlp):
    module, path = exported_mlp
    return module, BoundRunner(OnnxModel(path, providers="cpu", intra_op_threads=1, name="mlp"))


def test_runner_matches_session_run_and_the_torch_module(mlp_runner):
    module, runner = mlp_runner
    obs = torch.randn(256, 16)
    out = runner.run({"obs": obs})["logits"]
    reference = runner.run_numpy({"obs": obs.numpy()})["logits"]
    with torch.no_grad():
        expected = module(obs)
    assert out.shape == (256, 5) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_runner_reuses_its_output_buffers_across_calls(mlp_runner):
    _, runner = mlp_runner
    obs = torch.randn(64, 16)
    first = runner.run({"obs": obs})["logits"]
    ptr, rebinds = first.data_ptr(), runner.rebinds
    obs.copy_(torch.randn(64, 16))  # new values, same buffer: nothing is rebound
    second = runner.run({"obs": obs})["logits"]
    assert second.data_ptr() == ptr
    assert runner.rebinds == rebinds
    np.testing.assert_allclose(second.numpy(), runner.run_numpy({"obs": obs.numpy()})["logits"], atol=1e-5)


def test_runner_gives_correct_results_when_the_batch_size_changes(mlp_runner):
    module, runner = mlp_runner
    small, large = torch.randn(3, 16), torch.randn(1000, 16)
    first_ptr = runner.run({"obs": small})["logits"].data_ptr()
    for obs in (large, small, large):
        out = runner.run({"obs": obs})["logits"]
        assert out.shape == (obs.shape[0], 5)
        with torch.no_grad():
            torch.testing.assert_close(out, module(obs), atol=1e-5, rtol=0)
    assert runner.run({"obs": small})["logits"].data_ptr() == first_ptr  # cached per batch size


def test_runner_follows_a_new_input_tensor_of_the_same_shape(mlp_runner):
    module, runner = mlp_runner
    a, b = torch.randn(32, 16), torch.randn(32, 16)
    runner.run({"obs": a})
    out = runner.run({"obs": b})["logits"]
    with torch.no_grad():
        torch.testing.assert_close(out, module(b), atol=1e-5, rtol=0)


def test_runner_rejects_wrong_dtype_noncontiguous_and_missing_inputs(mlp_runner):
    _, runner = mlp_runner
    with pytest.raises(LearnedPluginError, match="input 'obs' is float64, the model takes float32"):
        runner.run({"obs": torch.randn(4, 16, dtype=torch.float64)})
    with pytest.raises(LearnedPluginError, match="not contiguous"):
        runner.run({"obs": torch.randn(16, 4).t()})
    with pytest.raises(LearnedPluginError, match=r"missing \['obs'\], unexpected \['ob'\]"):
        runner.run({"ob": torch.randn(4, 16)})
    with pytest.raises(LearnedPluginError, match=r"has shape \[4, 15\], the model takes \[batch, 16\]"):
        runner.run({"obs": torch.randn(4, 15)})


def test_runner_learns_output_shapes_that_no_input_symbol_names(linear_onnx):
    # The output's batch dim is called "n", not "batch": the runner asks ORT once for the shape.
    model = OnnxModel(linear_onnx({"obs": ("batch", 16)}, out_batch="n"), providers="cpu")
    runner = BoundRunner(model)
    obs = torch.randn(7, 16)
    out = runner.run({"obs": obs})["logits"]
    np.testing.assert_allclose(out.numpy(), runner.run_numpy({"obs": obs.numpy()})["logits"], atol=1e-5)
    ptr = out.data_ptr()
    assert runner.run({"obs": obs})["logits"].data_ptr() == ptr


def test_runner_binds_several_inputs(linear_onnx):
    model = OnnxModel(linear_onnx({"obs": ("batch", 16), "hidden": ("batch", 8)}), providers="cpu")
    runner = BoundRunner(model)
    feeds = {"obs": torch.randn(5, 16), "hidden": torch.randn(5, 8)}
    out = runner.run(feeds)["logits"]
    expected = runner.run_numpy({k: v.numpy() for k, v in feeds.items()})["logits"]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
