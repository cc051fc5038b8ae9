"""A pixel world model dreaming beside a running Sim: world 0's frames, the dream's frames, the PSNR between.

Both ``worldloom play WORLD --dream DIR`` and ``worldloom record WORLD --dream DIR --video F`` use it.
The real world runs as usual — its controllers (keyboard, policies, scripts, random) choose the actions —
and after each tick the dream's latent is stepped by the joint action world 0 *applied* (read back from
``action.<group>``), so both sides see identical actions by construction. The dream is anchored on a real
frame pair (frames t−1, t: the encoder reads motion from two frames): at the start of each episode (a
still pair: tag's entities spawn at rest) and whenever the player asks (:meth:`Dream.reanchor`); in
between it runs open loop, so the PSNR against the real frame measures compounding error live.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from engine.errors import UserError


class Dream:
    """Steps a pixel world model (a folder from ``worldloom distill --subsystem world-model``) beside ``sim``.

    ``real`` and ``dream`` are the latest ``[H, W, 3]`` uint8 frames at the model's size, ``since`` the
    steps since the last anchor and ``psnr`` the PSNR between the two frames (at ``since`` 0 it measures
    the encoder and decoder alone).
    """

    def __init__(self, sim, folder: str | os.PathLike, *, intra_op_threads: int = 1, ctx=None) -> None:
        from engine.learned.world_model import OnnxWorldModel
        from engine.views.sim_view import SimView

        self.sim, self.folder = sim, folder
        self.model = OnnxWorldModel(folder, providers="cpu", intra_op_threads=intra_op_threads)
        groups = {g: p.size for g, p in sim.groups.items()}
        if groups != self.model.agents:
            raise UserError(f"--dream {folder}: the model was trained on agents {self.model.agents}, this world has "
                            f"{groups}; use it with the world it learned")
        self.sizes = {g: p.action_space.n for g, p in sim.groups.items()}
        if max(self.sizes.values()) > self.model.num_actions:
            raise UserError(f"--dream {folder}: the model takes {self.model.num_actions} values per action, this "
                            f"world's actions have {max(self.sizes.values())}")
        self.view = SimView(sim, size=(self.model.width, self.model.height), ctx=ctx)
        self.latent: torch.Tensor | None = None
        self.real = self.previous = self.dream = None
        self.since, self.psnr = 0, float("nan")

    def _render_real(self) -> np.ndarray:
        return self.view.render(0).copy()

    def start(self) -> None:
        """A new episode (after ``sim.reset``): anchor on the first frame, as a still pair."""
        self.real = self._render_real()
        self.previous = None
        self._anchor(self.real, self.real)

    def reanchor(self) -> None:
        """Re-encode the dream from the last two real frames (the last one twice right after a reset)."""
        self.real = self._render_real()
        self._anchor(self.previous if self.previous is not None else self.real, self.real)

    def _anchor(self, previous: np.ndarray, current: np.ndarray) -> None:
        pair = torch.from_numpy(np.stack([previous, current]))[None]
        self.latent, self.since = self.model.encode(pair), 0
        self.dream = self._decode()
        self.psnr = self._psnr()

    def _decode(self) -> np.ndarray:
        return (self.model.decode(self.latent)[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()

    def _psnr(self) -> float:
        from engine.views.play.panels import psnr

        return psnr(self.dream, self.real)

    def _joint_action(self) -> torch.Tensor:
        from engine.distill.world_model import joint_action

        arrays = {f"action.{g}": self.sim.state[f"action.{g}"][:1].cpu().numpy()[None] for g in self.sizes}
        return torch.from_numpy(joint_action(arrays, self.model.agents, self.sizes))[0]

    def after_step(self) -> None:
        """After ``sim.step``: advance the dream by world 0's applied joint action; compare with the real frame.

        When world 0's episode ended in that step, the frame it reached was replaced by the next
        episode's first (autoreset): nothing is compared and the dream starts over from that frame.
        """
        if int(self.sim.state["tick"][0]) == 0:
            self.start()
            return
        self.latent = self.model.step(self.latent, self._joint_action())
        self.since += 1
        self.previous, self.real = self.real, self._render_real()
        self.dream = self._decode()
        self.psnr = self._psnr()

    def release(self) -> None:
        """Free the GL objects of the model-size view."""
        self.view.release()
