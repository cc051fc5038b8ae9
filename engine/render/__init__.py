"""Rendering: batched entity state to pixels with moderngl, headless (EGL) or in a window.

Importing this package loads no GL library: moderngl, glfw, PIL and imageio are imported only when a
context is created or something is drawn or written, so training code never needs a display.

>>> from engine.render import Frame, Renderer, RenderStyle, create_headless_context
>>> renderer = Renderer(create_headless_context(), RenderStyle(width=64, height=64))
>>> renderer.render(Frame(pos=[[[0.0, 0.0]]], radius=[[0.5]], color=[[[0, 1, 0]]])).shape
(64, 64, 3)
"""

from .frame import SHAPE_CIRCLE, SHAPE_SQUARE, Frame, agent_cameras
from .offscreen import GLUnavailableError, create_headless_context
from .renderer import Renderer
from .resources import load_program, shader_dir
from .sim_view import SimView, fit_camera
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
    "SimView",
    "TextRenderer",
    "VideoWriter",
    "agent_cameras",
    "create_headless_context",
    "fit_camera",
    "load_program",
    "shader_dir",
]
