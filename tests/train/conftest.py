"""Fixtures for the training tests: tiny worlds beside the tests, fast configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _one_thread():
    """Training tests are tiny: one intra-op thread is fastest and leaves a core to the rest."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def reach_world() -> Path:
    return HERE / "reach.yaml"


@pytest.fixture
def hunt_world() -> Path:
    return HERE / "hunt.yaml"
