#!/usr/bin/env bash
# Copy the campaign's state into the repository before a session ends (then commit it): the latest checkpoint of the
# newest stage as benchmarks/campaign/resume-<stage>.pt (the only resume file kept; 3.4 MB: weights, step, data
# position, RNG, logs, but not Adam's moments, which restart when a fresh machine resumes from it) and each stage's
# log as benchmarks/curves/<stage>.jsonl. Run it while no training session is writing (between sessions, or after SIGTERM).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
STAGES=""     # the queued stage(s); none now (see run.sh)
[ -n "$STAGES" ] || echo "campaign: no stage is queued; nothing to save"
for stage in $STAGES; do
  [ -f "$RUNS/$stage/log.jsonl" ] && cp "$RUNS/$stage/log.jsonl" "benchmarks/curves/$stage.jsonl"
  latest=$(ls "$RUNS/$stage/checkpoints"/step_*.pt 2>/dev/null | sort | tail -n 1 || true)
  if [ -n "$latest" ]; then
    rm -f benchmarks/campaign/resume-*.pt
    # without Adam's moments (2 x 3.3 MB): the repository takes files of at most 5 MB outside weights/
    "${PY:-.venv/bin/python}" -c "import sys, torch; from gifnet import checkpoint
s = checkpoint.read(sys.argv[1]); s['optimizer']['state'] = {}; torch.save(s, sys.argv[2])" \
      "$latest" "benchmarks/campaign/resume-$stage.pt"
    echo "campaign: resume state $latest -> benchmarks/campaign/resume-$stage.pt"
  fi
done
