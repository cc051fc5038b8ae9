"""The ``pixels`` observation term: batched image observations rendered with OpenGL.

It lives in :mod:`engine.views` (above both the simulation and :mod:`engine.render`): the Sim builds a
:class:`PixelObserver`, which turns its state into :class:`~engine.render.Frame` arrays for the renderer.

Unlike the vector terms, pixels are not part of ``obs.<group>``: after each tick every pixel group's
images go to ``obs["<group>/pixels"]``, a ``[B, A, H, W, 3]`` uint8 tensor. All B worlds × A agents
of all pixel groups are tiles of one framebuffer (one per distinct tile size), drawn with one
instanced call per shape type and read back once, so the cost grows with pixels, not with Python
calls.

A world that asks for pixels needs a GL context. Without one, building the Sim fails with a
``UserError`` that names the world, the group and the packages to install: headless must never
change semantics by silently returning blank images.

World file::

    agents:
      prey:
        observation:
          - self_pos
          - pixels: {size: [64, 64], view: agent, half_extent: 0.5}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from engine.errors import UserError
from engine.world.validation import fld

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.sim import Sim

#: State entries whose tensors (identity + in-place version) decide whether a cached render is current.
_CACHE_KEYS = ("pos", "radius", "color", "alive", "tick")


@dataclass(kw_only=True)
class PixelParams:
    """Parameters of the ``pixels`` observation term (one image per agent, RGB uint8).

    ``view: agent`` centres each agent's camera on itself and shows ``half_extent`` world units to
    the nearer image edge; ``view: global`` shows the whole arena (the same image for every agent of
    a world).
    """

    size: list[int] = fld(factory=lambda: [64, 64], ge=4, le=2048, min_items=2, max_items=2,
                          doc="Height, width of each agent's image in pixels.")
    view: Literal["agent", "global"] = fld("agent", doc="agent: camera centred on the agent; global: the "
                                                        "whole arena.")
    half_extent: float = fld(0.5, gt=0, le=1e6, doc="agent view: world units from the agent to the nearer "
                                                    "image edge (ignored by the global view).")


@dataclass
class _PixelGroup:
    """One pixel group resolved against the layout: where its agents live and how it is viewed."""

    name: str
    key: str
    agents: np.ndarray  # [A] entity slots
    params: PixelParams

    @property
    def hw(self) -> tuple[int, int]:
        return int(self.params.size[0]), int(self.params.size[1])


class PixelObserver:
    """Renders every pixel-observing agent group of a Sim into ``{"<group>/pixels": [B, A, H, W, 3]}``.

    Created by ``Sim.__init__`` when a group has a ``pixels`` term; it makes its own headless EGL
    context at once so a missing GL stack fails at construction, not at the first observation.
    ``observe`` renders at most once per state: asking again for the same state returns the cached
    tensors.

    >>> import engine
    >>> sim = engine.make("tests/render/pixels_world.yaml", num_worlds=2)
    >>> obs, _ = sim.reset()
    >>> obs["scout/pixels"].shape, obs["scout/pixels"].dtype
    (torch.Size([2, 2, 32, 32, 3]), torch.uint8)
    """

    def __init__(self, sim: Sim) -> None:
        from engine.render import GLUnavailableError, Renderer, RenderStyle, create_headless_context
        from engine.views.colors import color_by, wall_frame_rects, zone_frame_parts
        from engine.views.sim_view import shape_ids

        spec = sim.plan.spec
        self.device = sim.device
        self.groups = [_PixelGroup(g.name, f"{g.name}/pixels", np.arange(g.slice.start, g.slice.stop), g.pixels)
                       for g in sim.groups.values() if g.pixels is not None]
        if not self.groups:
            raise ValueError("PixelObserver: no agent group of this world has a pixels observation term")
        try:
            self.ctx = create_headless_context()
        except GLUnavailableError as exc:
            names = ", ".join(repr(g.name) for g in self.groups)
            raise UserError(
                f"world {spec.name!r} ({sim.plan.loaded.path}): agent group {names} observes `pixels`, which "
                f"are rendered with OpenGL, but no headless OpenGL context could be created. {exc} "
                "(Pixel observations are never replaced by blank images; remove the pixels term to run "
                "without GL.)") from exc
        self.renderer = Renderer(self.ctx, RenderStyle(background=tuple(float(c) for c in spec.render.background)))
        self.shapes = shape_ids(sim)
        self._colors = color_by(sim)
        self._walls = wall_frame_rects(sim)
        self._zones = zone_frame_parts(sim)
        self.arena = list(spec.world.arena)
        # Groups sharing a tile size share one framebuffer (one draw per shape, one read-back).
        self._by_size: dict[tuple[int, int], list[_PixelGroup]] = {}
        for g in self.groups:
            self._by_size.setdefault(g.hw, []).append(g)
        self._cache_key: tuple | None = None
        self._cache: dict[str, torch.Tensor] = {}
        self.renders = 0  # how many times the tiles were actually drawn (tests check the cache)

    def shapes_by_key(self) -> dict[str, tuple[int, int, int, int]]:
        """``{"<group>/pixels": (A, H, W, 3)}``: per-world observation shapes (for spaces)."""
        return {g.key: (g.agents.size, *g.hw, 3) for g in self.groups}

    def observe(self, state: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Pixel observations of ``state``: ``{"<group>/pixels": uint8 [B, A, H, W, 3]}`` on the Sim's device.

        The returned tensors are fresh (never overwritten by a later call), so they can be stored.
        """
        key = tuple((state[k], id(state[k]), getattr(state[k], "_version", 0)) for k in _CACHE_KEYS)
        if self._cache_key is not None and all(a[0] is b[0] and a[2] == b[2] for a, b in zip(key, self._cache_key)):
            return dict(self._cache)
        self._cache = self._render(state)
        self._cache_key = key
        self.renders += 1
        return dict(self._cache)

    def release(self) -> None:
        """Free the renderer and the GL context."""
        self.renderer.release()
        self.ctx.release()

    # ------------------------------------------------------------------------------------ internals
    def _render(self, state: dict[str, Any]) -> dict[str, torch.Tensor]:
        import torch

        from engine.render import Frame, agent_cameras, fit_camera

        color = self._colors(state) if self._colors is not None else state["color"]
        frame = Frame(pos=state["pos"], radius=state["radius"], color=color, alive=state["alive"],
                      shape=self.shapes, walls=self._walls, zones=self._zones)
        b = frame.num_worlds
        out: dict[str, torch.Tensor] = {}
        for (h, w), groups in self._by_size.items():
            cams, worlds, spans = [], [], []
            for g in groups:
                if g.params.view == "agent":
                    c = agent_cameras(frame.pos, g.agents, g.params.half_extent).reshape(-1, 3)
                    wot = np.repeat(np.arange(b, dtype=np.int64), g.agents.size)
                else:  # one tile per world, shared by the world's agents
                    c = np.tile(np.asarray(fit_camera(self.arena, w, h), np.float32), (b, 1))
                    wot = np.arange(b, dtype=np.int64)
                spans.append((g, sum(x.shape[0] for x in cams), c.shape[0]))
                cams.append(c)
                worlds.append(wot)
            tiles = self.renderer.render_tiles(frame, (h, w), np.concatenate(cams), np.concatenate(worlds))
            for g, start, count in spans:
                a = g.agents.size
                part = tiles[start:start + count]
                if g.params.view == "agent":
                    images = part.reshape(b, a, h, w, 3)
                else:
                    images = np.repeat(part[:, None], a, axis=1)  # a fresh, writable copy
                t = torch.from_numpy(images)
                out[g.key] = t if self.device.type == "cpu" else t.to(self.device)
        return out


def _pixels_term(app, group, params: PixelParams, path: tuple):
    """The ``pixels`` observation term: served as ``obs["<group>/pixels"]``, not in the flat vector."""
    if group.pixels is not None:
        raise app.ctx.error(path, "expected at most one pixels term per agent group")
    group.pixels = params
    if not any(g.pixels is not None for g in app.groups.values() if g is not group):
        app.add_observer(PixelObserver)  # one observer serves every pixel group, made with the Sim
    return 0, None


def build(app) -> None:
    """Register the ``pixels`` observation term (an extension like any other)."""
    from engine.core.kinds import ObservationKind

    app.register_observation(ObservationKind("pixels", _pixels_term, PixelParams, PixelParams.__doc__ or ""))
