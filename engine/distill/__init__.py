"""Distillation: learn a world's subsystems from recordings, export them as ONNX plugins, measure drift.

* ``distill_dynamics`` — state + action force → state change (``WorldDynamics`` / ``EntityDynamics``),
  trained with a multi-step open-loop rollout loss;
* ``distill_renderer`` — entity positions → RGB image (``SplatRenderer``), trained on recorded frames;
* ``distill_policy`` — behaviour cloning of a group's recorded actions (``PolicyMLP``);
* ``measure_drift`` / ``write_drift`` — open-loop k-step error of a dynamics plugin vs the hand-coded
  system it replaces (JSON + PNG).

Importing this package imports nothing heavy; the names load their module on first use.

Example:
    >>> from engine.distill import TrainOptions, distill_dynamics
    >>> contract = distill_dynamics(["runs/data/tag_random"], "plugins/tag_dynamics", TrainOptions(epochs=8))
    >>> contract["metrics"]["median_pos_error_20"] < 0.01
    True
"""

from __future__ import annotations

import importlib

_LAZY = {
    "TrainOptions": "common",
    "distill_dynamics": "dynamics",
    "distill_renderer": "renderer",
    "distill_policy": "policy",
    "measure_drift": "drift",
    "write_drift": "drift",
    "plot_drift": "drift",
    "WorldDynamics": "modules",
    "EntityDynamics": "modules",
    "SplatRenderer": "modules",
    "PolicyMLP": "modules",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
