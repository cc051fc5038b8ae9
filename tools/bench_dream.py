"""Frames per second of a pixel world model's dream on one core: one latent_dynamics and one decoder call
per frame at batch 1, as dream play runs them (ONNX Runtime, CPU provider, 1 intra-op thread).

    .venv/bin/python tools/bench_dream.py [plugins/tag_world_model] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from engine.learned.world_model import OnnxWorldModel

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("folder", nargs="?", default="plugins/tag_world_model")
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    torch.set_num_threads(1)
    m = OnnxWorldModel(a.folder, providers="cpu", intra_op_threads=1)
    frames = torch.full((1, 2, m.height, m.width, 3), 255, dtype=torch.uint8)
    latent = m.encode(frames)
    action = torch.zeros(1, m.num_agents, m.num_actions)
    action[..., 0] = 1
    for _ in range(50):
        latent = m.step(latent, action)
        m.decode(latent)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < a.seconds:
        latent = m.step(latent, action)
        frame = (m.decode(latent).clamp(0, 1) * 255).to(torch.uint8)  # what a window uploads
        n += 1
    dt = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(200):
        m.encode(frames)
    enc_ms = (time.perf_counter() - t1) / 200 * 1e3
    print(f"{a.folder}: {n / dt:,.0f} dream frames/s on one core ({dt / n * 1e3:.2f} ms: step + decode + to uint8; "
          f"re-anchoring adds one encode, {enc_ms:.2f} ms); frame {tuple(frame.shape)}")


if __name__ == "__main__":
    main()
