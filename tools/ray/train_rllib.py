"""RLlib PPO on a worldloom world over Ray: ``worldloom train WORLD --ray`` as a script for the Ray venv.

    tools/ray/.venv/bin/python tools/ray/train_rllib.py tag --iterations 5 --num-env-runners 2 --eager
    tools/ray/.venv/bin/python tools/ray/train_rllib.py tag --address HEAD_IP:6379 --num-env-runners 8

Every argument of ``worldloom train`` applies (``--worlds`` per env runner, ``--set``, ``--trust``,
``--cfg``, ``--out``, ``--json``), plus the Ray ones: ``--address``, ``--num-env-runners``,
``--iterations``, ``--num-cpus``, ``--checkpoint-every``, ``--ship-engine``.
"""

import sys

from engine.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:], "--ray"]))
