"""Cost of fault values vs stuck-at-0 on the engine benchmark network (interleaved rounds).

    python scripts/bench_values.py [--inputs 1000] [--rounds 5] [--threads N] [--precision float64]

Network and inputs of ``scripts/bench_engine.py`` (784-500-100-10, sigmoid,
1,000 uniform inputs), mapped onto the Loihi profile (8-bit weights, so
``max``/``min``/``bitflip`` have their chip meaning). For each fault family
and value, the value and the stuck-at-0 spec run as A/B pairs in interleaved
rounds (zero then value, value then zero, ...), so machine load hits both
alike; printed: best and median time of the value, the ratio of best times
and the median of the per-round ratios to stuck-at-0. Goal (issue 15): every value within 10 % of stuck-at-0.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import neurosim as ns  # noqa: E402
from bench_engine import make_net  # noqa: E402

VALUES = ["zero", "0.5", "max", "min", "bitflip", "scale=0.9"]
NEURON_VALUES = ["zero", "0.5", "saturated"]
# the fault families of scripts/bench_engine.py
FAMILIES = [
    ("transient synapse p=1e-3", "synapse:transient:1e-3", 1, VALUES),
    ("transient synapse p=1e-2", "synapse:transient:1e-2", 1, VALUES),
    ("transient neuron p=1e-3", "neuron:transient:1e-3", 1, NEURON_VALUES),
    ("transient neuron p=1e-2", "neuron:transient:1e-2", 1, NEURON_VALUES),
    ("permanent synapse p=1e-3, 100 chips", "synapse:permanent:1e-3", 100, VALUES),
    ("permanent synapse p=1e-2, 100 chips", "synapse:permanent:1e-2", 100, VALUES),
    ("intermittent synapse p=1e-2", "synapse:intermittent:1e-2:p_on=0.1:p_off=0.5", 1, VALUES),
]


def run_values(net, x, n_rounds=5, threads=None, precision="float64", chips_scale=1.0, families=FAMILIES):
    """Interleaved rounds of every (family, value); prints best/median times and ratios to stuck-at-0."""
    m = ns.map_network(net, "loihi", max_chips=4, x_sample=x[:64])
    kw = {"precision": precision} if "precision" in ns.simulate.__code__.co_varnames else {}
    for _, spec, _, vals in families:  # warm-up: compile every kernel path
        for v in vals:
            ns.simulate(m, x[:8], f"{spec}:value={v}", n_chips=2, seed=0, **kw)
    print(f"network {net.sizes} on loihi (8-bit weights), {x.shape[0]} inputs, {n_rounds} interleaved rounds, "
          f"threads={threads or 'auto'}, {precision}")
    print(f"{'case':38s} {'value':>10s} {'best s':>8s} {'median s':>9s} {'ratio best':>10s} {'ratio median':>12s}")
    worst = 0.0
    for fam, spec, chips, vals in families:
        chips = max(1, int(round(chips * chips_scale)))
        def run(v):
            t = time.perf_counter()
            ns.simulate(m, x, f"{spec}:value={v}", n_chips=chips, seed=0, threads=threads, **kw)
            return time.perf_counter() - t

        label = fam.replace("100 chips", f"{chips} chips")
        for v in vals[1:]:  # A/B pairs with stuck-at-0, order alternating per round
            tz, tv = [], []
            for k in range(n_rounds):
                if k % 2 == 0:
                    tz.append(run("zero"))
                    tv.append(run(v))
                else:
                    tv.append(run(v))
                    tz.append(run("zero"))
            ratios = [a / b for a, b in zip(tv, tz)]
            rb, rm = min(tv) / min(tz), statistics.median(ratios)
            worst = max(worst, rm)
            print(f"{label:38s} {v:>10s} {min(tv):8.3f} {statistics.median(tv):9.3f} {rb:10.3f} {rm:12.3f}"
                  f"   (stuck-at-0 best {min(tz):.3f} s)")
    print(f"worst median per-round ratio of a value to stuck-at-0: {worst:.3f} (goal <= 1.10)")
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--chips-scale", type=float, default=1.0, help="scale the chip counts of the permanent cases")
    ap.add_argument("--only", default=None, help="run only the families whose name contains this text")
    args = ap.parse_args(argv)
    net = make_net()
    x = np.random.default_rng(1).uniform(0, 1, (args.inputs, 784))
    fams = [f for f in FAMILIES if args.only is None or args.only in f[0]]
    run_values(net, x, args.rounds, args.threads, args.precision, args.chips_scale, fams)


if __name__ == "__main__":
    main()
