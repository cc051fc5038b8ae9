"""The CLI the way a user runs it: a real process, real arguments, output and exit status."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def wl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_run_prints_throughput_and_returns():
    out = wl("run", "worlds/tag.yaml", "--worlds", "16", "--steps", "60", "--seed", "3", "--eager")
    assert out.returncode == 0, out.stderr
    assert "agent-steps/s:" in out.stdout
    assert "mean episode return adversary:" in out.stdout and "mean episode return prey:" in out.stdout
    assert "episodes finished: 32" in out.stdout  # 16 worlds × 2 episodes of 25 ticks in 60 ticks


def test_run_json_and_overrides():
    out = wl("run", "tag", "--worlds", "4", "--steps", "30", "--eager", "--json",
             "--set", "entities.adversary.count=6", "--set", "agents.*.action=continuous")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["agent_steps"] == 30 * 4 * 7
    assert summary["episodes"] == 4


def test_bench_last_line_is_the_anchor_json():
    out = wl("bench", "tag", "--worlds", "8", "--seconds", "0.2", "--repeats", "2", "--warmup", "0.1", "--eager",
             "--profile")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("agent_steps_per_s_median", "agent_steps_per_s_min", "agent_steps_per_s_max",
                "env_steps_per_s_median", "cpu_time_over_wall", "repeats", "num_envs"):
        assert key in res
    assert res["num_envs"] == 8 and len(res["agent_steps_per_s_all"]) == 2
    assert res["agent_steps_per_s_median"] > 0
    systems = {"check_actions", "tick_start", "physics", "observations+rewards+termination"}
    assert set(res["profile_ms_per_tick"]) == systems
    assert "per-system breakdown" in out.stderr


def test_bad_override_exits_2_with_one_message():
    out = wl("run", "tag", "--steps", "1", "--set", "entities.prey.cuont=2")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "--set entities.prey.cuont=2: entities.prey.cuont: unknown key 'cuont' (did you mean 'count'?)" in out.stderr


def test_missing_world_exits_2():
    out = wl("validate", "worlds/nope.yaml")
    assert out.returncode == 2 and "world file not found: worlds/nope.yaml" in out.stderr


def test_doctor_reports_providers_and_gl():
    out = wl("doctor", "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    assert rep["onnxruntime_detail"]["auto_provider"] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    assert "gl_headless" in rep and "torch" in rep


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_threads_is_a_user_error(value, capsys):
    from engine.cli.main import main

    assert main(["run", "tag", "--threads", value, "--steps", "2"]) == 2
    assert f"--threads: expected an integer >= 1 or auto, got '{value}'" in capsys.readouterr().err
