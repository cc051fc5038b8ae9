"""The runner: one tick is the frozen schedule of declared systems, fused into compiled segments.

The schedule is built and frozen before the first tick (``engine.build``). Consecutive systems that
can be compiled are fused into one *segment* run by ``torch.compile`` (static shapes, no Python
branching on tensor values, no allocation of new shapes); systems that cannot (ONNX plugins, user
systems marked ``compile: false``) run eagerly between segments. A world without plugins is one
compiled call per tick. The runner knows no state names: systems read and write the dict.
"""

from __future__ import annotations

import itertools
import os
import time
import types
from collections.abc import Callable

import torch

from engine.core.system import SystemDecl
from engine.core.threads import cores
from engine.errors import UserCodeError, UserError

_SEGMENT_IDS = itertools.count()


class _Reads(dict):
    """A state dict that remembers which entries were read (shared by the copies a segment makes)."""

    def __init__(self, state: dict, reads: set[str] | None = None) -> None:
        super().__init__(state)
        self.reads = set() if reads is None else reads

    def __getitem__(self, key: str):
        self.reads.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default=None):
        self.reads.add(key)
        return super().get(key, default)

    def fork(self) -> _Reads:
        return _Reads(self, self.reads)


def _copy(state: dict) -> dict:
    return state.fork() if isinstance(state, _Reads) else dict(state)


#: segments reading at most this many tensor elements get inductor's C++ wrapper (see ``cpp_wrapper``)
SMALL_SEGMENT = 1 << 18


def cpp_wrapper(example: list[torch.Tensor]) -> bool:
    """Whether a segment gets inductor's C++ wrapper: a small one's call is dispatch-bound (one world), and
    the Python wrapper's buffer allocations cost ~60 µs of a ~130 µs grid tick; the C++ one cuts a one-world
    tick by 20-40 % (grid/doorkey, tag) for ~3 s more compile time. ``WORLDLOOM_CPP_WRAPPER``: ``auto``
    (the default: segments of at most ``SMALL_SEGMENT`` elements), ``1`` always, ``0`` never."""
    mode = os.environ.get("WORLDLOOM_CPP_WRAPPER", "auto").strip().lower()
    if mode not in ("auto", "0", "1"):
        raise UserError(f"WORLDLOOM_CPP_WRAPPER: expected auto, 0 or 1, got {mode!r}; unset it for the default")
    if mode != "auto":
        return mode == "1"
    on_cpu = all(t.device.type == "cpu" for t in example)  # (CUDA's C++ wrapper has not been measured here)
    return on_cpu and sum(t.numel() for t in example) <= SMALL_SEGMENT


def _compile(flat: Callable, example: list[torch.Tensor]) -> tuple[Callable, bool]:
    """Compile ``flat`` (tensors → tensors) for exactly these input shapes; the first tick pays for it.

    The segment is traced once to an FX graph (``make_fx`` on fake tensors: nothing runs, nothing
    mutates) and handed to inductor directly, so a tick is one call of inductor's wrapper with no
    Dynamo frame evaluation, guards or config patching around it: at one world the tick is
    dispatch-bound and that overhead was ~45 µs of ~80. It is sound because a segment only ever
    sees the state tensors it was traced with — same keys (a change recompiles), shapes and dtypes
    (the state table allocates them; ``Sim.restore`` and user hooks are checked against it) — and a
    trace bakes in Python control flow exactly as Dynamo would without guards. A segment that
    cannot be traced this way (data-dependent Python control flow) falls back to ``torch.compile``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(max(cores(), threads))  # see below
    try:
        return _compile_parallel(flat, example)
    finally:
        torch.set_num_threads(threads)


def _compile_parallel(flat: Callable, example: list[torch.Tensor]) -> tuple[Callable, bool]:
    """``_compile`` with all cores set: inductor emits OpenMP parallel loops only when more than one
    thread is set while it compiles; the loops then run on however many threads are set at run time.
    Compiled under one thread (the thread policy's first choice), a kernel stays serial forever and
    a large batch cannot use the cores the policy later measures as faster."""
    from torch._inductor.compile_fx import compile_fx
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    patches = {"size_asserts": False, "cpp_wrapper": cpp_wrapper(example)}  # (a bad setting: not a fallback)
    fake_mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)  # a shape env: cacheable
    fakes = [fake_mode.from_tensor(t, static_shapes=True) for t in example]
    try:
        with fake_mode:
            graph = make_fx(flat, tracing_mode="real")(*fakes)
        return compile_fx(graph, fakes, config_patches=patches), True
    except Exception:  # noqa: BLE001 - a trace or lowering failure: Dynamo handles graph breaks and fallbacks
        compiled = torch.compile(_own_code(flat), dynamic=False,
                                 options={"guard_filter_fn": torch.compiler.skip_all_guards_unsafe})
        compiled(*example)
        return compiled, False


def _own_code(fn: Callable) -> Callable:
    """``fn`` with a code object of its own.

    Dynamo caches compiled graphs per code object; every segment of every Sim is a ``flat`` closure
    with the same code, so they would share one cache and check guards to tell them apart. With a
    code object each, a segment's cache holds its one graph, and its guards can be skipped: the
    segment is only ever called with the state tensors it was compiled for (same keys, shapes,
    dtypes — the state table allocates them; inductor still asserts sizes and strides). Skipping the
    guards halves the call overhead of a one-world tick (dispatch-bound: ~20 µs of ~80).
    """
    code = fn.__code__.replace(co_name=f"{fn.__name__}_{next(_SEGMENT_IDS)}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


class _Compiled:
    """A compiled segment (see ``_compile``), called with a flat tuple of tensors.

    The first call runs eagerly to learn which entries the segment reads and writes; the compiled
    function takes only the read tensors, positionally, and returns only the written ones — so entries
    the segment never touches (other systems' state, colours, metrics …) are neither passed nor
    returned: at one world the tick is dispatch-bound, and every argument costs.
    """

    def __init__(self, fn: Callable[[dict], dict]) -> None:
        self.fn = fn
        self.compiled = None
        self.traced = False  # True: traced and handed to inductor; False: Dynamo's fallback (graph breaks)
        self.state_keys: tuple[str, ...] = ()
        self.keys: tuple[str, ...] = ()
        self.written: tuple[str, ...] = ()

    def __call__(self, state: dict) -> dict:
        if self.compiled is None or tuple(state) != self.state_keys:
            probe = _Reads(state)
            out = self.fn(probe)
            self.state_keys = tuple(state)
            self.keys = tuple(k for k in state if k in probe.reads)
            self.written = tuple(k for k, v in out.items() if state.get(k) is not v)
            keys, written, fn = self.keys, self.written, self.fn

            def flat(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
                new = fn(dict(zip(keys, tensors)))
                return tuple(new[k] for k in written)

            self.compiled, self.traced = _compile(flat, [state[k] for k in keys])
            return dict(out)
        out = dict(state)
        out.update(zip(self.written, self.compiled(*[state[k] for k in self.keys])))
        return out


class Tick:
    """Runs one tick over a state dict and returns the new state dict.

    ``compile=True`` compiles each segment with ``torch.compile`` (first call is slow; later calls
    and later processes reuse the cache). ``profile`` times each system (eager, with a sync).
    """

    def __init__(self, systems: list[SystemDecl], compile: bool = False) -> None:
        self.systems = list(systems)
        self.segments: list[tuple[str, Callable[[dict], dict], list[SystemDecl]]] = []
        current: list[SystemDecl] = []
        for s in self.systems:
            if s.compilable:
                current.append(s)
                continue
            if current:
                self.segments.append(self._segment(current))
                current = []
            self.segments.append(self._segment([s]))
        if current:
            self.segments.append(self._segment(current))
        if compile:
            self.segments = [(n, _Compiled(f) if all(s.compilable for s in ss) else f, ss)
                             for n, f, ss in self.segments]
        self.compiled = compile

    @staticmethod
    def _segment(systems: list[SystemDecl]):
        fns = [s.fn for s in systems]

        def segment(state: dict) -> dict:
            state = _copy(state)
            for fn in fns:
                fn(state)
            return state

        return "+".join(s.name for s in systems), segment, systems

    def __call__(self, state: dict) -> dict:
        for _, fn, systems in self.segments:
            try:
                state = fn(state)
            except UserCodeError:
                raise
            except Exception:
                if not isinstance(fn, _Compiled):
                    raise
                self._locate(state, systems)  # re-run eagerly: a user system's error gets its location
                raise
        return state

    @staticmethod
    def _locate(state: dict, systems: list[SystemDecl]) -> None:
        state = dict(state)
        for s in systems:
            s.fn(state)

    def profile(self, state: dict, timings: dict[str, float]) -> dict:
        """One eager tick, adding seconds per system into ``timings``."""
        state = dict(state)
        sync = torch.cuda.synchronize if state["pos"].is_cuda else (lambda: None)
        for s in self.systems:
            t0 = time.perf_counter()
            s.fn(state)
            sync()
            timings[s.name] = timings.get(s.name, 0.0) + time.perf_counter() - t0
        return state
