#!/usr/bin/env bash
# The weights campaign (issue 11): one time-limited training session of the current stage, resuming exactly.
#   bash benchmarks/campaign/run.sh [MINUTES] [THREADS]          (from the repository root; loop it to keep training)
# Stages (bf16, batch 8, Adam 1e-3 constant, the release's recipe otherwise):
#   campaign64       3,000 batches of 64x64 crops from scratch (seed 0): more optimiser steps per second early on
#   campaign64dark   400 batches more with --dark 0.5 (seed 2): black backgrounds stay black (BENCHMARKS.md, learning
#                    curves: +0.09 mean ratio against the same 400 batches without it)
#   campaign128      20,000 batches of 128x128 crops (the release's) with --dark 0.5 (seed 1), from campaign64dark
# Run folders live in $RUNS (default runs/, not committed). A fresh machine continues from the committed resume state:
# benchmarks/campaign/resume-<stage>.pt (one file, the latest checkpoint) and benchmarks/curves/<stage>.jsonl (its log).
# save_state.sh writes both from the run folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
MIN=${1:-45}; THREADS=${2:-2}
PY=${PY:-.venv/bin/python}
SHARED=${GIFNET_SHARED:-../shared}; RUNS=${RUNS:-runs}
DATA=$SHARED/datasets/train/roadscene
VAL=(--val "$SHARED/datasets/eval" --val-reference "$SHARED/checkpoints/official/Final.model" --val-images 2)
train() { "$PY" -m gifnet train "$@" --threads "$THREADS" --time-limit "$MIN" "${VAL[@]}"; }

restore() {   # runs/<stage> from the committed resume state, when this machine has no run folder for it
  local stage=$1
  if [ ! -d "$RUNS/$stage/checkpoints" ] && [ -f "benchmarks/campaign/resume-$stage.pt" ]; then
    local step
    step=$("$PY" -c "from gifnet import checkpoint; print(checkpoint.read('benchmarks/campaign/resume-$stage.pt')['step'])")
    mkdir -p "$RUNS/$stage/checkpoints"
    cp "benchmarks/campaign/resume-$stage.pt" "$(printf '%s/%s/checkpoints/step_%07d.pt' "$RUNS" "$stage" "$step")"
    [ -f "benchmarks/curves/$stage.jsonl" ] && cp "benchmarks/curves/$stage.jsonl" "$RUNS/$stage/log.jsonl"
    echo "campaign: $stage restored at step $step from benchmarks/campaign/"
  fi
}

finished() {  # whether the stage's log reached its planned steps
  "$PY" -c "import json, sys, pathlib; p = pathlib.Path('$RUNS/$1/log.jsonl')
print(int(p.exists() and any(json.loads(l)['step'] >= $2 for l in p.read_text().splitlines() if l)))"
}

restore campaign64
restore campaign64dark
restore campaign128
if [ -d "$RUNS/campaign128/checkpoints" ]; then
  train --out "$RUNS/campaign128" --resume --data "$DATA" --steps 20000 --ckpt-every 25 --val-every 100
elif [ "$(finished campaign64dark 400)" = 1 ]; then
  train --out "$RUNS/campaign128" --data "$DATA" --init "$RUNS/campaign64dark" --crop 128 --batch 8 --lr 1e-3 \
        --schedule constant --precision bf16 --dark 0.5 --seed 1 --steps 20000 --ckpt-every 25 --val-every 100
elif [ -d "$RUNS/campaign64dark/checkpoints" ]; then
  train --out "$RUNS/campaign64dark" --resume --data "$DATA" --steps 400 --ckpt-every 100 --val-every 100
elif [ "$(finished campaign64 3000)" = 1 ]; then
  train --out "$RUNS/campaign64dark" --data "$DATA" --init "$RUNS/campaign64" --crop 64 --batch 8 --lr 1e-3 \
        --schedule constant --precision bf16 --dark 0.5 --seed 2 --steps 400 --ckpt-every 100 --val-every 100
elif [ -d "$RUNS/campaign64/checkpoints" ]; then
  train --out "$RUNS/campaign64" --resume --data "$DATA" --steps 3000 --ckpt-every 50 --val-every 200
else
  train --out "$RUNS/campaign64" --data "$DATA" --crop 64 --batch 8 --lr 1e-3 --schedule constant --precision bf16 \
        --seed 0 --steps 3000 --ckpt-every 50 --val-every 200
fi
