"""``worldloom validate WORLD``: check a world file (schema, cross-references, plugin contracts)."""

from __future__ import annotations

from engine.cli.common import add_world_args, parse_overrides


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="check a world file and report the first problem with file:line:col",
                       description="Validate a world file: syntax, schema, references between sections, "
                                   "system and term parameters, ONNX plugin contracts. Exit status 2 on error.")
    add_world_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.build import build_world
    from engine.world.loader import load_world

    loaded = load_world(args.world, parse_overrides(args.overrides))
    plan = build_world(loaded, device="cpu")
    spec = plan.spec
    print(f"{loaded.path}: ok — world {spec.name!r} (format version {spec.version})")
    print(f"  entities: {plan.layout.n} slots: " + ", ".join(
        f"{t.name} {t.count}/{t.capacity}" for t in plan.layout.types.values()))
    for g in plan.groups.values():
        print(f"  agents {g.name}: {g.size} × observation [{g.obs_size}], {g.action_type} actions, "
              f"{len(g.reward_fns)} reward term(s)")
    print("  systems: " + " → ".join(s.name for s in plan.systems))
    for name, p in plan.plugins.items():
        print(f"  plugin {name}: {p.describe()}")
    return 0
