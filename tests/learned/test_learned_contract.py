"""The plugin contract: each mismatch between a model and what the world binds has its own message."""

from __future__ import annotations

import pytest
import torch
from onnx import TensorProto

from engine.learned import ContractError, TensorSpec, check_contract
from engine.learned.model import OnnxModel

OBS = TensorSpec("obs", torch.float32, (16,))
LOGITS = TensorSpec("logits", torch.float32, (5,))
WHERE = "worlds/x.yaml:12:3"


def _load(path) -> OnnxModel:
    return OnnxModel(path, providers="cpu", name="prey_brain")


def _error(model: OnnxModel, inputs, outputs, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as info:
        check_contract(model, inputs, outputs, "prey_brain", WHERE, **kwargs)
    return info.value


def test_matching_contract_passes(linear_onnx):
    check_contract(_load(linear_onnx({"obs": ("batch", 16)})), [OBS], [LOGITS], "prey_brain", WHERE)


def test_unbound_model_output_is_allowed(linear_onnx):
    check_contract(_load(linear_onnx({"obs": ("batch", 16)})), [OBS], [], "prey_brain", WHERE)


def test_wrong_feature_size_names_plugin_tensor_expected_and_actual(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16)}))
    err = _error(model, [TensorSpec("obs", torch.float32, (14,))], [LOGITS])
    assert str(err).startswith(
        "plugin 'prey_brain' (worlds/x.yaml:12:3): input 'obs': expected float32 [batch, 14], "
        "model has float32 [batch, 16]"
    )
    assert "feature axis 1 has size 16, the world binds 14" in str(err)
    assert (err.plugin, err.tensor, err.kind) == ("prey_brain", "obs", "input")
    assert (err.expected, err.actual) == ("float32 [batch, 14]", "float32 [batch, 16]")


def test_wrong_input_name_lists_model_names_and_suggests_the_closest(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16)}))
    err = _error(model, [TensorSpec("obz", torch.float32, (16,)), OBS], [LOGITS])
    assert "input 'obz': the model has no input named 'obz'; its inputs are ['obs']" in str(err)
    assert "did you mean 'obs'?" in str(err)
    assert err.tensor == "obz"


def test_wrong_output_name_lists_model_outputs(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16)}))
    err = _error(model, [OBS], [TensorSpec("action", torch.float32, (5,))])
    assert "output 'action': the model has no output named 'action'; its outputs are ['logits']" in str(err)
    assert err.kind == "output"


def test_unbound_model_input_is_an_error(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16), "hidden": ("batch", 8)}))
    err = _error(model, [OBS], [LOGITS])
    assert (
        "input 'hidden': the model needs this input (float32 [batch, 8]) but the plugin binds nothing"
        in str(err)
    )
    assert err.tensor == "hidden"


def test_wrong_dtype_is_reported(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16)}, dtype=TensorProto.DOUBLE))
    err = _error(model, [OBS], [LOGITS])
    assert "input 'obs': expected float32 [batch, 16], model has float64 [batch, 16]" in str(err)
    assert "dtype float64 instead of float32" in str(err)


def test_wrong_rank_is_reported(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 2, 8)}))
    err = _error(model, [OBS], [LOGITS])
    assert "input 'obs': expected float32 [batch, 16], model has float32 [batch, 2, 8]" in str(err)
    assert "rank 3 instead of 2" in str(err)


def test_static_batch_says_it_was_exported_fixed_and_how_to_fix(linear_onnx):
    model = _load(linear_onnx({"obs": (1, 16)}))
    err = _error(model, [OBS], [LOGITS])
    message = str(err)
    assert "input 'obs': expected float32 [batch, 16], model has float32 [1, 16]" in message
    assert "the model was exported with a fixed batch of 1" in message
    assert "dynamic_shapes={'obs': {0: torch.export.Dim('batch')}}" in message


def test_static_batch_is_accepted_when_the_caller_runs_that_fixed_batch(linear_onnx):
    model = _load(linear_onnx({"obs": (4, 16)}))
    check_contract(model, [OBS], [LOGITS], "prey_brain", WHERE, fixed_batch=4)


def test_static_batch_of_the_wrong_size_names_both_sizes(linear_onnx):
    model = _load(linear_onnx({"obs": (4, 16)}))
    err = _error(model, [OBS], [LOGITS], fixed_batch=4096)
    assert "exported with a fixed batch of 4, but this plugin runs 4096 rows per call" in str(err)


def test_every_problem_is_reported_not_only_the_first(linear_onnx):
    model = _load(linear_onnx({"obs": ("batch", 16)}))
    err = _error(
        model, [TensorSpec("obs", torch.float32, (14,))], [TensorSpec("logits", torch.float32, (3,))]
    )
    assert err.tensor == "obs"
    assert [other.tensor for other in err.others] == ["logits"]
    assert (
        "also: plugin 'prey_brain' (worlds/x.yaml:12:3): output 'logits': expected float32 [batch, 3]"
        in str(err)
    )
