"""Untrusted input: every bad world file (and every bad ``--set``) is a located ``WorldError`` — never a
traceback, never unbounded memory. One test per known case (through ``engine.make``/``load_world``
and through ``worldloom validate``), then a seeded mutation fuzzer over every shipped world."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from wl_test_support import TINY_WORLD

import engine
from engine.cli.main import main
from engine.errors import UserError, WorldError
from engine.world.yamlio import MAX_DEPTH

ROOT = Path(__file__).resolve().parents[2]

GOOD = TINY_WORLD


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def write(tmp_path: Path, content: str | bytes, name: str = "world.yaml") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def run_world(path, steps: int = 3, **kw):
    sim = engine.make(path, num_worlds=2, **kw)
    sim.reset()
    out = None
    for _ in range(steps):
        out = sim.step(sim.sample_actions())
    return sim, out


def refused(path, *contains: str, **kw) -> str:
    """engine.make raises a WorldError whose message contains every string; returns the message."""
    with pytest.raises(WorldError) as info:
        run_world(path, **kw)
    msg = str(info.value)
    for c in contains:
        assert c in msg, msg
    return msg


def cli(path, capsys, *extra: str) -> str:
    """``worldloom validate`` exits 2 with one message naming the file; returns the message."""
    code = main(["validate", str(path), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("\n") == 0, err
    return err


def both(path, capsys, *contains: str, **kw) -> str:
    """The same located error through the Python API and the CLI."""
    msg = refused(path, *contains, **kw)
    err = cli(path, capsys)
    for c in contains:
        assert c in err, err
    return msg


# ------------------------------------------------------------------ 1. characters, bytes, files

@pytest.mark.parametrize("char", ["\x01", "\x7f", "\x00", "\x1b", "\ufffe"])
def test_control_character_is_located(tmp_path, capsys, char):
    path = write(tmp_path, edit("name: tiny", f"name: ti{char}ny"))
    both(path, capsys, "world.yaml:2:9:", f"character U+{ord(char):04X} is not allowed")


def test_bytes_that_are_not_utf8_are_located(tmp_path, capsys):
    path = write(tmp_path, GOOD.encode().replace(b"name: tiny", b"name: t\xc3\xa9\xffny"))
    both(path, capsys, "world.yaml:2:9:", "byte 0xff is not UTF-8 text")  # columns count characters


def test_a_folder_is_not_a_world(tmp_path, capsys):
    (tmp_path / "dir.yaml").mkdir()
    both(tmp_path / "dir.yaml", capsys, "dir.yaml", "is a folder")


def test_an_empty_file(tmp_path, capsys):
    for text in ("", "\n\n", "# only a comment\n", "---\n"):
        both(write(tmp_path, text), capsys, "world.yaml", "the file is empty")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    path.chmod(0)
    both(path, capsys, "world.yaml", "permission denied")


def test_an_unreadable_file_even_as_root(tmp_path, capsys, monkeypatch):
    import builtins

    path = write(tmp_path, GOOD)
    real_open = builtins.open

    def deny(file, *a, **kw):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(builtins, "open", deny)
    both(path, capsys, "world.yaml", "cannot read the file: permission denied")


def test_a_file_that_is_too_large(tmp_path, capsys):
    from engine.world.yamlio import MAX_FILE_BYTES

    path = write(tmp_path, GOOD + "#" * MAX_FILE_BYTES + "\n")
    both(path, capsys, "world.yaml", "larger than 8 MiB")


def test_a_scalar_python_cannot_build(tmp_path, capsys):
    path = write(tmp_path, GOOD + "description: 2024-13-45\n")
    both(path, capsys, "world.yaml:17:14:", "cannot read the value '2024-13-45' as timestamp")
    path = write(tmp_path, GOOD + "description: " + "1" * 5000 + "\n")
    both(path, capsys, "world.yaml:17:14:", "as int")


# ------------------------------------------------------------------ 2. nesting depth

@pytest.mark.parametrize("deep", ["[" * 5000 + "]" * 5000, "{a: " * 3000 + "1" + "}" * 3000],
                         ids=["lists", "mappings"])
def test_deep_nesting_is_refused_before_the_recursion_limit(tmp_path, capsys, deep):
    path = write(tmp_path, GOOD + "description: " + deep + "\n")
    both(path, capsys, "world.yaml:17:", f"nested more than {MAX_DEPTH} levels deep")


def test_nesting_through_aliases_is_bounded_too(tmp_path, capsys):
    anchor = "[" * 40 + "1" + "]" * 40
    text = GOOD + f"x: &deep {anchor}\ndescription: " + "[" * 40 + "*deep" + "]" * 40 + "\n"
    both(write(tmp_path, text), capsys, "world.yaml:17:", f"nested more than {MAX_DEPTH} levels deep")


def test_nesting_within_the_limit_is_an_ordinary_error(tmp_path):
    path = write(tmp_path, GOOD + "description: " + "[" * 60 + "]" * 60 + "\n")
    msg = refused(path, "world.yaml:17:14: description: expected a string")
    assert "nested" not in msg


def test_deep_override_values_and_keys(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    deep = "[" * 5000 + "]" * 5000
    refused(path, "overrides description=[[[", f"nested more than {MAX_DEPTH} levels deep",
            overrides={"description": deep})
    err = cli(path, capsys, "--set", f"description={deep}")
    assert "--set description=[[[" in err and f"nested more than {MAX_DEPTH} levels" in err
    refused(path, f"expected a key of at most {MAX_DEPTH} parts", overrides={"a." * 5000 + "b": 1})
    value: list = []
    for _ in range(5000):  # a Python value nested deeper than YAML allows
        value = [value]
    refused(path, "nested more than", overrides={"description": value})


def test_override_that_is_not_yaml_names_the_override(tmp_path, capsys):
    err = cli(write(tmp_path, GOOD), capsys, "--set", "description=[1, 2")
    assert "--set description=[1, 2: description: YAML syntax error" in err
    err = cli(write(tmp_path, GOOD), capsys, "--set", "description=a\x01b")
    assert "--set description=a\x01b: description: character U+0001 is not allowed" in err


# ------------------------------------------------------------------ 3. duplicated entity types

@pytest.mark.parametrize("old,new,where", [
    ("of: [rock]", "of: [rock, rock]", "world.yaml:14:66: agents.runner.observation[2].relative_pos.of[1]"),
    ("of: [rock]", "of: [runner, runner]", "world.yaml:14:68: agents.runner.observation[2].relative_pos.of[1]"),
    ("with: [rock]", "with: [rock, rock]", "world.yaml:15:38: agents.runner.reward[0].contact.with[1]"),
])
def test_a_type_listed_twice(tmp_path, capsys, old, new, where):
    path = write(tmp_path, edit(old, new))
    both(path, capsys, where, "is listed twice (items 0 and 1); expected each type once")


def test_a_type_listed_twice_in_tag(tmp_path, capsys):
    text = (ROOT / "worlds" / "tag.yaml").read_text()
    path = write(tmp_path, edit("relative_pos: {of: [obstacle]}", "relative_pos: {of: [obstacle, obstacle]}", text))
    both(path, capsys, "world.yaml:40:", "relative_pos.of[1]: entity type 'obstacle' is listed twice")


# ------------------------------------------------------------------ 4. types with no entities

ZERO_ROCKS = edit("count: 1\n", "count: 0\n", GOOD.replace(
    "reward: [{contact: {with: [rock], value: -1.0}}]",
    "reward: [{contact: {with: [rock]}}, {distance: {to: [rock]}}, {distance: {to: [rock], reduce: sum}}]",
).replace("{relative_pos: {of: [rock]}}", "{relative_pos: {of: [rock]}}, {alive: {of: [rock]}}, "
                                          "{vel: {of: [rock]}}"))


def test_terms_over_a_type_with_no_entities_are_zero(tmp_path, capsys):
    path = write(tmp_path, ZERO_ROCKS)
    sim, (obs, rew, *_rest) = run_world(path)
    assert obs["runner"].shape == (2, 2, 4)  # self_pos, self_vel; 0 features for 0 rocks
    assert torch.equal(rew["runner"], torch.zeros(2, 2))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_systems_over_a_type_with_no_entities(tmp_path):
    text = ZERO_ROCKS.replace("systems: [physics]", "systems: [{scripted_chase: {agents: runner, target: [rock]}}, "
                                                    "physics]")
    sim, _ = run_world(write(tmp_path, text))
    assert torch.equal(sim.state["action.runner"], torch.zeros(2, 2, dtype=sim.state["action.runner"].dtype))
    text = ZERO_ROCKS.replace("count: 2\n", "count: 2\n    lifecycle: {despawn_on_contact: [rock]}\n", 1)
    sim, _ = run_world(write(tmp_path, text))
    assert bool(sim.state["alive"][:, :2].all())
    text = ZERO_ROCKS.replace("components: {radius: 0.2, movable: false}",
                              "components: {radius: 0.2, movable: false}\n    lifecycle: {despawn_on_contact: "
                              "[runner], respawn_after: 2}")
    run_world(write(tmp_path, text))


# ------------------------------------------------------------------ 5. OS errors on the world path

def test_a_file_name_too_long_for_the_file_system(tmp_path, capsys):
    path = tmp_path / ("x" * 300 + ".yaml")
    msg = both(path, capsys, "xxxxxxxxxx", "cannot use this as a world file: File name too long")
    assert len(msg) < 300


def test_a_path_with_a_nul_byte(tmp_path):
    with pytest.raises(WorldError, match="world file not found|cannot use"):
        engine.load_world(str(tmp_path / "a\x00b.yaml"))


# ------------------------------------------------------------------ 6. shapes and the memory budget

def test_component_shape_maxima(tmp_path, capsys):
    path = write(tmp_path, GOOD + "components:\n  big: {shape: [65536, 65536]}\n")
    both(path, capsys, "world.yaml:18:16: components.big.shape: expected a shape of at most 65,536 elements",
         "got [65536, 65536] = 4,294,967,296 elements")
    path = write(tmp_path, GOOD + "components:\n  big: {shape: [70000]}\n")
    both(path, capsys, "world.yaml:18:17: components.big.shape[0]: expected an integer >= 1 and <= 65536")


def test_a_user_state_shape_is_bounded_too(tmp_path, capsys):
    text = edit("systems: [physics]", "systems: [physics, {system: engine.sim.make, state: {big: {shape: "
                                      "[65536, 65536]}}}]")
    both(write(tmp_path, text), capsys, "systems[1].state.big.shape: expected a shape of at most 65,536")


def test_components_over_the_memory_budget(tmp_path, capsys):
    text = edit("count: 1\n", "count: 65000\n") + "components:\n  big: {shape: [4096], dtype: float64}\n"
    msg = both(write(tmp_path, text), capsys, "world.yaml:18:",
               "components.big.shape: storing the components of 65,002 entity slots",
               "expected at most 1.0 GiB per world copy")
    assert "GiB per world copy" in msg and "lower entities.<type>.count/capacity" in msg


ALL_PAIRS = "systems: [{physics: {broadphase: all_pairs}}]"


def test_contacts_between_many_entities_are_over_the_budget(tmp_path, capsys):
    text = edit("count: 1\n", "count: 60000\n").replace("systems: [physics]", ALL_PAIRS)
    both(write(tmp_path, text), capsys, "world.yaml:16:", "systems[0].physics: physics contacts between 60,002",
         "GiB per world copy", "expected at most 1.0 GiB per world copy", "physics: {contacts: false}",
         "physics: {broadphase: grid}")


def test_many_colliding_entities_fit_through_the_grid_by_default(tmp_path):
    """broadphase auto: above 256 colliders the contacts go through a grid, whose memory grows with N."""
    sim, _ = run_world(write(tmp_path, edit("count: 1\n", "count: 60000\n")), steps=1)
    assert sim.layout.n == 60002 and "physics.crowded" in sim.state


def test_many_entities_without_contacts_allocate_no_n_by_n_matrix(tmp_path, monkeypatch):
    text = edit("count: 1\n", "count: 65534\n").replace("systems: [physics]",
                                                        "systems: [{physics: {contacts: false}}]")
    real_eye = torch.eye

    def eye(n, *a, **kw):
        assert n <= 4096, f"torch.eye({n}): an [N, N] matrix for {n} entities"
        return real_eye(n, *a, **kw)

    monkeypatch.setattr(torch, "eye", eye)
    sim, _ = run_world(write(tmp_path, text), steps=1)
    assert sim.layout.n == 65536


def test_the_budget_can_be_raised(tmp_path, monkeypatch):
    text = edit("count: 1\n", "count: 6000\n").replace("systems: [physics]", ALL_PAIRS)
    refused(write(tmp_path, text), "physics contacts between 6,002 entities")
    monkeypatch.setenv("WORLDLOOM_MAX_WORLD_MIB", "4096")
    engine.load_world(write(tmp_path, text))
    engine.build.build_world(engine.load_world(write(tmp_path, text)))
    monkeypatch.setenv("WORLDLOOM_MAX_WORLD_MIB", "lots")
    with pytest.raises(WorldError, match="WORLDLOOM_MAX_WORLD_MIB: expected a number of MiB"):
        engine.build.build_world(engine.load_world(write(tmp_path, text)))


def test_observing_too_many_entities_is_over_the_budget(tmp_path, capsys):
    text = edit("runner:\n    count: 2", "runner:\n    count: 30000").replace(
        "count: 1\n", "count: 30000\n").replace("systems: [physics]", "systems: [{physics: {contacts: false}}]")
    both(write(tmp_path, text), capsys, "world.yaml:14:", "relative_pos term (30,000 agents × 30,000 entities)")


# ------------------------------------------------------------------ 7. numbers beyond the world's float type

@pytest.mark.parametrize("old,new,contains", [
    ("systems: [physics]", "systems: [physics]\nworld: {contact_force: 1.797e+308}",
     "world.yaml:17:24: world.contact_force: expected a number >= 0 within the range of float32 (|x| <= 3.403e+38), "
     "got 1.797e+308"),
    ("systems: [physics]", "systems: [physics]\nworld: {dt: 1.0e+300}",
     "world.yaml:17:13: world.dt: expected a number"),
    ("uniform: [-1.0, 1.0]", "uniform: [-1.0e+39, 1.0e+39]",
     "world.yaml:7:29: entities.runner.spawn.pos.uniform[0]: expected a number within the range of float32"),
    ("uniform: [-1.0, 1.0]", "uniform: [-3.0e+38, 3.0e+38]",
     "world.yaml:7:28: entities.runner.spawn.pos.uniform: expected high - low within the range"),
    ("uniform: [-1.0, 1.0]", "normal: [0.0, 1.0e+38]", "spawn.pos.normal: expected |mean| + 8·std within the range"),
    ("radius: 0.2,", "radius: 1.0e+39,", "world.yaml:10:26: entities.rock.components.radius: expected a number within"),
    ("radius: 0.2,", "radius: .inf,", "world.yaml:10:26: entities.rock.components.radius: expected a finite number, "
                                      "got number inf"),
    ("radius: 0.2,", "radius: .nan,", "entities.rock.components.radius: expected a finite number, got number nan"),
    ("radius: 0.2,", "radius: 0.2, max_speed: -.inf,", "components.max_speed: expected a number or +inf"),
    ("value: -1.0", "value: -1.0e+300", "world.yaml:15:46: agents.runner.reward[0].contact.value: expected a number "
                                        "within the range of float32"),
    ("value: -1.0", "value: .nan", "contact.value: expected a finite number"),
    ("value: -1.0", "value: -.inf", "contact.value: expected a finite number"),
    ("count: 2", "count: 1" + "0" * 30, "entities.runner.count: expected an integer >= 0 and <= 65536"),
    ("radius: 0.05,", "radius: 0.05, mass: " + "1" + "0" * 40 + ",", "components.mass: expected a number within the"),
])
def test_numbers_beyond_the_float_type(tmp_path, capsys, old, new, contains):
    both(write(tmp_path, edit(old, new)), capsys, contains)


def test_component_values_fit_their_declared_type(tmp_path, capsys):
    text = "components:\n  n: {dtype: int32, default: 4294967296}\n" + GOOD
    both(write(tmp_path, text), capsys, "world.yaml:2:30: components.n.default: expected integers in int32's range")
    text = "components:\n  e: {dtype: float64, default: 1.0e+300}\n  f: {default: 1.0e+300}\n" + GOOD
    both(write(tmp_path, text), capsys, "world.yaml:3:16: components.f.default: expected a number within the range "
                                        "of float32")


def test_max_speed_may_be_infinite_and_float64_worlds_take_big_numbers(tmp_path):
    sim, _ = run_world(write(tmp_path, edit("radius: 0.2,", "radius: 0.2, max_speed: .inf,")))
    assert torch.isfinite(sim.state["pos"]).all()
    text = edit("systems: [physics]", "systems: [physics]\nworld: {dtype: float64}").replace(
        "value: -1.0", "value: -1.0e+300")
    sim, (_, rew, *_r) = run_world(write(tmp_path, text))
    assert sim.state["pos"].dtype == torch.float64


def test_override_numbers_are_checked_like_the_file(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    err = cli(path, capsys, "--set", "world.contact_force=1.0e+39")
    assert "--set world.contact_force=1.0e+39: world.contact_force: expected a number >= 0 within the range" in err
    err = cli(path, capsys, "--set", "world.contact_force=.inf")
    assert "world.contact_force: expected a finite number" in err


# ------------------------------------------------------------------ 8. found by the fuzzer

def test_an_empty_tagged_integer(tmp_path, capsys):
    # PyYAML's int constructor raised IndexError on an empty `!!int`
    path = write(tmp_path, edit("count: 2", "count: !!int"))
    both(path, capsys, "world.yaml:5:12:", "cannot read the value '' as int")


def test_an_extension_listed_twice(tmp_path, capsys):
    # was a UserError without a location ("system 'gusts' is registered twice")
    text = (ROOT / "worlds" / "examples" / "energy_tag" / "energy_tag.yaml").read_text()
    path = write(tmp_path, edit("extensions: [weather]", "extensions: [weather, weather]", text))
    both(path, capsys, "world.yaml:13:23: extensions[1]: extension 'weather' is listed twice",
         trust=[str(ROOT / "worlds" / "examples" / "energy_tag")])


def test_an_override_with_a_huge_index_or_value(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    err = cli(path, capsys, "--set", "agents.runner.observation." + "9" * 30 + "=1")
    assert "expected an index 0..2 into the list at agents.runner.observation" in err
    err = cli(path, capsys, "--set", "description=" + "[1, " * 200 + "]")
    assert err.startswith("worldloom validate: error: --set description=[1, [1,") and len(err) < 400

# ------------------------------------------------------------------ the fuzzer

FUZZ_CASES = 35  # per world file (the swarms, the slowest, get a fifth): ~900 cases in about 45 s on 2 cores
LONG_CASES = 500  # per world file and seed in the slow run


def _fuzz(tmp_path, seed: int, cases: int):
    out = tmp_path / "report.json"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("fuzz_worlds.py")), "--seed", str(seed),
                           "--cases", str(cases), "--weight", "swarm.yaml=0.2", "--weight", "swarm_10k.yaml=0.2",
                           "--memory-gib", "4",
                           "--json", str(out)], capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(out.read_text())
    shown = [f"--- {f['world']} case {f['case']}:\n{f['error']}\nmutated text:\n{f['text'][:3000]}"
             for f in report["failures"][:5]]
    assert not report["failures"], f"{len(report['failures'])} of {report['cases']} mutated worlds raised " \
                                   "something other than a UserError:\n" + "\n".join(shown)
    unlocated = [f"{u['world']} case {u['case']}: {u['error'][:300]}" for u in report["unlocated"][:5]]
    assert not report["unlocated"], "user errors that do not name the world file:\n" + "\n".join(unlocated)
    assert report["cases"] >= 4 * cases
    print(f"fuzz: {report['cases']} cases ({report['ran']} ran, {report['user_error']} user errors) in "
          f"{time.perf_counter() - t0:.1f} s")


def test_mutated_worlds_give_only_user_errors(tmp_path):
    """Seeded mutations of every world in worlds/ through engine.make + 3 steps, in a subprocess limited
    to 4 GiB of address space: anything but a located UserError fails, with the mutated text."""
    _fuzz(tmp_path, seed=0, cases=FUZZ_CASES)


@pytest.mark.slow
def test_mutated_worlds_long_run(tmp_path):
    """The same with other seeds and ~30× the cases (about 11 minutes): `pytest -m slow`."""
    for seed in (1, 2):
        _fuzz(tmp_path, seed=seed, cases=LONG_CASES)


def test_the_fuzzer_is_reproducible_and_varied():
    import random

    from fuzz_worlds import mutations  # beside this file (pytest puts the folder on sys.path)

    text = (ROOT / "worlds" / "tag.yaml").read_text()
    a = mutations(text, random.Random("s"), 50)
    assert a == mutations(text, random.Random("s"), 50)
    assert len(set(a)) > 40 and text not in a[:5]


def test_user_error_is_the_base_of_world_error():
    assert issubclass(WorldError, UserError)
