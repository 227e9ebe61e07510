"""Cost of bound b3 relative to forward passes (784-500-100-10 sigmoid, 1000 inputs).

    python scripts/bench_bounds.py [--repeat 5] [--seed 0]

Prints, measured in the same run: the time of one forward pass over 1000
inputs, the time of b3 for all 10 outputs (crashes at the first hidden layer,
and at every layer including the input), and the ratio
``t(b3) / (t(forward) * n_out)`` — b3 should cost a small multiple of one
forward pass per output. Best of ``--repeat`` runs after one warm-up call each.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from neurosim import Network
from neurosim.analysis import b3_bound, b4_bound

SIZES = (784, 500, 100, 10)


def best_time(f, repeat):
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    Ws = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(SIZES[:-1], SIZES[1:])]
    bs = [0.1 * rng.standard_normal(n) for n in SIZES[1:]]
    net = Network.from_arrays(Ws, bs, ["sigmoid", "sigmoid", "identity"])
    x = rng.random((1000, SIZES[0]))
    n_out = SIZES[-1]
    print(f"network {SIZES} sigmoid, 1000 inputs, numpy {np.__version__}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    t_fwd = best_time(lambda: net.forward(x), args.repeat)
    print(f"{'forward pass (1000 inputs):':44s} {t_fwd * 1e3:8.1f} ms")
    for label, p in (("b3, crashes at layer 1", {1: 1e-3}),
                     ("b3, crashes at layers 0, 1, 2", {0: 1e-3, 1: 1e-3, 2: 1e-3})):
        t3 = best_time(lambda: b3_bound(net, x, p), args.repeat)
        print(f"{label + ', all outputs:':44s} {t3 * 1e3:8.1f} ms   "
              f"b3 / (forward x n_out) = {t3 / (t_fwd * n_out):.2f}")
    t4 = best_time(lambda: b4_bound(net, x, {2: 1e-3}), 1)
    print(f"{'b4, crashes at layer 2 (100 passes):':44s} {t4 * 1e3:8.1f} ms   "
          f"b4 / (forward x n_2) = {t4 / (t_fwd * SIZES[2]):.2f}")


if __name__ == "__main__":
    main()
