"""World 0 and a pixel world model's dream of it, side by side, on the same joint actions.

``worldloom record WORLD --dream DIR --video F`` films it headless: each step the real world advances
(its controllers, or random actions for external groups) and the dream's latent is stepped by the joint
action world 0 really applied, then decoded. The dream starts from the first real frame of each episode
(encoded as a still pair: tag's entities spawn at rest) and runs open loop until the episode ends
(:class:`~engine.views.dream.Dream`).
"""

from __future__ import annotations

import os
from collections import defaultdict

import numpy as np

#: each 64 × 64 frame is shown at this many screen pixels per model pixel
SCALE = 4


class DreamFilm:
    """Films ``sim``'s world 0 beside a :class:`~engine.views.dream.Dream` of it, side by side."""

    def __init__(self, sim, folder: str | os.PathLike) -> None:
        from engine.views.dream import Dream

        self.dream = Dream(sim, folder)
        self.psnr: dict[int, list[float]] = defaultdict(list)  # steps since the anchor → PSNR of world 0

    def start(self) -> np.ndarray:
        """After ``sim.reset``: anchor on the first frame; the side-by-side image."""
        self.dream.start()
        return side_by_side(self.dream.real, self.dream.real)

    def after_step(self) -> np.ndarray:
        """After ``sim.step``: advance the dream by world 0's applied action; the side-by-side image."""
        d = self.dream
        d.after_step()
        if d.since:  # 0: an episode started over (autoreset) and the dream with it
            self.psnr[d.since].append(d.psnr)
        return side_by_side(d.real, d.dream)

    def summary(self) -> str:
        shown = [k for k in (1, 10, 25, 50) if self.psnr.get(k)]
        return ", ".join(f"step {k}: {np.mean(self.psnr[k]):.1f} dB" for k in shown)


def side_by_side(real: np.ndarray, dream: np.ndarray) -> np.ndarray:
    """``[H·SCALE, 2·W·SCALE + SCALE, 3]``: the real frame, a grey bar, the dream (nearest-neighbour scaled)."""
    up = [np.kron(img, np.ones((SCALE, SCALE, 1), np.uint8)) for img in (real, dream)]
    bar = np.full((up[0].shape[0], SCALE, 3), 128, np.uint8)
    return np.concatenate([up[0], bar, up[1]], 1)
