"""``OnnxInverseModel``: an inverse dynamics folder (``inverse.onnx`` + ``inverse.json``) run by ONNX Runtime.

The folder is what ``worldloom distill WORLD --subsystem inverse`` writes. The model is checked against its
contract (frame size, agents, actions) before it runs; reading the folder runs no code (JSON and ONNX).

Example:
    >>> m = OnnxInverseModel("plugins/tag_inverse", providers="cpu")
    >>> logits, cut = m(frames)        # [N, 4, 64, 64, 3] uint8 → [N, 4, 5], [N]
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from engine.learned.contract import TensorSpec, check_contract
from engine.learned.folder_contract import read_contract

log = logging.getLogger(__name__)
KIND = "inverse_dynamics"


class OnnxInverseModel:
    """Frames t − 1 … t + 2 → action logits and the episode-cut logit, on an explicit provider."""

    def __init__(self, folder: str | os.PathLike, providers: str = "auto", intra_op_threads: int | None = None) -> None:
        from engine.learned.model import OnnxModel
        from engine.learned.runner import BoundRunner

        self.folder = Path(folder)
        path = self.folder / "inverse.json"
        c = read_contract(self.folder, "inverse", KIND, {"size": list, "agents": dict, "num_actions": int},
                          "worldloom distill WORLD --subsystem inverse")
        self.contract = c
        self.width, self.height = c["size"]
        self.agents: dict[str, int] = c["agents"]
        self.a, self.n = sum(self.agents.values()), c["num_actions"]
        model = OnnxModel(self.folder / "inverse.onnx", providers=providers, intra_op_threads=intra_op_threads,
                          name=f"{self.folder.name}/inverse")
        check_contract(model, [TensorSpec("frames", torch.uint8, (4, self.height, self.width, 3))],
                       [TensorSpec("logits", torch.float32, (self.a, self.n)), TensorSpec("cut", torch.float32, ())],
                       plugin=model.name, where=str(path))
        self.runner = BoundRunner(model)
        self.provider = model.provider
        log.info("inverse model %s runs on %s", self.folder.name, model.provider)

    def __call__(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[N, 4, H, W, 3]`` uint8 → logits ``[N, A, n]`` and the cut logit ``[N]``."""
        out = self.runner.run({"frames": frames.contiguous()})
        return out["logits"].clone(), out["cut"].clone()
