"""Suite-wide options and fixtures: tests marked ``slow`` run only when asked for (``pytest -m slow``);
``xvfb_display`` is one private X server for the session's window tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from wl_test_support import wait_for

# inductor's C++ wrapper for small compiled segments (engine.scheduler.cpp_wrapper) adds seconds to every cold
# compile, and CI compiles from a cold cache: the suite compiles with the Python wrapper, and
# tests/test_scheduler.py checks the C++ one (the default for one world) against the eager tick.
os.environ.setdefault("WORLDLOOM_CPP_WRAPPER", "0")


@pytest.fixture(scope="session")
def xvfb_display() -> Iterator[str]:
    """A private X server for the session; yields its DISPLAY value and stops exactly that server (its PID
    is read from the X lock file: with a new session, the Popen PID may not be the server's)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (Debian: apt-get install xvfb)")
    tmp = Path(tempfile.gettempdir())
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # pytest -n: each worker looks in its own range
    first = 93 + 40 * int(worker[2:] or 0)
    number = next(n for n in range(first, first + 300)
                  if not (tmp / f".X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists())
    lock = tmp / f".X{number}-lock"
    proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    pid = None
    try:
        wait_for(lambda: lock.is_file() and lock.read_text().strip().isdigit(), 10, f"Xvfb :{number} to start")
        pid = int(lock.read_text().strip())
        wait_for(lambda: Path(f"/tmp/.X11-unix/X{number}").exists(), 10, "the X socket")
        yield f":{number}"
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it is our child: stop it by its own PID
            proc.kill()
            proc.wait()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with `pytest -m slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
