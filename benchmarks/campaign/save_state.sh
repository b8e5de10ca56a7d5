#!/usr/bin/env bash
# Copy the campaign's state into the repository before a session ends (then commit it): the latest checkpoint of the
# current stage, whole, as weights/resume-<stage>.pt (the only resume file kept; 10 MB: weights, Adam's moments, step,
# data position, RNG, logs, so a fresh machine continues exactly; under weights/ because the repository takes files
# over 5 MB only there, up to 16 MB; neither the wheel nor the source distribution ships it) and the stage's log as
# benchmarks/curves/<stage>.jsonl. Run it while no training session is writing (between sessions, or after SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
STAGES="release128"     # the queued stage (see run.sh)
[ -n "$STAGES" ] || echo "campaign: no stage is queued; nothing to save"
for stage in $STAGES; do
  [ -f "$RUNS/$stage/log.jsonl" ] && cp "$RUNS/$stage/log.jsonl" "benchmarks/curves/$stage.jsonl"
  latest=$(ls "$RUNS/$stage/checkpoints"/step_*.pt 2>/dev/null | sort | tail -n 1 || true)
  if [ -n "$latest" ]; then
    rm -f weights/resume-*.pt benchmarks/campaign/resume-*.pt
    cp "$latest" "weights/resume-$stage.pt"
    echo "campaign: resume state $latest -> weights/resume-$stage.pt"
  fi
done
