#!/usr/bin/env bash
# Rebuild the pixel world model of tag (plugins/tag_world_model) from scratch and measure it:
# record frames and joint actions → distill encoder, latent dynamics, decoder → drift against the GL frames.
#
#   tools/build_tag_world_model.sh      # ~9 min on 2 CPU cores; recordings go to runs/data (~400 MB)
#
# The model learns from frames and actions only. It tells entities apart by colour, so the recordings
# draw each of tag's six entities in its own colour (the three adversaries share one in worlds/tag.yaml):
# COLORS below. Episodes last 100 steps (--set episode.max_steps=100); no window crosses an episode's end.
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${WL:-.venv/bin/worldloom}
DATA=${DATA:-runs/data}
OUT=${OUT:-plugins/tag_world_model}
COLORS=(--set 'entities.adversary.spawn.color={each: [[0.85, 0.25, 0.25], [0.9, 0.6, 0.15], [0.65, 0.2, 0.7]]}'
        --set 'entities.obstacle.spawn.color={each: [[0.25, 0.25, 0.25], [0.45, 0.45, 0.55]]}'
        --set episode.max_steps=100)
SCRIPTED='systems=[{scripted_chase: {agents: adversary, target: [prey]}}, {scripted_flee: {agents: prey, threat: [adversary]}}, physics]'

# 1. record 64×64 frames: random actions and scripted chase/flee; held-out seeds for the measurement
$WL record worlds/tag.yaml --out "$DATA/tagpx_random" --worlds 64 --steps 400 --seed 1 --frames "${COLORS[@]}"
$WL record worlds/tag.yaml --out "$DATA/tagpx_scripted" --worlds 32 --steps 400 --seed 3 --frames "${COLORS[@]}" --set "$SCRIPTED"
$WL record worlds/tag.yaml --out "$DATA/tagpx_test_random" --worlds 16 --steps 200 --seed 2 --frames "${COLORS[@]}"
$WL record worlds/tag.yaml --out "$DATA/tagpx_test_scripted" --worlds 16 --steps 200 --seed 4 --frames "${COLORS[@]}" --set "$SCRIPTED"

# 2. distill (multi-step rollout loss over 10 steps, the default)
$WL distill worlds/tag.yaml --subsystem world-model --data "$DATA/tagpx_random" --data "$DATA/tagpx_scripted" \
    --out "$OUT" --seed 0

# 3. measure on the held-out episodes. The training options compared in docs/world-models.md:
#    $WL distill worlds/tag.yaml --subsystem world-model --data … --out runs/wm/one_step --horizon 1 --seed 0
#    $WL distill worlds/tag.yaml --subsystem world-model --data … --out runs/wm/noise --horizon 1 --noise 0.01 --seed 0
$WL drift worlds/tag.yaml --world-model "$OUT" --data "$DATA/tagpx_test_random" --horizon 50 --out runs/drift_px_random
$WL drift worlds/tag.yaml --world-model "$OUT" --data "$DATA/tagpx_test_scripted" --horizon 50 --out runs/drift_px_scripted
