#!/usr/bin/env bash
# One-step, idempotent set-up of worldloom on a fresh Debian/Ubuntu machine (also used by CI):
#   1. Debian packages: libegl1 libgl1 (headless OpenGL through Mesa/EGL), xvfb xdotool x11-apps
#      (the window test runs a real glfw window on a virtual screen);
#   2. a virtual environment in .venv with torch installed FIRST, pinned (TORCH_SPEC, default
#      torch==2.13.0: the CPU wheel that lies on this machine kind's disk; on a machine with an NVIDIA GPU
#      the same spec from PyPI is the CUDA build), so nothing later pulls a second multi-GB torch;
#   3. worldloom itself, editable, with the dev extra (pytest, ruff, mpe2 for the parity tests, torchrl);
#   4. the Ray venv, tools/ray/.venv: Ray/RLlib pin their own gymnasium, so they get their own
#      environment — the same torch first, then tools/ray/requirements.txt, then worldloom with --no-deps
#      (`worldloom train WORLD --ray` and tests/integrations/test_rllib.py run there). WORLDLOOM_SKIP_RAY=1
#      skips it.
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
RAY_VENV=tools/ray/.venv
if [ "${WORLDLOOM_SKIP_RAY:-0}" != 1 ]; then
  if [ ! -x "$RAY_VENV/bin/python" ]; then
    echo "setup: creating $RAY_VENV (Ray/RLlib)" >&2
    "$PY" -m venv "$RAY_VENV"
  fi
  if [ ! -f "$RAY_VENV/.torch-installed" ] && ! "$RAY_VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing $TORCH_SPEC first in $RAY_VENV" >&2
    "$RAY_VENV/bin/python" -m pip install -q --disable-pip-version-check "$TORCH_SPEC"
  fi
  touch "$RAY_VENV/.torch-installed"
  stamp="$RAY_VENV/.worldloom-installed"
  if [ ! -f "$stamp" ] || [ tools/ray/requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Ray/RLlib (tools/ray/requirements.txt) and worldloom (editable, no deps) in $RAY_VENV" >&2
    "$RAY_VENV/bin/python" -m pip install -q --disable-pip-version-check -r tools/ray/requirements.txt
    "$RAY_VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
    "$RAY_VENV/bin/python" -c "import torch, ray.rllib, engine" >/dev/null
    touch "$stamp"
  fi
fi
echo "setup: ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))" >&2
