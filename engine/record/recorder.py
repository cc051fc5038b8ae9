"""Record transitions (and optionally frames) of a running Sim into a recording folder.

The loop is: choose actions (seeded random for external groups; the world file's controllers drive
the rest) → render the pre-step state (``frames``) → ``Sim.step`` → read back what was really applied
(each group's action entry, ``action_force``) and the next state. Steps are buffered and
flushed as one shard every ``shard_steps`` steps; the manifest is rewritten after each shard.
"""

from __future__ import annotations

import datetime
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.errors import UserError
from engine.record.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST,
    MAX_SHARD_BYTES,
    sha256_file,
    shard_name,
    write_manifest,
    write_shard,
)


def package_versions() -> dict[str, str | None]:
    """Versions of the packages whose numerics a recording depends on."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "onnxruntime-gpu", "onnxruntime", "worldloom"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    try:
        import onnxruntime

        out["onnxruntime_module"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - onnxruntime is a dependency
        out["onnxruntime_module"] = None
    return out


def entity_keys(sim) -> list[str]:
    """The state a recording stores before and after every step: every entry declared with ``record=True``
    (components and ``alive``, plus whatever systems and extensions declare so)."""
    return sim.table.recorded()


def key_scopes(sim) -> dict[str, str]:
    """The scope of every recorded entry (``entity``, ``agent:<group>``, ``group``, ``world``, ``global``):
    what its leading axes are, so readers can check a shard's shapes (``[T, B, N, ...]`` for ``entity``)."""
    decls = sim.table.decls
    return {k: decls[k].scope + (f":{decls[k].group}" if decls[k].scope == "agent" else "") for k in entity_keys(sim)}


def plugin_facts(sim) -> dict[str, dict[str, Any]]:
    """Per plugin: kind, model path and sha256, and the execution provider that ran it. A plugin without a model
    file (a planner over the built-in physics) is described by the world file alone."""
    report = sim.plugin_report()
    out = {}
    for name, host in sim.plugins.items():
        if host.spec.model is None:
            continue
        path = sim.plan.loaded.resolve(host.spec.model)
        out[name] = {"kind": host.kind, "model": str(host.spec.model), "model_path": str(path.resolve()),
                     "sha256": sha256_file(path), "provider": report[name]["provider"],
                     "enabled": report[name]["enabled"]}
    return out


def base_manifest(sim, *, world_path: Path, overrides: dict[str, Any], seed: int, action_seed: int,
                  steps: int, compiled: bool, threads: int, frames: int | None) -> dict[str, Any]:
    """Everything needed to re-run a recording bit for bit (and to notice when that is impossible)."""
    plugins = plugin_facts(sim)
    ort = None
    if plugins:
        import onnxruntime

        ort = {"version": onnxruntime.__version__,
               "providers": sorted({p["provider"] for p in plugins.values()})}
    groups = {g.name: {"size": g.size, "action_type": g.action_type,
                       "controlled_by": sim.controlled_by.get(g.name), "obs_size": g.obs_size}
              for g in sim.groups.values()}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "complete": False,
        "world": {"name": sim.plan.spec.name, "path": str(world_path.resolve()), "sha256": sha256_file(world_path),
                  "text": world_path.read_text()},
        "overrides": overrides,
        "seed": seed,
        "action_seed": action_seed,
        "num_worlds": sim.num_worlds,
        "num_entities": sim.layout.n,
        "entity_types": {name: [sl.start, sl.stop] for name, sl in sim.layout.types.items()},
        "groups": groups,
        "entity_keys": entity_keys(sim),
        "key_scopes": key_scopes(sim),
        "steps_requested": steps,
        "steps_recorded": 0,
        "device": str(sim.device),
        "compiled": bool(compiled),
        "threads": int(threads),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # vector ISA: kernels round per ISA
        "frames": {"width": frames, "height": frames} if frames else None,
        "plugins": plugins,
        "onnxruntime": ort,
        "versions": package_versions(),
        "shards": [],
    }


def transition(sim, actions: dict[str, torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
    """Step ``sim`` with ``actions`` and return one recorded row (see ``engine.record.format``).

    Shared by recording and replay, so both build rows the same way. Rows hold tensors owned by the
    row (the tick replaces state tensors rather than mutating them; clones guard the rest).
    """
    st = sim.state
    row: dict[str, torch.Tensor] = {"state." + k: st[k] for k in keys}
    row["state.tick"] = st["tick"]
    for g, plan in sim.groups.items():
        row["obs." + g] = st[plan.obs_key]
    obs, rew, term, trunc, info = sim.step(actions)
    st = sim.state
    final = info.get("final_observation", obs)
    for g, plan in sim.groups.items():
        row["action." + g] = st[plan.action_key]
        row["next_obs." + g] = obs[g]
        row["final_obs." + g] = final[g]
        row["reward." + g] = rew[g]
        row["terminated." + g] = term[g]
        row["truncated." + g] = trunc[g]
    if "action_force" in st:
        row["action_force"] = st["action_force"]
    for k in keys:
        row["next." + k] = st[k]
    for k in sim.table.metrics().values():  # per-world metrics of the step (drift, non-finite counts)
        row[k] = st[k]
    row["done"] = info["done"]
    return {k: v.detach().clone() for k, v in row.items()}


class Recorder:
    """Steps a Sim and writes its transitions as shards of a recording folder.

    Example:
        >>> sim = engine.make("tag", num_worlds=16, seed=0)
        >>> rec = Recorder(sim, "runs/rec", world_path=Path("worlds/tag.yaml"), overrides={}, seed=0)
        >>> rec.run(200)          # 200 steps of 16 worlds, shards of 100 steps
        >>> Recording.open("runs/rec").steps_recorded
        200
    """

    def __init__(self, sim, out: str | os.PathLike, *, world_path: Path, overrides: dict[str, Any], seed: int,
                 action_seed: int | None = None, shard_steps: int = 100, frames: int | None = None,
                 compiled: bool = False, threads: int | None = None) -> None:
        self.sim = sim
        self.out = Path(out)
        self.seed = seed
        self.action_seed = seed if action_seed is None else action_seed
        self.shard_steps = max(1, int(shard_steps))
        self.frames = frames
        self.compiled = compiled
        self.threads = torch.get_num_threads() if threads is None else threads
        self.world_path = world_path
        self.overrides = overrides
        self._view = None
        self.keys = entity_keys(sim)
        self.manifest: dict[str, Any] = {}

    def _render(self) -> np.ndarray:
        if self._view is None:
            from engine.views.sim_view import SimView

            self._view = SimView(self.sim, size=(self.frames, self.frames))
        return self._view.render_all().copy()

    def run(self, steps: int, on_step: Callable[[int, np.ndarray | None], None] | None = None) -> dict[str, Any]:
        """Reset with the seed, record ``steps`` steps; ``on_step(i, frame0)`` after each (progress, video).

        Returns the final manifest.
        """
        sim = self.sim
        self.out.mkdir(parents=True, exist_ok=True)
        self.manifest = base_manifest(sim, world_path=self.world_path, overrides=self.overrides, seed=self.seed,
                                      action_seed=self.action_seed, steps=steps, compiled=self.compiled,
                                      threads=self.threads, frames=self.frames)
        write_manifest(self.out, self.manifest)  # first: a kill from here on leaves an empty recording, not
        # an old manifest listing deleted shards; then a previous recording's shards and a killed one's temporaries
        for stale in [*self.out.glob("shard-*.npz"), *self.out.glob(".shard-*.tmp")]:
            stale.unlink()
        gen = torch.Generator(device=sim.device).manual_seed(self.action_seed)
        sim.reset(seed=self.seed)
        rows: list[dict[str, Any]] = []
        start = 0
        for i in range(steps):
            frame0 = None
            imgs = None
            if self.frames:
                imgs = self._render()
                frame0 = imgs[0]
            row = transition(sim, sim.sample_actions(gen), self.keys)
            if imgs is not None:
                row["frames"] = imgs
            if i == 0:
                self._fit_shards(row)
            rows.append(row)
            if len(rows) == self.shard_steps or i == steps - 1:
                self._flush(rows, start)
                start += len(rows)
                rows = []
            if on_step is not None:
                on_step(i, frame0)
        self.manifest["complete"] = True
        write_manifest(self.out, self.manifest)
        return self.manifest

    def _fit_shards(self, row: dict[str, Any]) -> None:
        """Cut shards so each stays within ``MAX_SHARD_BYTES`` once loaded (readers refuse larger ones)."""
        per_step = sum(v.element_size() * v.nelement() if isinstance(v, torch.Tensor) else v.nbytes
                       for v in row.values()) + 8
        if per_step > MAX_SHARD_BYTES:
            raise UserError(f"one recorded step takes {per_step / 2**30:.2f} GiB, more than a shard may hold "
                            f"({MAX_SHARD_BYTES / 2**30:.0f} GiB); record fewer worlds (or smaller frames)")
        self.shard_steps = min(self.shard_steps, MAX_SHARD_BYTES // per_step)

    def _flush(self, rows: list[dict[str, Any]], start: int) -> None:
        arrays: dict[str, np.ndarray] = {"step": np.arange(start, start + len(rows), dtype=np.int64)}
        for k in rows[0]:
            vals = [r[k] for r in rows]
            if isinstance(vals[0], torch.Tensor):
                arrays[k] = torch.stack(vals).cpu().numpy()
            else:
                arrays[k] = np.stack(vals)
        index = len(self.manifest["shards"])
        name = shard_name(index)
        digest = write_shard(self.out / name, arrays)
        self.manifest["shards"].append({"file": name, "steps": [start, start + len(rows)], "sha256": digest})
        self.manifest["steps_recorded"] = start + len(rows)
        if index == 0:
            self.manifest["arrays"] = {k: {"dtype": str(v.dtype), "shape_per_step": list(v.shape[1:])}
                                       for k, v in arrays.items()}
        write_manifest(self.out, self.manifest)


__all__ = ["MANIFEST", "Recorder", "transition", "base_manifest", "entity_keys", "package_versions", "plugin_facts"]
