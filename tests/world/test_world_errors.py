"""Every kind of world-file mistake gives exit status 2 and one message: file:line:col, key path,
what was expected and what was found — never a traceback."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from wl_test_support import TINY_WORLD

from engine.cli.main import main
from engine.paths import shipped_worlds

GOOD = TINY_WORLD


def validate(tmp_path: Path, text: str, capsys, *extra: str) -> tuple[int, str]:
    path = tmp_path / "world.yaml"
    path.write_text(text)
    code = main(["validate", str(path), *extra])
    err = capsys.readouterr().err
    return code, err.strip()


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_good_world_validates(tmp_path, capsys):
    path = tmp_path / "world.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_yaml_syntax_error_is_located(tmp_path, capsys):
    code, err = validate(tmp_path, edit("[self_pos, self_vel,", "[self_pos, self_vel"), capsys)
    assert code == 2
    assert "world.yaml:14:" in err and "YAML syntax error" in err


def test_unknown_key_suggests_the_closest(tmp_path, capsys):
    code, err = validate(tmp_path, edit("    count: 2", "    cuont: 2"), capsys)
    assert code == 2
    assert "world.yaml:5:5: entities.runner.cuont: unknown key 'cuont' (did you mean 'count'?)" in err


def test_wrong_type_names_expected_and_found(tmp_path, capsys):
    code, err = validate(tmp_path, edit("count: 2", "count: two"), capsys)
    assert code == 2
    assert "world.yaml:5:12: entities.runner.count: expected an integer >= 0" in err
    assert "got string 'two'" in err


def test_negative_count_is_rejected(tmp_path, capsys):
    code, err = validate(tmp_path, edit("count: 2", "count: -3"), capsys)
    assert code == 2
    assert "world.yaml:5:12: entities.runner.count: expected an integer >= 0" in err and "got -3" in err


def test_nan_where_a_number_is_expected(tmp_path, capsys):
    code, err = validate(tmp_path, "world: {dt: .nan}\n" + GOOD, capsys)
    assert code == 2
    assert "world.yaml:1:13: world.dt: expected a finite number > 0" in err and "nan" in err


def test_duplicate_yaml_key(tmp_path, capsys):
    code, err = validate(tmp_path, edit("name: tiny\n", "name: tiny\nname: again\n"), capsys)
    assert code == 2
    assert "world.yaml:3:1: name: duplicate key 'name' (first defined at" in err and "world.yaml:2:1" in err


def test_missing_referenced_file(tmp_path, capsys):
    text = GOOD + textwrap.dedent("""\
        plugins:
          brain:
            kind: policy
            model: models/missing.onnx
            agents: runner
            inputs: {obs: observation}
            outputs: {logits: action}
        """)
    code, err = validate(tmp_path, text, capsys)
    assert code == 2
    assert "world.yaml:20:12: plugins.brain.model: plugin 'brain': model file not found:" in err
    assert "missing.onnx" in err


def test_dotted_path_that_does_not_import(tmp_path, capsys):
    code, err = validate(tmp_path, edit("systems: [physics]", "systems: [physics, {system: nosuch.mod.fn}]"),
                         capsys)
    assert code == 2
    assert "world.yaml:16:" in err and "systems[1].system: cannot find module 'nosuch' for 'nosuch.mod.fn'" in err


def test_agent_group_naming_an_unknown_entity_type(tmp_path, capsys):
    code, err = validate(tmp_path, edit("entity: runner", "entity: runnr"), capsys)
    assert code == 2
    assert "world.yaml:13:13: agents.runner.entity: unknown entity type 'runnr' (did you mean 'runner'?)" in err


def test_duplicate_names(tmp_path, capsys):
    text = "components:\n  pos: {shape: [2]}\n" + GOOD
    code, err = validate(tmp_path, text, capsys)
    assert code == 2
    assert "world.yaml:2:3: components.pos: duplicate component name 'pos': it is a built-in" in err


def test_component_default_of_the_wrong_shape(tmp_path, capsys):
    code, err = validate(tmp_path, edit("color: [0.2, 0.4, 0.9]", "color: [0.2, 0.4]"), capsys)
    assert code == 2
    assert ("world.yaml:6:39: entities.runner.components.color: expected shape [3] (or a single value "
            "broadcast to it), got shape [2]") in err


def test_declared_component_default_of_the_wrong_shape(tmp_path, capsys):
    text = "components:\n  energy: {shape: [2], default: [1, 2, 3]}\n" + GOOD
    code, err = validate(tmp_path, text, capsys)
    assert code == 2
    assert "world.yaml:2:33: components.energy.default: expected shape [2]" in err


def test_override_errors_name_the_override(tmp_path, capsys):
    code, err = validate(tmp_path, GOOD, capsys, "--set", "entities.runner.count=-1")
    assert code == 2
    assert "--set entities.runner.count=-1: entities.runner.count: expected an integer >= 0 and <= 65536, got -1" in err


def test_alias_bomb_is_refused_fast(tmp_path, capsys):
    import time

    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    t0 = time.perf_counter()
    code, err = validate(tmp_path, "\n".join(lines) + "\n", capsys)
    assert time.perf_counter() - t0 < 5
    assert code == 2 and "alias bomb" in err


def test_count_above_the_documented_maximum(tmp_path, capsys):
    code, err = validate(tmp_path, GOOD, capsys, "--set", "entities.runner.count=10000000")
    assert code == 2 and "expected an integer >= 0 and <= 65536" in err


def test_cli_prints_no_traceback(tmp_path):
    path = tmp_path / "world.yaml"
    path.write_text(edit("count: 2", "count: -3"))
    out = subprocess.run([sys.executable, "-m", "engine", "validate", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr


@pytest.mark.parametrize("world", list(shipped_worlds().values()), ids=lambda p: p.name)
def test_every_shipped_world_validates(world, capsys):
    assert main(["validate", str(world)]) == 0, capsys.readouterr().err
