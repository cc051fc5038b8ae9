"""Model files are data from outside: check where they live and what they pull in before ORT opens them.

A world file names its ONNX models by path. Like code, a model is read only from where the user
allowed it — the world's own folder, the package's ``plugins/`` and ``worlds/``, or a path passed
with ``--trust`` — and an ONNX file's *external data* (weights stored beside it) must stay inside
the model's own folder: a crafted model cannot make ONNX Runtime read ``/etc/passwd`` or a file of
several gigabytes.
"""

from __future__ import annotations

from pathlib import Path

from engine.core.resolver import TrustPolicy
from engine.learned.errors import ModelLoadError

#: Largest model file (and its external data, in all) a world may load.
MAX_MODEL_BYTES = 2 << 30


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_model_file(path: Path, world_dir: Path, trust: TrustPolicy) -> None:
    """Raise ``ModelLoadError`` when ``path`` is outside the allowed folders, too big, or its external
    data points outside its folder."""
    name = Path(path).stem
    if not (_inside(path, world_dir) or trust.allows_path(path)):
        raise ModelLoadError(f"model file {path} is outside the world's folder ({world_dir}) and the package's "
                             f"plugins/; to allow it, pass --trust {Path(path).resolve().parent} (or trust=[...] "
                             "to engine.make, or WORLDLOOM_TRUST)", name)
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path} (paths resolve relative to the world file)", name)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelLoadError(f"model file {path} is {size / 2**30:.1f} GiB; the limit is {MAX_MODEL_BYTES >> 30} GiB",
                             name)
    _check_external_data(path, name)


def _check_external_data(path: Path, name: str) -> None:
    """Every external-data location of the model must be a file inside the model's folder."""
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency
        return
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # not ONNX / truncated: say so here, with the reason
        raise ModelLoadError(f"{path} is not a readable ONNX model ({type(e).__name__}: "
                             f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no detail'}); expected a "
                             ".onnx file exported by torch.onnx.export or worldloom distill", name) from None
    if not model.graph.output:
        raise ModelLoadError(f"{path} is not a readable ONNX model (it holds no graph: an empty or foreign file); "
                             "expected a .onnx file exported by torch.onnx.export or worldloom distill", name)
    total = 0
    for tensor in onnx.external_data_helper._get_all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in tensor.external_data}
        location = Path(info.get("location", ""))
        target = (path.parent / location)
        if location.is_absolute() or not _inside(target, path.parent):
            raise ModelLoadError(f"{path}: tensor {tensor.name!r} stores its data at {location}, outside the model's "
                                 "folder; expected external data beside the model", name)
        if not target.is_file():
            raise ModelLoadError(f"{path}: external data file {target} of tensor {tensor.name!r} is missing", name)
        total += target.stat().st_size
    if total > MAX_MODEL_BYTES:
        raise ModelLoadError(f"{path}: external data is {total / 2**30:.1f} GiB; the limit is "
                             f"{MAX_MODEL_BYTES >> 30} GiB", name)
