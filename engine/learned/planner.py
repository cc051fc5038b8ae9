"""The ``planner`` plugin kind: NPCs that act by model-predictive control over a dynamics model.

Every tick a planner imagines ``candidates`` action sequences of ``horizon`` ticks for its agent
group in every world, with a dynamics model — a learned ONNX model bound like a ``dynamics``
plugin (``model:``), or the world's hand-coded physics (``plan.dynamics: physics``) — scores them
with an objective built from reward terms, refits its sampling distribution (CEM or MPPI,
``engine.learned.planning``) ``iterations`` times, and writes the first action of the best plan
into the group's actions, in the ``controllers`` stage, like a policy.

Batched: the imagined worlds are one ``[B·C, N, ...]`` state (``B`` worlds × ``C`` candidates), so a
tick costs exactly ``iterations × horizon`` model calls, whatever B and C are. Decisions (see
docs/planners.md):

* **Joint plans.** One distribution per (step, agent); all the group's agents are imagined together
  in one candidate and scored by one objective (the mean of their rewards), so they can share work
  (flank, corner) instead of each planning against frozen team-mates.
* **Other entities** repeat the force they applied last tick (``others: hold``, what an observer of
  their acceleration could know) or apply none (``others: noop``). This tick's actions of other groups
  are never read: they are chosen simultaneously.
* **Objective**: ``rewards`` is the group's own reward terms from ``agents:`` evaluated on imagined
  states; more reward terms of the same vocabulary can be added (shaping). Terms that read what
  other systems write (rules, lifecycle) see the real world's values of this tick.
* **Randomness** comes from the tick's counter-based generator (``engine.core.random``), so a plan is
  a pure function of the state: seeded runs, snapshots and replays reproduce it bit for bit.
* **Warm start**: last tick's plan, shifted by one, is a candidate and seeds the first distribution;
  it is state (``planner.<name>.plan``), reset with the episode and carried by snapshots.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from engine.core.app import App
from engine.core.state import StateDecl
from engine.core.system import SystemDecl
from engine.learned.planning import Budget, Categorical, Gaussian, optimize, shift
from engine.world.schema import PluginSpec

PLAN_METRICS = ("nonfinite", "value")
#: Most entity-ticks imagined per world and tick (candidates × horizon × iterations × entity slots): 136 times
#: what tag's planners imagine (1,920), and still a typo'd entity count cannot make one tick take minutes
#: (an imagined entity-tick of the hand-coded physics costs up to ~20 µs on one core with a grid broad phase).
MAX_IMAGINED_ENTITY_TICKS = 1 << 18


class Imagined(dict):
    """The state of ``T·B·C`` imagined worlds: entries read from the real ``[B, ...]`` state are repeated
    ``C`` times (candidates of a world are adjacent), then the whole block ``T`` times (``tile``: every
    imagined tick at once, for the objective), on first use; ``cache`` shares the copies between the
    rollouts of one tick, and writes stay here.

    Only what the model, forces and reward terms really read is expanded (for tag: a handful of
    ``[B·C, N]`` tensors), and the real state is never written.
    """

    def __init__(self, real: dict, candidates: int, cache: dict, unbatched: frozenset[str], tile: int = 1) -> None:
        super().__init__()
        self.real, self.candidates, self.cache, self.unbatched, self.tile = real, candidates, cache, unbatched, tile

    def __missing__(self, key: str) -> torch.Tensor:
        v = self.cache.get(key)
        if v is None:
            v = self.real[key]
            if key not in self.unbatched and isinstance(v, torch.Tensor) and v.dim() > 0:
                v = v.repeat_interleave(self.candidates, 0)
                if self.tile > 1:
                    v = v.repeat((self.tile,) + (1,) * (v.dim() - 1))
            self.cache[key] = v
        return v

    def get(self, key: str, default: object = None) -> object:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.real


class PlannerHost:
    """A bound planner: the group it controls, its model (ONNX through a ``PluginHost``, or the hand-coded
    physics), its objective and budget. ``calls``/``seconds`` count planning ticks (``plugin_report``'s
    ms per call is the planner's ms per tick); ``model_calls`` counts imagined steps."""

    kind = "planner"

    def __init__(self, name: str, spec: PluginSpec, app: App, path: tuple) -> None:
        self.name, self.spec, self.app, self.path = name, spec, app, path
        self.plan = spec.plan
        self.enabled = spec.enabled
        self.replaced = None
        self.generator = None
        self.calls, self.seconds, self.nonfinite_total = 0, 0.0, 0
        self._physics_calls = 0
        self.where = app.ctx.where(path)
        if spec.agents not in app.groups:
            raise self._err(("agents",), f"expected the agent group it plans for ({', '.join(app.groups)}), got "
                                         f"{spec.agents!r}")
        self.group = app.groups[spec.agents]
        p, n = self.plan, app.layout.n
        work = p.candidates * p.horizon * p.iterations * n
        if work > MAX_IMAGINED_ENTITY_TICKS:
            raise self._err(("plan",), f"expected candidates × horizon × iterations × entity slots <= "
                                       f"{MAX_IMAGINED_ENTITY_TICKS:,} imagined entity-ticks per world and tick, got "
                                       f"{p.candidates} × {p.horizon} × {p.iterations} × {n:,} = {work:,}; lower the "
                                       "budget or the entity counts")
        self.model_host = self._model_host()

    def _err(self, sub: tuple, message: str):
        return self.app.ctx.error(self.path + sub, f"plugin {self.name!r}: {message}")

    def _model_host(self):
        if self.spec.model is None:
            for key in ("entities", "inputs", "outputs", "constraints"):
                if getattr(self.spec, key):
                    raise self._err((key,), f"{key}: binds an ONNX model; this planner imagines with the "
                                            "hand-coded physics (plan.dynamics) — remove it or give model:")
            return None
        from engine.learned.bind import PluginHost

        own = self.group.slice.name
        if self.spec.entities and own not in self.spec.entities:  # (no entities: PluginHost says what to write)
            raise self._err(("entities",), f"the model must move the planning agents: expected entities to "
                                           f"include {own!r}, got {self.spec.entities}")
        host = PluginHost(self.name, self.spec, self.app, self.path)
        if not {"pos", "vel"} <= set(host.write):
            raise self._err(("outputs",), f"a planner's model must write pos and vel, got {host.write}")
        return host

    @property
    def model_calls(self) -> int:
        """Imagined steps so far (one model call each, for all worlds × candidates)."""
        return self.model_host.calls if self.model_host is not None else self._physics_calls

    @property
    def provider(self) -> str:
        return self.model_host.provider if self.model_host is not None else "hand-coded"

    def describe(self) -> str:
        p = self.plan
        model = f"{self.spec.model} via {self.provider}" if self.model_host is not None else "hand-coded physics"
        extra = f", replaces {self.spec.replaces}" if self.spec.replaces else ""
        return (f"planner for {self.spec.agents}: {p.method} over {model}, horizon {p.horizon} × candidates "
                f"{p.candidates} × iterations {p.iterations} (= {p.horizon * p.iterations} model calls per tick "
                f"on {p.candidates} rows per world), others {p.others}{extra}")

    def budget(self) -> Budget:
        p = self.plan
        return Budget(p.horizon, p.candidates, p.iterations, p.method, p.elites, p.temperature, p.smoothing,
                      p.warm_start)


# ---------------------------------------------------------------------------------------------- pieces
def _imagine_steps(host: PlannerHost) -> tuple[Callable[[dict], None] | None, Callable[[dict], None] | None]:
    """``(learned, hand_coded)`` steps of the imagined worlds (from ``imagined["action_force"]``); either may
    be None: a hand-coded planner has no learned model, a world without a physics system no hand-coded one
    (then flipping a learned planner to hand-coded — key L, ``Sim.set_learned`` — keeps the model)."""
    if host.model_host is None:
        return None, _physics_step(host)
    has_physics = any(e == "physics" or (isinstance(e, dict) and len(e) == 1 and "physics" in e)
                      for e in host.app.loaded.spec.systems)
    return _learned_step(host), _physics_step(host) if has_physics else None


def _learned_step(host: PlannerHost) -> Callable[[dict], None]:
    """The ONNX dynamics model bound like a ``dynamics`` plugin: gather → run → add/set → constraints."""
    from engine.learned.systems import _make_projection, _scatter

    mh = host.model_host
    K = mh.rows_per_world
    sizes = [mh._comp_size(c) for c in mh.write]
    project = _make_projection(mh)

    def learned(s: dict) -> None:
        out = mh.infer(s)
        _scatter(mh, s, out.view(s["pos"].shape[0], K, -1), sizes)
        project(s)

    return learned


def _physics_step(host: PlannerHost) -> Callable[[dict], None]:
    """The world's own ``physics`` system (its parameters from ``systems:``), stepped from given forces."""
    from engine.systems.physics import PhysicsParams, make_physics
    from engine.world.validation import named_entry, parse_dataclass

    app = host.app
    for i, entry in enumerate(app.loaded.spec.systems):
        if entry == "physics" or (isinstance(entry, dict) and len(entry) == 1 and "physics" in entry):
            name, params = named_entry(app.ctx, entry, ("systems", i), "a system")
            p = parse_dataclass(PhysicsParams, params, app.ctx, ("systems", i, name))
            advance = make_physics(app, p, ("systems", i)).advance
            break
    else:
        raise host._err(("plan", "dynamics"), "plan.dynamics: physics imagines with the world's physics system, "
                                              "and this world's systems: list has none; add physics to systems: "
                                              "or give the planner an ONNX dynamics model:")

    def physics(s: dict) -> None:
        advance(s, s["action_force"])
        host._physics_calls += 1

    return physics


def _force_fn(host: PlannerHost) -> Callable[[dict, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``forces(imagined, others, actions) -> [rows, N, 2]``: the group's candidate actions as forces
    (as the physics would apply them), the other entities' ``others`` forces elsewhere."""
    from engine.core.actions import continuous_action_force, direction_table, discrete_action_force

    g, app = host.group, host.app
    space = g.action_space
    a0, a1 = g.slice.start, g.slice.stop
    table = direction_table(app.dtype, app.device)

    def forces(s: dict, others: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        move = space.move_part(act)
        accel = s["accel"][:, a0:a1]
        if move is None:  # agents that only speak: their own force is none
            own = torch.zeros_like(others[:, a0:a1])
        elif space.discrete:
            own = discrete_action_force(move, accel, table)
        else:
            own = continuous_action_force(move, accel)
        own = own * s["alive"][:, a0:a1].unsqueeze(-1).to(own.dtype)
        return torch.cat([others[:, :a0], own.to(others.dtype), others[:, a1:]], 1)

    return forces


def _objective(host: PlannerHost) -> Callable[[dict], torch.Tensor]:
    """``objective(imagined) -> [rows]``: the summed reward terms, mean over the group's agents."""
    from engine.terms.build import build_reward

    g = host.group
    fns = []
    for i, entry in enumerate(host.plan.objective):
        if entry == "rewards":
            if not g.reward_fns:
                raise host._err(("plan", "objective", i), f"`rewards` is the group's own reward terms, and group "
                                                          f"{g.name!r} has none; list reward terms here instead, "
                                                          "e.g. {distance: {to: [prey], scale: -1}}")
            fns += g.reward_fns
        else:
            fns.append(build_reward(host.app, g, entry, host.path + ("plan", "objective", i)))

    def objective(s: dict) -> torch.Tensor:
        alive = s["alive"]
        total = fns[0](s, alive)
        for fn in fns[1:]:
            total = total + fn(s, alive)
        return total.mean(1)

    return objective


def _declare(host: PlannerHost) -> tuple[str, Categorical | Gaussian]:
    """The warm-start plan (agent state ``[B, A, H(, n)]``) and the per-world metrics; the distribution kind."""
    app, g, name, H = host.app, host.group, host.name, host.plan.horizon
    space = g.action_space
    if space.discrete:
        dist: Categorical | Gaussian = Categorical(space.n)
        shape, dtype = (H,), "int64"
    else:
        dist = Gaussian(space.n, space.low, space.high)
        shape, dtype = (H, space.n), "float"
    key = f"planner.{name}.plan"
    app.add_state(StateDecl(key, "agent", shape, dtype, 0, group=g.name, owner=name,
                            doc=f"planner {name}: last tick's plan shifted by one tick (the warm start)"))
    docs = {"nonfinite": "imagined candidate returns that were not finite (discarded) this tick",
            "value": "the imagined (discounted) return of the plan it follows"}
    for m in PLAN_METRICS:
        app.add_state(StateDecl(f"metric.{name}.{m}", "world", (), "float", 0, reset="keep", owner=name,
                                metric=f"{name}.{m}", doc=f"planner {name}: {docs[m]}"))
    C, N = host.plan.candidates, app.layout.n
    app.reserve(C * H * N * 32 * app.float_size, f"planner {name!r}: {C:,} candidates × {H} imagined ticks of each "
                "world", host.path + ("plan",), "lower plan.candidates or plan.horizon")
    return key, dist


# ---------------------------------------------------------------------------------------------- the system
def make_planner_system(host: PlannerHost) -> Callable[[dict], None]:
    """The tick function: plan for every world at once, write the group's actions and the warm start."""
    from engine.core.random import Random
    from engine.learned.errors import NonFiniteOutputError

    g, name, plan = host.group, host.name, host.plan
    budget = host.budget()
    C, H = plan.candidates, plan.horizon
    key, dist = _declare(host)
    learned, hand_coded = _imagine_steps(host)
    forces, objective = _force_fn(host), _objective(host)
    discounts = torch.tensor([plan.discount ** t for t in range(H)], device=host.app.device).view(H, 1)
    unbatched = frozenset(k for k, d in host.app.state.decls.items() if d.scope == "global")
    stream = "planner." + name
    raise_on_nan = host.spec.on_nan == "raise"
    where = f" ({host.where})" if host.where else ""

    def rollout(state: dict, caches: tuple[dict, dict], others: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """Imagine ``cand [B, C, H, A(, n)]`` for H ticks; their discounted objective ``[B, C]``."""
        B = cand.shape[0]
        step = learned if learned is not None and (host.enabled or hand_coded is None) else hand_coded
        every = Imagined(state, C, caches[1], unbatched, tile=H)  # [H·B·C]: tick-major
        act = cand.movedim(2, 0).reshape((H * B * C,) + tuple(cand.shape[3:]))
        force = forces(every, others, act).view((H, B * C) + others.shape[1:])  # forces need no model: all at once
        s = Imagined(state, C, caches[0], unbatched)
        pos, vel = [], []
        for t in range(H):  # the one sequential part: a model call per imagined tick
            s["action_force"] = force[t]
            step(s)
            pos.append(s["pos"])
            vel.append(s["vel"])
        # reward terms are per-row functions of the state: one evaluation scores every imagined tick
        every["pos"], every["vel"] = torch.cat(pos, 0), torch.cat(vel, 0)
        every["action_force"] = force.flatten(0, 1)
        r = objective(every).view(H, B * C)
        return (r * discounts.to(r.dtype)).sum(0).view(B, C)

    def planner(state: dict) -> None:
        if not host.enabled and host.replaced is not None:
            host.replaced.fn(state)
            return
        t0 = time.perf_counter()
        B = state["pos"].shape[0]
        caches: tuple[dict, dict] = ({}, {})
        others = state["action_force"] if plan.others == "hold" else torch.zeros_like(state["action_force"])
        others = others.repeat_interleave(C, 0).repeat(H, 1, 1)
        warm = state[key].transpose(1, 2)  # [B, H, A(, n)]
        weight = (state["tick"] > 0).to(torch.float32) * plan.warm_start  # a fresh episode has no plan yet
        out = optimize(lambda cand: rollout(state, caches, others, cand), dist, budget, Random(state, stream), B,
                       g.size, warm, weight, device=state["pos"].device)
        if bool(out.nonfinite.any()):  # one sync per tick, as a policy's guard
            count = int(out.nonfinite.sum())
            host.nonfinite_total += count
            if raise_on_nan:
                raise NonFiniteOutputError(f"plugin {name!r}{where}: {count} imagined candidate returns were NaN/inf "
                                           "(the model diverged); set on_nan: zero to discard them instead",
                                           plugin=name, output="return", count=count, counts={"return": count})
        first = out.plan[:, 0]
        state[g.action_key] = first.to(state[g.action_key].dtype).clone()
        state[key] = shift(out.plan).transpose(1, 2).to(state[key].dtype).contiguous()
        dtype = state["pos"].dtype
        state[f"metric.{name}.nonfinite"] = out.nonfinite.to(dtype)
        state[f"metric.{name}.value"] = torch.where(torch.isfinite(out.value), out.value, 0.0).to(dtype)
        host.calls += 1
        host.seconds += time.perf_counter() - t0

    return planner


def planner_kind(app: App, name: str, spec: PluginSpec, path: tuple) -> PlannerHost:
    """Bind one ``kind: planner`` entry: check it, declare its state, put its system in ``controllers``."""
    host = PlannerHost(name, spec, app, path)
    if spec.shadow:
        raise app.ctx.error(path + ("shadow",), "shadow mode is for dynamics plugins")
    decl = SystemDecl(name, make_planner_system(host), controls=(spec.agents,), compilable=False, path=path,
                      replaces=spec.replaces, meta={"plugin": host}, stage="controllers")

    def replacing(old: SystemDecl) -> SystemDecl:
        host.replaced = old
        return decl

    if spec.replaces:
        app.replace_system(spec.replaces, replacing, path + ("replaces",))
    elif spec.enabled:
        app.add_system(decl)
    return host
