# The weights campaign's stages and their state, shared by run.sh and save_state.sh (sourced from the repository root).
# Each stage with its length in batches, in the order they run (run.sh has their commands):
STAGES=(release128:5000 r128restore:300 r128exposure:300 r128knee:300 r128restore4:300 r128grain:300 r128grain5:300 r128expgrain:300 r128grain5s4:300 r128expgrain4:300 r128grain5long:600 r128grain5ps:300 r128expgrainps:300 r128grain5pst4:300 r128grain5psg12:300 r128expgraing12:300 r128grain5psg11:300 r128n75psg11:300 r128n10psg11:300)
PY=${PY:-.venv/bin/python}
RUNS=${RUNS:-runs}
steps_done() {  # the last logged batch of stage $1: its run folder's log, else its committed curve, else 0
  local log=$RUNS/$1/log.jsonl
  [ -f "$log" ] || log=benchmarks/curves/$1.jsonl
  [ -f "$log" ] || { echo 0; return; }
  "$PY" -c "import json, sys; print(max([json.loads(l).get('step', 0) for l in open(sys.argv[1])] + [0]))" "$log"
}
keep_weights() {  # a finished stage's weights -> benchmarks/campaign/<stage>.safetensors (start of the later stages)
  local kept=benchmarks/campaign/$1.safetensors
  [ -f "$kept" ] && return
  [ -f "$RUNS/$1/model.safetensors" ] || { echo "campaign: $1 is finished but neither $kept nor" \
    "$RUNS/$1/model.safetensors exists; restore it from the commit that finished it (git log -- $kept)" >&2; exit 1; }
  cp "$RUNS/$1/model.safetensors" "$kept"
  echo "campaign: $1 finished; its weights -> $kept"
}
