"""Run in the Ray venv: WorldEnvRunner's episodes hold exactly what the Sim did (observations, actions,
rewards, ends, final observations), agent by agent, for tag (all agents live) and forage (agents die).

Replays the runner's actions in a second Sim with the same seed and compares. Prints one JSON line.
"""

import json
import sys

import numpy as np
import torch

import engine
from engine.integrations.bundle import world_bundle
from engine.integrations.rllib_env import WorldEnvRunner, ppo_config


def check(world: str, overrides: dict, worlds: int, ticks: int) -> dict:
    bundle = world_bundle(world, overrides=overrides)
    groups = list(engine.make(world, overrides=overrides).external_groups)
    config = ppo_config(bundle, num_env_runners=0, worlds_per_runner=worlds, rollout=ticks, groups=groups, seed=5)
    runner = WorldEnvRunner(config=config, worker_index=0, num_workers=0)
    episodes = runner.sample()
    seed = runner.sim._seed
    sim = engine.make(world, num_worlds=worlds, seed=seed, overrides=overrides)
    obs, _ = sim.reset()
    # per (agent name, world): the episode pieces in time order
    pieces: dict = {}
    for ep in episodes:
        pieces.setdefault((ep.agent_id, "w" + ep.multi_agent_episode_id.split(".")[-2]), []).append(ep)
    keys = [(ep.multi_agent_episode_id, ep.agent_id) for ep in episodes + runner.sample()]
    assert len(set(keys)) == len(keys), "RLlib files rows by (episode id, agent): ids must not repeat"
    cursor = {k: [0, 0] for k in pieces}  # piece index, step in piece
    steps = 0
    for _t in range(ticks):
        actions = {}
        was_alive = {g: sim.state["alive"][:, sim.groups[g].sl].clone() for g in groups}
        for g in groups:
            plan = sim.groups[g]
            act = plan.action_space.zeros((worlds, plan.size), torch.float32, "cpu")
            for b in range(worlds):
                for a, name in enumerate(plan.agent_names()):
                    key = (name, f"w{b}")
                    if not bool(was_alive[g][b, a]):
                        continue
                    i, s = cursor[key]
                    ep = pieces[key][i]
                    assert np.allclose(ep.get_observations(s), obs[g][b, a].numpy()), (key, _t)
                    act[b, a] = torch.as_tensor(ep.get_actions(s))
            actions[g] = act
        obs, rew, term, trunc, info = sim.step(actions)
        final = info.get("final_observation", obs)
        for g in groups:
            plan = sim.groups[g]
            for b in range(worlds):
                for a, name in enumerate(plan.agent_names()):
                    key = (name, f"w{b}")
                    if not bool(was_alive[g][b, a]):
                        continue
                    i, s = cursor[key]
                    ep = pieces[key][i]
                    assert abs(float(ep.get_rewards(s)) - float(rew[g][b, a])) < 1e-5, (key, _t)
                    steps += 1
                    if s == len(ep) - 1:  # last step of this piece: its end flags and next observation
                        ended = bool(term[g][b, a] or trunc[g][b, a])
                        assert ep.is_done == ended, (key, _t)
                        if ended:
                            assert ep.is_terminated == bool(term[g][b, a]), (key, _t)
                        assert np.allclose(ep.get_observations(-1), final[g][b, a].numpy()), (key, _t)
                        cursor[key] = [i + 1, 0]
                    else:
                        cursor[key] = [i, s + 1]
    total = sum(len(ep) for ep in episodes)
    assert steps == total, (steps, total)
    return {"world": world, "episodes": len(episodes), "agent_steps": total,
            "dead_pieces": sum(1 for ep in episodes if ep.is_terminated and not ep.is_truncated)}


def check_learner_rows() -> dict:
    """RLlib's learner pipeline (episodes → batch) keeps every piece's rows in the episodes' order, with
    pieces from two runners mixed: GAE depends on it (it reads values back by episode length)."""
    import copy

    import ray

    ray.init(num_cpus=1, include_dashboard=False)
    try:
        config = ppo_config(world_bundle("tag", overrides={"episode.max_steps": 10}), num_env_runners=0,
                            worlds_per_runner=3, rollout=23, groups=["adversary", "prey"])
        algo = config.build_algo()
        learner = algo.learner_group._learner
        other = WorldEnvRunner(config=config, worker_index=2, num_workers=2)
        episodes = algo.env_runner.sample() + other.sample()
        ref = copy.deepcopy(episodes)
        batch = learner._learner_connector(rl_module=learner.module, batch={}, episodes=episodes, shared_data={},
                                           metrics=learner.metrics)
        rows = {}
        for mid in ("adversary", "prey"):
            b = batch[mid]
            mask = b["loss_mask"].numpy() if "loss_mask" in b else np.ones(len(b["obs"]), bool)
            want = np.concatenate([e.get_observations(slice(0, len(e))) for e in ref if e.module_id == mid])
            rew = np.concatenate([e.get_rewards() for e in ref if e.module_id == mid])
            assert np.array_equal(b["obs"].numpy()[mask], want), mid
            assert np.array_equal(b["rewards"].numpy()[mask], rew), mid
            rows[mid] = int(mask.sum())
        algo.stop()
        return rows
    finally:
        ray.shutdown()


if __name__ == "__main__":
    import doctest

    import engine.integrations.rllib_env as mod

    assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0
    out = [check("tag", {"episode.max_steps": 10}, 4, 23),
           check("forage", {"episode.max_steps": 40}, 6, 60),
           check_learner_rows()]
    print(json.dumps(out))
    sys.exit(0)
