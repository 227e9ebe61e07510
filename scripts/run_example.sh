#!/usr/bin/env bash
# The main job on the bundled example: map the digits MLP onto a chip, simulate
# faults, compare with the bounds, sweep fault rates and report, then plan
# replicas; then map the digits CNN (second example) and sweep it briefly.
# Installs what it needs into .venv on first use. Outputs: out/example/.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
MODEL=examples/digits_mlp.h5
OUT=out/example
mkdir -p "$OUT"
rm -rf "$OUT/compare" "$OUT/sweep-report" "$OUT/plan" "$OUT/plan-shared"
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
# plan: R, its verification and the verdict (printed last; exit 0 = meets_target or not_confirmed)
neurosim plan "$MODEL" --profile rram --fault synapse:permanent:profile --failure linf:4.5 --delta 1e-3 \
  --seed 1 -o "$OUT/plan"
neurosim plan --check "$OUT/plan" --no-rerun
# the same target when 30 % of the faults are shared by the replicas (same lot): the shared-fault floor is
# above delta, so the verdict is 'infeasible' (exit status 3); the plan says why and states the lot rule
rc=0
neurosim plan "$MODEL" --profile rram --fault synapse:permanent:profile --failure linf:4.5 --delta 1e-3 \
  --common-cause 0.3 --chips 500 --limit 150 --seed 1 -o "$OUT/plan-shared" || rc=$?
[ "$rc" -eq 3 ] || { echo "expected verdict 'infeasible' (exit 3), got exit $rc" >&2; exit 1; }
CNN=examples/digits_cnn.h5
neurosim map "$CNN" --profile truenorth -o "$OUT/cnn-mapping.json"
neurosim sweep "$CNN" --profile loihi --fault synapse:transient --fault neuron:transient:layers=1 \
  --rates 1e-4:1e-2:3 --chips 5 --seed 1 -o "$OUT/cnn-sweep.h5"
# spiking mode: the digits MLP converted to IF neurons (bundled: examples/digits_snn_if.h5), dead neurons and
# dropped spikes over T=50 ticks, and a short spiking sweep
neurosim convert "$MODEL" --ticks 50 --neuron IF -o "$OUT/digits_snn_if.h5"
neurosim simulate examples/digits_snn_if.h5 --ticks 50 --fault neuron:transient:1e-2:layers=1 \
  --fault router:transient:1e-2 --chips 5 --limit 200 --seed 1 -o "$OUT/simulate_snn.h5"
neurosim sweep examples/digits_snn_if.h5 --ticks 30 --fault neuron:permanent:layers=1 --rates 1e-3:1e-1:3 \
  --chips 4 --limit 100 --seed 1 -o "$OUT/sweep_snn.h5" --force
