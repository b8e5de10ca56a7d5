#!/usr/bin/env bash
# Copy the campaign's state into the repository before a session ends (then commit it): the latest checkpoint of the
# newest stage as benchmarks/campaign/resume-<stage>.pt (the only resume file kept) and each stage's log as
# benchmarks/curves/<stage>.jsonl. Run it while no training session is writing (between sessions, or after SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
for stage in campaign64 campaign64dark campaign128; do
  [ -f "$RUNS/$stage/log.jsonl" ] && cp "$RUNS/$stage/log.jsonl" "benchmarks/curves/$stage.jsonl"
  latest=$(ls "$RUNS/$stage/checkpoints"/step_*.pt 2>/dev/null | sort | tail -n 1 || true)
  if [ -n "$latest" ]; then
    rm -f benchmarks/campaign/resume-*.pt
    cp "$latest" "benchmarks/campaign/resume-$stage.pt"
    echo "campaign: resume state $latest -> benchmarks/campaign/resume-$stage.pt"
  fi
done
