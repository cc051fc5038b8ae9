"""NanGuard on a model that produces NaN (log of a negative) and -inf (log of zero) for some rows."""

from __future__ import annotations

import pytest
import torch

from engine.learned import NanGuard, NonFiniteOutputError
from engine.learned.model import OnnxModel
from engine.learned.runner import BoundRunner

# rows 1 (NaN) and 3 (-inf) are bad; rows 0 and 2 are fine
X = torch.tensor([[1.0, 2.0, 3.0], [1.0, -1.0, 2.0], [0.5, 0.5, 0.5], [0.0, 1.0, 1.0]])


@pytest.fixture
def log_outputs(log_onnx):
    runner = BoundRunner(OnnxModel(log_onnx, providers="cpu", name="learned_physics"))
    return runner.run({"x": X.clone()})


def test_guard_raise_names_plugin_output_and_count(log_outputs):
    guard = NanGuard("raise", plugin="learned_physics")
    with pytest.raises(NonFiniteOutputError) as info:
        guard.check(log_outputs)
    err = info.value
    assert (err.plugin, err.output, err.count) == ("learned_physics", "y", 2)
    assert "plugin 'learned_physics': output 'y' has 2 non-finite (NaN/Inf) value(s) of 12" in str(err)
    assert err.counts == {"y": 2, "z": 0}


def test_guard_zero_replaces_nonfinite_values_in_place(log_outputs):
    y_ptr = log_outputs["y"].data_ptr()
    assert NanGuard("zero").check(log_outputs) is None
    y = log_outputs["y"]
    assert y.data_ptr() == y_ptr
    assert torch.isfinite(y).all()
    assert y[1, 1] == 0 and y[3, 0] == 0
    torch.testing.assert_close(y[0], torch.log(X[0]))


def test_guard_fallback_flags_the_rows_with_any_nonfinite_value(log_outputs):
    before = log_outputs["y"].clone()
    rows = NanGuard("fallback").check(log_outputs)
    assert rows.dtype == torch.bool
    assert rows.tolist() == [False, True, False, True]
    torch.testing.assert_close(log_outputs["y"], before, equal_nan=True)  # outputs untouched


def test_guard_fallback_reduces_rows_to_worlds(log_outputs):
    # 4 rows = 2 worlds x 2 entities: world 0 has row 1 bad, world 1 has row 3 bad
    assert NanGuard("fallback").check(log_outputs, num_worlds=2).tolist() == [True, True]
    assert NanGuard("fallback").check({"y": log_outputs["y"][:2]}, num_worlds=2).tolist() == [False, True]


def test_guard_keeps_running_counts_for_info(log_outputs):
    guard = NanGuard("fallback", plugin="learned_physics")
    guard.check(log_outputs)
    guard.check(log_outputs)
    guard.check({"y": torch.zeros(4, 3)})
    assert guard.info == {
        "mode": "fallback",
        "checks": 3,
        "checks_with_nonfinite": 2,
        "nonfinite": {"y": 4, "z": 0},
        "fallback_rows": 4,
    }
    guard.reset()
    assert guard.info["checks"] == 0 and guard.info["nonfinite"] == {}


def test_guard_passes_finite_and_integer_outputs():
    guard = NanGuard("raise")
    assert guard.check({"a": torch.ones(3, 2), "i": torch.arange(3)}) is None
    assert guard.info["nonfinite"] == {"a": 0}


def test_guard_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="guard mode must be one of"):
        NanGuard("ignore")  # type: ignore[arg-type]
