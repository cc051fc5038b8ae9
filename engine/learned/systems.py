"""The tick functions of learned plugins: policy → actions, dynamics → state, with guards and shadow.

Shadow mode keeps an open-loop twin of ``pos``/``vel`` in the state dict (``shadow.<plugin>.pos``,
``.vel``, declared with ``reset: copy:pos``/``copy:vel``), advanced by the hand-coded system the
plugin replaces, so snapshots, restores and resets carry it like any other declared state. Per tick
it reports (as ``metric.<plugin>.*`` tensors ``[B]``):

* ``drift_pos`` / ``drift_vel`` — mean L2 distance between world and twin over the bound entities
  (accumulated since the last resync or reset), ``drift_pos_max`` the largest;
* ``one_step_pos`` — the error of this tick alone: the hand-coded step applied to the world's
  pre-tick state, against the learned result;
* ``nonfinite`` — non-finite values the model produced this tick; ``resync`` — worlds resynced.
"""

from __future__ import annotations

import torch

from engine.learned.bind import PluginHost


def make_plugin_system(host: PluginHost):
    if host.kind == "policy":
        return _policy_system(host)
    return _dynamics_system(host)


def _policy_system(host: PluginHost):
    g = host.group
    space = g.action_space
    discrete = space.discrete
    sample = host.spec.sample == "sample"
    mode = host.spec.on_nan

    metric = "metric." + host.name + ".nonfinite"

    def policy(state: dict) -> None:
        B = state["pos"].shape[0]
        if not host.enabled and host.replaced is not None:
            host.replaced.fn(state)
            state[metric] = _zeros(host, B, state["pos"])
            return
        out = host.infer(state)  # [B*A, n]
        bad, counts = host.check_finite(out, B)
        state[metric] = _zeros(host, B, state["pos"]) if counts is None else counts.to(state["pos"].dtype)
        if discrete:
            if sample:
                probs = torch.softmax(torch.nan_to_num(out.float()), -1)
                act = torch.multinomial(probs, 1, generator=host.generator).squeeze(-1)
            else:
                act = out.argmax(-1)
            act = act.view(B, g.size).to(torch.int64)
        else:
            act = out.clamp(space.low, space.high).view((B, g.size) + space.per_agent_shape)
            act = act.to(state["pos"].dtype).clone()
        if mode == "fallback" and bad is not None:
            hand = dict(state)
            host.replaced.fn(hand)
            m = bad.view((B,) + (1,) * (act.dim() - 1))
            act = torch.where(m, hand[g.action_key], act)
        state[g.action_key] = act

    return policy


def _make_projection(host: PluginHost):
    """The constraints of the world file projected onto the learned state: bounds, max speed, non-penetration."""
    env, idx = host.app, host.idx
    arena = env.params.arena
    lo = env.tensor([arena[0], arena[2]])
    hi = env.tensor([arena[1], arena[3]])
    constraints = list(host.spec.constraints)
    bound_rows = _rows(env.layout.n, idx, env.device)  # [1, N, 1]: made once, not per tick

    def project(state: dict) -> None:
        if "bounds" in constraints:
            state["pos"] = torch.where(bound_rows, state["pos"].clamp(lo, hi), state["pos"])
        if "max_speed" in constraints:
            v = state["vel"]
            speed = v.square().sum(-1, keepdim=True).sqrt()
            limit = state["max_speed"].unsqueeze(-1)
            state["vel"] = torch.where(speed > limit, v / speed.clamp_min(1e-12) * limit, v)
        if "non_penetration" in constraints:
            state["pos"] = _push_out(state, idx)

    return project


def _make_shadow(host: PluginHost, hand):
    """Advance the open-loop twin with the hand-coded system and write the drift metrics (or nothing)."""
    spec, idx, name = host.spec, host.idx, host.name
    shadow, resync_above = spec.shadow, spec.resync_above

    def shadow_and_metrics(state: dict, pre: dict, B: int) -> None:
        if not shadow:
            return
        twin = dict(pre)
        twin["pos"], twin["vel"] = pre["shadow." + name + ".pos"], pre["shadow." + name + ".vel"]
        hand(twin)
        one = dict(pre)
        hand(one)
        # averages over the bound entities that move (obstacles bound as context would dilute them)
        w = (state["movable"] & state["alive"])[:, idx].to(state["pos"].dtype)  # [B, K]
        n = w.sum(1).clamp_min(1.0)
        dpos = (state["pos"][:, idx] - twin["pos"][:, idx]).square().sum(-1).sqrt() * w  # [B, K]
        dvel = (state["vel"][:, idx] - twin["vel"][:, idx]).square().sum(-1).sqrt() * w
        one_step = (state["pos"][:, idx] - one["pos"][:, idx]).square().sum(-1).sqrt() * w
        state["metric." + name + ".drift_pos"] = dpos.sum(1) / n
        state["metric." + name + ".drift_pos_max"] = dpos.amax(1)
        state["metric." + name + ".drift_vel"] = dvel.sum(1) / n
        state["metric." + name + ".one_step_pos"] = one_step.sum(1) / n
        if resync_above is not None:
            re = dpos.amax(1) > resync_above
            state["pos"] = torch.where(re.view(B, 1, 1), twin["pos"], state["pos"])
            state["vel"] = torch.where(re.view(B, 1, 1), twin["vel"], state["vel"])
            state["metric." + name + ".resync"] = re.to(state["pos"].dtype)
        state["shadow." + name + ".pos"] = twin["pos"]
        state["shadow." + name + ".vel"] = twin["vel"]

    return shadow_and_metrics


def _scatter(host: PluginHost, state: dict, out: torch.Tensor, sizes: list[int]) -> None:
    """Write the model's output rows into the bound components (add or set), for moving entities only."""
    idx = host.idx
    moving = (state["movable"] & state["alive"])[:, idx].unsqueeze(-1)
    off = 0
    for comp, size in zip(host.write, sizes):
        cur = state[comp][:, idx]
        val = out[..., off:off + size].reshape(cur.shape).to(cur.dtype)
        off += size
        new = cur + val if host.mode == "add" else val
        new = torch.where(moving.view(moving.shape + (1,) * (new.dim() - 3)), new, cur)
        if host.covers_all:
            state[comp] = new
        else:
            full = state[comp].clone()
            full[:, idx] = new
            state[comp] = full


def _dynamics_system(host: PluginHost):
    from engine.systems.physics import make_action_forces

    hand = host_replaced_fn(host)
    action_forces = make_action_forces(host.app)
    K, on_nan, name = host.rows_per_world, host.spec.on_nan, host.name
    sizes = [host._comp_size(c) for c in host.write]
    project = _make_projection(host)
    shadow_and_metrics = _make_shadow(host, hand)

    def dynamics(state: dict) -> None:
        B = state["pos"].shape[0]
        pre = dict(state)
        if not host.enabled:
            hand(state)
            state["metric." + name + ".nonfinite"] = _zeros(host, B, state["pos"])
            shadow_and_metrics(state, pre, B)
            return
        state["action_force"] = action_forces(state)
        pre["action_force"] = state["action_force"]
        out = host.infer(state).view(B, K, -1)
        bad, counts = host.check_finite(out, B)
        state["metric." + name + ".nonfinite"] = _zeros(host, B, out) if counts is None else counts.to(out.dtype)
        if bad is not None and (on_nan == "zero" or on_nan == "fallback"):
            out = torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
        _scatter(host, state, out, sizes)
        project(state)
        if on_nan == "fallback" and bad is not None:
            ref = dict(pre)
            hand(ref)
            for comp in host.write:
                m = bad.view((B,) + (1,) * (state[comp].dim() - 1))
                state[comp] = torch.where(m, ref[comp], state[comp])
        shadow_and_metrics(state, pre, B)

    return dynamics


def _zeros(host: PluginHost, B: int, like: torch.Tensor) -> torch.Tensor:
    """A [B] zero vector reused every tick (nothing writes into metric tensors in place)."""
    z = getattr(host, "_zero_metric", None)
    if z is None or z.shape[0] != B or z.device != like.device:
        z = host._zero_metric = torch.zeros(B, dtype=like.dtype, device=like.device)
    return z


def host_replaced_fn(host: PluginHost):
    return host.replaced.fn


def _rows(n: int, idx, device) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool, device=device)
    m[idx] = True
    return m.view(1, -1, 1)


def _push_out(state: dict, idx) -> torch.Tensor:
    """Move bound movable entities out of immovable colliders they overlap (to the contact distance)."""
    pos, rad = state["pos"], state["radius"]
    fixed = state["collide"] & state["alive"] & ~state["movable"]  # [B, N]
    p = pos[:, idx]  # [B, K, 2]
    delta = p.unsqueeze(2) - pos.unsqueeze(1)  # [B, K, N, 2]
    dist = delta.square().sum(-1).sqrt().clamp_min(1e-9)
    need = rad[:, idx].unsqueeze(2) + rad.unsqueeze(1)
    inside = (dist < need) & fixed.unsqueeze(1)
    push = torch.where(inside.unsqueeze(-1), delta / dist.unsqueeze(-1) * (need - dist).unsqueeze(-1), 0.0).sum(2)
    moving = (state["movable"] & state["alive"])[:, idx].unsqueeze(-1)
    new = pos.clone()
    new[:, idx] = torch.where(moving, p + push, p)
    return new
