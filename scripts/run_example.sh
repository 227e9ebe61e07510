#!/usr/bin/env bash
# The main job on the bundled example: map the digits MLP onto a chip, simulate
# faults, sweep fault rates, report, and plan replicas. Installs what it needs
# into .venv on first use. Outputs go to out/example/.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
MODEL=examples/digits_mlp.h5
OUT=out/example
mkdir -p "$OUT"
set -x
neurosim profiles
neurosim map "$MODEL" --profile rram -o "$OUT/mapping.json"
neurosim simulate "$MODEL" --profile rram --fault synapse:permanent:profile --fault neuron:transient:1e-3 \
  --chips 50 --seed 1 -o "$OUT/simulate.h5"
neurosim bounds "$MODEL" --p 0.01 --layer 1 -o "$OUT/bounds.json"
rm -rf "$OUT/compare"
neurosim compare "$MODEL" --fault neuron:transient:0.01:layers=1 --chips 300 --seed 1 -o "$OUT/compare"
rm -rf "$OUT/plan"
neurosim plan "$MODEL" --profile rram --fault synapse:permanent:profile --eps 4.5 --delta 1e-3 \
  --common-cause 0.3 --seed 1 -o "$OUT/plan"
neurosim plan --check "$OUT/plan"
