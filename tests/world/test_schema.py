"""The shipped JSON Schema is generated from the same dataclasses the loader validates with."""

import json
from pathlib import Path

import pytest

from engine.cli.schema import world_json_schema
from engine.world.yamlio import load_yaml

ROOT = Path(__file__).resolve().parents[2]
WORLDS = sorted((ROOT / "worlds").glob("*.yaml")) + sorted((ROOT / "worlds" / "mpe").glob("*.yaml"))


def test_shipped_schema_is_up_to_date():
    shipped = json.loads((ROOT / "worlds" / "world.schema.json").read_text())
    assert shipped == world_json_schema(), "regenerate it: worldloom schema --out worlds/world.schema.json"


def test_schema_describes_every_field():
    schema = world_json_schema()
    for name, d in schema["$defs"].items():
        obj = next((x for x in d.get("anyOf", [d]) if x.get("type") == "object"), d)
        for key, prop in obj.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"
        assert obj.get("additionalProperties") is False or "anyOf" in d


@pytest.mark.parametrize("world", WORLDS, ids=lambda p: p.name)
def test_every_shipped_world_matches_the_json_schema(world):
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(load_yaml(world).data, world_json_schema())


def test_schema_rejects_an_unknown_key():
    jsonschema = pytest.importorskip("jsonschema")
    data = load_yaml(ROOT / "worlds" / "tag.yaml").data
    data["entities"]["prey"]["cuont"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, world_json_schema())
