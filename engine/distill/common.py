"""Shared pieces of the distillation trainers: options, seeding, logging, time budget, splits."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass
class TrainOptions:
    """How long and how to train; ``minutes`` caps wall time, ``epochs`` the passes over the data.

    Example:
        >>> TrainOptions(epochs=2, seed=0, logdir="runs").max_seconds
        inf
    """

    epochs: float = 10.0
    minutes: float | None = None
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 256
    lr: float = 3e-3
    val_fraction: float = 0.1
    logdir: str | Path | None = "runs"
    run_name: str = "distill"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_seconds(self) -> float:
        return float("inf") if self.minutes is None else 60.0 * self.minutes


class Budget:
    """Training progress in 0..1: the larger of iterations done and time used (with ``--minutes``).

    Learning-rate schedules and curricula follow it, so a run cut short by its time budget still
    anneals instead of stopping at a high learning rate.

    Example:
        >>> Budget(100, float("inf")).fraction(50)
        0.5
    """

    def __init__(self, total_iters: int, max_seconds: float) -> None:
        self.total, self.max_seconds = max(1, total_iters), max_seconds
        self.t0 = time.perf_counter()

    def fraction(self, i: int) -> float:
        f = i / self.total
        if self.max_seconds != float("inf"):
            f = max(f, (time.perf_counter() - self.t0) / self.max_seconds)
        return min(1.0, f)


def cosine_schedule(optim: torch.optim.Optimizer, budget: Budget, floor: float = 0.02):
    """Cosine decay of the learning rate to ``floor`` × the initial one over the budget."""
    import math

    return torch.optim.lr_scheduler.LambdaLR(
        optim, lambda i: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * budget.fraction(i))))


def split_worlds(num_worlds: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation world indices: whole worlds (their episodes) are held out, not steps."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_worlds)
    n_val = max(1, int(round(num_worlds * val_fraction))) if num_worlds > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class Logger:
    """TensorBoard scalars under ``logdir/<run_name>-<time>`` (or nothing when logdir is None)."""

    def __init__(self, logdir: str | Path | None, run_name: str) -> None:
        self.writer = None
        self.path = None
        if logdir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.path = Path(logdir) / f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}"
            self.writer = SummaryWriter(str(self.path))

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None:
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def train_loop(opts: TrainOptions, total_iters: int, step_fn: Callable[[int], float],
               val_fn: Callable[[], dict[str, float]], logger: Logger,
               progress: Callable[[int, int, str], None] | None = None, val_every: int = 200) -> dict[str, float]:
    """Run ``step_fn(i) -> loss`` for ``total_iters`` or until the time budget; validate periodically.

    Returns the last validation metrics (plus ``iterations`` and ``seconds``).
    """
    t0 = time.perf_counter()
    metrics: dict[str, float] = {}
    i = 0
    ema = None
    for i in range(total_iters):
        loss = step_fn(i)
        ema = loss if ema is None else 0.98 * ema + 0.02 * loss
        if i % 20 == 0:
            logger.scalar("train/loss", loss, i)
        if (i + 1) % val_every == 0:
            metrics = val_fn()
            for k, v in metrics.items():
                logger.scalar("val/" + k, v, i)
        if progress is not None:
            progress(i + 1, total_iters, f"loss {ema:.4g}" + (f"  val {_first(metrics)}" if metrics else ""))
        if time.perf_counter() - t0 > opts.max_seconds:
            break
    metrics = val_fn()
    for k, v in metrics.items():
        logger.scalar("val/" + k, v, i)
    metrics["iterations"] = i + 1
    metrics["seconds"] = time.perf_counter() - t0
    return metrics


def _first(metrics: dict[str, float]) -> str:
    k, v = next(iter(metrics.items()))
    return f"{k} {v:.4g}"


def seed_everything(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
