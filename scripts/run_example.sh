#!/usr/bin/env bash
# The main job on the bundled example: map the digits MLP onto a chip, simulate
# faults, compare with the bounds, sweep fault rates and report, then plan
# replicas. Installs what it needs into .venv on first use. Outputs: out/example/.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
MODEL=examples/digits_mlp.h5
OUT=out/example
mkdir -p "$OUT"
rm -rf "$OUT/compare" "$OUT/sweep-report" "$OUT/plan"
set -x
neurosim profiles
neurosim map "$MODEL" --profile rram -o "$OUT/mapping.json"
neurosim simulate "$MODEL" --profile rram --fault synapse:permanent:profile --fault neuron:transient:1e-3 \
  --chips 50 --seed 1 -o "$OUT/simulate.h5"
neurosim simulate "$MODEL" --profile rram --fault synapse:permanent:profile \
  --fault synapse:permanent:profile:value=max --fault synapse:permanent:profile:value=min \
  --chips 50 --seed 1 -o "$OUT/simulate-sa0-sa1.h5"
neurosim bounds "$MODEL" --p 0.01 --layer 1 -o "$OUT/bounds.json"
neurosim compare "$MODEL" --fault neuron:transient:0.01:layers=1 --chips 300 --seed 1 -o "$OUT/compare"
neurosim sweep "$MODEL" --profile rram --fault synapse:permanent --fault neuron:transient:layers=1 \
  --rates 1e-4:1e-1:7 --chips 20 --seed 1 -o "$OUT/sweep.h5"
neurosim report "$OUT/sweep.h5" -o "$OUT/sweep-report"
neurosim plan "$MODEL" --profile rram --fault synapse:permanent:profile --eps 4.5 --delta 1e-3 \
  --common-cause 0.3 --seed 1 -o "$OUT/plan"
neurosim plan --check "$OUT/plan"
