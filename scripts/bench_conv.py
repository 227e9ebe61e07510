"""Engine throughput on the bundled CNN: faulty inference vs clean inference.

    python scripts/bench_conv.py [--chips 10] [--rounds 5] [--threads N]

Model: examples/digits_cnn.h5 (conv 3x3 1->8 + ReLU, avg-pool 2, dense 128->10),
its 450 bundled test digits, repeated over ``--chips`` chip instances. Clean
baseline: the numpy forward pass of the same rows (im2col + BLAS, one batch;
the faster of multi- and single-threaded BLAS). Each case is timed in
interleaved rounds (clean, then every faulty case, repeated), and the best and
median times are reported; ratios are clean time / faulty time (>= 1 means the
faulty engine is as fast as clean inference). Goal (issue 13): >= 0.5 for
transient synapse faults at p = 1e-3.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import neurosim as ns

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    ("engine, no faults", None, []),
    ("synapse transient p=1e-3", None, ["synapse:transient:1e-3"]),
    ("neuron transient p=1e-3", None, ["neuron:transient:1e-3"]),
    ("synapse permanent p=1e-2", None, ["synapse:permanent:1e-2"]),
    ("rram mapping: synapse transient 1e-3 + core 1e-2", "rram", ["synapse:transient:1e-3", "core:permanent:1e-2"]),
    ("truenorth (replicated kernels): synapse transient 1e-3", "truenorth", ["synapse:transient:1e-3"]),
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    path = ROOT / "examples" / "digits_cnn.h5"
    net = ns.load_network(path)
    x, _ = ns.io.load_bundled_data(path)
    targets = {None: net}
    for _, prof, _ in CASES:
        if prof and prof not in targets:
            targets[prof] = ns.map_network(net, prof, x_sample=x)
    rows = np.tile(x, (args.chips, 1))
    n = rows.shape[0]
    for _, prof, specs in CASES:  # warm-up: compile kernels
        ns.simulate(targets[prof], x[:20], specs, n_chips=2, seed=0)

    def clean():
        t = time.perf_counter(); net.forward(rows); t_mt = time.perf_counter() - t
        with threadpool_limits(limits=1, user_api="blas"):
            t = time.perf_counter(); net.forward(rows); t_st = time.perf_counter() - t
        return min(t_mt, t_st)

    times = {"clean": []} | {c[0]: [] for c in CASES}
    for _ in range(args.rounds):
        times["clean"].append(clean())
        for name, prof, specs in CASES:
            t = time.perf_counter()
            ns.simulate(targets[prof], x, specs, n_chips=args.chips, seed=1, threads=args.threads)
            times[name].append(time.perf_counter() - t)
    best_c, med_c = min(times["clean"]), statistics.median(times["clean"])
    print(f"{net!r}, {n} inferences ({args.chips} chips x {x.shape[0]} inputs), {args.rounds} interleaved rounds, "
          f"threads={args.threads or 'auto'}")
    print(f"{'case':58s} {'inf/s (best)':>13s} {'ratio best':>11s} {'ratio median':>13s}")
    print(f"{'clean numpy forward (im2col + BLAS, best of MT/1T)':58s} {n / best_c:13.0f} {1.0:11.2f} {1.0:13.2f}")
    for name, _, _ in CASES:
        b, m = min(times[name]), statistics.median(times[name])
        print(f"{name:58s} {n / b:13.0f} {best_c / b:11.2f} {med_c / m:13.2f}")


if __name__ == "__main__":
    main()
