"""Tensor signatures of ONNX models, in the engine's terms (torch and numpy dtypes).

ONNX Runtime describes a model's tensors with type strings (``tensor(float)``) and shapes whose
dynamic dims are strings (``"batch"``) or None. Everything above this layer (contract checks, the
runner, messages) wants torch dtypes and readable shapes, so the translation lives in one place.
This module does not import onnxruntime.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

Dim = int | str | None
"""One dim of a model tensor: an int when static, a symbol name (``"batch"``) or None when dynamic."""

# ORT type string -> (torch dtype, numpy dtype or None, ONNX TensorProto element type).
# The ONNX integer is what IOBinding gets: it also covers bfloat16, which numpy lacks.
_ORT_TYPES: dict[str, tuple[torch.dtype, type | None, int]] = {
    "tensor(float)": (torch.float32, np.float32, 1),
    "tensor(uint8)": (torch.uint8, np.uint8, 2),
    "tensor(int8)": (torch.int8, np.int8, 3),
    "tensor(uint16)": (torch.uint16, np.uint16, 4),
    "tensor(int16)": (torch.int16, np.int16, 5),
    "tensor(int32)": (torch.int32, np.int32, 6),
    "tensor(int64)": (torch.int64, np.int64, 7),
    "tensor(bool)": (torch.bool, np.bool_, 9),
    "tensor(float16)": (torch.float16, np.float16, 10),
    "tensor(double)": (torch.float64, np.float64, 11),
    "tensor(uint32)": (torch.uint32, np.uint32, 12),
    "tensor(uint64)": (torch.uint64, np.uint64, 13),
    "tensor(bfloat16)": (torch.bfloat16, None, 16),
}

_ONNX_ELEMENT_TYPE: dict[torch.dtype, int] = {td: code for td, _, code in _ORT_TYPES.values()}


def dtype_name(dtype: torch.dtype | None) -> str:
    """``torch.float32`` -> ``"float32"``, the spelling used in every message."""
    return "unsupported" if dtype is None else str(dtype).removeprefix("torch.")


def onnx_element_type(dtype: torch.dtype) -> int:
    """The ONNX TensorProto element type of a torch dtype (what `IOBinding.bind_input` accepts)."""
    try:
        return _ONNX_ELEMENT_TYPE[dtype]
    except KeyError:
        raise TypeError(f"torch dtype {dtype} has no ONNX tensor element type") from None


def format_shape(shape: tuple[Dim, ...]) -> str:
    """``(\"batch\", 16)`` -> ``[batch, 16]``; unnamed dynamic dims print as ``?``."""
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


@dataclass(frozen=True)
class TensorSig:
    """One input or output of a model as ONNX Runtime reports it.

    `shape` keeps dynamic dims as ORT gives them: a symbol string (``"batch"``) or None. `torch_dtype`
    is None for element types torch cannot hold (strings, maps...), which no plugin can bind.

    Example:
        >>> sig = TensorSig("obs", "tensor(float)", torch.float32, np.dtype(np.float32), ("batch", 16))
        >>> sig.describe()
        'float32 [batch, 16]'
    """

    name: str
    onnx_type: str
    torch_dtype: torch.dtype | None
    numpy_dtype: np.dtype | None
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def element_type(self) -> int | None:
        """ONNX TensorProto element type, or None when unsupported."""
        entry = _ORT_TYPES.get(self.onnx_type)
        return None if entry is None else entry[2]

    def describe(self) -> str:
        dtype = dtype_name(self.torch_dtype) if self.torch_dtype is not None else self.onnx_type
        return f"{dtype} {format_shape(self.shape)}"

    @classmethod
    def from_node_arg(cls, arg: object) -> TensorSig:
        """Build from an ``onnxruntime.NodeArg`` (``session.get_inputs()[i]``)."""
        onnx_type: str = arg.type  # type: ignore[attr-defined]
        entry = _ORT_TYPES.get(onnx_type)
        torch_dtype = None if entry is None else entry[0]
        numpy_dtype = None if entry is None or entry[1] is None else np.dtype(entry[1])
        raw_shape = arg.shape or ()  # type: ignore[attr-defined]
        shape = tuple(d if isinstance(d, (int, str)) or d is None else None for d in raw_shape)
        return cls(arg.name, onnx_type, torch_dtype, numpy_dtype, shape)  # type: ignore[attr-defined]
