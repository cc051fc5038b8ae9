"""Re-simulate a recording: exact reproduction check, or counterfactual re-simulation in another world.

*Exact* (the recorded world, optionally with extra overrides): the Sim is rebuilt with the recorded
world, overrides, B, seed, device, thread count and compile mode, reset with the recorded seed, and fed
the recorded actions of its external groups. Autoreset draws from the Sim's generator, so reseeding
identically and replaying from step 0 reproduces every later episode start too. Every array of every
shard (frames excepted) must match bit for bit.

*Counterfactual* (``world=OTHER``): the same actions (for the groups OTHER leaves external) drive
another world or model, e.g. one with a learned dynamics plugin. Every episode starts from the recorded
state (the state is overwritten at step 0 and after each recorded autoreset), so the divergence per
step measures how far the other world drifts from the recording within an episode.

Bit-exactness holds for the same device, CPU vector ISA (``cpu_capability`` in the manifest; a
replay on another one says so in its notes), torch/numpy/onnxruntime versions, thread count, compile
mode and batch size: threads change reduction order in some kernels, ``torch.compile`` fuses and
reorders float ops, another B draws spawn noise of another shape from the generator (different
episodes altogether), and CPU and CUDA kernels round differently.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.record.format import MANIFEST, Recording, sha256_file
from engine.record.recorder import entity_keys, transition

#: Arrays a replay does not compare (GL frames depend on the GL driver, not on the simulation).
NOT_COMPARED = ("step", "frames")


@dataclass
class Mismatch:
    """Where one recorded array first differs from the replay, and by how much at most."""

    first_step: int
    max_abs_diff: float
    count: int = 0


@dataclass
class ReplayReport:
    """The outcome of a replay: exact mismatches, or the per-step divergence of a counterfactual run."""

    mode: str  # "exact" or "counterfactual"
    steps: int
    world: str
    mismatches: dict[str, Mismatch] = field(default_factory=dict)
    per_step: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def first_step(self) -> int | None:
        return min((m.first_step for m in self.mismatches.values()), default=None)

    @property
    def max_divergence(self) -> float:
        return max((m.max_abs_diff for m in self.mismatches.values()), default=0.0)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "world": self.world, "steps": self.steps, "notes": self.notes}
        if self.mode == "exact":
            out.update(match=self.ok, first_step=self.first_step, max_divergence=self.max_divergence,
                       mismatches={k: vars(m) for k, m in sorted(self.mismatches.items())})
        else:
            out["per_step"] = self.per_step
        return out


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-element absolute difference; NaN == NaN counts as equal; shape mismatch → inf."""
    if a.dtype == np.bool_:
        return (a != b).astype(np.float64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):
        d = np.abs(a64 - b64)
    same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
    return np.where(same, 0.0, np.nan_to_num(d, nan=np.inf))


def _build(world: str | os.PathLike, rec: Recording, overrides: dict[str, Any], device: str | None,
           compile: bool | None, threads: int | None, origin: str = "--set"):
    """The Sim to replay in. Any code the world or the recorded overrides name is resolved under the
    user's trust policy (``--trust``, ``WORLDLOOM_TRUST``): a recording never widens it."""
    from engine.sim import make

    m = rec.manifest
    return make(world, num_worlds=rec.num_worlds, device=_device(device, m["device"]), seed=m["seed"],
                overrides=overrides, compile=m["compiled"] if compile is None else compile,
                threads=m["threads"] if threads is None else threads, override_origin=origin)


def _device(given: str | None, recorded: str) -> str:
    """``--device``, else the recorded device when this machine has it (UserError naming the fix if not)."""
    name = given or recorded
    what = f"--device {name}" if given else f"device {name!r} (recorded in manifest.json)"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"{what}: not a torch device; pass --device cpu") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{what}: CUDA is not available on this machine; pass --device cpu"
                        + ("" if given else " (a replay on another device is not bit-exact)"))
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UserError(f"{what}: this machine has {torch.cuda.device_count()} CUDA devices; pass --device cuda:0 "
                        "or --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"{what}: expected cpu or cuda; pass --device cpu")
    return name


def _check_sim(sim, rec: Recording, world: str, counterfactual: bool) -> None:
    """The recorded arrays the replay feeds into ``sim`` fit it (else UserError before stepping)."""
    have = rec.arrays()
    first = rec.shard_files()[0]

    def fits(key: str, want) -> None:
        dtype, shape = have[key]
        need = (np.dtype(str(want.dtype).removeprefix("torch.")), tuple(want.shape))
        if (dtype, shape) != need:
            raise UserError(f"{first}: array {key!r} has dtype {dtype} and per-step shape {shape}, but {world} "
                            f"needs {need[0]} and {need[1]}" + ("" if counterfactual else
                                                                " (the recorded overrides changed the world?)"))

    for g in sim.external_groups:
        key = "action." + g
        if key not in have:
            raise UserError(f"the recording has no actions for agent group {g!r}, which {world} leaves external")
        fits(key, sim.state[sim.groups[g].action_key])
    if not counterfactual:
        return
    for key in ("state.pos", "state.vel", "next.pos", "next.vel", "state.movable", "state.alive"):
        if key not in have:
            raise UserError(f"{first}: array {key!r} is missing; a counterfactual replay needs it")
    for k in entity_keys(sim):
        for prefix in ("state.", "next."):
            if prefix + k in have and have[prefix + k][1] != tuple(sim.state[k].shape):
                fits(prefix + k, sim.state[k])
    for key in ("state.movable", "state.alive"):
        if have[key][0] != np.bool_:
            raise UserError(f"{first}: array {key!r} has dtype {have[key][0]}, expected bool")


def replay(folder: str | os.PathLike, world: str | os.PathLike | None = None,
           overrides: dict[str, Any] | None = None, *, device: str | None = None, compile: bool | None = None,
           threads: int | None = None, on_step: Callable[[int, int], None] | None = None) -> ReplayReport:
    """Replay the recording in ``folder``; ``world=None`` checks exact reproduction.

    ``overrides`` are applied on top of the recorded ones (exact mode) or to ``world`` as written
    (counterfactual mode: the recorded overrides belong to the recorded world).
    ``device``/``compile``/``threads`` default to what the manifest recorded (change them to see
    what breaks bit-exactness).

    Example:
        >>> report = replay("runs/rec")
        >>> report.ok, report.first_step
        (True, None)
    """
    rec = Recording.open(folder)
    m = rec.manifest
    if m.get("labelled"):
        raise UserError(f"{folder}: a labelled recording (`worldloom label`: frames and inferred actions, no engine "
                        f"state) cannot be replayed; replay the recording it came from ({m['labelled']['source']})")
    rec.require_steps()
    rec.verify()
    all_overrides = dict(m.get("overrides") or {})
    all_overrides.update(overrides or {})
    notes: list[str] = []
    if not m["complete"]:
        notes.append(f"the recording is incomplete (interrupted after {rec.steps_recorded} of "
                     f"{m.get('steps_requested', '?')} steps): replaying the steps it kept")
    if world is None:
        path = Path(m["world"]["path"])
        if not path.is_file():
            raise UserError(f"the recorded world file {path} no longer exists; pass --world to re-simulate "
                            "in another world")
        if sha256_file(path) != m["world"]["sha256"]:
            raise UserError(f"the recorded world file {path} changed since the recording (sha256 differs); "
                            "restore it, or pass --world to re-simulate counterfactually")
        sim = _build(path, rec, all_overrides, device, compile, threads,
                     origin=f"overrides (recorded in {rec.folder / MANIFEST}, or --set)")
        for name, facts in (m.get("plugins") or {}).items():
            host = sim.plugins.get(name)
            if host is None or host.spec.model is None:
                continue
            now = sha256_file(sim.plan.loaded.resolve(host.spec.model))
            if now != facts["sha256"]:
                notes.append(f"plugin {name!r}: model file changed since the recording (sha256 differs)")
        _check_sim(sim, rec, str(path), counterfactual=False)
        notes += _cpu_notes(m, sim)
        return _exact(sim, rec, str(path), notes, on_step)
    # the recorded overrides belonged to the recorded world: the other world is taken as written (+ --set)
    sim = _build(world, rec, dict(overrides or {}), device, compile, threads)
    if sim.layout.n != m["num_entities"]:
        raise UserError(f"{world}: has {sim.layout.n} entity slots, the recording {m['num_entities']}; a "
                        "counterfactual replay needs the same entity layout")
    _check_sim(sim, rec, str(world), counterfactual=True)
    return _counterfactual(sim, rec, str(world), notes, on_step)


def _cpu_notes(manifest: dict, sim) -> list[str]:
    """Bit-exactness also needs the CPU's vector ISA: eager kernels round differently per ISA."""
    if sim.device.type != "cpu":
        return []
    here = torch.backends.cpu.get_cpu_capability()
    there = manifest.get("cpu_capability")
    if there == here:
        return []
    where = f"on a {there} CPU" if there else "before CPUs were noted (worldloom < 0.2)"
    return [f"recorded {where}, replayed on a {here} CPU: vectorized kernels may round differently, so "
            "last-bit differences (~1e-9) are expected; replay on the same kind of CPU for bit-exactness"]


def _actions(sim, shard: dict[str, np.ndarray], t: int) -> dict[str, torch.Tensor]:
    out = {}
    for g in sim.external_groups:
        key = "action." + g
        if key not in shard:
            raise UserError(f"the recording has no actions for agent group {g!r}, which this world leaves "
                            "external")
        out[g] = torch.from_numpy(shard[key][t]).to(sim.device)
    return out


def _exact(sim, rec: Recording, world: str, notes: list[str], on_step) -> ReplayReport:
    report = ReplayReport("exact", 0, world, notes=notes)
    keys = entity_keys(sim)
    sim.reset(seed=rec.manifest["seed"])
    total = rec.steps_recorded
    for shard in rec.shards():
        steps = shard["step"]
        for t in range(len(steps)):
            row = transition(sim, _actions(sim, shard, t), keys)
            step = int(steps[t])
            for k, want in shard.items():
                if k in NOT_COMPARED:
                    continue
                have = row.get(k)
                if have is None:
                    d = float("inf")
                else:
                    have_np = have.cpu().numpy()
                    d = float(_diff(have_np, want[t]).max()) if have_np.shape == want[t].shape and want[t].size \
                        else (0.0 if have_np.shape == want[t].shape else float("inf"))
                if d > 0:
                    mm = report.mismatches.get(k)
                    if mm is None:
                        report.mismatches[k] = Mismatch(step, d, 1)
                    else:
                        mm.max_abs_diff = max(mm.max_abs_diff, d)
                        mm.count += 1
            report.steps += 1
            if on_step is not None:
                on_step(report.steps, total)
    return report


def _force_state(sim, shard: dict[str, np.ndarray], prefix: str, t: int, worlds: torch.Tensor | None) -> None:
    """Overwrite the entity state of ``worlds`` (all when None) with the recorded one, twins included."""
    st = dict(sim.state)
    B = sim.num_worlds
    for k in entity_keys(sim):
        key = prefix + k
        if key not in shard:
            continue
        v = torch.from_numpy(shard[key][t]).to(device=st[k].device, dtype=st[k].dtype)
        st[k] = v.clone() if worlds is None else torch.where(worlds.view((B,) + (1,) * (v.dim() - 1)), v, st[k])
    for k, decl in sim.table.decls.items():  # entries that restart as copies (shadow twins) follow the world
        if decl.copies is not None and decl.copies in st:
            src = st[decl.copies]
            st[k] = src.clone() if worlds is None else torch.where(worlds.view((B,) + (1,) * (src.dim() - 1)), src,
                                                                   st[k])
    for derive in sim.table.derive_hooks:  # observations follow the forced state
        derive(st)
    sim.state = st


def _counterfactual(sim, rec: Recording, world: str, notes: list[str], on_step) -> ReplayReport:
    report = ReplayReport("counterfactual", 0, world, notes=notes)
    for g, _info in rec.manifest["groups"].items():
        if g in sim.controlled_by:
            notes.append(f"agent group {g!r} is controlled by {sim.controlled_by[g]!r} in {world}: the recorded "
                         "actions of this group are not used")
    sim.reset(seed=rec.manifest["seed"])
    first = True
    total = rec.steps_recorded
    for shard in rec.shards():
        steps = shard["step"]
        for t in range(len(steps)):
            if first:
                _force_state(sim, shard, "state.", t, None)
                first = False
            sim.step(_actions(sim, shard, t))
            st = sim.state
            done = torch.from_numpy(shard["done"][t]).to(sim.device)
            moving = torch.from_numpy(shard["state.movable"][t] & shard["state.alive"][t]).to(sim.device)
            keep = ~done  # worlds whose episode goes on: compare; the others restart from the recording
            row: dict[str, float] = {"step": int(steps[t]), "tick": int(shard["state.tick"][t].max()) + 1}
            for comp in ("pos", "vel"):
                want = torch.from_numpy(shard["next." + comp][t]).to(sim.device)
                err = (st[comp].to(want.dtype) - want).square().sum(-1).sqrt()  # [B, N]
                per_world = (err * moving).sum(1) / moving.sum(1).clamp_min(1)
                sel = per_world[keep]
                row[comp + "_mean"] = float(sel.mean()) if sel.numel() else float("nan")
                row[comp + "_max"] = float(err[keep][moving[keep]].max()) if sel.numel() and bool(moving[keep].any()) \
                    else float("nan")
            for g in rec.manifest["groups"]:
                if g in sim.controlled_by and "action." + g in shard:
                    want = torch.from_numpy(shard["action." + g][t]).to(sim.device)
                    have = st[sim.groups[g].action_key]
                    if have.shape == want.shape:
                        row["action_agree." + g] = float((have == want.to(have.dtype)).float().mean())
            report.per_step.append(row)
            if bool(done.any()):
                _force_state(sim, shard, "next.", t, done)
            report.steps += 1
            if on_step is not None:
                on_step(report.steps, total)
    return report
