#!/usr/bin/env bash
# The weights campaign (issue 11): one time-limited training session of the current stage, resuming exactly.
#   bash benchmarks/campaign/run.sh [MINUTES] [THREADS]          (from the repository root; loop it to keep training)
# Stages (bf16, batch 8, the release's two-step recipe otherwise):
#   campaign64          3,000 batches of 64x64 crops from scratch (seed 0), Adam 1e-3 constant
#   campaign64dark      400 batches more with --dark 0.5 (seed 2): black backgrounds stay black
#   campaign128         128x128 crops (the release's) with --dark 0.5 (seed 1), lr 1e-3 constant: stopped at 740 of a
#                       planned 20,000 (the validation was flat from 100 on; see BENCHMARKS.md, learning curves)
#   campaign128restore  300 batches from campaign128's weights at 740 with --restore 1.0 (seed 3), lr 5e-4 cosine to
#                       1e-5 after 25 warm-up batches: bundled 2026-12-02 07:09-10:36
#   campaign128gamma    the same from the same start, with --restore-blur 0.5 1.5 --restore-contrast 0.6 1
#                       --restore-gamma 1 1.4 --restore-noise 0 0.005 (experiment e13): the bundled weights since
#                       2026-12-02 10:36 (the commands of the finished stages are in benchmarks/campaign/README.md)
#   campaign128g        (next, not started; see README.md) from the bundled weights: campaign128gamma's degradations,
#                       lr 1e-4 constant, seed 4, 20,000
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

restore campaign128g
if [ -d "$RUNS/campaign128g/checkpoints" ]; then
  train --out "$RUNS/campaign128g" --resume --data "$DATA" --steps 20000 --ckpt-every 25 --val-every 100
else
  train --out "$RUNS/campaign128g" --data "$DATA" --init weights/gifnet-roadscene-cpu --crop 128 --batch 8 --lr 1e-4 \
        --schedule constant --warmup 25 --precision bf16 --dark 0.5 --restore 1.0 --restore-blur 0.5 1.5 \
        --restore-contrast 0.6 1 --restore-gamma 1 1.4 --restore-noise 0 0.005 --seed 4 --steps 20000 \
        --ckpt-every 25 --val-every 100
fi
