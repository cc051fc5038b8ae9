"""Provider resolution tells the truth (ORT's claims about CUDA are not trusted)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from engine.learned import ProviderUnavailableError
from engine.learned.model import OnnxModel
from engine.learned.providers import CPU, CUDA, CudaStatus, RuntimeProbe, describe_runtime, resolve_providers

REPO = Path(__file__).resolve().parents[2]


def test_cpu_request_reports_the_cpu_provider(linear_onnx, caplog):
    caplog.set_level(logging.INFO, logger="engine.learned")
    model = OnnxModel(linear_onnx({"obs": ("batch", 16)}), providers="cpu", name="prey_brain")
    assert resolve_providers("cpu") == [CPU]
    assert model.provider == CPU
    assert model.providers == [CPU]
    assert "plugin 'prey_brain': running on CPUExecutionProvider" in caplog.text


def test_auto_falls_back_to_cpu_and_says_why(linear_onnx, probe, cuda_works, caplog):
    if cuda_works:
        pytest.skip("CUDA really works here; auto picks it")
    caplog.set_level(logging.INFO, logger="engine.learned")
    model = OnnxModel(linear_onnx({"obs": ("batch", 16)}), providers="auto", probe=probe, name="prey_brain")
    assert model.provider == CPU
    assert "providers auto: CUDA unusable" in caplog.text
    assert "using CPUExecutionProvider" in caplog.text


def test_cuda_request_without_cuda_is_a_clear_error(linear_onnx, probe, cuda_works):
    if cuda_works:
        pytest.skip("CUDA really works here")
    with pytest.raises(
        ProviderUnavailableError, match="cuda was requested but ONNX Runtime cannot use CUDA here"
    ):
        resolve_providers("cuda", probe)
    with pytest.raises(ProviderUnavailableError, match="Use providers: cpu"):
        OnnxModel(linear_onnx({"obs": ("batch", 16)}), providers="cuda", probe=probe)


def test_auto_uses_cuda_when_the_probe_says_it_works(monkeypatch):
    probe = RuntimeProbe()
    monkeypatch.setattr(probe, "_test_cuda", lambda: CudaStatus(True, "stub"))
    assert resolve_providers("auto", probe) == [(CUDA, {"device_id": "0"}), CPU]


def test_probe_tests_cuda_once_per_object(monkeypatch):
    calls = []
    probe = RuntimeProbe()
    monkeypatch.setattr(probe, "_test_cuda", lambda: calls.append(1) or CudaStatus(False, "stub"))
    resolve_providers("auto", probe)
    resolve_providers("auto", probe)
    describe_runtime(probe)
    assert len(calls) == 1


def test_unknown_provider_request_is_rejected():
    with pytest.raises(ValueError, match=r"providers must be one of \['auto', 'cpu', 'cuda'\], got 'gpu'"):
        resolve_providers("gpu")  # type: ignore[arg-type]


def test_describe_runtime_separates_claims_from_what_works(probe, cuda_works):
    info = describe_runtime(probe)
    assert info["onnxruntime_version"] == ort.__version__
    assert info["claimed_providers"] == ort.get_available_providers()
    assert info["cuda_works"] is cuda_works
    assert info["auto_provider"] == (CUDA if cuda_works else CPU)
    assert isinstance(info["cuda_reason"], str) and info["cuda_reason"]


def test_importing_the_package_does_not_import_onnxruntime():
    code = "import sys, engine.learned; assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
