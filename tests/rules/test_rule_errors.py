"""Every mistake in a rule is a located error at load (file:line:col, what was expected, how to fix),
and `worldloom validate` exits 2 with that one message — never a traceback, never mid-training."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import engine
from engine.errors import WorldError

BASE = """\
version: 1
name: rules_probe
components:
  cooldown: {dtype: int64, countdown: true}
  ready: {dtype: bool}
entities:
  red: {count: 2, spawn: {pos: {uniform: [-1, 1]}}}
  blue: {count: 2, spawn: {pos: {uniform: [-1, 1]}}}
  coin: {count: 3, capacity: 4, components: {collide: false}, spawn: {pos: {uniform: [-1, 1]}}}
  goal: {count: 1, components: {collide: false}}
variables:
  score: {scope: team}
  clock: {scope: world, dtype: float32}
pairings:
  mine: {of: [red], to: coin, choose: random}
agents:
  red: {entity: red, action: {type: discrete, actions: {zap: {}}}, observation: [self_pos]}
  blue: {entity: blue, observation: [self_pos]}
rules:
"""


def _load(tmp_path: Path, rules: str, extra: str = "") -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BASE + textwrap.indent(textwrap.dedent(rules), "  ") + extra)
    engine.make(str(f), num_worlds=2)


CASES = {
    "unknown variable": ("""\
        - name: r
          of: [red]
          when: [{compare: [team.scroe, ">=", 1]}]
          do: [{end: win}]
        """, "unknown team variable 'scroe' (did you mean 'score'?)", "rules[0].when[0].compare[0]"),
    "flag compared with a number": ("""\
        - name: r
          of: [red]
          when: [{compare: [self.ready, "==", 3]}]
          do: [{end: win}]
        """, "type mismatch", "rules[0].when[0].compare[2]"),
    "int variable set to a fraction": ("""\
        - name: r
          of: [red]
          do: [{set: [self.cooldown, 0.5]}]
        """, "type mismatch: self.cooldown holds int values", "rules[0].do[0].set[1]"),
    "team of a type without a team": ("""\
        - name: r
          of: [coin]
          do: [{add: [team.score, 1]}]
        """, "belong to no team", "rules[0].do[0].add[0]"),
    "other without objects": ("""\
        - name: r
          of: [red]
          do: [{despawn: other}]
        """, "the rule has no objects", "rules[0].do[0].despawn"),
    "pairing of other types": ("""\
        - name: r
          of: [blue]
          with: [coin]
          when: [{partner: mine}]
          do: [{despawn: other}]
        """, "pairing 'mine' gives partners to ['red'], not to ['blue']", "rules[0].when[0].partner"),
    "action a group lacks": ("""\
        - name: r
          of: [blue]
          when: [{action: zap}]
          do: [{end: lose}]
        """, "agents of group 'blue' have no action 'zap'", "rules[0].when[0].action"),
    "unknown condition": ("""\
        - name: r
          of: [red]
          when: [{touchng: {}}]
          do: [{end: win}]
        """, "unknown condition 'touchng' (did you mean 'touching'?)", "rules[0].when[0]"),
    "unknown effect": ("""\
        - name: r
          of: [red]
          do: [{despwn: self}]
        """, "unknown effect 'despwn' (did you mean 'despawn'?)", "rules[0].do[0]"),
    "unknown entity type": ("""\
        - name: r
          of: [reds]
          do: [{end: win}]
        """, "unknown entity type 'reds' (did you mean 'red'?)", "rules[0].of"),
    "duplicate rule name": ("""\
        - {name: r, of: [red], do: [{end: win}]}
        - {name: r, of: [blue], do: [{end: win}]}
        """, "rule name 'r' is used by rule 0 too", "rules[1].name"),
    "carried_by without attach": ("""\
        - name: r
          of: [red]
          with: [coin]
          when: [{compare: [other.carried_by, "==", self]}]
          do: [{despawn: other}]
        """, "carried_by exists only in worlds where a rule attaches", "rules[0].when[0].compare[0]"),
    "teleport to a non-finite place": ("""\
        - name: r
          of: [red]
          do: [{teleport: {of: self, to: [.nan, 0.0]}}]
        """, "teleport to: expected [x, y] of finite numbers", "rules[0].do[0].teleport.to"),
    "probability out of range": ("""\
        - {name: r, of: [red], when: [{chance: 1.5}], do: [{end: win}]}
        """, "expected a number in [0.0, 1.0], got number 1.5", "rules[0].when[0].chance"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_mistake_is_a_located_error(tmp_path: Path, case: str) -> None:
    rules, message, where = CASES[case]
    with pytest.raises(WorldError) as err:
        _load(tmp_path, rules)
    text = str(err.value)
    assert message in text, text
    assert "w.yaml:" in text and where in text, text


def test_a_pairing_between_types_of_different_counts_is_located(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BASE.replace("choose: random", "choose: fixed") + "  - {name: r, of: [red], do: [{end: win}]}\n")
    with pytest.raises(WorldError, match=r"pairings\.mine\.choose: .*same counts"):
        engine.make(str(f), num_worlds=1)


def test_validate_exits_2_with_one_located_message(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BASE + "  - {name: r, of: [red], when: [{compare: [world.clock, '==', true]}], do: [{end: win}]}\n")
    out = subprocess.run([sys.executable, "-m", "engine", "validate", str(f)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and "type mismatch" in out.stderr and "rules[0].when[0]" in out.stderr


def test_a_rule_set_that_can_spawn_without_bound_is_reported_at_load_and_capped_at_run_time(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(BASE + "  - {name: breed, of: [coin], do: [{spawn: {type: coin, at: self}}]}\n")
    out = subprocess.run([sys.executable, "-m", "engine", "validate", str(f)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "can spawn without bound" in out.stdout and "capacity, 4" in out.stdout
    sim = engine.make(str(f), num_worlds=3)
    sim.reset(seed=0)
    sim.step(sim.sample_actions())
    coins = sim.layout.types["coin"].sl
    assert sim.state["alive"][:, coins].all()  # 3 alive, 3 spawn: the one free slot is filled
    assert sim.state["rules.spawns_dropped"].tolist() == [2, 2, 2]  # the two others dropped and counted
    sim.step(sim.sample_actions())
    assert sim.state["rules.spawns_dropped"].tolist() == [6, 6, 6]  # 4 alive coins, no free slot


def test_the_json_schema_knows_every_condition_and_effect_and_rejects_a_misspelt_one() -> None:
    import json

    import jsonschema
    import yaml

    from engine.rules.conditions import _BUILDERS as CONDITION_BUILDERS
    from engine.rules.effects import _BUILDERS as EFFECT_BUILDERS
    from engine.world.schema import RULE_CONDITIONS, RULE_EFFECTS

    assert set(CONDITION_BUILDERS) == set(RULE_CONDITIONS) and set(EFFECT_BUILDERS) == set(RULE_EFFECTS)
    root = Path(__file__).resolve().parents[2]
    schema = json.loads((root / "worlds" / "world.schema.json").read_text())
    world = yaml.safe_load((root / "worlds" / "ctf.yaml").read_text())
    jsonschema.validate(world, schema)
    world["rules"][0]["when"][0] = {"touchng": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(world, schema)
    world["rules"][0]["when"][0] = "touching"
    world["rules"][0]["do"].append({"teleprot": {"of": "self"}})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(world, schema)
