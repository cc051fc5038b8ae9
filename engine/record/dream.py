"""World 0 and a pixel world model's dream of it, side by side, on the same joint actions.

``worldloom record WORLD --dream DIR --video F`` films it headless: each step the real world advances
(its controllers, or random actions for external groups) and the dream's latent is stepped by the joint
action world 0 really applied, then decoded. The dream starts from the first real frame of each episode
(encoded as a still pair: tag's entities spawn at rest) and runs open loop until the episode ends.
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np
import torch

from engine.errors import UserError

#: each 64 × 64 frame is shown at this many screen pixels per model pixel
SCALE = 4


class DreamFilm:
    """Steps a world model beside ``sim``'s world 0 and draws both frames side by side."""

    def __init__(self, sim, folder: str | os.PathLike) -> None:
        from engine.learned.world_model import OnnxWorldModel
        from engine.views.sim_view import SimView

        self.sim, self.model = sim, OnnxWorldModel(folder, providers="cpu")
        groups = {g: p.size for g, p in sim.groups.items()}
        if groups != self.model.agents:
            raise UserError(f"--dream {folder}: the model was trained on agents {self.model.agents}, this world has "
                            f"{groups}; film it with the world it learned")
        self.sizes = {g: p.action_space.n for g, p in sim.groups.items()}
        if max(self.sizes.values()) > self.model.num_actions:
            raise UserError(f"--dream {folder}: the model takes {self.model.num_actions} values per action, this "
                            f"world's actions have {max(self.sizes.values())}")
        self.view = SimView(sim, size=(self.model.width, self.model.height))
        self.psnr: dict[int, list[float]] = defaultdict(list)  # steps since the anchor → PSNR of world 0
        self.latent: torch.Tensor | None = None
        self.since = 0

    def _real(self) -> np.ndarray:
        return self.view.render_all()[0].copy()

    def _anchor(self, frame: np.ndarray) -> None:
        pair = torch.from_numpy(np.stack([frame, frame]))[None]
        self.latent, self.since = self.model.encode(pair), 0

    def _joint_action(self) -> torch.Tensor:
        from engine.distill.world_model import joint_action

        arrays = {f"action.{g}": self.sim.state[f"action.{g}"][:1].cpu().numpy()[None] for g in self.sizes}
        return torch.from_numpy(joint_action(arrays, self.model.agents, self.sizes))[0]

    def start(self) -> np.ndarray:
        """After ``sim.reset``: anchor on the first frame; the side-by-side image."""
        real = self._real()
        self._anchor(real)
        return side_by_side(real, real)

    def after_step(self) -> np.ndarray:
        """After ``sim.step``: advance the dream by world 0's applied action; the side-by-side image."""
        from engine.distill.pixel_metrics import psnr

        self.latent = self.model.step(self.latent, self._joint_action())
        self.since += 1
        real = self._real()
        dream = (self.model.decode(self.latent)[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        self.psnr[self.since].append(float(psnr(torch.from_numpy(dream)[None] / 255.0,
                                                torch.from_numpy(real)[None] / 255.0)[0]))
        if int(self.sim.state["tick"][0]) == 0:  # world 0 started a new episode: the dream starts over
            self._anchor(real)
        return side_by_side(real, dream)

    def summary(self) -> str:
        shown = [k for k in (1, 10, 25, 50) if self.psnr.get(k)]
        return ", ".join(f"step {k}: {np.mean(self.psnr[k]):.1f} dB" for k in shown)


def side_by_side(real: np.ndarray, dream: np.ndarray) -> np.ndarray:
    """``[H·SCALE, 2·W·SCALE + SCALE, 3]``: the real frame, a grey bar, the dream (nearest-neighbour scaled)."""
    up = [np.kron(img, np.ones((SCALE, SCALE, 1), np.uint8)) for img in (real, dream)]
    bar = np.full((up[0].shape[0], SCALE, 3), 128, np.uint8)
    return np.concatenate([up[0], bar, up[1]], 1)
