#!/usr/bin/env bash
# Creates the virtual environments the grid-world peer benchmarks run in (idempotent).
#   navix:     jax[cpu] + navix          (own venv: navix and xminigrid may pin different jax)
#   xminigrid: jax[cpu] + xminigrid
#   minigrid:  bench_minigrid.py runs in the repo's own venv (.venv, made by tools/setup.sh: minigrid +
#              gymnasium) when that venv has minigrid; otherwise a small fallback venv
#              (pip install minigrid: gymnasium + numpy + pygame, no torch) is made here.
# Usage: bash tools/grid_peers/setup.sh  -> prints NAVIX_PY=..., XMINIGRID_PY=... and MINIGRID_PY=...
#        (only those lines on stdout: eval "$(bash tools/grid_peers/setup.sh)")
# Location: $GRID_PEERS_HOME (default: ~/.cache/worldloom-grid-peers)
set -euo pipefail
home=${GRID_PEERS_HOME:-$HOME/.cache/worldloom-grid-peers}
mkdir -p "$home"
py=${PYTHON:-python3}
if [ ! -x "$home/navix-venv/bin/python" ] || ! "$home/navix-venv/bin/python" -c "import jax, navix" >/dev/null 2>&1; then
  echo "setup.sh: creating $home/navix-venv" >&2
  "$py" -m venv "$home/navix-venv" >&2
  "$home/navix-venv/bin/pip" install -q --disable-pip-version-check "jax[cpu]" navix >&2
fi
if [ ! -x "$home/xminigrid-venv/bin/python" ] || ! "$home/xminigrid-venv/bin/python" -c "import jax, xminigrid" >/dev/null 2>&1; then
  echo "setup.sh: creating $home/xminigrid-venv" >&2
  "$py" -m venv "$home/xminigrid-venv" >&2
  "$home/xminigrid-venv/bin/pip" install -q --disable-pip-version-check "jax[cpu]" xminigrid >&2
fi
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ -x "$repo/.venv/bin/python" ] && "$repo/.venv/bin/python" -c "import minigrid, gymnasium" >/dev/null 2>&1; then
  minigrid_py=$repo/.venv/bin/python
else
  if [ ! -x "$home/minigrid-venv/bin/python" ] || ! "$home/minigrid-venv/bin/python" -c "import minigrid, gymnasium" >/dev/null 2>&1; then
    echo "setup.sh: $repo/.venv has no minigrid; creating $home/minigrid-venv" >&2
    "$py" -m venv "$home/minigrid-venv" >&2
    "$home/minigrid-venv/bin/pip" install -q --disable-pip-version-check minigrid >&2
  fi
  minigrid_py=$home/minigrid-venv/bin/python
fi
echo "NAVIX_PY=$home/navix-venv/bin/python"
echo "XMINIGRID_PY=$home/xminigrid-venv/bin/python"
echo "MINIGRID_PY=$minigrid_py"
