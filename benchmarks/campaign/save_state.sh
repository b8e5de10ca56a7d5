#!/usr/bin/env bash
# Copy the campaign's state into the repository before a session ends (then commit it):
#  - every stage's log as benchmarks/curves/<stage>.jsonl;
#  - a finished stage's weights as benchmarks/campaign/<stage>.safetensors (3 MB; the start of the later stages);
#  - the latest checkpoint of the first unfinished stage, whole, as weights/resume-<stage>.pt, the only resume file
#    kept (10 MB: weights, Adam's moments, step, data position, RNG, logs, so a fresh machine continues exactly; under
#    weights/ because the repository takes files over 5 MB only there, up to 16 MB; neither the wheel nor the source
#    distribution ships it). When that stage has not started here, a committed resume file of it stays as it is.
# Run it while no training session is writing (between sessions, or after SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/../.."
source benchmarks/campaign/stages.sh      # STAGES, PY, RUNS, steps_done, keep_weights
for entry in "${STAGES[@]}"; do
  stage=${entry%%:*}; length=${entry##*:}
  [ -f "$RUNS/$stage/log.jsonl" ] && cp "$RUNS/$stage/log.jsonl" "benchmarks/curves/$stage.jsonl"
  if [ "$(steps_done "$stage")" -ge "$length" ]; then keep_weights "$stage"; continue; fi
  latest=$(ls "$RUNS/$stage/checkpoints"/step_*.pt 2>/dev/null | sort | tail -n 1 || true)
  if [ -n "$latest" ]; then
    rm -f weights/resume-*.pt
    cp "$latest" "weights/resume-$stage.pt"
    echo "campaign: resume state $latest -> weights/resume-$stage.pt"
  elif [ ! -f "weights/resume-$stage.pt" ]; then     # the stages before it are finished and kept as weights
    rm -f weights/resume-*.pt
  fi
  exit 0
done
rm -f weights/resume-*.pt
echo "campaign: every stage is done; no resume file kept"
