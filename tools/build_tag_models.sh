#!/usr/bin/env bash
# Rebuild tag's learned models from scratch with the world-model loop: record → distill → drift.
#
#   tools/build_tag_models.sh            # ~15 min on 2 CPU cores; recordings go to runs/data (~200 MB)
#
# Everything is seeded and epoch-bound, so a rerun on the same versions gives the same models; the
# dynamics run also has a 14-minute safety cap (--minutes): on a machine slower than ~110 ms per
# training iteration it would stop early (and anneal) with a slightly different model.
# Each plugin's README records the exact command that made it and its held-out numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${WL:-.venv/bin/worldloom}
DATA=${DATA:-runs/data}
SCRIPTED='systems=[{scripted_chase: {agents: adversary, target: [prey]}}, {scripted_flee: {agents: prey, threat: [adversary]}}, physics]'

# 1. record: random actions (wide coverage of velocities), scripted chase/flee (contacts, teachers for
#    behaviour cloning), and GL frames at 64x64 for the renderer
$WL record worlds/tag.yaml --out "$DATA/tag_random" --worlds 128 --steps 1000 --seed 1 --threads 1
$WL record worlds/tag.yaml --out "$DATA/tag_scripted" --worlds 128 --steps 1000 --seed 2 --threads 1 --set "$SCRIPTED"
$WL record worlds/tag.yaml --out "$DATA/tag_frames" --worlds 64 --steps 200 --seed 3 --threads 1 --frames --frame-size 64

# 2. distill
$WL distill worlds/tag.yaml --subsystem dynamics --data "$DATA/tag_random" --data "$DATA/tag_scripted" \
    --out plugins/tag_dynamics --epochs 8 --minutes 14 --horizon 24 --threads 1 --seed 0
$WL distill worlds/tag.yaml --subsystem renderer --data "$DATA/tag_frames" --out plugins/tag_renderer \
    --epochs 3 --lr 0.01 --threads 1 --seed 0
$WL distill worlds/tag.yaml --subsystem policy --group adversary --data "$DATA/tag_scripted" --out plugins/tag_bc \
    --epochs 30 --threads 1 --seed 0
$WL distill worlds/tag.yaml --subsystem policy --group prey --data "$DATA/tag_scripted" --out plugins/tag_bc \
    --epochs 100 --threads 1 --seed 0

# 3. measure: open-loop drift on held-out starts (seed 1000), and the learned world end to end
$WL drift worlds/tag_learned.yaml --plugin learned_physics --horizon 25 --starts 512 --worlds 128 --threads 1 \
    --seed 1000 --out runs/drift_tag
$WL run worlds/tag_learned.yaml --worlds 256 --steps 1000
