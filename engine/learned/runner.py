"""`BoundRunner`: run an ONNX model on torch tensors in place, through ORT's IOBinding.

Inputs are bound by data pointer (no copy); outputs are torch tensors the runner allocates once per
input shape and reuses, so a tick costs one `run_with_iobinding` call and no allocation. Bindings are
only redone when an input's pointer/shape changes or the batch size changes. The same code serves
CPU and CUDA tensors: the device type and index are read from the tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import torch

from .errors import LearnedPluginError
from .model import OnnxModel
from .providers import CPU
from .signature import TensorSig, dtype_name, format_shape


class BoundRunner:
    """Runs `model` on a dict of torch tensors; returns a dict of torch tensors the runner owns.

    The returned tensors are overwritten by the next `run` (clone them to keep a result, and do not
    feed one back as an input of the same run: ORT would read and write one buffer). Output
    buffers are cached per input shape (at most `max_cached_shapes`, least recently used dropped), so
    alternating between a few batch sizes does not reallocate.

    Example:
        >>> runner = BoundRunner(OnnxModel("plugins/tag_bc/prey.onnx", providers="cpu"))
        >>> out = runner.run({"obs": torch.zeros(4096, 14)})
        >>> out["logits"].shape
        torch.Size([4096, 5])
    """

    def __init__(self, model: OnnxModel, max_cached_shapes: int = 8) -> None:
        self.model = model
        self.name = model.name
        self._session = model.session
        self._binding = self._session.io_binding()
        self._inputs: tuple[TensorSig, ...] = model.inputs
        self._outputs: tuple[TensorSig, ...] = model.outputs
        self._input_names = frozenset(sig.name for sig in self._inputs)
        self._output_names = [sig.name for sig in self._outputs]
        for sig in (*self._inputs, *self._outputs):
            if sig.element_type is None or sig.torch_dtype is None:
                raise LearnedPluginError(
                    f"plugin '{self.name}': {sig.name!r} has type {sig.onnx_type}, which torch cannot hold",
                    self.name,
                )
        self._max_cached = max_cached_shapes
        # name -> (data_ptr, shape, dtype, device) of what is bound now
        self._bound_inputs: dict[str, tuple[int, torch.Size, torch.dtype, torch.device]] = {}
        # (input shapes, device) -> output buffers; the key of the buffers bound now
        self._buffers: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()
        self._bound_key: tuple | None = None
        self.rebinds = 0
        """How many times inputs or outputs had to be (re)bound; constant in a steady loop."""

    def run(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run once on `inputs` (contiguous torch tensors, one device); return the output buffers."""
        if len(inputs) != len(self._inputs) or not self._input_names.issuperset(inputs):
            self._missing_or_extra(inputs)
        device = None
        shapes = []
        for sig in self._inputs:
            tensor = inputs[sig.name]
            if device is None:
                device = tensor.device
            state = (tensor.data_ptr(), tensor.shape, tensor.dtype, tensor.device)
            shapes.append(state[1])
            # Rebind only on change; a same-pointer strided view or a second device still gets caught.
            if self._bound_inputs.get(sig.name) != state or state[3] != device or not tensor.is_contiguous():
                self._bind_input(sig, tensor, device)
        if device is None:
            device = torch.device("cpu")  # a model without inputs: outputs on the CPU
        key = (tuple(shapes), device)
        if key != self._bound_key:
            self._bind_outputs(key, inputs, device)
        buffers = self._buffers[key]
        if device.type == "cuda":
            # ORT runs on its own CUDA stream: make sure torch's pending writes to the inputs are done.
            # (ORT synchronises its stream at the end of run_with_iobinding, so outputs are ready.)
            torch.cuda.current_stream(device).synchronize()
        self._session.run_with_iobinding(self._binding)
        return buffers

    def run_numpy(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Plain `session.run` on numpy arrays: the reference path, fresh arrays each call."""
        return dict(zip(self._output_names, self._session.run(self._output_names, dict(feeds)), strict=True))

    # -- binding -------------------------------------------------------------------------------

    def _bind_input(self, sig: TensorSig, tensor: torch.Tensor, device: torch.device) -> None:
        if tensor.dtype != sig.torch_dtype:
            raise LearnedPluginError(
                f"plugin '{self.name}': input '{sig.name}' is {dtype_name(tensor.dtype)}, "
                f"the model takes {sig.describe()}",
                self.name,
            )
        if tensor.device != device:
            raise LearnedPluginError(
                f"plugin '{self.name}': input '{sig.name}' is on {tensor.device}, the other inputs on "
                f"{device}; put every input on one device",
                self.name,
            )
        if not tensor.is_contiguous():
            raise LearnedPluginError(
                f"plugin '{self.name}': input '{sig.name}' is not contiguous (strides {tensor.stride()}); "
                "it is bound by pointer, so pass tensor.contiguous() (gather into a contiguous buffer)",
                self.name,
            )
        if len(tensor.shape) != sig.rank or any(
            isinstance(d, int) and d != n for d, n in zip(sig.shape, tensor.shape, strict=True)
        ):
            raise LearnedPluginError(
                f"plugin '{self.name}': input '{sig.name}' has shape {list(tensor.shape)}, "
                f"the model takes {format_shape(sig.shape)}",
                self.name,
            )
        device_type, device_id = self._device(device)
        self._binding.bind_input(
            sig.name, device_type, device_id, sig.element_type, list(tensor.shape), tensor.data_ptr()
        )
        self._bound_inputs[sig.name] = (tensor.data_ptr(), tensor.shape, tensor.dtype, tensor.device)
        self.rebinds += 1

    def _bind_outputs(self, key: tuple, inputs: Mapping[str, torch.Tensor], device: torch.device) -> None:
        buffers = self._buffers.get(key)
        if buffers is None:
            buffers = self._allocate_outputs(inputs, device)
            self._buffers[key] = buffers
            while len(self._buffers) > self._max_cached:
                self._buffers.popitem(last=False)
        else:
            self._buffers.move_to_end(key)
        device_type, device_id = self._device(device)
        for sig in self._outputs:
            out = buffers[sig.name]
            self._binding.bind_output(
                sig.name, device_type, device_id, sig.element_type, list(out.shape), out.data_ptr()
            )
        self._bound_key = key
        self.rebinds += 1

    def _allocate_outputs(
        self, inputs: Mapping[str, torch.Tensor], device: torch.device
    ) -> dict[str, torch.Tensor]:
        """Output buffers for these input shapes.

        Output dims are resolved from the input dims that carry the same symbol (``batch`` -> the
        inputs' batch size). If some output dim cannot be resolved that way (an exporter named it
        differently), ORT allocates the outputs once, and their shapes are read back from that run.
        """
        symbols: dict[str, int] = {}
        for sig in self._inputs:
            for dim, size in zip(sig.shape, inputs[sig.name].shape, strict=True):
                if isinstance(dim, str):
                    symbols.setdefault(dim, size)
        shapes: dict[str, list[int]] = {}
        for sig in self._outputs:
            shape = [
                d if isinstance(d, int) else symbols.get(d) if isinstance(d, str) else None for d in sig.shape
            ]
            if any(d is None for d in shape):
                return self._probe_outputs(device)
            shapes[sig.name] = shape
        return {
            sig.name: torch.empty(shapes[sig.name], dtype=sig.torch_dtype, device=device)
            for sig in self._outputs
        }

    def _probe_outputs(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Run once with ORT-allocated outputs to learn their shapes; inputs are bound already."""
        device_type, device_id = self._device(device)
        for sig in self._outputs:
            self._binding.bind_output(sig.name, device_type, device_id)
        if device.type == "cuda":
            torch.cuda.current_stream(device).synchronize()
        self._session.run_with_iobinding(self._binding)
        shapes = [value.shape() for value in self._binding.get_outputs()]
        return {
            sig.name: torch.empty(shape, dtype=sig.torch_dtype, device=device)
            for sig, shape in zip(self._outputs, shapes, strict=True)
        }

    def _device(self, device: torch.device) -> tuple[str, int]:
        if device.type == "cpu":
            return "cpu", 0
        if device.type == "cuda":
            if self.model.provider == CPU:
                raise LearnedPluginError(
                    f"plugin '{self.name}': the tensors are on {device} but the model runs on {CPU}; "
                    "load it with providers='cuda' (or 'auto' on a machine where CUDA works), or move the "
                    "tensors to the CPU",
                    self.name,
                )
            index = device.index if device.index is not None else torch.cuda.current_device()
            if index != self.model.device_id:
                raise LearnedPluginError(
                    f"plugin '{self.name}': the tensors are on cuda:{index} but the model's CUDA provider "
                    f"uses device {self.model.device_id}; load it with device_id={index}",
                    self.name,
                )
            return "cuda", index
        raise LearnedPluginError(f"plugin '{self.name}': tensors on {device} are not supported", self.name)

    def _missing_or_extra(self, inputs: Mapping[str, torch.Tensor]) -> None:
        missing = sorted(self._input_names - set(inputs))
        extra = sorted(set(inputs) - self._input_names)
        raise LearnedPluginError(
            f"plugin '{self.name}': run() got inputs {sorted(inputs)}, the model takes "
            f"{sorted(self._input_names)} (missing {missing}, unexpected {extra})",
            self.name,
        )
