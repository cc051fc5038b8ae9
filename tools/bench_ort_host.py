"""Micro-benchmark of the ONNX host layer: bare `session.run` on numpy vs `BoundRunner.run` on torch.

Measures the host overhead the engine adds around ONNX Runtime for an MLP 16->64->64->5 (the size of a
small policy or dynamics model) at a few batch sizes and thread counts. Both paths use the same
session; each case alternates the two paths in rounds so background load hits both alike, and reports
the median per call.

    python tools/bench_ort_host.py                 # batches 1, 1024, 4096; 2 and 1 intra-op threads
    python tools/bench_ort_host.py --batches 4096 --threads 2 --seconds 1.0 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from engine.learned.export import export_torch_module  # noqa: E402
from engine.learned.model import OnnxModel  # noqa: E402
from engine.learned.runner import BoundRunner  # noqa: E402


class Mlp(torch.nn.Module):
    """16 -> 64 -> 64 -> 5 with tanh, as in SETUP-NOTES.md."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, 5),
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


def _time_calls(fn, calls: int) -> float:
    """Seconds per call, averaged over `calls` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def bench_case(model: OnnxModel, batch: int, seconds: float, rounds: int = 15) -> dict[str, float]:
    session = model.session
    runner = BoundRunner(model)
    obs_t = torch.randn(batch, 16)
    obs_np = obs_t.numpy()
    feeds = {"obs": obs_np}

    def bare() -> None:
        session.run(None, feeds)

    def bound() -> None:
        runner.run({"obs": obs_t})

    for fn in (bare, bound):  # warm up: ORT's first runs allocate arenas and spin up threads
        for _ in range(20):
            fn()
    per_call = _time_calls(bare, 10)
    calls = max(5, int(seconds / rounds / 2 / per_call))
    bare_s, bound_s = [], []
    for _ in range(rounds):
        bare_s.append(_time_calls(bare, calls))
        bound_s.append(_time_calls(bound, calls))
    bare_us = statistics.median(bare_s) * 1e6
    bound_us = statistics.median(bound_s) * 1e6
    return {
        "batch": batch,
        "threads": model.session.get_session_options().intra_op_num_threads,
        "bare_run_us": round(bare_us, 2),
        "bound_run_us": round(bound_us, 2),
        "overhead_pct": round(100.0 * (bound_us - bare_us) / bare_us, 1),
        "calls_per_round": calls,
        "rebinds": runner.rebinds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 1024, 4096])
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--seconds", type=float, default=0.6, help="time per case (both paths together)")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    torch.set_num_threads(1)  # torch only builds inputs here; keep it off ORT's cores
    with tempfile.TemporaryDirectory() as tmp:
        path = export_torch_module(Mlp(), {"obs": torch.randn(8, 16)}, Path(tmp) / "mlp.onnx").path
        results = []
        for threads in args.threads:
            model = OnnxModel(path, providers="cpu", intra_op_threads=threads, name="bench_mlp")
            for batch in args.batches:
                results.append(bench_case(model, batch, args.seconds))

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'threads':>7} {'batch':>6} {'session.run (numpy)':>20} {'BoundRunner.run':>16} {'overhead':>9}")
    for r in results:
        print(
            f"{r['threads']:>7} {r['batch']:>6} {r['bare_run_us']:>17.1f} µs {r['bound_run_us']:>13.1f} µs "
            f"{r['overhead_pct']:>+8.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
