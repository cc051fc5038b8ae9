"""``OnnxWorldModel``: a pixel world model folder (encoder, latent dynamics, decoder) run by ONNX Runtime.

The folder is what ``worldloom distill WORLD --subsystem world-model`` writes. Each of its three models
is checked against the contract of its kind before anything runs — the frame size, latent width,
agents and actions its ``.json`` states — so a model from another world or a hand-edited file fails
with the model, the tensor, what was expected and what it has. Reading the folder runs no code: the
contracts are JSON, the models ONNX.

Example:
    >>> m = OnnxWorldModel("plugins/tag_world_model", providers="cpu")
    >>> latent = m.encode(frames)               # [N, 2, 64, 64, 3] uint8 → [N, 24]
    >>> frame = m.decode(m.step(latent, action))  # action [N, 4, 5] → [N, 64, 64, 3] in 0..1
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError
from engine.learned.contract import TensorSpec, check_contract
from engine.learned.folder_contract import read_contract

log = logging.getLogger(__name__)

#: the three kinds of a world-model folder, in the order they run
KINDS = ("encoder", "latent_dynamics", "decoder")


def _contract(folder: Path, kind: str) -> dict[str, Any]:
    return read_contract(folder, kind, kind, {"slots": int, "size": list, "agents": dict, "num_actions": int,
                                              "latent": int}, "worldloom distill WORLD --subsystem world-model")


class OnnxWorldModel:
    """Encode, step and decode with the three ONNX models of ``folder`` on an explicit provider."""

    def __init__(self, folder: str | os.PathLike, providers: str = "auto", intra_op_threads: int | None = None) -> None:
        from engine.learned.model import OnnxModel
        from engine.learned.runner import BoundRunner

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise UserError(f"{self.folder}: no such folder; expected a world-model folder written by "
                            "`worldloom distill WORLD --subsystem world-model`")
        cs = {k: _contract(self.folder, k) for k in KINDS}
        c = cs["encoder"]
        for k in KINDS[1:]:
            for key in ("slots", "size", "agents", "num_actions", "latent"):
                if cs[k][key] != c[key]:
                    raise UserError(f"{self.folder}/{k}.json: {key} {cs[k][key]!r} differs from encoder.json's "
                                    f"{c[key]!r}: the three models come from different runs")
        self.contract = c
        self.slots, self.latent_size = c["slots"], c["latent"]
        self.width, self.height = c["size"]
        self.agents: dict[str, int] = c["agents"]
        self.num_agents, self.num_actions = sum(self.agents.values()), c["num_actions"]
        self.background = torch.tensor(c.get("background", [1.0, 1.0, 1.0]), dtype=torch.float32)
        expected = {
            "encoder": ([TensorSpec("frames", torch.uint8, (2, self.height, self.width, 3))],
                        [TensorSpec("latent", torch.float32, (self.latent_size,))]),
            "latent_dynamics": ([TensorSpec("latent", torch.float32, (self.latent_size,)),
                                 TensorSpec("action", torch.float32, (self.num_agents, self.num_actions))],
                                [TensorSpec("next_latent", torch.float32, (self.latent_size,))]),
            "decoder": ([TensorSpec("latent", torch.float32, (self.latent_size,))],
                        [TensorSpec("frame", torch.float32, (self.height, self.width, 3))]),
        }
        self.runners = {}
        self.providers: dict[str, str] = {}
        for kind in KINDS:
            model = OnnxModel(self.folder / f"{kind}.onnx", providers=providers, intra_op_threads=intra_op_threads,
                              name=f"{self.folder.name}/{kind}")
            check_contract(model, *expected[kind], plugin=model.name, where=str(self.folder / f"{kind}.json"))
            self.runners[kind] = BoundRunner(model)
            self.providers[kind] = model.provider
            log.info("world model %s: %s runs on %s", self.folder.name, kind, model.provider)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """``[N, 2, H, W, 3]`` uint8 frames t − 1, t → ``[N, D]`` the latent at t − 1 (moving to t)."""
        return self.runners["encoder"].run({"frames": frames.contiguous()})["latent"].clone()

    def step(self, latent: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` and the joint action ``[N, A, n]`` → the latent one step later."""
        return self.runners["latent_dynamics"].run({"latent": latent.float().contiguous(),
                                                    "action": action.float().contiguous()})["next_latent"].clone()

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` → ``[N, H, W, 3]`` frames in 0..1."""
        return self.runners["decoder"].run({"latent": latent.float().contiguous()})["frame"].clone()
