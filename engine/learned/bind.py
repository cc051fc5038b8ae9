"""Bind learned plugins to the ECS: the ``plugins:`` section of a world file becomes systems.

A plugin is an ONNX model whose inputs are gathered from component tensors (or a group's
observation) and whose outputs are scattered back (component updates, or a group's actions). One
``run`` per plugin per tick serves every bound entity of every world: the gathered tensor is
``[B*K, F]`` (K entities per world) and is handed to ONNX Runtime through IOBinding, so no copies are
made beyond the gather itself.

Kinds:
  * ``policy``   — ``inputs: {obs: observation}``, ``outputs: {logits: action}`` (discrete: argmax or
    seeded sampling) or ``{action: action}`` (continuous, clamped to [0, 1]); controls its group.
  * ``dynamics`` — ``inputs: {state: [pos, vel], act: action_force}``, ``outputs: {delta: {write:
    [pos, vel], mode: add}}``; takes the place of the system it ``replaces`` (e.g. ``physics``).
    With ``shadow: true`` an open-loop twin is advanced by the replaced hand-coded system and the
    drift between world and twin is reported every tick; ``resync_above`` copies the twin back.
  * ``renderer`` — ``inputs: {state: [pos]}`` of its entities per world, ``outputs: {image: image}``
    ``[B, C, H, W]``; not part of the tick, run by ``Sim.render_learned``.
  * ``planner`` — binds its dynamics model as ``dynamics`` does; ``engine.learned.planner`` runs it on
    imagined worlds (docs/planners.md).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import torch

from engine.world.schema import PluginSpec
from engine.world.validation import describe

CONSTRAINTS = ("bounds", "max_speed", "non_penetration")
#: Inputs up to this many elements are copied into a persistent buffer, so IOBinding keeps its binding
#: (a copy of a few KB costs ~1 µs; rebinding a fresh tensor costs ~15 µs: it matters at one world).
STAGE_MAX_ELEMENTS = 1 << 15


@dataclass
class Gather:
    """One model input: components (or an observation) concatenated per row, optionally normalised."""

    name: str
    sources: list[str]
    size: int
    mean: torch.Tensor | None = None
    std: torch.Tensor | None = None


class PluginHost:
    """A loaded, contract-checked plugin and the tick function built from it."""

    def __init__(self, name: str, spec: PluginSpec, app, path: tuple) -> None:
        from engine.learned.guards import NanGuard

        self.name, self.spec, self.app, self.path = name, spec, app, path
        self.kind = spec.kind
        self.per_world = False
        self.enabled = spec.enabled
        self.ctx = app.ctx
        self.where = self.ctx.where(path)
        self.guard = NanGuard(spec.on_nan, plugin=name)
        self.generator: torch.Generator | None = None
        self.replaced = None  # the hand-coded System this plugin takes the place of
        self.calls = 0
        self.seconds = 0.0
        self.nonfinite_total = 0  # non-finite output values since the Sim was made (every on_nan mode)
        self.model = None
        self.runner = None
        self._stage: dict[str, torch.Tensor] = {}
        self._bind()

    # ------------------------------------------------------------------ binding and contract
    def _err(self, sub: tuple, message: str):
        return self.ctx.error(self.path + sub, f"plugin {self.name!r}: {message}")

    def _bind(self) -> None:
        spec, env = self.spec, self.app
        model_path = self.app.loaded.resolve(spec.model)
        if not model_path.is_file():
            raise self._err(("model",), f"model file not found: {model_path} (paths resolve relative to the "
                                        "world file)")
        for c in spec.constraints:
            if c not in CONSTRAINTS:
                close = difflib.get_close_matches(str(c), CONSTRAINTS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self._err(("constraints",), f"unknown constraint {c!r}{hint}; expected one of {CONSTRAINTS}")
        if self.kind == "policy":
            if spec.agents not in self.app.groups:
                raise self._err(("agents",), f"expected an agent group ({', '.join(self.app.groups)}), "
                                             f"got {describe(spec.agents)}")
            self.group = self.app.groups[spec.agents]
            self.rows_per_world = self.group.size
            self.inputs = [self._policy_input(k, v) for k, v in spec.inputs.items()]
            if len(spec.outputs) != 1 or list(spec.outputs.values())[0] != "action":
                raise self._err(("outputs",), f"a policy has one output bound to 'action', got {spec.outputs}")
            self.out_name = next(iter(spec.outputs))
            self.out_size = self.group.action_space.n
            if spec.on_nan == "fallback" and not spec.replaces:
                raise self._err(("on_nan",), "on_nan: fallback needs `replaces:` naming the hand-coded system "
                                             "(e.g. a scripted controller) to fall back to")
        else:
            types = spec.entities or []
            if not types:
                raise self._err(("entities",), "expected the entity types it reads and writes, e.g. "
                                               "entities: [adversary, prey]")
            env.check_types(types, self.path + ("entities",))
            self.types = types
            idx = env.layout.indices(types)
            self.rows_per_world = len(idx)
            contiguous = bool((idx == torch.arange(int(idx[0]), int(idx[0]) + len(idx))).all())
            # a slice when the bound types are adjacent on the entity axis: views instead of gathers
            self.idx = slice(int(idx[0]), int(idx[0]) + len(idx)) if contiguous else idx.to(env.device)
            self.covers_all = contiguous and len(idx) == env.layout.n
            self.per_world = self.kind == "renderer" or spec.rows == "world"
            self.inputs = [self._component_input(k, v) for k, v in spec.inputs.items()]
            if self.kind in ("dynamics", "planner"):  # a planner imagines with a dynamics model
                if len(spec.outputs) != 1:
                    raise self._err(("outputs",), "a dynamics plugin has one output: {name: {write: [pos, vel], "
                                                  "mode: add}}")
                self.out_name, out = next(iter(spec.outputs.items()))
                if isinstance(out, list):
                    out = {"write": out}
                if not isinstance(out, dict) or "write" not in out or set(out) - {"write", "mode"}:
                    raise self._err(("outputs", self.out_name),
                                    f"expected {{write: [components], mode: add|set}}, got {describe(out)}")
                self.write = self._components(out["write"], ("outputs", self.out_name, "write"))
                self.mode = out.get("mode", "set")
                if self.mode not in ("add", "set"):
                    raise self._err(("outputs", self.out_name, "mode"), f"expected add or set, got {self.mode!r}")
                self.out_size = sum(self._comp_size(c) for c in self.write)
                if self.per_world:
                    self.out_size *= self.rows_per_world
            else:
                self.out_name = next(iter(spec.outputs), None)
                if self.out_name is None or spec.outputs[self.out_name] != "image":
                    raise self._err(("outputs",), "a renderer has one output bound to 'image'")
        self._load(model_path)

    def _comp_size(self, comp: str) -> int:
        c = self.app.layout.components[comp]
        n = 1
        for d in c.shape:
            n *= d
        return n

    def _components(self, value: Any, sub: tuple) -> list[str]:
        names = value if isinstance(value, list) else [value]
        for n in names:
            if not isinstance(n, str) or n not in self.app.layout.components:
                close = difflib.get_close_matches(str(n), list(self.app.layout.components), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self._err(sub, f"unknown component {n!r}{hint}")
            if self.app.layout.components[n].dtype not in ("float", "float32", "float64"):
                raise self._err(sub, f"component {n!r} is not a float component")
        return names

    def _norm(self, value: dict, size: int, sub: tuple):
        env = self.app
        out = []
        for key in ("mean", "std"):
            v = value.get(key)
            if v is None:
                out.append(None)
                continue
            t = torch.as_tensor(v, dtype=torch.float32, device=env.device)
            if t.dim() > 1 or (t.dim() == 1 and t.numel() != size):
                raise self._err(sub + (key,), f"expected a number or {size} numbers, got {describe(v)}")
            out.append(t)
        return out

    def _policy_input(self, name: str, value: Any) -> Gather:
        sub = ("inputs", name)
        src = value.get("from") if isinstance(value, dict) else value
        if src != "observation":
            raise self._err(sub, f"a policy input is fed by 'observation', got {describe(value)}")
        g = Gather(name, ["observation"], self.group.obs_size)
        if isinstance(value, dict):
            extra = set(value) - {"from", "mean", "std"}
            if extra:
                raise self._err(sub, f"unknown keys {sorted(extra)}; expected from, mean, std")
            g.mean, g.std = self._norm(value, g.size, sub)
        return g

    def _component_input(self, name: str, value: Any) -> Gather:
        sub = ("inputs", name)
        src = value.get("from") if isinstance(value, dict) else value
        comps = self._components(src, sub)
        per_entity = sum(self._comp_size(c) for c in comps)
        size = per_entity * (self.rows_per_world if self.per_world else 1)
        g = Gather(name, comps, size)
        if isinstance(value, dict):
            g.mean, g.std = self._norm(value, size, sub)
        return g

    def _load(self, model_path) -> None:
        from engine.learned.contract import TensorSpec, check_contract
        from engine.learned.model import OnnxModel
        from engine.learned.runner import BoundRunner

        s = self.spec.session
        threads = s.intra_op_threads
        if threads is None:
            # one ORT thread: torch already uses the cores for large batches, and two thread pools
            # competing for 2 cores halved tag_learned's throughput at 4096 worlds (measured)
            threads = 1
        from engine.learned.errors import ModelLoadError
        from engine.learned.files import check_model_file

        try:
            check_model_file(model_path, self.app.loaded.base_dir, self.app.trust)
            self.model = OnnxModel(model_path, providers=self.spec.providers, intra_op_threads=threads,
                                   inter_op_threads=s.inter_op_threads, graph_optimization_level=s.graph_optimization,
                                   name=self.name)
        except ModelLoadError as e:  # not ONNX, truncated, unsupported opset, outside the trusted folders
            raise self._err(("model",), str(e).removeprefix(f"plugin '{self.name}': ")) from None
        ins = [TensorSpec(g.name, torch.float32, (g.size,)) for g in self.inputs]
        if self.kind == "renderer":
            sig = next((o for o in self.model.outputs if o.name == self.out_name), None)
            shape = tuple(d if isinstance(d, int) else 0 for d in (sig.shape[1:] if sig else ()))
            outs = [TensorSpec(self.out_name, torch.float32, shape if len(shape) == 3 else (0, 0, 0))]
            self.image_shape = shape
        else:
            outs = [TensorSpec(self.out_name, torch.float32, (self.out_size,))]
        check_contract(self.model, ins, outs, self.name, where=self.where)
        self.runner = BoundRunner(self.model)

    @property
    def provider(self) -> str:
        return self.model.provider

    def describe(self) -> str:
        target = self.spec.agents if self.kind == "policy" else ", ".join(self.types)
        extra = f", replaces {self.spec.replaces}" if self.spec.replaces else ""
        extra += ", shadowed" if self.spec.shadow else ""
        out_size = self.out_size if self.kind != "renderer" else "image"
        ins = ", ".join(f"{g.name}[{g.size}]" for g in self.inputs)
        return (f"{self.kind} on {target}: {self.spec.model} via {self.provider}, {ins} → "
                f"{self.out_name}[{out_size}], on_nan={self.spec.on_nan}{extra}")

    # ------------------------------------------------------------------ running
    def _gather(self, state: dict, g: Gather, B: int) -> torch.Tensor:
        if g.sources == ["observation"]:
            x = state[self.group.obs_key].reshape(-1, g.size)
        else:
            parts = [state[c][:, self.idx].reshape(B, self.rows_per_world, -1) for c in g.sources]
            x = torch.cat(parts, -1) if len(parts) > 1 else parts[0]
            x = x.reshape(B, -1) if self.per_world else x.reshape(-1, g.size)
        if x.dtype != torch.float32:
            x = x.float()
        if g.mean is not None:
            x = x - g.mean
        if g.std is not None:
            x = x / g.std
        return x.contiguous()

    def check_finite(self, out: torch.Tensor, num_worlds: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """The guard, with a fast path: one fused check when everything is finite (the usual case).

        Returns ``(bad, counts)``: ``bad`` the ``[B]`` mask of worlds with a non-finite output (None when
        all are finite), ``counts`` the non-finite values per world (None when all are finite).
        ``raise`` mode raises; ``zero`` mode zeroes them in place.
        """
        if bool(torch.isfinite(out).all()):
            self.guard.checks += 1
            return None, None
        counts = (~torch.isfinite(out)).reshape(num_worlds, -1).sum(1).to(torch.float32)
        self.nonfinite_total += int(counts.sum())
        self.guard.check({self.out_name: out}, num_worlds=num_worlds)
        return counts > 0, counts

    def infer(self, state: dict) -> torch.Tensor:
        """Gather → one ONNX run → the raw output tensor (owned by the runner: copy to keep)."""
        import time

        B = state["pos"].shape[0]
        t0 = time.perf_counter()
        feeds = {}
        for g in self.inputs:
            x = self._gather(state, g, B)
            if x.numel() <= STAGE_MAX_ELEMENTS:
                buf = self._stage.get(g.name)
                if buf is None or buf.shape != x.shape or buf.device != x.device:
                    buf = self._stage[g.name] = torch.empty_like(x)
                buf.copy_(x)
                x = buf
            feeds[g.name] = x
        out = self.runner.run(feeds)[self.out_name]
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out
