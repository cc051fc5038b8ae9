"""RLlib over the batched Sim, run in the Ray venv (tools/ray/.venv, built by tools/setup.sh).

The Ray parts run in a subprocess with that venv's Python: a local Ray instance with 2 CPUs, two env
runners (separate processes, one CPU each), two PPO iterations, weights checked on every runner, a
checkpoint written and resumed. World bundles (what travels to the runners) are tested here directly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from wl_test_support import masked_tag_world

from engine.errors import UserError
from engine.integrations.bundle import make_sim_from_bundle, unpack_bundle, world_bundle

ROOT = Path(__file__).resolve().parents[2]
RAY_PY = ROOT / "tools" / "ray" / ".venv" / "bin" / "python"
needs_ray_venv = pytest.mark.skipif(not RAY_PY.is_file(), reason=f"no Ray venv at {RAY_PY.parent.parent}: "
                                    "run bash tools/setup.sh (it builds it; WORLDLOOM_SKIP_RAY=1 skips it)")


def _ray(args: list[str], timeout: float, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTHON"))}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["RAY_AUTH_MODE"] = "disabled"
    return subprocess.run([str(RAY_PY), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------- bundles (no Ray needed)
def test_bundle_carries_models_above_the_world_folder(tmp_path):
    b = world_bundle("tag_learned")
    assert b["world"] == "worlds/tag_learned.yaml"
    assert {"plugins/tag_dynamics/model.onnx", "plugins/tag_bc/prey.onnx"} <= set(b["files"])
    world = unpack_bundle(json.loads(json.dumps(b)), tmp_path)  # survives JSON: plain data only
    assert world == tmp_path / "worlds" / "tag_learned.yaml" and world.is_file()
    sim = make_sim_from_bundle(b, num_worlds=2)
    assert set(sim.plugin_report()) == {"learned_physics", "adversary_bc", "prey_bc", "learned_renderer"}


def _extension_world(folder: Path) -> Path:
    return masked_tag_world(folder)


def test_bundle_carries_code_and_the_original_folder_can_go(tmp_path):
    world = _extension_world(tmp_path / "mine")
    b = world_bundle(world, trust=[str(tmp_path / "mine")], overrides={"episode.max_steps": 7})
    shutil.rmtree(tmp_path / "mine")  # nothing may depend on the driver's files any more
    sim = make_sim_from_bundle(b, num_worlds=3)
    assert sim.action_masks()["adversary"].shape == (3, 3, 5)
    assert sim.plan.spec.episode.max_steps == 7


def test_bundle_refuses_untrusted_code(tmp_path, monkeypatch):
    monkeypatch.delenv("WORLDLOOM_TRUST", raising=False)
    world = _extension_world(tmp_path / "theirs")
    with pytest.raises(UserError, match="not trusted"):
        world_bundle(world)


def test_bundle_docstring_examples_run():
    import doctest

    import engine.integrations.bundle as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_unpack_refuses_paths_outside_its_folder(tmp_path):
    b = world_bundle("tag")
    b["files"]["../escape.py"] = ""
    with pytest.raises(UserError, match="outside"):
        unpack_bundle(b, tmp_path / "x")


# ---------------------------------------------------------------------- RLlib (Ray venv)
@needs_ray_venv
def test_runner_episodes_hold_what_the_sim_did_and_reach_the_learner_in_order(tmp_path):
    r = _ray([str(ROOT / "tests" / "integrations" / "ray_scripts" / "check_episodes.py")], 600, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    tag, forage, rows = json.loads(r.stdout.strip().splitlines()[-1])
    assert tag["episodes"] == 4 * 4 * 3 and forage["dead_pieces"] > 0
    assert rows == {"adversary": 2 * 3 * 3 * 23, "prey": 2 * 3 * 23}  # two runners × 3 worlds × agents × ticks


@needs_ray_venv
def test_ppo_on_two_cpus_syncs_weights_and_checkpoints(tmp_path):
    """≥ 2 iterations with two env runner processes on a 2-CPU local Ray instance, then a resume."""
    out = tmp_path / "run"
    base = ["-m", "engine", "train", "tag", "--ray", "--eager", "--num-cpus", "2", "--num-env-runners", "2",
            "--worlds", "32", "--json"]
    r = _ray(base + ["--iterations", "2", "--out", str(out)], 600, tmp_path)  # a hang guard, not a speed test
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["iterations"] == 2 and summary["env_runners"] == 2
    assert summary["weights_synced"] is True
    assert len(summary["weight_digests"]["runners"]) == 2
    ckpt = Path(summary["checkpoint"])
    assert (ckpt / "rllib_checkpoint.json").is_file() and (ckpt / "learner_group").is_dir()
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in rows] == [1, 2] and all(x["agent_steps"] == 2 * 32 * 25 * 4 for x in rows)
    assert rows[-1]["weights_seq_no"] >= 1
    r = _ray(base + ["--iterations", "1", "--out", str(tmp_path / "again"), "--resume", str(ckpt),
                     "--num-env-runners", "1"], 600, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    again = json.loads(r.stdout.strip().splitlines()[-1])
    assert again["resumed_at_iteration"] == 2 and again["weights_synced"] is True


@needs_ray_venv
def test_the_docs_example_runs(tmp_path):
    text = (ROOT / "docs" / "integrations.md").read_text()
    section = text.split("## RLlib and Ray", 1)[1].split("\n## ", 1)[0]
    import re

    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    r = _ray([str(tmp_path / "example.py")], 600, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]


def test_cli_without_ray_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    """From the main venv, --ray re-runs itself in the Ray venv; without one, a one-line error says how."""
    if _has_ray():
        pytest.skip("Ray imports in this interpreter: --ray runs here")
    monkeypatch.setenv("WORLDLOOM_RAY_PYTHON", str(tmp_path / "missing-python"))
    from engine.cli.main import main

    assert main(["train", "tag", "--ray", "--iterations", "1"]) == 2
    assert "tools/setup.sh" in capsys.readouterr().err


def _has_ray() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None
