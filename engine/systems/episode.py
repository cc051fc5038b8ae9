"""The start and end of every tick: ``alive_before``, then observations, rewards and termination.

They are declared systems like any other (stages ``start`` and ``finish``), so the runner treats
them generically and a compiled tick fuses them with the world's systems into one call.
"""

from __future__ import annotations

import torch

from engine.core.random import advance_counter
from engine.core.system import SystemDecl
from engine.systems.physics import movable_entities


def observe(plan, state: dict) -> None:
    """Compute every group's observation ``[B, A, F]`` from the state, in place."""
    mortal = plan.env.mortal_types
    for g in plan.groups.values():
        parts = [fn(state) for fn in g.obs_fns]
        if len(parts) > 1:
            obs = torch.cat(parts, dim=-1)
        elif parts:
            obs = parts[0]
        else:
            obs = state["pos"].new_zeros(state["pos"].shape[0], g.size, 0)
        if g.slice.name in mortal:
            obs = obs * state["alive"][:, g.sl].unsqueeze(-1).to(obs.dtype)
        state[g.obs_key] = obs


def _rewards(g, state: dict, alive_before: torch.Tensor, mortal: bool) -> torch.Tensor:
    rew = None
    for fn in g.reward_fns:
        r = fn(state, alive_before)
        rew = r if rew is None else rew + r
    before = alive_before[:, g.sl]
    if rew is None:
        rew = torch.zeros(before.shape, dtype=state["pos"].dtype, device=before.device)
    return rew * before.to(rew.dtype) if mortal else rew


NONFINITE = "event.nonfinite"


def _nonfinite_worlds(state: dict, groups: list, movers: torch.Tensor | None = None) -> torch.Tensor:
    """``[B]`` bool: worlds whose positions, velocities or rewards are NaN or infinite after this tick.

    ``movers``: only these entities' positions and velocities are checked — the types declared movable;
    the others never move (a rule may not make them), and what rules place is checked finite at load."""
    pos, vel = (state["pos"], state["vel"]) if movers is None else (state["pos"][:, movers], state["vel"][:, movers])
    ok = torch.isfinite(pos).flatten(1).all(1) & torch.isfinite(vel).flatten(1).all(1)
    for g in groups:
        ok = ok & torch.isfinite(state[g.reward_key]).all(1)
    return ~ok


def make_finish(plan):
    """Observations, rewards, per-agent termination, truncation, episode returns; the tick and RNG counters.

    With ``world.on_nonfinite`` ``reset`` (default) or ``raise``, a world whose state became NaN/inf is
    reported (``info["events"]["nonfinite"]``, per world) and ended this tick, so it resets instead of
    poisoning a training run; ``raise`` then stops the run with a user error (``install_episode``).
    """
    spec = plan.spec
    max_steps, all_dead = spec.episode.max_steps, spec.episode.end_when == "all_agents_dead"
    groups = list(plan.groups.values())
    mortal = plan.env.mortal_types
    guard = getattr(spec.world, "on_nonfinite", "reset") != "ignore"
    movers = movable_entities(plan.env)
    check_actions = "action_error" in plan.state
    end_flags = list(plan.env.end_flags)
    timers = list(plan.env.respawn_timers)

    def finish(state: dict) -> None:
        state["tick"] = state["tick"] + 1
        advance_counter(state)
        observe(plan, state)
        alive, alive_before = state["alive"], state["alive_before"]
        truncated = state["tick"] >= max_steps
        if all_dead and groups:
            world_term = ~torch.stack([alive[:, g.sl].any(1) for g in groups], 0).any(0)
        else:
            world_term = torch.zeros_like(truncated)
        for key in end_flags:
            world_term = world_term | state[key]
        for g in groups:
            state[g.reward_key] = _rewards(g, state, alive_before, g.slice.name in mortal)
        if guard:
            bad = _nonfinite_worlds(state, groups, movers)
            state[NONFINITE] = bad
            world_term = world_term | bad
        for g in groups:
            rew = state[g.reward_key]
            state[g.return_key] = state[g.return_key] + rew
            gone = ~alive[:, g.sl]
            for key in timers:  # removed for a while (zapped), not out of the episode
                gone = gone & (state[key][:, g.sl] == 0)
            state[g.terminated_key] = gone | world_term.unsqueeze(1)
            state[g.truncated_key] = truncated.unsqueeze(1).expand_as(rew)
        state["done"] = world_term | truncated
        any_done = state["done"].any()
        if check_actions:  # a bad action makes the Sim look at this tick (it raises or ignores, by mode)
            any_done = any_done | state["action_error"]
        state["any_done"] = any_done

    return finish


def _start(state: dict) -> None:
    state["alive_before"] = state["alive"]


def _raise_on_nonfinite(state: dict) -> None:
    from engine.errors import UserError

    bad = state[NONFINITE]
    if bool(bad.any()):
        worlds = bad.nonzero().flatten().tolist()
        raise UserError(f"the state of world(s) {worlds[:8]} became NaN or infinite at tick "
                        f"{int(state['tick'][worlds[0]])} (positions, velocities or rewards): a constant too "
                        "large, a user system or a learned plugin produced it; set world.on_nonfinite: reset "
                        "to end such worlds and keep going, or find the cause with worldloom run --eager")


def install_episode(app, plan) -> None:
    """Add the ``start`` and ``finish`` systems, the observation derive hook and the non-finite guard."""
    from engine.core.state import StateDecl

    mode = getattr(plan.spec.world, "on_nonfinite", "reset")
    if mode != "ignore":
        app.add_state(StateDecl(NONFINITE, "world", (), "bool", False, reset="keep", owner="tick",
                                event="nonfinite", doc="the world's state became NaN/inf this tick (it ends)"))
    if mode == "raise":
        app.add_after_episode_end(_raise_on_nonfinite)
    app.add_system(SystemDecl("tick_start", _start, reads=("alive",), writes=("alive_before",), stage="start"))
    app.add_system(SystemDecl("observations+rewards+termination", make_finish(plan), stage="finish"))
    app.add_derive_hook(lambda state: observe(plan, state))
