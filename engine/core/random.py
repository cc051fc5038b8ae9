"""Random numbers for systems and terms: counter-based, part of the state, compile-friendly.

A stateful generator cannot live inside a compiled tick, and a generator hidden in a user module is
invisible to snapshots and replays. Instead each world carries a random *key* and a *counter* in its
state (``rng.key``, ``rng.counter``, both ``[B]`` int64, declared like any other entry); a draw is a
hash of (key, counter, stream, call, element). Draws are therefore a pure function of the state:
``snapshot()``/``restore()`` and ``replay`` reproduce them bit for bit, eager and compiled ticks
draw the same bits (``normal`` may differ in the last float bit: log and cos are vectorised
differently), and worlds are independent of each other and of the batch size.

Use it from a system or a term:

    >>> import torch
    >>> from engine.core.random import Random
    >>> state = {"rng.key": torch.tensor([7, 8]), "rng.counter": torch.tensor([0, 0])}
    >>> rng = Random(state, "my_system")
    >>> u = rng.uniform((2, 3))          # [B, 3] in [0, 1)
    >>> bool(((u >= 0) & (u < 1)).all()), u.shape
    (True, torch.Size([2, 3]))
    >>> bool((Random(state, "my_system").uniform((2, 3)) == u).all())   # same state → same numbers
    True

The counter advances once per tick (``advance_counter``), so the next tick draws new numbers.
"""

from __future__ import annotations

import math

import torch

KEY, COUNTER = "rng.key", "rng.counter"
_MASK = 0xFFFFFFFF
# Multipliers below 2**31 keep every product of a 32-bit value in int64 without overflow.
_M1, _M2 = 0x21F0AAAD, 0x735A2D97


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (hash-prospector's low-bias family) on int64 tensors holding uint32 values."""
    x = x & _MASK
    x = x ^ (x >> 16)
    x = (x * _M1) & _MASK
    x = x ^ (x >> 15)
    x = (x * _M2) & _MASK
    x = x ^ (x >> 15)
    return x


def _hash_int(x: int) -> int:
    """``hash32`` on a Python int (same bits)."""
    x &= _MASK
    x ^= x >> 16
    x = (x * _M1) & _MASK
    x ^= x >> 15
    x = (x * _M2) & _MASK
    return x ^ (x >> 15)


def seed_keys(seed: int, num_worlds: int, device: torch.device | str) -> torch.Tensor:
    """``[B]`` per-world keys for a Sim seeded with ``seed``."""
    w = torch.arange(num_worlds, dtype=torch.int64, device=device)
    return hash32(hash32(torch.full_like(w, seed & _MASK)) ^ hash32(w + 0x9E3779B9))


def advance_counter(state: dict) -> None:
    state[COUNTER] = state[COUNTER] + 1


def stream_id(name: str) -> int:
    """FNV-1a of the stream's name (plain Python, so a compiled tick folds it to a constant)."""
    h = 0x811C9DC5
    for ch in name:
        h = ((h ^ ord(ch)) * 0x01000193) & _MASK
    return h


class Random:
    """Draws for one system or term in one tick: ``uniform``, ``normal``, ``randint``, ``bernoulli``.

    ``shape`` always starts with the batch axis ``B``. Each call within a tick uses a new sub-stream,
    so two draws of the same shape differ; the sequence of calls must not depend on tensor values
    (it never does in a compiled tick).
    """

    def __init__(self, state: dict, stream: str) -> None:
        self.key = state[KEY]
        self.counter = state[COUNTER]
        self.stream = stream_id(stream)
        self.calls = 0

    def _bits(self, shape: tuple[int, ...]) -> torch.Tensor:
        B = shape[0]
        if B != self.key.shape[0]:
            raise ValueError(f"random draw of shape {list(shape)}: expected the batch axis first ({self.key.shape[0]})")
        per_world = math.prod(shape[1:])
        idx = torch.arange(per_world, dtype=torch.int64, device=self.key.device).view((1,) + tuple(shape[1:]))
        sub = _hash_int(self.stream ^ _hash_int(self.calls + 0x632BE5AB))  # a Python int: a constant when compiled
        base = hash32(self.key ^ hash32(self.counter + sub))
        self.calls += 1
        base = base.view((B,) + (1,) * (len(shape) - 1))
        return hash32(base ^ hash32(idx + 0x5BD1E995))

    def uniform(self, shape: tuple[int, ...], low: float = 0.0, high: float = 1.0,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Uniform in ``[low, high)`` (24 random bits per value)."""
        u = (self._bits(shape) >> 8).to(dtype) * (1.0 / (1 << 24))
        return low + (high - low) * u

    def normal(self, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Gaussian by Box–Muller from two uniform draws."""
        u1 = self.uniform(shape, dtype=dtype).clamp_min(1e-7)
        u2 = self.uniform(shape, dtype=dtype)
        return mean + std * torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)

    def randint(self, shape: tuple[int, ...], high: int) -> torch.Tensor:
        """Integers in ``0..high-1``."""
        return (self.uniform(shape, dtype=torch.float64) * high).to(torch.int64).clamp_max(high - 1)

    def bernoulli(self, shape: tuple[int, ...], p: float | torch.Tensor) -> torch.Tensor:
        """True with probability ``p`` (a number or a tensor broadcastable to ``shape``)."""
        return self.uniform(shape) < p
