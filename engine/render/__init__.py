"""Rendering: batched entity state to pixels with moderngl, headless (EGL) or in a window.

This package draws plain arrays (:class:`Frame`) and knows nothing of the simulation: it imports no
``engine.sim``/``engine.world``/… module. Drawing a Sim, pixel observations and the interactive player
live one layer up, in :mod:`engine.views`.

Importing this package loads no GL library: moderngl, glfw, PIL and imageio are imported only when a
context is created or something is drawn or written, so training code never needs a display.

>>> from engine.render import Frame, Renderer, RenderStyle, create_headless_context
>>> renderer = Renderer(create_headless_context(), RenderStyle(width=64, height=64))
>>> renderer.render(Frame(pos=[[[0.0, 0.0]]], radius=[[0.5]], color=[[[0, 1, 0]]])).shape
(64, 64, 3)
"""

from .frame import SHAPE_CIRCLE, SHAPE_SQUARE, Frame, agent_cameras, fit_camera, wall_rects
from .offscreen import GLUnavailableError, create_headless_context
from .renderer import Renderer
from .resources import load_program, shader_dir
from .style import RenderStyle
from .text import TextRenderer
from .video import VideoWriter

__all__ = [
    "SHAPE_CIRCLE",
    "SHAPE_SQUARE",
    "Frame",
    "GLUnavailableError",
    "RenderStyle",
    "Renderer",
    "TextRenderer",
    "VideoWriter",
    "agent_cameras",
    "create_headless_context",
    "fit_camera",
    "load_program",
    "shader_dir",
    "wall_rects",
]
