"""Choosing ONNX Runtime execution providers, and telling the truth about which one ran.

`onnxruntime-gpu` claims CUDA (and TensorRT) in `get_available_providers()` even on a machine with no
GPU or no CUDA libraries, and a session asked for CUDA silently falls back to CPU after printing a
screenful of errors. So nothing here trusts the claim: `RuntimeProbe` creates one tiny CUDA session
(once per probe object) to learn whether CUDA really initialises, `resolve_providers` decides from
that, and `create_session` reads `session.get_providers()` afterwards, logs what actually ran (logger
``engine.learned``) and raises when an explicit ``cuda`` request was not honoured.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import onnxruntime as ort

from .errors import ProviderUnavailableError

logger = logging.getLogger("engine.learned")

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"

ProviderRequest = Literal["auto", "cpu", "cuda"]
ProviderSpec = str | tuple[str, dict[str, str]]
"""What `InferenceSession(providers=...)` takes: a name, or (name, provider options)."""

_REQUESTS = ("auto", "cpu", "cuda")

# ORT's default logger severity when nobody changed it (0 verbose .. 4 fatal). ORT has no getter,
# so this is what `quiet_ort` restores.
_ORT_DEFAULT_SEVERITY = 2


@contextmanager
def quiet_ort(severity: int = 4, restore: int = _ORT_DEFAULT_SEVERITY) -> Iterator[None]:
    """Silence ORT's own logger while creating sessions; we report the outcome ourselves.

    Severity 3 (errors) is not enough: the failed load of the CUDA provider library is logged as an
    *error* (``Failed to load library libonnxruntime_providers_cuda.so``), so the default is 4 (fatal).
    ORT cannot report its current level, so `restore` is set afterwards (ORT's default, warnings).
    """
    ort.set_default_logger_severity(severity)
    try:
        yield
    finally:
        ort.set_default_logger_severity(restore)


@dataclass(frozen=True)
class CudaStatus:
    """Whether ORT's CUDA provider really runs here, and if not, why (one sentence)."""

    works: bool
    reason: str


def _tiny_model_bytes() -> bytes:
    """A one-node ONNX model (y = x + x) used to probe a provider; built in memory, never on disk."""
    from onnx import TensorProto, helper  # onnx is only needed for the probe

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    graph = helper.make_graph([helper.make_node("Add", ["x", "x"], ["y"])], "probe", [x], [y])
    # onnx 1.23 writes IR version 14 by default, which ORT 1.31 rejects (max 13): pin it.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    return model.SerializeToString()


def _cuda_library_problem() -> str | None:
    """Why ORT's CUDA provider library does not load (e.g. a missing libcublasLt), or None if it loads.

    ORT only prints this to stderr; loading the library ourselves recovers the sentence for `doctor`.
    """
    pattern = os.path.join(os.path.dirname(ort.__file__), "capi", "*onnxruntime_providers_cuda*")
    libraries = sorted(glob.glob(pattern))
    if not libraries:
        return "the CUDA provider library is not part of this onnxruntime install"
    try:
        ctypes.CDLL(libraries[0])
    except OSError as err:
        return f"{os.path.basename(libraries[0])} does not load: {err}"
    return None


class RuntimeProbe:
    """Finds out, once per object, whether ONNX Runtime's CUDA provider actually works.

    Keep one probe for the life of the process (the CLI or the Sim owns it) and pass it to
    `resolve_providers` / `OnnxModel`, so the tiny test session is created only once. A fresh probe
    re-tests.

    Example:
        >>> probe = RuntimeProbe()
        >>> resolve_providers("auto", probe)   # on a machine without a usable GPU
        ['CPUExecutionProvider']
    """

    def __init__(self) -> None:
        self._cuda: CudaStatus | None = None

    def cuda(self) -> CudaStatus:
        """Create (once) a tiny session asking only for CUDA, run it, and read which provider ran."""
        if self._cuda is None:
            self._cuda = self._test_cuda()
        return self._cuda

    @staticmethod
    def _test_cuda() -> CudaStatus:
        if CUDA not in ort.get_available_providers():
            return CudaStatus(False, f"this onnxruntime build ({ort.__version__}) has no CUDA provider")
        try:
            with quiet_ort():
                session = ort.InferenceSession(_tiny_model_bytes(), providers=[CUDA])
            if session.get_providers()[0] != CUDA:
                problem = _cuda_library_problem() or "no usable GPU (check nvidia-smi, CUDA_VISIBLE_DEVICES)"
                return CudaStatus(False, f"ORT fell back to CPU: {problem}")
            import numpy as np

            session.run(None, {"x": np.ones(2, dtype=np.float32)})
        except Exception as err:  # noqa: BLE001 - any failure means "CUDA does not work", with why
            return CudaStatus(False, f"creating a CUDA session failed: {err}")
        return CudaStatus(True, "a CUDA session was created and ran")


def resolve_providers(
    request: ProviderRequest = "auto", probe: RuntimeProbe | None = None, device_id: int = 0
) -> list[ProviderSpec]:
    """The provider list to create a session with, for ``"auto"``, ``"cpu"`` or ``"cuda"``.

    ``auto`` is CUDA when it really works (tested by `probe`), else CPU; ``cuda`` raises
    `ProviderUnavailableError` when CUDA does not work, saying why. CPU is always last so ops the
    CUDA provider lacks still run. Pass a long-lived `probe` to avoid re-testing CUDA on every call.

    Example:
        >>> resolve_providers("cpu")
        ['CPUExecutionProvider']
    """
    if request not in _REQUESTS:
        raise ValueError(f"providers must be one of {list(_REQUESTS)}, got {request!r}")
    if request == "cpu":
        return [CPU]
    status = (probe or RuntimeProbe()).cuda()
    if status.works:
        return [(CUDA, {"device_id": str(device_id)}), CPU]
    if request == "cuda":
        raise ProviderUnavailableError(
            f"providers: cuda was requested but ONNX Runtime cannot use CUDA here: {status.reason}. "
            "Use providers: cpu (or auto) on this machine."
        )
    logger.info("providers auto: CUDA unusable (%s); using %s", status.reason, CPU)
    return [CPU]


def create_session(
    model: str | os.PathLike[str] | bytes,
    providers: Sequence[ProviderSpec],
    options: ort.SessionOptions | None = None,
    name: str = "model",
    required: str | None = None,
) -> tuple[ort.InferenceSession, str]:
    """Create an InferenceSession with explicit providers; return it and the provider that runs it.

    ORT's noise is silenced during creation and the outcome is logged here instead. If `required`
    names a provider (e.g. CUDA for an explicit ``cuda`` request) and ORT fell back to another, this
    raises `ProviderUnavailableError` rather than running somewhere the user did not ask for.
    """
    wanted = [p if isinstance(p, str) else p[0] for p in providers]
    source = model if isinstance(model, bytes) else os.fspath(model)
    with quiet_ort():
        session = ort.InferenceSession(source, sess_options=options, providers=list(providers))
    actual = session.get_providers()
    provider = actual[0]
    if required is not None and provider != required:
        raise ProviderUnavailableError(
            f"plugin '{name}': {required} was requested but ONNX Runtime fell back to {actual}", name
        )
    if provider != wanted[0]:
        logger.warning("plugin '%s': asked for %s, ONNX Runtime runs it on %s", name, wanted, actual)
    else:
        logger.info("plugin '%s': running on %s", name, provider)
    return session, provider


def _distributions() -> dict[str, str]:
    """Which onnxruntime wheels are installed; the CPU and GPU ones clash (same module name)."""
    found = {}
    for dist in ("onnxruntime", "onnxruntime-gpu"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def describe_runtime(probe: RuntimeProbe | None = None) -> dict[str, object]:
    """Facts for ``worldloom doctor``: ORT version, what ORT claims, and what really works.

    Example:
        >>> info = describe_runtime(RuntimeProbe())
        >>> sorted(info)[:3]
        ['auto_provider', 'claimed_device', 'claimed_providers']
    """
    probe = probe or RuntimeProbe()
    status = probe.cuda()
    distributions = _distributions()
    notes = []
    if len(distributions) > 1:
        notes.append(
            "both onnxruntime and onnxruntime-gpu are installed; they share the module name, keep one"
        )
    if not status.works and CUDA in ort.get_available_providers():
        notes.append("ORT lists CUDAExecutionProvider, but it does not work here (see cuda_reason)")
    return {
        "onnxruntime_version": ort.__version__,
        "distributions": distributions,
        "claimed_device": ort.get_device(),
        "claimed_providers": ort.get_available_providers(),
        "cuda_works": status.works,
        "cuda_reason": status.reason,
        "auto_provider": CUDA if status.works else CPU,
        "notes": notes,
    }
