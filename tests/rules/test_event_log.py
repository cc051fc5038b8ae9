"""The event log lists every rule match, one line each, and agrees with the per-episode counters."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import engine
from engine.rules.log import EventLog


def test_every_match_is_one_line_that_names_its_entities() -> None:
    sim = engine.make("commons", num_worlds=3, seed=1, overrides={"world.event_log": True})
    sim.reset(seed=1)
    log = EventLog(sim)
    lines = []
    for _ in range(60):
        _, _, _, _, info = sim.step(sim.sample_actions())
        lines += log.step(info)
    per_rule = Counter((line["rule"], line["world"]) for line in lines)
    for rule in ("eat", "zap", "zap_hit", "regrow_dense"):
        for b in range(3):
            assert per_rule[(rule, b)] == int(sim.state[f"events.{rule}"][b]), (rule, b)
    eat = next(line for line in lines if line["rule"] == "eat")
    assert eat["self"].startswith("harvester_") and eat["other"].startswith("apple_") and 1 <= eat["tick"] <= 60
    zap = next(line for line in lines if line["rule"] == "zap")
    assert "other" not in zap  # a rule about one entity


def test_run_writes_the_log_and_refuses_a_world_without_rules(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    cmd = [sys.executable, "-m", "engine", "run", "commons", "--worlds", "2", "--steps", "30", "--eager"]
    done = subprocess.run(cmd + ["--event-log", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and {"rule", "world", "tick", "self"} <= set(lines[0])
    bad = subprocess.run([sys.executable, "-m", "engine", "run", "tag", "--steps", "2", "--event-log", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no rules" in bad.stderr and "Traceback" not in bad.stderr
