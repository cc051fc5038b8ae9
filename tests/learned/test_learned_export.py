"""export_torch_module: a dynamic-batch, self-contained, verified ONNX file, written atomically."""

from __future__ import annotations

import pytest
import torch

from engine.learned import ExportError
from engine.learned.export import export_torch_module
from engine.learned.model import OnnxModel


def test_exported_mlp_has_a_dynamic_batch_and_one_file(exported_mlp):
    _, path = exported_mlp
    model = OnnxModel(path, providers="cpu")
    assert [(s.name, s.describe()) for s in model.inputs] == [("obs", "float32 [batch, 16]")]
    assert [(s.name, s.describe()) for s in model.outputs] == [("logits", "float32 [batch, 5]")]
    assert sorted(p.name for p in path.parent.iterdir()) == ["mlp.onnx"]  # no external data, no temp file


def test_failed_verification_keeps_the_previous_file(tmp_path):
    path = tmp_path / "policy.onnx"
    path.write_bytes(b"previous model")
    with pytest.raises(
        ExportError, match=r"disagrees with Linear: max abs diff .* the model was not written"
    ):
        export_torch_module(torch.nn.Linear(2, 2), {"input": torch.randn(4, 2)}, path, tolerance=-1.0)
    assert path.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.onnx"]


def test_dynamic_batch_needs_an_example_of_two_rows(tmp_path):
    with pytest.raises(ExportError, match="need a batch of at least 2 rows"):
        export_torch_module(torch.nn.Linear(2, 2), {"input": torch.randn(1, 2)}, tmp_path / "m.onnx")
