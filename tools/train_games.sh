#!/usr/bin/env bash
# Train the agents of the three games in pure YAML and measure them against random ones
# (docs/training.md#games; the policies are shipped in plugins/<world>_npc/ and checked by
# tests/train/test_games_trained.py):
#
#   navigation  every agent, 1.5 M env steps          → reach their own goals (all of them)
#   ctf         the red team vs a random blue team, 4 M → win capture the flag
#   commons     every harvester, 3 M                   → apples collected per episode
#
# Default trainer settings (engine/train/configs/default.yaml: 256 worlds, 32-tick rollouts, PPO).
# Usage: tools/train_games.sh             (RUN=runs/games by default; EPISODES=1024 per evaluation)
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${WL:-.venv/bin/worldloom}
RUN=${RUN:-runs/games}
EPISODES=${EPISODES:-1024}
mkdir -p "$RUN"

t0=$SECONDS
$WL train navigation --seed 0 --steps 1500000 --out "$RUN/navigation" --export plugins/navigation_npc
t1=$SECONDS
$WL train ctf --seed 0 --groups red --steps 4000000 --out "$RUN/ctf" --export plugins/ctf_npc
t2=$SECONDS
$WL train commons --seed 0 --steps 3000000 --out "$RUN/commons" --export plugins/commons_npc
t3=$SECONDS
echo "navigation: $((t1 - t0)) s, ctf: $((t2 - t1)) s, commons: $((t3 - t2)) s" | tee "$RUN/wall_time.txt"

ev() { $WL eval "$@" --seed 12345 --worlds 256 --episodes "$EPISODES"; }
{
  echo "### navigation: random, then trained"
  ev navigation; ev navigation --controller agent=onnx:plugins/navigation_npc/agent.onnx
  echo "### ctf: random red vs random blue, then trained red vs random blue"
  ev ctf; ev ctf --controller red=onnx:plugins/ctf_npc/red.onnx
  echo "### commons: random, then trained (argmax), then trained (sampled)"
  ev commons; ev commons --controller harvester=onnx:plugins/commons_npc/harvester.onnx
  ev commons --controller harvester=onnx:plugins/commons_npc/harvester.onnx --sample
} | tee "$RUN/eval.md"
