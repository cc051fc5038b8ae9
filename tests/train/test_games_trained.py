"""The shipped game policies (plugins/<world>_npc, trained by tools/train_games.sh) do what
docs/training.md#games says, against random agents, over seeded episodes: trained navigation agents
reach their own goals, a trained red team wins capture the flag against a random blue team, and
trained harvesters collect more apples than random ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.train import evaluate

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
EPISODES = {"episodes": 256, "worlds": 256, "seed": 2024}


def _policy(world: str, group: str) -> str:
    path = PLUGINS / f"{world}_npc" / f"{group}.onnx"
    if not path.is_file():
        pytest.skip(f"{path} not trained (tools/train_games.sh)")
    return f"onnx:{path}"


def test_trained_navigation_agents_reach_their_own_goals_in_90_percent_of_episodes() -> None:
    trained = evaluate("navigation", {"agent": _policy("navigation", "agent")}, **EPISODES).summary()
    random = evaluate("navigation", {}, **EPISODES).summary()
    assert trained["events/all_arrived"][0] >= 0.9, trained  # every agent on its own goal
    assert trained["events/arrive"][0] >= 0.9 * 3
    assert random["events/all_arrived"][0] < 0.1, random


def test_a_trained_red_team_wins_capture_the_flag_against_a_random_team_in_80_percent() -> None:
    trained = evaluate("ctf", {"red": _policy("ctf", "red")}, **EPISODES).summary()
    assert trained.get("wins/red", 0.0) >= 0.8, trained
    assert trained.get("wins/blue", 0.0) < 0.05, trained
    random = evaluate("ctf", {}, **EPISODES).summary()
    assert random.get("wins/red", 0.0) < 0.1, random


@pytest.fixture(scope="module")
def random_commons() -> dict:
    return evaluate("commons", {}, **EPISODES).summary()


@pytest.mark.parametrize("sampled", [False, True], ids=["argmax", "sampled"])
def test_trained_harvesters_collect_twice_the_apples_of_random_ones(sampled: bool, random_commons: dict) -> None:
    """docs/training.md: about 3.5× random, argmax or sampled actions."""
    trained = evaluate("commons", {"harvester": _policy("commons", "harvester")}, deterministic=not sampled,
                       **EPISODES).summary()
    random = random_commons
    assert trained["events/eat"][0] >= 2.0 * random["events/eat"][0], (trained, random)
