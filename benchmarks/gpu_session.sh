#!/usr/bin/env bash
# One prepared GPU session (the device tool: one H200, 15 minutes in all, at most 10 per command), run from the
# repository root with the package carried as source:
#   bash benchmarks/gpu_session.sh [TRAIN_MINUTES]          (default 6; $OUT receives everything worth keeping)
# In order of value:
#   1. the weights issue's full-scale run: the release's recipe (128x128 crops, batch 8, Adam 1e-3, from scratch,
#      the task-interaction gates starting open as the release's do: GATES, default 0.5 0.5, the middle of the
#      release's apparent uniform draws; BENCHMARKS.md, "Why the gate") in bf16 for up to 20,000 batches or
#      TRAIN_MINUTES, checkpointing as it goes; weights, model card, log and the last checkpoint (to continue on a CPU
#      or the next GPU) land in $OUT/gpu128;
#   2. the CUDA tests (tests/test_cuda.py; pytest from $DEPS when the image has none: `pip install --target .gpu_deps
#      pytest` here, then carry .gpu_deps);
#   3. GPU speed: training s/batch at 128x128, batch 8 and 32 (bf16, fp32) and inference MP/s at three sizes.
# Test it on a CPU first: DEVICE=cpu STEPS=2 CROP=32 bash benchmarks/gpu_session.sh 1
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python}; OUT=${OUT:-out}; MIN=${1:-6}; DEVICE=${DEVICE:-cuda}; STEPS=${STEPS:-20000}; CROP=${CROP:-128}; DEPS=${DEPS:-.gpu_deps}
GATES=${GATES:-0.5 0.5}
SHARED=${GIFNET_SHARED:-}
for c in shared ../shared; do [ -z "$SHARED" ] && [ -d "$c/datasets/train" ] && SHARED=$c; done
[ -n "$SHARED" ] || { echo "gpu_session: no reference data (set GIFNET_SHARED)"; exit 2; }
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
[ -d "$DEPS" ] && export PYTHONPATH=$PYTHONPATH:$PWD/$DEPS
mkdir -p "$OUT"
{ date; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null; nproc; } > "$OUT/machine.txt"

# 1. the full-scale run
"$PY" -m gifnet train --data "$SHARED/datasets/train/roadscene" --out "$OUT/gpu128" --crop "$CROP" --batch 8 \
    --lr 1e-3 --schedule constant --precision bf16 --device "$DEVICE" --seed 0 --steps "$STEPS" --time-limit "$MIN" \
    --gate-init $GATES \
    --ckpt-every 250 --val-every 1000 --val "$SHARED/datasets/eval" \
    --val-reference "$SHARED/checkpoints/official/Final.model" --val-images 2 2>&1 | tail -n 40 > "$OUT/train.txt"
echo "train exit ${PIPESTATUS[0]}" >> "$OUT/train.txt"

# 2. the CUDA tests
GIFNET_SHARED=$SHARED "$PY" -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider > "$OUT/cuda_tests.txt" 2>&1
echo "pytest exit $?" >> "$OUT/cuda_tests.txt"

# 3. speed
"$PY" benchmarks/train_speed.py --device "$DEVICE" --crop "$CROP" --batch 8 32 --precision bf16 fp32 --steps 5 \
    > "$OUT/train_speed.md" 2>&1
"$PY" benchmarks/gpu_inference.py --device "$DEVICE" > "$OUT/inference_speed.md" 2>&1
tail -n 3 "$OUT"/*.txt "$OUT"/*.md
