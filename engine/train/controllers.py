"""Who acts for an agent group from outside the Sim: ``random``, scripted heuristics, ONNX, checkpoints.

``worldloom eval --controller GROUP=SPEC`` and the ``opponents:`` of a training config share these.
A controller is a callable ``controller(sim) -> actions`` returning the group's ``[B, A]`` (discrete)
or ``[B, A, n]`` (continuous) action tensor for the Sim's current state. SPEC is one of

* ``random`` — uniform actions (seeded);
* ``scripted_chase:TYPE[,TYPE]`` / ``scripted_flee:TYPE[,TYPE]`` — the built-in heuristics of
  ``engine.systems.scripted``, run outside the tick on the same state;
* ``onnx:PATH`` — an exported policy (ONNX Runtime, CPU) on the group's observation;
* ``ckpt:PATH`` — the group's actor from a ``worldloom train`` checkpoint.

Example:
    >>> import engine
    >>> sim = engine.make("tag", num_worlds=4)
    >>> flee = make_controller("scripted_flee:adversary", sim, "prey")
    >>> obs, info = sim.reset(seed=0)
    >>> flee(sim).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.errors import UserError

Controller = Callable[[Any], torch.Tensor]
KINDS = ("random", "scripted_chase", "scripted_flee", "onnx", "ckpt")


def parse_assignment(item: str) -> tuple[str, str]:
    """``GROUP=SPEC`` → (group, spec)."""
    group, sep, spec = item.partition("=")
    if not sep or not group.strip() or not spec.strip():
        raise UserError(f"--controller: expected GROUP=SPEC (e.g. prey=scripted_flee:adversary), got {item!r}")
    return group.strip(), spec.strip()


def make_controller(spec: str, sim, group: str, generator: torch.Generator | None = None,
                    deterministic: bool = True) -> Controller:
    """Build the controller SPEC for ``group`` of ``sim`` (see the module docstring)."""
    if group not in sim.groups:
        raise UserError(f"unknown agent group {group!r}; this world has: {', '.join(sim.groups)}")
    if group in sim.controlled_by:
        raise UserError(f"agent group {group!r} is controlled by {sim.controlled_by[group]!r} in the world file; "
                        f"controllers can drive only: {', '.join(sim.external_groups) or '(none)'}")
    kind, _, arg = spec.partition(":")
    kind = kind.strip()
    if kind == "random":
        return _random(sim, group, generator)
    if kind in ("scripted_chase", "scripted_flee"):
        return _scripted(kind, arg, sim, group)
    if kind == "onnx":
        return _onnx(arg, sim, group, deterministic, generator)
    if kind == "ckpt":
        return _ckpt(arg, sim, group, deterministic, generator)
    import difflib

    close = difflib.get_close_matches(kind, KINDS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"controller {spec!r} for {group!r}: unknown kind {kind!r}{hint}; expected random, "
                    "scripted_chase:TYPES, scripted_flee:TYPES, onnx:PATH or ckpt:PATH")


def _random(sim, group: str, generator: torch.Generator | None) -> Controller:
    g = sim.groups[group]
    gen = generator

    def random_actions(sim) -> torch.Tensor:
        return g.action_space.sample((sim.num_worlds, g.size), gen, torch.float32, sim.device)

    return random_actions


def _scripted(kind: str, arg: str, sim, group: str) -> Controller:
    from engine.systems.scripted import ChaseParams, FleeParams, make_chase, make_flee

    types = [t.strip() for t in arg.split(",") if t.strip()]
    if not types:
        raise UserError(f"{kind}: expected entity types after the colon, e.g. {kind}:"
                        f"{next(iter(sim.layout.types))}")
    unknown = [t for t in types if t not in sim.layout.types]
    if unknown:
        raise UserError(f"{kind}:{arg}: unknown entity type(s) {', '.join(unknown)}; this world has: "
                        f"{', '.join(sim.layout.types)}")
    env = sim.plan.env
    path = ("controller", group)
    fn = (make_chase(env, ChaseParams(agents=group, target=types), path) if kind == "scripted_chase"
          else make_flee(env, FleeParams(agents=group, threat=types), path))
    key = sim.groups[group].action_key

    def scripted(sim) -> torch.Tensor:
        st = dict(sim.state)  # the heuristic writes into a shallow copy; the Sim's state is untouched
        fn(st)
        return st[key]

    return scripted


def _check_file(kind: str, arg: str) -> Path:
    p = Path(arg)
    if not arg or not p.is_file():
        raise UserError(f"{kind}:{arg}: file not found")
    return p


def _onnx(arg: str, sim, group: str, deterministic: bool, generator: torch.Generator | None) -> Controller:
    import numpy as np

    from engine.learned.providers import CPU, create_session

    path = _check_file("onnx", arg)
    g = sim.groups[group]
    try:
        session, _ = create_session(path, [CPU], name=f"{group} controller")
    except Exception as e:  # ORT raises its own exception types for unreadable models
        raise UserError(f"onnx:{arg}: cannot load the model: {e}") from None
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    feat = inp.shape[-1] if inp.shape else None
    if isinstance(feat, int) and feat != g.obs_size:
        raise UserError(f"onnx:{arg}: the model's input {inp.name!r} has {feat} features but {group!r} observes "
                        f"{g.obs_size}; expected a policy exported for this group")
    discrete = g.action_type == "discrete"

    def onnx_policy(sim) -> torch.Tensor:
        obs = sim.state[g.obs_key]
        B, A, F = obs.shape
        x = obs.reshape(B * A, F).detach().cpu().numpy().astype(np.float32, copy=False)
        y = torch.from_numpy(session.run([out.name], {inp.name: x})[0]).to(sim.device).reshape(B, A, -1)
        if discrete:
            return _pick(_masked(sim, group, y), deterministic, generator)
        return y.clamp(g.action_space.low, g.action_space.high)

    return onnx_policy


def _masked(sim, group: str, logits: torch.Tensor) -> torch.Tensor:
    """The world's action mask of ``group`` applied to policy logits (no-op for unmasked groups)."""
    from engine.train.policy import masked_logits

    if not sim.groups[group].mask_fns:
        return logits
    return masked_logits(logits, sim.action_masks()[group])


def _pick(logits: torch.Tensor, deterministic: bool, generator: torch.Generator | None) -> torch.Tensor:
    from engine.train.policy import sample_categorical

    return logits.argmax(-1) if deterministic else sample_categorical(logits, generator)


def _ckpt(arg: str, sim, group: str, deterministic: bool, generator: torch.Generator | None) -> Controller:
    from engine.train.checkpoint import load_actor

    path = _check_file("ckpt", arg)
    actor = load_actor(path, group).to(sim.device)
    g = sim.groups[group]
    if actor.obs_size != g.obs_size or actor.space.kind != g.action_space.kind or actor.space.n != g.action_space.n:
        raise UserError(f"ckpt:{arg}: the {group!r} policy takes {actor.obs_size} features ({actor.action_type}) "
                        f"but this world's {group!r} observes {g.obs_size} ({g.action_type})")

    def ckpt_policy(sim) -> torch.Tensor:
        obs = sim.state[g.obs_key].to(torch.float32)
        mask = sim.action_masks()[group] if g.mask_fns else None
        return actor.act(obs, generator=generator, deterministic=deterministic, mask=mask)

    return ckpt_policy
