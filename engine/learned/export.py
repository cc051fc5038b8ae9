"""Export a torch module to a self-contained ONNX file that the engine can load, and prove it works.

`torch.onnx.export` (dynamo) has three traps for plugin authors: without `dynamic_shapes` the model
only accepts the example's batch size; without `external_data=False` large weights land in a side
file; and nothing checks that ORT computes what torch computed. `export_torch_module` handles all
three and writes atomically, so a failed export never replaces a working model.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.fileio import publish

from .errors import ExportError

# Loggers of the exporter stack that narrate every pass at INFO and warn about torchvision ops a plugin
# never uses; the export's outcome is reported by ExportReport / ExportError instead.
_EXPORTER_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _EXPORTER_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch 2.13's exporter trips its own pytree deprecation (LeafSpec); nothing a user can act on
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@dataclass(frozen=True)
class ExportReport:
    """What `export_torch_module` wrote and how closely ORT reproduces the module."""

    path: Path
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    max_abs_diff: float
    seconds: float


def export_torch_module(
    module: torch.nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    dynamic_batch: bool = True,
    output_names: Sequence[str] | None = None,
    tolerance: float = 1e-4,
    opset_version: int | None = None,
) -> ExportReport:
    """Export `module` (called as ``module(**example_inputs)``) to `path`, verified with ONNX Runtime.

    The ONNX inputs are named after the keys of `example_inputs`; outputs after `output_names`, or
    ``output`` / ``output_0..`` / the keys of a returned dict. With `dynamic_batch`, axis 0 of every
    input is exported as the symbol ``batch``. The module is exported in eval mode (its mode is
    restored after). The exported file is run by ORT (CPU) on the example, and on the example with one
    extra row when the batch is dynamic; if any output differs from torch by more than `tolerance`,
    `ExportError` is raised and `path` is left as it was.

    Example:
        >>> report = export_torch_module(policy, {"obs": torch.zeros(8, 14)}, "plugins/tag_bc/prey.onnx")
        >>> report.max_abs_diff < 1e-4
        True
    """
    started = time.perf_counter()
    path = Path(path)
    names = tuple(example_inputs)
    examples = {k: v.detach().cpu().contiguous() for k, v in example_inputs.items()}
    if dynamic_batch:
        small = [k for k, v in examples.items() if v.dim() == 0 or v.shape[0] < 2]
        if small:
            raise ExportError(
                f"example inputs {small} need a batch of at least 2 rows to export a dynamic batch axis "
                "(torch.export specialises axes of size 0 and 1); use e.g. torch.zeros(8, ...)"
            )

    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            reference = module(**examples)
        out_names = _output_names(reference, output_names)
        dynamic_shapes = {k: {0: torch.export.Dim("batch")} for k in names} if dynamic_batch else None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            try:
                with _quiet_exporter():
                    torch.onnx.export(
                        module,
                        args=(),
                        kwargs=examples,
                        f=str(tmp),
                        dynamo=True,
                        dynamic_shapes=dynamic_shapes,
                        external_data=False,
                        input_names=list(names),
                        output_names=list(out_names),
                        opset_version=opset_version,
                        verbose=False,
                    )
            except Exception as err:  # the exporter raises many kinds
                raise ExportError(f"torch.onnx.export of {type(module).__name__} failed: {err}") from err
            cases = [examples]
            if dynamic_batch:
                cases.append({k: torch.cat([v, v[:1]]) for k, v in examples.items()})
            diff = max(_verify(module, tmp, case, out_names, path.name) for case in cases)
            if not diff <= tolerance:
                raise ExportError(
                    f"the exported {path.name} disagrees with {type(module).__name__}: "
                    f"max abs diff {diff:.3g} > {tolerance:g}; the model was not written"
                )
            publish(tmp, path)  # the usual permissions (mkstemp makes 0600)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        module.train(was_training)
    return ExportReport(path, names, tuple(out_names), diff, time.perf_counter() - started)


def _flatten(result: object) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, Mapping):
        return [t for v in result.values() for t in _flatten(v)]
    if isinstance(result, (tuple, list)):
        return [t for v in result for t in _flatten(v)]
    raise ExportError(
        f"the module returned {type(result).__name__}; return tensors (or a tuple/dict of them)"
    )


def _output_names(result: object, given: Sequence[str] | None) -> list[str]:
    count = len(_flatten(result))
    if given is not None:
        if len(given) != count:
            raise ExportError(f"output_names has {len(given)} names but the module returns {count} tensors")
        return list(given)
    if isinstance(result, Mapping) and all(isinstance(v, torch.Tensor) for v in result.values()):
        return [str(k) for k in result]
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def _verify(
    module: torch.nn.Module, path: Path, inputs: Mapping[str, torch.Tensor], names: list[str], label: str
) -> float:
    """Max abs difference between ORT (CPU) on `path` and the module, on `inputs`."""
    from .providers import CPU, create_session

    session, _ = create_session(path, [CPU], name=f"export check of {label}")
    with torch.no_grad():
        expected = [t.detach().cpu().numpy() for t in _flatten(module(**inputs))]
    got = session.run(names, {k: v.numpy() for k, v in inputs.items()})
    worst = 0.0
    for name, want, have in zip(names, expected, got, strict=True):
        if want.shape != have.shape:
            raise ExportError(
                f"exported output '{name}' has shape {list(have.shape)}, torch gives {list(want.shape)}"
            )
        if want.size:
            want64, have64 = want.astype(np.float64), have.astype(np.float64)
            same = (want64 == have64) | (
                np.isnan(want64) & np.isnan(have64)
            )  # equal infs, NaN where torch has NaN
            diff = np.where(same, 0.0, np.abs(want64 - have64))
            worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max()))
    return worst
