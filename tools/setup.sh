#!/usr/bin/env bash
# One-step, idempotent set-up of worldloom on a fresh Debian/Ubuntu machine (also used by CI):
#   1. Debian packages: libegl1 libgl1 (headless OpenGL through Mesa/EGL), xvfb xdotool x11-apps
#      (the window test runs a real glfw window on a virtual screen);
#   2. a virtual environment in .venv with torch installed FIRST, pinned (TORCH_SPEC, default
#      torch==2.13.0: the CPU wheel that lies on this machine kind's disk; on a machine with an NVIDIA GPU
#      the same spec from PyPI is the CUDA build), so nothing later pulls a second multi-GB torch;
#   3. worldloom itself, editable, with the dev extra (pytest, ruff, mpe2 for the parity tests).
# Re-running it is cheap: every step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

debs="libegl1 libgl1 xvfb xdotool x11-apps"
missing=""
for p in $debs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "setup: installing Debian packages:$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
  else
    echo "setup: warning: no apt-get; install the equivalents of:$missing (rendering/window tests need them)" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  echo "setup: installing $TORCH_SPEC first" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
fi
if ! .venv/bin/python -c "import engine, pytest, mpe2" >/dev/null 2>&1 || [ pyproject.toml -nt .venv/.worldloom-installed ]; then
  echo "setup: installing worldloom (editable, with the dev extra)" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
  touch .venv/.worldloom-installed
fi
echo "setup: ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
