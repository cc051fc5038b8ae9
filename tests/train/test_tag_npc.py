"""The shipped tag NPCs (plugins/tag_npc, trained by tools/train_tag.sh) beat the baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.train import evaluate

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "tag_npc"
ADVERSARY = PLUGIN / "adversary.onnx"
FLEE = {"prey": "scripted_flee:adversary"}
EPISODES = {"episodes": 512, "worlds": 512, "seed": 2024}
CONTACTS = "contacts adversary–prey"

pytestmark = pytest.mark.skipif(not ADVERSARY.is_file(), reason="plugins/tag_npc not trained (tools/train_tag.sh)")


def _contacts(controllers: dict, **kw) -> float:
    return evaluate("tag", controllers, **EPISODES, **kw).summary()[CONTACTS][0]


def test_trained_adversaries_beat_random_and_scripted_chase():
    trained = _contacts({"adversary": f"onnx:{ADVERSARY}", **FLEE})
    random = _contacts({"adversary": "random", **FLEE})
    chase = _contacts({"adversary": "scripted_chase:prey", **FLEE})
    assert trained >= 3 * random, (trained, random)
    assert trained > chase, (trained, chase)


def test_adversary_policy_as_world_plugin_matches_the_onnx_controller():
    """The YAML snippet `worldloom train` prints drives the same NPCs as `--controller onnx:`."""
    plugin = {"plugins": {"adversary_brain": {
        "kind": "policy", "model": "../plugins/tag_npc/adversary.onnx", "agents": "adversary",
        "inputs": {"obs": "observation"}, "outputs": {"logits": "action"}, "sample": "argmax"}}}
    in_world = _contacts(FLEE, overrides=plugin)
    controller = _contacts({"adversary": f"onnx:{ADVERSARY}", **FLEE})
    assert in_world == pytest.approx(controller)


@pytest.mark.skipif(not (PLUGIN / "prey.onnx").is_file(), reason="no trained prey")
def test_trained_prey_is_caught_less_than_scripted_prey():
    adv = {"adversary": f"onnx:{ADVERSARY}"}
    trained = _contacts({**adv, "prey": f"onnx:{PLUGIN / 'prey.onnx'}"})
    scripted = _contacts({**adv, **FLEE})
    assert trained < scripted, (trained, scripted)
