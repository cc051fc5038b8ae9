"""The ONNX Runtime host for learned plugins: load, check, run and guard ONNX models on torch tensors.

Layers, bottom up: `providers` (which execution provider really runs), `model` (`OnnxModel`, a session
and its signature), `contract` (`check_contract`: does the model fit what the world binds),
`runner` (`BoundRunner`: IOBinding on torch tensors, no copies), `guards` (`NanGuard`), and
`export` (`export_torch_module`: torch -> verified ONNX).

Importing this package does not import onnxruntime; the names that need it load on first use.

Example:
    >>> from engine.learned import OnnxModel, BoundRunner, check_contract, TensorSpec
    >>> model = OnnxModel("plugins/tag_bc/prey.onnx", providers="auto", name="prey_brain")
    >>> check_contract(model, [TensorSpec("obs", torch.float32, (14,))],
    ...                [TensorSpec("logits", torch.float32, (5,))], "prey_brain")
    >>> logits = BoundRunner(model).run({"obs": obs})["logits"]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .contract import TensorSpec, check_contract
from .errors import (
    ContractError,
    ExportError,
    LearnedPluginError,
    ModelLoadError,
    NonFiniteOutputError,
    ProviderUnavailableError,
)
from .guards import NanGuard
from .signature import TensorSig

if TYPE_CHECKING:
    from .export import ExportReport, export_torch_module
    from .model import OnnxModel
    from .providers import RuntimeProbe, describe_runtime, resolve_providers
    from .runner import BoundRunner

# name -> submodule, for the names whose module imports onnxruntime (or torch.onnx) when loaded.
_LAZY = {
    "OnnxModel": "model",
    "BoundRunner": "runner",
    "RuntimeProbe": "providers",
    "resolve_providers": "providers",
    "describe_runtime": "providers",
    "export_torch_module": "export",
    "ExportReport": "export",
}

__all__ = [
    "BoundRunner",
    "ContractError",
    "ExportError",
    "ExportReport",
    "LearnedPluginError",
    "ModelLoadError",
    "NanGuard",
    "NonFiniteOutputError",
    "OnnxModel",
    "ProviderUnavailableError",
    "RuntimeProbe",
    "TensorSig",
    "TensorSpec",
    "check_contract",
    "describe_runtime",
    "export_torch_module",
    "resolve_providers",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
