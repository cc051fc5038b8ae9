"""Export trained policies to ONNX plugins: ``<group>.onnx`` + a README of the I/O contract.

Each model takes ``obs`` float32 ``[batch, F]`` (dynamic batch: one call serves every agent of every
world) and returns ``logits`` ``[batch, n]`` (discrete, one per choice of the group's action space;
the policy plugin takes the argmax or samples) or ``action`` ``[batch, n]`` in the space's range
(continuous). ``engine.learned.export_torch_module`` checks
ONNX Runtime against torch before the file replaces the old one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from engine.core.actions import movement
from engine.fileio import atomic_write_text
from engine.train.policy import Actor, ExportedPolicy


def output_name(actor: Actor) -> str:
    return "logits" if actor.action_type == "discrete" else "action"


def export_policies(actors: Mapping[str, Actor], folder: str | os.PathLike, *, world: str = "",
                    world_file: str | os.PathLike | None = None, trained_against: Mapping[str, str] | None = None,
                    steps: int | None = None, command: str | None = None) -> dict[str, Path]:
    """Write ``folder/<group>.onnx`` (+ ``<group>.json``: what it is) for every actor, then the README.

    The README covers every policy in the folder (read back from the ``.json`` files), so groups trained
    by separate runs (adversaries first, then the prey against them) share one plugin folder.
    """
    from engine.learned.export import export_torch_module

    folder = Path(folder)
    paths = {}
    for g, actor in actors.items():
        device = next(actor.parameters()).device
        module = ExportedPolicy(actor).to("cpu")
        example = {"obs": torch.zeros(8, actor.obs_size)}
        path = folder / f"{g}.onnx"
        export_torch_module(module, example, path, dynamic_batch=True, output_names=[output_name(actor)])
        actor.to(device)
        paths[g] = path
        meta = {"group": g, "file": path.name, "world": str(world), "output": output_name(actor),
                **actor.spec(), "trained_against": dict(trained_against or {}), "steps": steps, "command": command}
        atomic_write_text(folder / f"{g}.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_text(folder / "README.md", readme(folder, world_file=world_file))
    return paths


def plugin_snippet(policies: Mapping[str, str], paths: Mapping[str, Path],
                   world_file: str | os.PathLike | None) -> str:
    """The ``plugins:`` YAML that makes each exported policy an NPC (group → output name; model paths
    relative to the world file)."""
    base = Path(world_file).resolve().parent if world_file else Path.cwd()
    lines = ["plugins:"]
    for g, out in policies.items():
        rel = os.path.relpath(Path(paths[g]).resolve(), base)
        lines += [f"  {g}_brain:", "    kind: policy", f"    model: {rel}   # relative to the world file",
                  f"    agents: {g}", "    inputs: {obs: observation}", f"    outputs: {{{out}: action}}"]
        if out == "logits":
            lines.append("    sample: argmax")
    return "\n".join(lines) + "\n"


def readme(folder: Path, world_file: str | os.PathLike | None = None) -> str:
    """README.md of a plugin folder: the I/O contract of every ``<group>.onnx`` described by its ``.json``."""
    metas = []
    for j in sorted(folder.glob("*.json")):
        try:
            m = json.loads(j.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and "group" in m and (folder / m.get("file", "")).is_file():
            metas.append(m)
    rows, trained = [], []
    for m in metas:
        out = m["output"]
        n = m.get("n_actions") or movement(m.get("action_type", "discrete")).n
        meaning = (f"unnormalised log-probabilities of the {n} discrete actions"
                   if out == "logits" else f"the {n} continuous action values, already clipped to the space's range")
        rows.append(f"| `{m['file']}` | `{m['group']}` | `obs` float32 [batch, {m['obs_size']}] | "
                    f"`{out}` float32 [batch, {n}]: {meaning} | MLP {m['obs_size']}→"
                    f"{'→'.join(map(str, m['hidden']))}→{n} ({m['activation']}) |")
        against = ", ".join(f"{g}: `{s}`" for g, s in m.get("trained_against", {}).items()) or "nothing else"
        steps = f" for {m['steps']:,} environment steps" if m.get("steps") else ""
        cmd = f" Made by `{m['command']}`." if m.get("command") else ""
        trained.append(f"* `{m['group']}`: PPO{steps}, against {against}.{cmd}")
    world = next((m["world"] for m in metas if m.get("world")), "WORLD")
    title = Path(world).stem
    snippet = plugin_snippet({m["group"]: m["output"] for m in metas},
                             {m["group"]: folder / m["file"] for m in metas}, world_file)
    shown = Path(os.path.relpath(folder)) if not os.path.relpath(folder).startswith("..") else folder
    evals = " ".join(f"--controller {m['group']}=onnx:{shown / m['file']}" for m in metas)
    curves = "".join(f"\n![{p.stem}]({p.name})\n" for p in sorted(folder.glob("*_curve.png")))
    if curves:
        curves = "\n## Learning curves\n" + curves
    return f"""# Trained policies for `{title}`

Exported by `worldloom train` (PPO in `engine/train/`, parameters shared within each agent group;
the network is `engine.train.policy.Actor`).

{chr(10).join(trained)}

## I/O contract

| file | agent group | input | output | network |
|---|---|---|---|---|
{chr(10).join(rows)}

* The batch axis is dynamic: one call serves every agent of every world (`[B × A, F]`).
* The input is the group's observation exactly as the world file declares it (its `observation:`
  terms in order; zeros for a dead agent). Changing those terms, or the entity counts that size
  them, needs a new policy.
* Discrete policies act deterministically with `sample: argmax`; `sample: sample` draws from
  softmax(logits) with the Sim's seeded generator.

## Use them as NPCs

```yaml
{snippet.rstrip()}
```

or compare them with other controllers without editing the world:

```
worldloom eval {world} {evals}
```
{curves}"""
