"""``worldloom doctor``: what this machine offers worldloom (versions, devices, ONNX providers, GL)."""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="report versions, torch device, ONNX Runtime providers, GL availability")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _version(mod: str) -> str:
    try:
        m = importlib.import_module(mod)
        return getattr(m, "__version__", "installed")
    except Exception as e:  # report, never fail: doctor exists to diagnose broken installs
        return f"missing ({type(e).__name__}: {e})"


_GL_PROBE = """
import moderngl, json
ctx = moderngl.create_standalone_context(backend="egl")
print(json.dumps({"renderer": ctx.info["GL_RENDERER"], "version": ctx.info["GL_VERSION"]}))
"""


def probe_gl() -> dict:
    """Try a headless EGL context in a child process (a broken driver must not take doctor down)."""
    try:
        out = subprocess.run([sys.executable, "-c", _GL_PROBE], capture_output=True, text=True, timeout=60)
    except Exception as e:
        return {"ok": False, "error": str(e)}
    if out.returncode == 0:
        return {"ok": True, **json.loads(out.stdout.strip().splitlines()[-1])}
    err = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
    return {"ok": False, "error": err, "hint": "install Debian packages libegl1 libgl1 (tools/setup.sh does)"}


def _cores() -> int:
    from engine.core.threads import cores

    return cores()


def report() -> dict:
    import torch

    rep = {
        "python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "worldloom": _version("engine"), "torch": torch.__version__, "numpy": _version("numpy"),
        "pyyaml": _version("yaml"), "moderngl": _version("moderngl"), "glfw": _version("glfw"),
        "onnxruntime": _version("onnxruntime"), "pettingzoo": _version("pettingzoo"),
        "torch_threads": torch.get_num_threads(),
        "cores_available": _cores(),
        "thread_policy": "auto (default): 1 thread below 8,192 entities × worlds; above, 1 or all cores, "
                         "whichever each Sim measures faster, re-checked as it runs (engine.core.threads)",
        "torch_cuda": torch.cuda.is_available(),
        "torch_cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "display": os.environ.get("DISPLAY") or None,
    }
    try:
        from engine.learned.providers import describe_runtime

        rep["onnxruntime_detail"] = describe_runtime()
    except Exception as e:
        rep["onnxruntime_detail"] = {"error": f"{type(e).__name__}: {e}"}
    rep["gl_headless"] = probe_gl()
    from engine.paths import resource_dir

    rep["resources"] = {n: str(resource_dir(n)) for n in ("worlds", "plugins", "shaders")}
    return rep


def run(args) -> int:
    rep = report()
    if args.json:
        print(json.dumps(rep))
        return 0
    for k, v in rep.items():
        if isinstance(v, dict):
            print(f"{k}:")
            for kk, vv in v.items():
                print(f"  {kk}: {vv}")
        else:
            print(f"{k}: {v}")
    return 0
