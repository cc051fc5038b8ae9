"""``worldloom validate WORLD``: check a world file (schema, cross-references, contracts, user code)."""

from __future__ import annotations

from engine.cli.common import add_world_args, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check a world file and report the first problem with file:line:col",
                       description="Validate a world file: syntax, schema, references between sections, "
                                   "system and term parameters, ONNX plugin contracts, and a dry run of the "
                                   "user code it names (under the trust policy). Exit status 2 on error.")
    add_world_args(p)
    p.add_argument("--state", action="store_true", help="also list every declared state entry")
    p.set_defaults(func=run)


def _check_code(loaded) -> None:
    """List the code the world names and where it would come from, before importing any of it."""
    from engine.core.resolver import TrustPolicy, plan_import
    from engine.errors import UserError
    from engine.world.code_refs import code_references
    from engine.world.yamlio import format_path

    policy = TrustPolicy.from_args()
    refused = []
    for path, dotted in code_references(loaded.spec):
        try:
            _, _, origin = plan_import(dotted, loaded.base_dir, policy, module_ok=path[0] == "extensions")
            verdict = f"from {origin or 'a built-in module'}"
        except UserError as e:
            verdict = "— NOT imported (not found or not trusted; see the error below)"
            refused.append((path, e))
        print(f"  code: {format_path(path)} → {dotted} {verdict}")
    if refused:
        path, e = refused[0]
        raise loaded.ctx.error(path, str(e))


def run(args) -> int:
    from engine.build import build_world
    from engine.builtins import describe_state
    from engine.sim import Sim
    from engine.world.loader import load_world

    loaded = load_world(args.world, parse_overrides(args.overrides))
    _check_code(loaded)
    plan = build_world(loaded, device="cpu")
    if plan.app.user_checks:
        Sim(plan, num_worlds=1).close()  # the dry run of user code at load
    spec = plan.spec
    print(f"{loaded.path}: ok — world {spec.name!r} (format version {spec.version})")
    print(f"  entities: {plan.layout.n} slots: " + ", ".join(
        f"{t.name} {t.count}/{t.capacity}" for t in plan.layout.types.values()))
    for g in plan.groups.values():
        print(f"  agents {g.name}: {g.size} × observation [{g.obs_size}], actions: {g.action_space.describe()}, "
              f"{len(g.reward_fns)} reward term(s)")
    print("  systems: " + " → ".join(s.name for s in plan.systems))
    segments = spec.walls.segment_list()
    if segments:
        print(f"  walls: {len(segments)} segments ({len(spec.walls.segments)} given, {len(spec.walls.boxes)} boxes"
              + (f", a {len(spec.walls.map.rows)}-row map" if spec.walls.map else "") + ")")
    if spec.grid is not None:
        g, lvl = spec.grid, spec.grid.level
        source = (f"generator {lvl.generator}" if lvl.generator else "one map" if lvl.map
                  else f"{len(lvl.maps)} maps, one per reset")
        print(f"  grid: {' × '.join(map(str, g.dims()))} cells, levels from {source}, view {g.view} × {g.view}"
              + (f", {sum(p.count for p in g.place)} placed per reset" if g.place else ""))
    if spec.rules:
        print(f"  rules ({len(spec.rules)}, in this order): " + ", ".join(r.name for r in spec.rules))
    for note in plan.app.notes:
        print(f"  note: {note}")
    for name, p in plan.plugins.items():
        print(f"  plugin {name}: {p.describe()}")
    if not plan.app.code:
        print("  code: none beyond worldloom's built-ins")
    if args.state:
        for row in describe_state(plan.app):
            print(f"  state {row['name']}: {row['scope']} {row['shape']} {row['dtype']}, reset {row['reset']}, "
                  f"owner {row['owner']}" + (f" — {row['doc']}" if row["doc"] else ""))
    return 0
