"""The trust policy: a world imports code only from where the user allowed it, and modules beside
different world files never collide."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import engine
from engine.cli.main import main
from engine.errors import WorldError

WORLD = textwrap.dedent("""\
    version: 1
    name: tiny
    entities:
      runner: {count: 2, components: {radius: 0.05}, spawn: {pos: {uniform: [-1.0, 1.0]}}}
    agents:
      runner: {entity: runner, observation: [self_pos]}
    systems: [physics, {system: SYSTEM}]
    """)

EVIL = textwrap.dedent("""\
    from pathlib import Path
    Path(__file__).with_name("pwned").write_text("imported")

    def tick(state):
        pass
    """)


def _world(folder: Path, system: str = "evil.tick", module: str = EVIL, name: str = "evil.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(module)
    path = folder / "world.yaml"
    path.write_text(WORLD.replace("SYSTEM", system))
    return path


def test_a_sibling_module_is_not_imported_without_the_opt_in(tmp_path: Path, capsys) -> None:
    path = _world(tmp_path)
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert "world.yaml:7:" in err and "systems[1].system" in err
    assert "evil.py" in err and "not trusted" in err and f"--trust {tmp_path}" in err
    assert "systems[1].system → evil.tick — NOT imported" in captured.out  # validate lists what it would run
    assert "Traceback" not in err
    assert not (tmp_path / "pwned").exists(), "the module ran although it was not trusted"


def test_the_opt_in_imports_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("WORLDLOOM_TRUST", raising=False)
    path = _world(tmp_path)
    assert main(["validate", str(path), "--trust", str(tmp_path)]) == 0
    assert (tmp_path / "pwned").read_text() == "imported"
    assert "WORLDLOOM_TRUST" not in __import__("os").environ  # --trust lasts one command


def test_trust_from_python_and_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    path = _world(tmp_path / "a")
    with pytest.raises(WorldError, match="not trusted"):
        engine.make(path)
    engine.make(path, trust=[tmp_path / "a"])
    assert (tmp_path / "a" / "pwned").exists()
    path_b = _world(tmp_path / "b")
    monkeypatch.setenv("WORLDLOOM_TRUST", str(tmp_path / "b"))
    engine.make(path_b)
    assert (tmp_path / "b" / "pwned").exists()


def test_an_installed_module_needs_the_opt_in_too(tmp_path: Path, capsys) -> None:
    path = tmp_path / "world.yaml"
    path.write_text(WORLD.replace("SYSTEM", "this.s"))  # importing `this` prints the Zen of Python
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert "installed module 'this'" in captured.err and "--trust this" in captured.err
    assert "Beautiful is better than ugly" not in captured.out


def test_two_worlds_with_a_rules_py_each_do_not_collide(tmp_path: Path) -> None:
    def rules(value: float) -> str:
        return f"def tick(state):\n    state['vel'] = state['vel'] * 0 + {value}\n"

    a = _world(tmp_path / "a", "rules.tick", rules(1.0), "rules.py")
    b = _world(tmp_path / "b", "rules.tick", rules(2.0), "rules.py")
    sims = [engine.make(p, trust=True, overrides={"systems": [{"system": "rules.tick"}]}) for p in (a, b)]
    for sim in sims:
        sim.reset(seed=0)
        sim.step(sim.sample_actions())
    assert float(sims[0].state["vel"].max()) == 1.0 and float(sims[1].state["vel"].max()) == 2.0


def test_shipped_example_code_is_trusted_by_default() -> None:
    sim = engine.make("examples/energy_tag/energy_tag", num_worlds=2)
    assert "stamina" in sim.state and "wind" in sim.state


def test_forgetting_the_modules_beside_a_world_reads_edited_code_on_the_next_build(tmp_path: Path) -> None:
    """What play's reload (F6) does: the running Sim keeps its code; the next build sees the edit."""
    from engine.core.resolver import forget_user_modules

    def rules(value: float) -> str:
        return f"def tick(state):\n    state['vel'] = state['vel'] * 0 + {value}\n"

    path = _world(tmp_path, "rules.tick", rules(1.0), "rules.py")
    first = engine.make(path, trust=True)
    (tmp_path / "rules.py").write_text(rules(3.25))  # (another size: a .pyc of the same second stays valid)
    cached = engine.make(path, trust=True)  # without forgetting: the module imported before
    gone = forget_user_modules(path.parent)
    assert gone and all(m.startswith("_worldloom_user_") for m in gone)
    fresh = engine.make(path, trust=True)
    for sim, want in ((first, 1.0), (cached, 1.0), (fresh, 3.25)):
        sim.reset(seed=0)
        sim.step(sim.sample_actions())
        assert float(sim.state["vel"].max()) == want
