"""The TorchRL env over the batched Sim: TorchRL's own spec check, rollouts with resets, a collector, and
trajectories identical to the raw Sim's (final observations in ``next``, first ones after the reset)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

torchrl = pytest.importorskip("torchrl", reason="needs the torchrl extra (pip install -e '.[torchrl]')")

from torchrl.envs.utils import check_env_specs  # noqa: E402
from wl_test_support import masked_tag_world  # noqa: E402

import engine  # noqa: E402
from engine.integrations.torchrl_env import WorldTorchRLEnv  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("world", ["tag", "forage"])
def test_check_env_specs(world):
    env = WorldTorchRLEnv(world, num_worlds=4, seed=0)
    check_env_specs(env, seed=1)


@pytest.mark.parametrize("overrides,action_shape,categorical", [
    ({}, (8, 3, 5), False),  # one-hot
    ({"agents.*.action": "continuous"}, (8, 3, 5), True),
])
def test_one_hot_and_continuous_actions(overrides, action_shape, categorical):
    env = WorldTorchRLEnv("tag", num_worlds=8, overrides=overrides, categorical_actions=categorical)
    check_env_specs(env)
    td = env.rollout(30, break_when_any_done=False)
    assert td["adversary", "action"].shape == (8, 30) + action_shape[1:]


def test_rollout_stops_at_the_first_episode_end_and_runs_on_without_stopping():
    env = WorldTorchRLEnv("tag", num_worlds=16, seed=0)
    td = env.rollout(100)  # tag's episodes last 25 ticks; every world ends together
    assert td.batch_size == (16, 25) and bool(td["next", "done"][:, -1].all())
    td = env.rollout(100, break_when_any_done=False)
    assert td.batch_size == (16, 100)
    assert int(td["next", "done"].sum()) == 16 * 4
    assert td["next", "adversary", "reward"].shape == (16, 100, 3, 1)
    assert bool((td["next", "truncated"] == td["next", "done"]).all())  # tag only ends by the time limit


def test_trajectories_match_the_raw_sim():
    """Same seed and actions: ``next`` holds the final observation at an episode end, the next root
    observation the first one of the new episode; rewards and dones are the Sim's."""
    B = 6
    env = WorldTorchRLEnv("tag", num_worlds=B, seed=3, overrides={"episode.max_steps": 7}, agent_dones=True)
    td = env.rollout(20, break_when_any_done=False)
    sim = engine.make("tag", num_worlds=B, seed=3, overrides={"episode.max_steps": 7})
    obs, _ = sim.reset()
    for t in range(20):
        for g in ("adversary", "prey"):
            assert torch.equal(td[g, "observation"][:, t], obs[g])
        obs, rew, term, trunc, info = sim.step({g: td[g, "action"][:, t] for g in ("adversary", "prey")})
        final = info.get("final_observation", obs)
        for g in ("adversary", "prey"):
            assert torch.equal(td["next", g, "observation"][:, t], final[g])
            assert torch.equal(td["next", g, "reward"][:, t, :, 0], rew[g])
            assert torch.equal(td["next", g, "terminated"][:, t, :, 0], term[g])
            assert torch.equal(td["next", g, "truncated"][:, t, :, 0], trunc[g])
        assert torch.equal(td["next", "done"][:, t, 0], info["done"])


def test_dying_agents_stay_done_until_their_world_resets():
    env = WorldTorchRLEnv("forage", num_worlds=32, seed=0)
    td = env.rollout(100, break_when_any_done=False)
    red_done = td["next", "red", "done"][..., 0]  # [B, T, A]
    world_done = td["next", "done"][..., 0]  # [B, T]
    died = red_done & ~world_done.unsqueeze(-1)
    assert bool(died.any()), "no forager died in 100 ticks of 32 worlds: the test needs deaths"
    b, t, a = died.nonzero()[0].tolist()
    later = red_done[b, t:, a]
    ends = world_done[b, t:].nonzero()
    upto = int(ends[0]) + 1 if len(ends) else later.shape[0]
    assert bool(later[:upto].all()), "a dead forager came back before its world reset"
    # the root observation the policy sees at reset says the agent is alive again
    assert not bool(td["red", "done"][:, 0].any())


def test_reset_of_unfinished_worlds_resets_them_for_real():
    env = WorldTorchRLEnv("tag", num_worlds=4, seed=0)
    td = env.reset()
    for _ in range(3):
        td = env.rand_step(td)
        td = td["next"]
    mask = torch.tensor([True, False, True, False]).unsqueeze(-1)
    before = env.sim.state["tick"].clone()
    td.set("_reset", mask)
    env.reset(td)
    tick = env.sim.state["tick"]
    assert tick[0] == 0 and tick[2] == 0 and tick[1] == before[1] and tick[3] == before[3]


def test_action_masks_are_observed(tmp_path):
    env = WorldTorchRLEnv(masked_tag_world(tmp_path), num_worlds=8, trust=[tmp_path])
    check_env_specs(env)
    td = env.rollout(5, break_when_any_done=False)
    right = td["adversary", "observation"][..., 2] >= 0  # self_pos x
    assert torch.equal(td["adversary", "action_mask"][..., 1], ~right)


def test_collector_runs_and_batches_frames():
    from torchrl.collectors import Collector

    env = WorldTorchRLEnv("tag", num_worlds=8, seed=0)
    collector = Collector(env, None, frames_per_batch=8 * 40, total_frames=8 * 80)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2
    assert batches[0]["next", "adversary", "observation"].shape == (8, 40, 3, 16)
    assert int(batches[1]["next", "done"].sum()) > 0


@pytest.mark.slow_compile
def test_compiled_sim_gives_the_eager_trajectory():
    eager = WorldTorchRLEnv("tag", num_worlds=4, seed=0, overrides={"episode.max_steps": 10})
    a = eager.rollout(25, break_when_any_done=False)
    fused = WorldTorchRLEnv("tag", num_worlds=4, seed=0, overrides={"episode.max_steps": 10}, compile_sim=True)
    t = iter(range(25))

    def replay(td):
        i = next(t)
        for g in ("adversary", "prey"):
            td.set((g, "action"), a[g, "action"][:, i])
        return td

    b = fused.rollout(25, replay, break_when_any_done=False)
    for g in ("adversary", "prey"):
        torch.testing.assert_close(b["next", g, "observation"], a["next", g, "observation"], atol=1e-5, rtol=1e-5)
    assert torch.equal(b["next", "done"], a["next", "done"])


def _doc_example() -> str:
    text = (ROOT / "docs" / "integrations.md").read_text()
    section = text.split("## TorchRL", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_docs_example_runs():
    exec(compile(_doc_example(), "docs/integrations.md (TorchRL)", "exec"), {})


def test_docstring_examples_run():
    import doctest

    import engine.integrations.torchrl_env as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_dones_are_per_agent_only_where_agents_can_die():
    """As TorchRL's VMAS wrapper: an agent whose episode is its world's has the root dones only."""
    tag = WorldTorchRLEnv("tag", num_worlds=2)
    assert set(tag.done_keys) == {"done", "terminated", "truncated"}
    forage = WorldTorchRLEnv("forage", num_worlds=2)
    assert ("red", "terminated") in forage.done_keys and ("blue", "done") in forage.done_keys
    forced = WorldTorchRLEnv("tag", num_worlds=2, agent_dones=True)
    assert ("adversary", "truncated") in forced.done_keys
    td = forced.rollout(30, break_when_any_done=False)
    expanded = td["next", "done"].unsqueeze(-1).expand_as(td["next", "adversary", "done"])
    assert torch.equal(td["next", "adversary", "done"], expanded)  # the same thing, spelt per agent
    check_env_specs(tag)
