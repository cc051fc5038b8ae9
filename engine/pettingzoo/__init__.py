"""PettingZoo environments over one world: ``parallel_env``, ``env`` (AEC, wrapped) and ``raw_env``.

The module follows PettingZoo's environment-module convention, so code written for a PettingZoo
module (``from pettingzoo.mpe import simple_tag_v3``) takes ``engine.pettingzoo`` with a world as the
first argument: ``parallel_env(world, **kw)`` is the ``ParallelEnv``; ``env(world, **kw)`` the AEC env
with PettingZoo's usual wrappers; ``raw_env(world, **kw)`` the AEC env without the checking wrappers.
Keywords: those of ``engine.make`` (``device``, ``seed``, ``overrides``, ``compile``, ``threads``,
``trust``, ``action_check``; ``num_worlds`` must stay 1) plus ``render_mode`` (``"human"``: a window;
``"rgb_array"``: ``[H, W, 3]`` uint8 frames) and ``max_cycles`` (the episode length, default the
world's ``episode.max_steps``).

Fast by default: the tick is compiled (``compile=True``; the first ``step`` of a process pays the
compile, ``reset`` does not, and the on-disk cache makes later processes start fast) and torch runs
one intra-op thread (``threads=1``: one world is dispatch-bound). ``threads`` sets torch's thread
count for the whole process (``torch.set_num_threads``); pass ``threads=None`` to leave it alone,
``compile=False`` for an eager tick that starts at once.

Agents are ``<group>_<i>`` for every agent of the *external* groups (groups driven by a system or
plugin in the world file act by themselves and are not PettingZoo agents); observations are float32
vectors, actions ints in 0..4 (discrete) or 5 floats in [0, 1] (continuous). A group whose actions a
world masks (``app.add_action_mask``) observes ``{"observation": Box, "action_mask": int8 [n]}``, as
PettingZoo's own masked envs do.

PettingZoo semantics on top of the Sim's:

* No autoreset. When the Sim ends an episode it has already started the next one; this env returns
  ``info["final_observation"]`` as the observation of that last step, empties ``agents`` and waits for
  ``reset()``; ``step`` with no live agent returns five empty dicts.
* Agent death. An agent whose entity dies is reported ``terminated=True`` once and removed from
  ``agents``; it is never revived within the episode, even if the world respawns its entity (PettingZoo
  forbids revival). Slots that start dead (``capacity > count``) are not in ``agents`` at reset.
* ``state()`` is the global state for centralised critics: positions, velocities and alive flags of
  every entity (``engine.train.state.global_state``), with ``state_space`` to match.

Example:
    >>> from engine.pettingzoo import env, parallel_env
    >>> par = parallel_env("tag", compile=False, overrides={"systems": [{"scripted_flee": {"agents": "prey",
    ...                    "threat": ["adversary"]}}, "physics"]})
    >>> obs, infos = par.reset(seed=0)
    >>> par.agents
    ['adversary_0', 'adversary_1', 'adversary_2']
    >>> obs, rewards, terminations, truncations, infos = par.step({a: 2 for a in par.agents})
    >>> obs["adversary_0"].shape, par.state().shape
    ((16,), (30,))
    >>> aec = env("tag", compile=False, max_cycles=3)
    >>> aec.reset(seed=0)
    >>> for agent in aec.agent_iter():
    ...     observation, reward, termination, truncation, info = aec.last()
    ...     aec.step(None if termination or truncation else aec.action_space(agent).sample())
    >>> aec.agents
    []
"""

from __future__ import annotations

import os
from typing import Any

from .parallel import RENDER_MODES, WorldParallelEnv

__all__ = ["RENDER_MODES", "WorldParallelEnv", "env", "parallel_env", "raw_env"]


def parallel_env(world: str | os.PathLike, render_mode: str | None = None, max_cycles: int | None = None,
                 **kw: Any) -> WorldParallelEnv:
    """A PettingZoo ``ParallelEnv`` of one copy of ``world``; keyword arguments as ``engine.make``
    plus ``render_mode`` and ``max_cycles`` (see the module's docstring)."""
    return WorldParallelEnv(world, render_mode=render_mode, max_cycles=max_cycles, **kw)


def raw_env(world: str | os.PathLike, render_mode: str | None = None, max_cycles: int | None = None,
            **kw: Any):
    """The AEC env of ``world``: ``parallel_env`` through PettingZoo's ``parallel_to_aec`` (agents act in
    turn; the world ticks once the last live agent has acted), without the out-of-bounds wrapper."""
    from pettingzoo.utils.conversions import parallel_to_aec

    return parallel_to_aec(parallel_env(world, render_mode=render_mode, max_cycles=max_cycles, **kw))


def env(world: str | os.PathLike, render_mode: str | None = None, max_cycles: int | None = None, **kw: Any):
    """The AEC env of ``world`` with PettingZoo's usual wrappers: out-of-bounds actions are clipped when
    every action space is continuous, refused (an assertion) otherwise; calls out of order are errors."""
    from gymnasium import spaces
    from pettingzoo.utils import wrappers

    aec = raw_env(world, render_mode=render_mode, max_cycles=max_cycles, **kw)
    if aec.possible_agents and all(isinstance(aec.action_space(a), spaces.Box) for a in aec.possible_agents):
        aec = wrappers.ClipOutOfBoundsWrapper(aec)
    else:
        aec = wrappers.AssertOutOfBoundsWrapper(aec)
    return wrappers.OrderEnforcingWrapper(aec)
