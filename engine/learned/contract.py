"""The plugin contract: what the world binds to a model, checked against the model at load time.

A world binds component tensors of shape ``[rows, *features]`` to a model's inputs and outputs, where
``rows`` is every bound entity of every world gathered into one batch. So each model tensor must
have the bound dtype, rank ``1 + len(features)``, the same feature sizes, and a *dynamic* first axis
(one call per tick serves any number of rows). Mismatches are reported before the first tick, with
the plugin, the tensor, what was expected and what the model has, and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from .errors import ContractError
from .signature import TensorSig, dtype_name, format_shape


@dataclass(frozen=True)
class TensorSpec:
    """What the world binds to one model input/output: a name, a dtype, the feature dims after batch.

    Example:
        >>> spec = TensorSpec("obs", torch.float32, (14,))
        >>> spec.describe()
        'float32 [batch, 14]'
    """

    name: str
    dtype: torch.dtype
    feature_shape: tuple[int, ...] = ()

    def describe(self) -> str:
        return f"{dtype_name(self.dtype)} {format_shape(('batch', *self.feature_shape))}"


class HasSignature(Protocol):
    """Anything with model signatures, e.g. `OnnxModel`."""

    inputs: Sequence[TensorSig]
    outputs: Sequence[TensorSig]


_REEXPORT = (
    "re-export it with a dynamic batch axis: torch.onnx.export(..., dynamo=True, "
    "dynamic_shapes={{'{name}': {{0: torch.export.Dim('batch')}}}}), "
    "or engine.learned.export.export_torch_module(..., dynamic_batch=True)"
)


def check_contract(
    model: HasSignature,
    expected_inputs: Iterable[TensorSpec],
    expected_outputs: Iterable[TensorSpec],
    plugin: str,
    where: str | None = None,
    fixed_batch: int | None = None,
) -> None:
    """Raise `ContractError` unless `model` fits the tensors the world binds to it.

    Checks, for inputs and outputs: every bound name exists in the model (with a "did you mean"),
    every model *input* is bound (unbound outputs are allowed: they are computed and ignored), dtype,
    rank, feature sizes, and that the batch axis is dynamic. A static batch is accepted only when the
    caller runs a fixed number of rows, passed as `fixed_batch`, and it is equal. `where` is the plugin
    entry's ``file:line:col``. Every problem is found; the first is raised and the rest are in
    ``err.others`` and in the message.

    Example:
        >>> check_contract(model, [TensorSpec("obs", torch.float32, (14,))],
        ...                [TensorSpec("logits", torch.float32, (5,))], "prey_brain", "worlds/tag.yaml:40:5")
    """
    prefix = f"plugin '{plugin}'" + (f" ({where})" if where else "")
    problems: list[ContractError] = []

    def problem(kind: str, tensor: str, expected: str, actual: str, detail: str) -> None:
        problems.append(
            ContractError(
                f"{prefix}: {kind} '{tensor}': {detail}",
                plugin=plugin,
                tensor=tensor,
                expected=expected,
                actual=actual,
                kind=kind,
                where=where,
            )
        )

    for kind, specs, sigs in (
        ("input", list(expected_inputs), list(model.inputs)),
        ("output", list(expected_outputs), list(model.outputs)),
    ):
        by_name = {sig.name: sig for sig in sigs}
        model_names = [sig.name for sig in sigs]
        for spec in specs:
            sig = by_name.get(spec.name)
            if sig is None:
                close = difflib.get_close_matches(spec.name, model_names, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problem(
                    kind,
                    spec.name,
                    f"{kind} named '{spec.name}'",
                    f"{kind}s {model_names}",
                    f"the model has no {kind} named '{spec.name}'; its {kind}s are {model_names}{hint}",
                )
                continue
            mismatch = _compare(spec, sig, fixed_batch)
            if mismatch:
                detail = f"expected {spec.describe()}, model has {sig.describe()}; " + "; ".join(mismatch)
                problem(kind, spec.name, spec.describe(), sig.describe(), detail)
        if kind == "input":
            bound = {spec.name for spec in specs}
            for sig in sigs:
                if sig.name not in bound:
                    problem(
                        kind,
                        sig.name,
                        f"a binding for model input '{sig.name}'",
                        "unbound",
                        f"the model needs this input ({sig.describe()}) but the plugin binds nothing to it; "
                        f"add '{sig.name}' to the plugin's inputs",
                    )

    if problems:
        first = problems[0]
        if len(problems) > 1:
            first.others = problems[1:]
            more = "\n".join(f"  also: {p}" for p in problems[1:])
            first.args = (f"{first.args[0]}\n{more}",)
        raise first


def _compare(spec: TensorSpec, sig: TensorSig, fixed_batch: int | None) -> list[str]:
    """Every way `sig` differs from `spec`, one phrase each (empty when they fit)."""
    found = []
    if sig.torch_dtype != spec.dtype:
        found.append(
            f"dtype {sig.onnx_type if sig.torch_dtype is None else dtype_name(sig.torch_dtype)} "
            f"instead of {dtype_name(spec.dtype)} (cast in the module before export, or bind a tensor "
            "of the model's dtype)"
        )
    rank = 1 + len(spec.feature_shape)
    if sig.rank != rank:
        found.append(
            f"rank {sig.rank} instead of {rank} (the batch axis plus {len(spec.feature_shape)} feature "
            f"axes {list(spec.feature_shape)})"
        )
        return found  # sizes cannot be compared axis by axis
    if rank == 0:
        return found
    batch = sig.shape[0]
    if isinstance(batch, int) and batch != fixed_batch:
        how = _REEXPORT.format(name=sig.name)
        if fixed_batch is None:
            found.append(
                f"the model was exported with a fixed batch of {batch}, but the batch axis must be "
                f"dynamic (one call serves every bound entity of every world); {how}"
            )
        else:
            found.append(
                f"the model was exported with a fixed batch of {batch}, but this plugin runs "
                f"{fixed_batch} rows per call; {how}"
            )
    for axis, (want, have) in enumerate(zip(spec.feature_shape, sig.shape[1:], strict=True), start=1):
        if isinstance(have, int) and have != want:
            found.append(f"feature axis {axis} has size {have}, the world binds {want}")
    return found
