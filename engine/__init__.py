"""worldloom's runtime: batched ECS worlds from YAML, stepped as tensors.

    >>> import engine
    >>> sim = engine.make("tag", num_worlds=1024)
    >>> obs, info = sim.reset(seed=0)

The public names: ``make``, ``Sim``, ``load_world``, ``WorldError``, ``UserError``.
"""

from engine.errors import UserError, WorldError
from engine.sim import Sim, Snapshot, make
from engine.world.loader import load_world

__all__ = ["make", "Sim", "Snapshot", "load_world", "WorldError", "UserError", "__version__"]
__version__ = "0.1.0"
