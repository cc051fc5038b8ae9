"""Arguments and helpers shared by the subcommands (world + overrides, device, threads, progress)."""

from __future__ import annotations

import argparse
import sys
import time

from engine.errors import UserError, WorldError


def add_trust_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", action="append", default=[], metavar="PATH_OR_MODULE",
                   help="allow the world to import code from this folder/file or installed module (code beside "
                        "the shipped worlds/plugins is always allowed; '*' allows everything); repeatable; "
                        "same as WORLDLOOM_TRUST")


def add_world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("world", help="world file (or the name of a shipped world, e.g. tag)")
    add_trust_arg(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the world file, e.g. --set entities.adversary.count=16 "
                        "('*' matches every key: --set 'agents.*.action=continuous'); repeatable")


def add_sim_args(p: argparse.ArgumentParser, worlds: int = 1, compile_default: bool = True) -> None:
    p.add_argument("--worlds", type=int, default=worlds, help=f"worlds simulated together (default {worlds})")
    p.add_argument("--seed", type=int, default=0, help="seed of the Sim's generator (default 0)")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--threads", default="auto",
                   help="torch intra-op threads; auto = 1 for small batches, all cores for large (default)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--compile", dest="compile", action="store_true", default=compile_default,
                   help="fuse the tick with torch.compile" + (" (default)" if compile_default else ""))
    g.add_argument("--eager", dest="compile", action="store_false",
                   help="run the tick eagerly (fast start-up, easy to debug)" + ("" if compile_default else
                                                                                 " (default)"))


def parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorldError(f"expected KEY=VALUE, got {item!r}", where=f"--set {item}")
        out[key.strip()] = value
    return out


def parse_threads(value: str) -> int | str:
    """``--threads``: ``auto`` or an integer >= 1 (a user error otherwise)."""
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise UserError(f"--threads: expected an integer >= 1 or auto, got {value!r}")
    return n


def make_sim(args, num_worlds: int | None = None):
    """Build the Sim the arguments describe (world, overrides, worlds, device, seed, threads, compile)."""
    import torch

    from engine.sim import make

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: CUDA is not available on this machine (torch "
                        f"{torch.__version__}); use --device cpu")
    threads = parse_threads(args.threads)
    n = num_worlds if num_worlds is not None else args.worlds
    if n < 1:
        raise UserError(f"--worlds: expected an integer >= 1, got {n}")
    return make(args.world, num_worlds=n, device=args.device, seed=args.seed,
                overrides=parse_overrides(args.overrides), compile=args.compile, threads=threads,
                override_origin="--set")


class Progress:
    """A one-line progress bar on a terminal (stderr); silent when stderr is not a terminal."""

    def __init__(self, total: int, label: str = "", stream=None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.t0 = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, extra: str = "") -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        frac = done / max(self.total, 1)
        bar = "#" * int(30 * frac)
        self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} {now - self.t0:5.1f}s {extra}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
