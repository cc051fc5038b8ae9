"""`OnnxModel`: one ONNX Runtime session plus its signature in engine terms.

Everything about *creating* the session lives here (threads, graph optimisation level, explicit
providers, the provider that really ran), so the contract checker and the runner only deal with
`TensorSig`s and tensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import onnxruntime as ort

from .errors import LearnedPluginError, ModelLoadError
from .providers import CUDA, RuntimeProbe, create_session, resolve_providers
from .signature import TensorSig

if TYPE_CHECKING:
    from .providers import ProviderRequest

OptimizationLevel = Literal["all", "extended", "basic", "disabled"]

_LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
}


class OnnxModel:
    """An ONNX model loaded into an InferenceSession on an explicitly chosen provider.

    `providers` is ``"auto"`` (CUDA if it really works, else CPU), ``"cpu"`` or ``"cuda"`` (an error
    if CUDA cannot run). `provider` is what ORT actually uses, read back from the session. Thread
    counts default to ORT's (all cores); 1 intra-op thread is faster for small batches. `name` is the
    plugin's name, used in every message. `device_id` is the GPU the CUDA provider uses.

    Example:
        >>> model = OnnxModel("plugins/tag_bc/prey.onnx", providers="cpu", name="prey_brain")
        >>> model.provider
        'CPUExecutionProvider'
        >>> [(s.name, s.describe()) for s in model.inputs]
        [('obs', 'float32 [batch, 14]')]
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        providers: ProviderRequest = "auto",
        intra_op_threads: int | None = None,
        inter_op_threads: int | None = None,
        graph_optimization_level: OptimizationLevel = "all",
        name: str | None = None,
        probe: RuntimeProbe | None = None,
        session_config: Mapping[str, str] | None = None,
        device_id: int = 0,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.stem
        if graph_optimization_level not in _LEVELS:
            raise ValueError(
                f"plugin '{self.name}': graph_optimization_level must be one of {list(_LEVELS)}, "
                f"got {graph_optimization_level!r}"
            )
        if not self.path.is_file():
            raise ModelLoadError(f"plugin '{self.name}': model file not found: {self.path}", self.name)

        options = ort.SessionOptions()
        options.graph_optimization_level = _LEVELS[graph_optimization_level]
        if intra_op_threads is not None:
            options.intra_op_num_threads = int(intra_op_threads)
        if inter_op_threads is not None:
            options.inter_op_num_threads = int(inter_op_threads)
        for key, value in (session_config or {}).items():
            options.add_session_config_entry(key, value)

        self.device_id = device_id
        provider_list = resolve_providers(providers, probe, device_id)
        try:
            self.session, self.provider = create_session(
                self.path, provider_list, options, self.name, required=CUDA if providers == "cuda" else None
            )
        except LearnedPluginError:
            raise
        except Exception as err:  # ORT load errors (bad file, IR/opset) are plain Exceptions
            raise ModelLoadError(
                f"plugin '{self.name}': ONNX Runtime cannot load {self.path}: {err}", self.name
            ) from err
        self.request = providers
        self.inputs: tuple[TensorSig, ...] = tuple(
            TensorSig.from_node_arg(a) for a in self.session.get_inputs()
        )
        self.outputs: tuple[TensorSig, ...] = tuple(
            TensorSig.from_node_arg(a) for a in self.session.get_outputs()
        )

    @property
    def providers(self) -> list[str]:
        """Every provider the session holds, in priority order (what ORT reports, not what was asked)."""
        return list(self.session.get_providers())

    def input(self, name: str) -> TensorSig:
        return _by_name(self.inputs, name, "input", self.name)

    def output(self, name: str) -> TensorSig:
        return _by_name(self.outputs, name, "output", self.name)

    def __repr__(self) -> str:
        ins = ", ".join(f"{s.name}: {s.describe()}" for s in self.inputs)
        outs = ", ".join(f"{s.name}: {s.describe()}" for s in self.outputs)
        return f"OnnxModel({self.name!r}, {str(self.path)!r}, on {self.provider}, ({ins}) -> ({outs}))"


def _by_name(sigs: tuple[TensorSig, ...], name: str, kind: str, plugin: str) -> TensorSig:
    for sig in sigs:
        if sig.name == name:
            return sig
    raise KeyError(f"plugin '{plugin}': the model has no {kind} {name!r}; it has {[s.name for s in sigs]}")
