"""Mistakes in a user's own code are user errors: exit 2, the world-file location that named the code
and the user's own file:line — never an engine traceback; the Python API raises ``UserCodeError``."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import engine
from engine.cli.main import main
from engine.errors import UserCodeError

WORLD = textwrap.dedent("""\
    version: 1
    name: tiny
    entities:
      runner: {count: 2, components: {radius: 0.05}, spawn: {pos: {uniform: [-1.0, 1.0]}}}
    agents:
      runner:
        entity: runner
        observation: [self_pos, OBS]
    systems: [physics, SYSTEM]
    """)


def _setup(tmp_path: Path, code: str, system: str = "{system: mine.tick}",
           obs: str = "self_vel") -> Path:
    (tmp_path / "mine.py").write_text(textwrap.dedent(code))
    path = tmp_path / "world.yaml"
    path.write_text(WORLD.replace("SYSTEM", system).replace("OBS", obs))
    return path


def _run(path: Path, capsys, *args: str) -> tuple[int, str]:
    code = main([*args, str(path), "--trust", str(path.parent)])
    return code, capsys.readouterr().err


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_misspelled_state_key(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, """\
        def tick(state):
            state["vel"] = state["poss"] * 0.0
        """)
    code, err = _run(path, capsys, "validate")
    assert code == 2 and "Traceback" not in err
    assert re.search(r"world\.yaml:9:\d+: system 'mine\.tick' reads state 'poss' is not declared \(did you mean "
                     r"'pos'\?\)", err), err
    assert f"mine.py:{_line_of(tmp_path / 'mine.py', 'poss')}" in err


def test_misspelled_declared_read(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, "def tick(state):\n    pass\n", system="{system: mine.tick, reads: [pos, vell]}")
    code, err = _run(path, capsys, "validate")
    assert code == 2 and "world.yaml:9:" in err and "systems[1].reads[1]" in err
    assert "reads state 'vell', which nothing declares (did you mean 'vel'?)" in err


def test_wrong_custom_observation_size(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, """\
        import torch

        def three(state, group):
            return state["pos"][:, group.sl, :1].repeat(1, 1, 3)
        """, system="{bounds: {}}", obs="{custom: {fn: mine.three, size: 2}}")
    code, err = _run(path, capsys, "validate")
    assert code == 2 and "Traceback" not in err
    assert "world.yaml:8:" in err
    assert "observation term 'mine.three' returned shape [1, 2, 3]; expected [1, 2, 2]" in err
    assert "mine.py" in err


def test_exception_in_a_user_factory(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, """\
        from dataclasses import dataclass
        from engine.extend import system

        @dataclass
        class P:
            k: float = 1.0

        @system(params=P)
        def tick(app, p):
            return 1 / 0
        """, system="{system: mine.tick, params: {k: 2.0}}")
    code, err = _run(path, capsys, "validate")
    assert code == 2 and "Traceback" not in err
    assert "world.yaml:9:" in err and "system 'mine.tick' raised ZeroDivisionError: division by zero" in err
    assert f"mine.py:{_line_of(tmp_path / 'mine.py', '1 / 0')}" in err


def test_exception_in_a_user_system(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, """\
        def tick(state):
            raise RuntimeError("the rules broke")
        """)
    for command in (["validate"], ["run", "--eager", "--steps", "2"]):
        code, err = _run(path, capsys, *command)
        assert code == 2 and "Traceback" not in err, err
        assert "world.yaml:9:" in err and "system 'mine.tick' raised RuntimeError: the rules broke" in err
        assert f"mine.py:{_line_of(tmp_path / 'mine.py', 'raise')}" in err


def test_exception_later_in_the_run_is_located_too(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, """\
        def tick(state):
            if int(state["tick"].max()) >= 3:
                raise ValueError("tick three")
        """)
    code, err = _run(path, capsys, "run", "--eager", "--steps", "10")
    assert code == 2 and "Traceback" not in err
    assert "world.yaml:9:" in err and "raised ValueError: tick three" in err and "mine.py:3" in err


def test_the_python_api_raises_user_code_error_chained_to_the_original(tmp_path: Path) -> None:
    path = _setup(tmp_path, "def tick(state):\n    return {}['missing']\n")
    with pytest.raises(UserCodeError) as info:
        engine.make(path, trust=True)
    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.user_frame is not None and info.value.user_frame[0].endswith("mine.py")


def test_traceback_flag_shows_everything(tmp_path: Path, capsys) -> None:
    path = _setup(tmp_path, "def tick(state):\n    raise RuntimeError('boom')\n")
    assert main(["--traceback", "validate", str(path), "--trust", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "boom" in err


def test_old_style_factories_still_work_with_a_deprecation_warning(tmp_path: Path) -> None:
    path = _setup(tmp_path, """\
        def make(env, k=1.0):
            def tick(state):
                state["vel"] = state["vel"] * 0 + k
            return tick

        make.worldloom_factory = True
        """, system="{system: mine.make, params: {k: 0.5}}")
    with pytest.warns(DeprecationWarning, match="worldloom_factory"):
        sim = engine.make(path, trust=True)
    sim.reset(seed=0)
    sim.step(sim.sample_actions())
    assert float(sim.state["vel"].max()) <= 0.5 + 1e-6
