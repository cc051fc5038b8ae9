"""Multi-agent training for worldloom worlds: PPO in plain PyTorch, controllers, ONNX export.

Importing the package is cheap: the trainer loads torch's optimisers and TensorBoard only when used.

Example:
    >>> from engine.train import PPOTrainer, load_config
    >>> cfg = load_config(None, world="tag")            # engine/train/configs/tag.yaml
    >>> trainer = PPOTrainer("tag", cfg.replace(total_steps=100_000), seed=0, out_dir="runs/tag")
    >>> trainer.train(progress=True)
    >>> trainer.export("plugins/tag_npc")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import TrainConfig, load_config
    from .controllers import make_controller
    from .evaluation import evaluate
    from .ppo import PPOTrainer, trainer_from_checkpoint

_LAZY = {"TrainConfig": "config", "load_config": "config", "make_controller": "controllers",
         "evaluate": "evaluation", "PPOTrainer": "ppo", "trainer_from_checkpoint": "ppo"}

__all__ = ["PPOTrainer", "TrainConfig", "evaluate", "load_config", "make_controller", "trainer_from_checkpoint"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
