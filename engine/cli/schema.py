"""``worldloom schema``: print (or write) the JSON Schema of the world format."""

from __future__ import annotations

import json


def world_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of world files, generated from ``engine.world.schema``."""
    from engine.world.schema import FORMAT_VERSION, WorldSpec
    from engine.world.validation import dataclass_schema

    defs: dict = {}
    top = dataclass_schema(WorldSpec, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://worldloom.dev/schema/world-v{FORMAT_VERSION}.json",
            **top, "$defs": defs}


def add_parser(sub) -> None:
    p = sub.add_parser("schema", help="print the JSON Schema of world files (for editor autocompletion)")
    p.add_argument("--out", help="write it to this file (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.fileio import atomic_write_text

    text = json.dumps(world_json_schema(), indent=2) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
    else:
        print(text, end="")
    return 0
