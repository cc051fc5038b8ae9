"""Everything a user needs to extend worldloom: declare state, write systems, terms and extensions.

    >>> from engine.extend import StateDecl, system, Random
    >>> @system(state=[StateDecl("age", "entity", (), "float", 0.0, owner="aging")], writes=["age"])
    ... def aging(state):
    ...     state["age"] = state["age"] + 1.0
    >>> aging.writes
    ('age',)

See docs/extending.md for the state dict, the App (``build(app)``), stages and the trust policy.
"""

from engine.core.actions import ActionSpace
from engine.core.app import App
from engine.core.kinds import ObservationKind, PluginKind, RewardKind, SystemKind, observation, reward, system
from engine.core.random import Random
from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.errors import UserCodeError, UserError

__all__ = ["ActionSpace", "App", "ObservationKind", "PluginKind", "Random", "RewardKind", "StateDecl", "SystemDecl",
           "SystemKind", "UserCodeError", "UserError", "observation", "reward", "system"]
