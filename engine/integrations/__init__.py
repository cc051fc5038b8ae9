"""Adapters that let other RL libraries drive a batched ``Sim`` at batched speed.

- ``engine.integrations.torchrl_env``: ``WorldTorchRLEnv``, a native ``torchrl.envs.EnvBase`` with
  ``batch_size=[num_worlds]`` and multi-agent nested keys (TorchRL, BenchMARL's layout). Needs the
  ``torchrl`` extra.
- ``engine.integrations.rllib_env``: ``WorldEnvRunner``, an RLlib ``EnvRunner`` that steps the whole batch
  per tick and hands RLlib ready-made episodes, and ``ppo_config``; ``engine.integrations.rllib_train``
  is ``worldloom train WORLD --ray``. Both need Ray (``tools/ray/.venv``, built by ``tools/setup.sh``).
- ``engine.integrations.bundle``: ``world_bundle`` packs a world file, its overrides and the code and
  models it uses into plain data, so processes on other machines build the same world (no Ray needed).

``engine`` itself imports none of them: each needs its own third-party library.
"""
