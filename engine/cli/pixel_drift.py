"""``worldloom drift WORLD --world-model DIR --data REC``: a pixel world model's open-loop drift in pixels."""

from __future__ import annotations

import json
from pathlib import Path

#: steps of the table printed (all steps are in the JSON)
SHOWN = (1, 2, 5, 10, 25, 50, 100)


def run_pixel_drift(args) -> int:
    from engine.cli.common import parse_overrides
    from engine.distill.pixel_metrics import agent_colors, open_loop_curves, plot_lines
    from engine.distill.world_model import load_pixel_data
    from engine.errors import UserError
    from engine.fileio import atomic_write_text
    from engine.learned.world_model import OnnxWorldModel

    if not args.data:
        raise UserError("--world-model needs --data REC: held-out recordings with frames (worldloom record --frames)")
    if args.horizon < 1:
        raise UserError(f"--horizon: expected an integer >= 1, got {args.horizon}")
    models = [OnnxWorldModel(d, providers="cpu" if args.device == "cpu" else "auto") for d in args.world_model]
    m0 = models[0]
    pix = load_pixel_data(args.data, {g: m0.num_actions for g in m0.agents})
    for m in models:
        if (m.width, m.height) != pix.size or m.agents != pix.groups:
            raise UserError(f"{m.folder}: frames {m.width}×{m.height} and agents {m.agents}, but {args.data[0]} "
                            f"holds {pix.size[0]}×{pix.size[1]} frames of {pix.groups}; measure it on recordings of "
                            "its world")
    targets = agent_colors(args.data[0])
    if args.physics_reference:
        from engine.distill.physics_reference import PhysicsReferenceModel

        models.append(PhysicsReferenceModel(m0, args.world, parse_overrides(args.overrides)))
    results = {}
    for m in models:
        c = open_loop_curves(m, pix.frames, pix.actions, pix.done, args.horizon, m.background, targets=targets,
                             max_windows=args.starts)
        results[str(m.folder)] = c
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"data": [str(d) for d in args.data], "horizon": args.horizon,
               "windows": next(iter(results.values())).windows,
               "models": {k: {n: v.tolist() for n, v in c.metrics.items()} for k, c in results.items()},
               "providers": {str(m.folder): m.providers for m in models if hasattr(m, "providers")}}
    atomic_write_text(out / "pixel_drift.json", json.dumps(summary, indent=1) + "\n")
    first = next(iter(results.values())).metrics
    lines = {Path(k).name: c.metrics["psnr"] for k, c in results.items()}
    lines["copy last frame"] = first["psnr_copy_last"]
    lines["empty arena"] = first["psnr_empty"]
    plot_lines(lines, out / "pixel_drift.png", "PSNR (dB) vs open-loop step")
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"open-loop frames vs the recorded GL frames: {summary['windows']} windows of {args.horizon} steps from "
          f"{', '.join(args.data)} (written {out}/pixel_drift.json, pixel_drift.png)")
    for k, c in results.items():
        print(f"\n{k}  (onnxruntime: {', '.join(sorted(set(models[0].providers.values())))})")
        print(c.table([s for s in SHOWN if s <= args.horizon] or [args.horizon]))
    return 0
