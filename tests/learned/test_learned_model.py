"""OnnxModel: signatures in engine terms, options applied, load failures named."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.learned import ModelLoadError
from engine.learned.model import OnnxModel


def test_model_signature_gives_torch_and_numpy_dtypes_and_dynamic_dims(linear_onnx):
    model = OnnxModel(linear_onnx({"obs": ("batch", 16), "hidden": (None, 8)}), providers="cpu")
    obs, hidden = model.inputs
    assert (obs.name, obs.torch_dtype, obs.numpy_dtype, obs.shape) == (
        "obs",
        torch.float32,
        np.float32,
        ("batch", 16),
    )
    assert hidden.shape[1] == 8 and not isinstance(hidden.shape[0], int)
    assert model.output("logits").describe() == "float32 [batch, 5]"


def test_options_reach_the_session(linear_onnx):
    model = OnnxModel(
        linear_onnx({"obs": ("batch", 16)}),
        providers="cpu",
        intra_op_threads=1,
        inter_op_threads=1,
        graph_optimization_level="basic",
    )
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC


def test_missing_model_file_names_the_plugin(tmp_path):
    with pytest.raises(ModelLoadError, match=r"plugin 'prey_brain': model file not found: .*nope\.onnx"):
        OnnxModel(tmp_path / "nope.onnx", providers="cpu", name="prey_brain")


def test_corrupt_model_file_names_the_plugin(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match=r"plugin 'prey_brain': ONNX Runtime cannot load .*bad\.onnx"):
        OnnxModel(bad, providers="cpu", name="prey_brain")


def test_unknown_optimization_level_is_rejected(linear_onnx):
    with pytest.raises(ValueError, match="graph_optimization_level must be one of"):
        OnnxModel(linear_onnx({"obs": ("batch", 16)}), graph_optimization_level="max")  # type: ignore[arg-type]
