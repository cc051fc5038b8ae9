"""Training configuration: a YAML file validated into ``TrainConfig``, located errors included.

The same validator as world files (``engine.world.validation``) reads it, so a typo in a config is reported
as ``file:line:col: key.path: expected …, got …`` with a did-you-mean hint, and ``--cfg key=value``
overrides are checked exactly like the file. Each shipped world may have its own defaults in
``engine/train/configs/<world>.yaml``; other worlds use ``configs/default.yaml``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.errors import WorldError
from engine.world.loader import apply_overrides
from engine.world.validation import Ctx, fld, parse_dataclass
from engine.world.yamlio import Document, load_yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(kw_only=True)
class TrainConfig:
    """PPO hyper-parameters and what to train against.

    Example:
        >>> cfg = load_config(None, world="tag", overrides={"critic": "central"})
        >>> cfg.rollout, cfg.critic, cfg.opponents
        (25, 'central', {'prey': 'scripted_flee:adversary'})
    """

    worlds: int = fld(256, ge=1, le=1 << 20, doc="Worlds simulated together (B).")
    total_steps: int = fld(1_000_000, ge=1, doc="Environment steps to train for (ticks × worlds).")
    rollout: int = fld(32, ge=1, le=100_000, doc="Ticks per rollout (T) before each update.")
    epochs: int = fld(4, ge=1, le=1000, doc="Passes over each rollout.")
    minibatches: int = fld(4, ge=1, le=100_000, doc="Minibatches per epoch (split of the T×B×A samples).")
    lr: float = fld(3e-4, gt=0, le=1, doc="Adam learning rate.")
    anneal_lr: bool = fld(True, doc="Decay the learning rate linearly to 0 over the run.")
    gamma: float = fld(0.99, ge=0, le=1, doc="Discount factor.")
    gae_lambda: float = fld(0.95, ge=0, le=1, doc="GAE λ.")
    clip: float = fld(0.2, gt=0, le=10, doc="PPO ratio clip ε.")
    clip_value: bool = fld(False, doc="Clip the value update to ±clip around the old value.")
    ent_coef: float = fld(0.01, ge=0, doc="Entropy bonus coefficient.")
    vf_coef: float = fld(0.5, ge=0, doc="Value loss coefficient.")
    max_grad_norm: float = fld(0.5, gt=0, doc="Gradient norm clip.")
    norm_adv: bool = fld(True, doc="Normalise advantages per minibatch.")
    hidden: list[int] = fld(factory=lambda: [64, 64], ge=1, le=4096, min_items=1, max_items=8,
                            doc="Hidden layer widths of the actor and the critic MLPs.")
    activation: Literal["tanh", "relu"] = fld("tanh", doc="Hidden activation.")
    critic: Literal["local", "central"] = fld(
        "local", doc="local: V(own observation), shared within a group (IPPO); central: V(global state, agent "
                     "one-hot) from pos/vel/alive of every entity (MAPPO).")
    groups: list[str] = fld(factory=list, doc="Agent groups to train (default: every external group).")
    opponents: dict[str, str] = fld(
        factory=dict, doc="Controllers of the external groups that are not trained: group → random | "
                          "scripted_chase:TYPES | scripted_flee:TYPES | onnx:PATH | ckpt:PATH (default random).")
    overrides: dict[str, Any] = fld(factory=dict, doc="World-file overrides (dotted key → value) used while "
                                                      "training, like --set.")
    checkpoint_every: int = fld(50, ge=0, doc="Write a checkpoint every N updates (0: only at the end).")
    export_every: int = fld(0, ge=0, doc="Export ONNX policies every N updates (0: only at the end).")
    log_every: int = fld(1, ge=1, doc="Write TensorBoard/CSV metrics every N updates.")
    tensorboard: bool = fld(True, doc="Write TensorBoard event files under the run folder.")

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_config_path(world: str | os.PathLike) -> Path:
    """``configs/<world stem>.yaml`` when it exists, else ``configs/default.yaml``."""
    stem = Path(str(world)).stem
    p = CONFIG_DIR / f"{stem}.yaml"
    return p if p.is_file() else CONFIG_DIR / "default.yaml"


def load_config(path: str | os.PathLike | None, world: str | os.PathLike | None = None,
                overrides: Mapping[str, Any] | None = None, base: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read and validate a training config (``path``, or the world's default), then apply overrides.

    ``base`` (e.g. the config saved in a checkpoint) is used instead of a file when ``path`` is None.
    Raises ``WorldError`` located at ``file:line:col`` (or at the ``--cfg`` override) on any mistake.
    """
    if path is None and base is not None:
        doc = Document(data=dict(base), source="checkpoint config")
    else:
        doc = load_yaml(path if path is not None else default_config_path(world or "default"))
    if doc.data is None:
        doc = Document(data={}, source=str(path))
    if not isinstance(doc.data, dict):
        raise WorldError(f"expected a mapping of training settings, got {type(doc.data).__name__}",
                         where=doc.locate(()))
    apply_overrides(doc, overrides, origin="--cfg")
    return parse_dataclass(TrainConfig, doc.data, Ctx(doc), ())


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """Rebuild a config saved in a checkpoint (validated again)."""
    return parse_dataclass(TrainConfig, dict(data), Ctx(None), ())
