"""Fixtures for the renderer tests: one headless EGL context per test module.

The context is the only thing that may be missing on a machine (no EGL/Mesa); then the tests skip
and say which packages to install. Any other failure is a real failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from engine.render import Frame, GLUnavailableError, create_headless_context


@pytest.fixture(scope="module")
def gl_ctx() -> Iterator[object]:
    """A standalone EGL context (llvmpipe on CPU-only machines), shared by one test module."""
    try:
        ctx = create_headless_context()
    except GLUnavailableError as exc:
        pytest.skip(f"headless OpenGL unavailable: {exc}")
    yield ctx
    ctx.release()


def _random_frame(worlds: int = 1, entities: int = 4, seed: int = 0, **fields: object) -> Frame:
    rng = np.random.default_rng(seed)
    base = dict(
        pos=rng.uniform(-0.8, 0.8, (worlds, entities, 2)),
        radius=np.full((worlds, entities), 0.1),
        color=rng.uniform(0.2, 1.0, (worlds, entities, 3)),
        alive=np.ones((worlds, entities), bool),
        shape=(np.arange(entities) % 2).astype(np.int8),
    )
    base.update(fields)
    return Frame(**base)


@pytest.fixture
def make_frame() -> Callable[..., Frame]:
    """Factory of random but reproducible frames: positions in [-0.8, 0.8]², radius 0.1, mixed shapes.

    ``make_frame(worlds=5, entities=7, seed=1, alive=...)``: any Frame field can be overridden.
    """
    return _random_frame
