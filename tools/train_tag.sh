#!/usr/bin/env bash
# Train the tag NPCs shipped in plugins/tag_npc/ and measure them (see docs/training.md).
#
#   1. the adversaries (PPO, shared weights) against the built-in fleeing prey (scripted_flee);
#   2. the prey (PPO) against those trained adversaries (their exported ONNX policy, argmax);
#   3. `worldloom eval` tables: random vs scripted chase vs trained adversaries, scripted vs trained prey;
#   4. the learning curves as PNGs (PIL; no matplotlib needed).
#
# One torch thread (the machine has 2 cores shared with other work). Wall time: docs/training.md.
# Usage: tools/train_tag.sh            (RUN=runs/tag-npc, PLUGIN=plugins/tag_npc by default)
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${WL:-.venv/bin/worldloom}
PY=${PY:-.venv/bin/python}
RUN=${RUN:-runs/tag-npc}
PLUGIN=${PLUGIN:-plugins/tag_npc}
ADV_STEPS=${ADV_STEPS:-15000000}    # ticks × worlds (1024 worlds × 25 ticks = 25,600 per update)
PREY_STEPS=${PREY_STEPS:-10000000}
EPISODES=${EPISODES:-4096}
mkdir -p "$RUN"

t0=$SECONDS
$WL train tag --seed 0 --threads 1 --groups adversary --steps "$ADV_STEPS" \
  --cfg 'opponents={prey: "scripted_flee:adversary"}' --out "$RUN/adversary" --export "$PLUGIN"
t1=$SECONDS
$WL train tag --seed 1 --threads 1 --groups prey --steps "$PREY_STEPS" \
  --cfg "opponents={adversary: \"onnx:$PLUGIN/adversary.onnx\"}" --out "$RUN/prey" --export "$PLUGIN"
t2=$SECONDS
echo "adversary training: $((t1 - t0)) s, prey training: $((t2 - t1)) s" | tee "$RUN/wall_time.txt"

ev() { $WL eval tag --seed 12345 --worlds 1024 --episodes "$EPISODES" --threads 1 "$@"; }
{
  echo "### adversaries (prey: scripted_flee)"
  for adv in random scripted_chase:prey "onnx:$PLUGIN/adversary.onnx"; do
    echo; ev --controller "adversary=$adv" --controller prey=scripted_flee:adversary
  done
  echo; echo "### prey (adversaries: trained)"
  for prey in random scripted_flee:adversary "onnx:$PLUGIN/prey.onnx"; do
    echo; ev --controller "adversary=onnx:$PLUGIN/adversary.onnx" --controller "prey=$prey"
  done
} | tee "$RUN/eval.md"

# baselines for the curves' reference lines (same seeds as the tables above)
metric() { ev --json "$@" | $PY -c 'import json, sys; s = json.load(sys.stdin); print(s[sys.argv[1]][0])' "$KEY"; }
KEY="contacts adversary–prey"
C_RANDOM=$(metric --controller adversary=random --controller prey=scripted_flee:adversary)
C_CHASE=$(metric --controller adversary=scripted_chase:prey --controller prey=scripted_flee:adversary)
KEY="return/prey"
R_FLEE=$(metric --controller "adversary=onnx:$PLUGIN/adversary.onnx" --controller prey=scripted_flee:adversary)
$PY -m engine.train.plot "$RUN/adversary/metrics.csv" "$PLUGIN/adversary_curve.png" \
  --y metric.contacts.adversary-prey --title "tag: adversaries (PPO) vs scripted fleeing prey" \
  --ylabel "adversary-prey contacts per episode" \
  --hline "scripted chase (eval)=$C_CHASE" --hline "random (eval)=$C_RANDOM"
$PY -m engine.train.plot "$RUN/prey/metrics.csv" "$PLUGIN/prey_curve.png" \
  --y return/prey --title "tag: prey (PPO) vs trained adversaries" --ylabel "prey mean episode return" \
  --hline "scripted flee (eval)=$R_FLEE"
echo "done in $((SECONDS - t0)) s"
