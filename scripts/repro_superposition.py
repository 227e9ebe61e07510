"""Fig. 11 / Additional Proposition 7: linearity of error superposition across crashing layers.

    python scripts/repro_superposition.py [--seed 0] [--repeats 400000] [--p 0.01] [-o out/repro]

The paper (supplementary Sec. 7.4, ErrorAdditivityRandom.ipynb): a random
network with L = 4 on a random input; Δ is computed with crashes on subsets
a, b of the layers; over all pairs of disjoint non-empty subsets (25 pairs for
four crashing layers) the relative error of predicting Δ_{a∪b} by linearity is
‖Δ_{a∪b} − Δ_a − Δ_b‖ / ‖Δ_{a∪b}‖, for the mean and for the variance. Paper:
"only few percent both for mean and variance, with better results for the
mean" (Fig. 11, a histogram; no table of numbers).

Here: a random tanh network 20-40-40-40-5 (weights randn/n_in), one input
x ~ N(0, 1), neuron layers 0..3 crash transiently with the same p; moments
from plain Monte Carlo (the script also prints the Monte Carlo floor: the
same statistic for a split of one subset's samples in two halves).
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from neurosim import Network
from _repro_common import mc_neuron_crashes, savefig

SIZES = (20, 40, 40, 40, 5)
LAYERS = (0, 1, 2, 3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=400000)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("-o", "--output", default="out/repro")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    Ws = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [0.1 * rng.standard_normal(b) for b in SIZES[1:]]
    net = Network.from_arrays(Ws, bs, "tanh", "random-L4")
    x = rng.standard_normal((1, SIZES[0]))
    subsets = [s for k in range(1, 5) for s in itertools.combinations(LAYERS, k)]
    mom = {}
    for s in subsets:
        d = mc_neuron_crashes(net, x, {l: args.p for l in s}, args.repeats, rng)[:, 0, :]
        mom[s] = (d.mean(0), d.var(0, ddof=1), d)
    pairs = [(a, b) for a, b in itertools.combinations(subsets, 2) if not set(a) & set(b)]
    rel_m, rel_v = [], []
    for a, b in pairs:
        u = tuple(sorted(set(a) | set(b)))
        rel_m.append(np.linalg.norm(mom[u][0] - mom[a][0] - mom[b][0]) / np.linalg.norm(mom[u][0]))
        rel_v.append(np.linalg.norm(mom[u][1] - mom[a][1] - mom[b][1]) / np.linalg.norm(mom[u][1]))
    rel_m, rel_v = 100 * np.array(rel_m), 100 * np.array(rel_v)
    # Monte Carlo floor: two independent halves of the all-layer run, compared the same way
    d = mom[LAYERS][2]
    h1, h2 = d[: len(d) // 2], d[len(d) // 2:]
    floor_m = 100 * np.linalg.norm(h1.mean(0) - h2.mean(0)) / np.linalg.norm(d.mean(0)) / np.sqrt(2)
    floor_v = 100 * np.linalg.norm(h1.var(0) - h2.var(0)) / np.linalg.norm(d.var(0)) / np.sqrt(2)
    print(f"network {SIZES} tanh, one random input, neuron crashes p = {args.p} on layer subsets of {LAYERS}, "
          f"{args.repeats} Monte Carlo inferences per subset; {len(pairs)} disjoint subset pairs (paper: 25)")
    print(f"{'':28s} {'median':>8s} {'90%':>8s} {'max':>8s}   paper (Fig. 11)")
    print(f"{'rel. error of mean, %':28s} {np.median(rel_m):8.2f} {np.percentile(rel_m, 90):8.2f} {rel_m.max():8.2f}   "
          "'a few percent', better than variance")
    print(f"{'rel. error of variance, %':28s} {np.median(rel_v):8.2f} {np.percentile(rel_v, 90):8.2f} {rel_v.max():8.2f}   "
          "'a few percent'")
    print(f"Monte Carlo floor (half vs half of one run, scaled): mean {floor_m:.2f}%, variance {floor_v:.2f}%")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    bins = np.linspace(0, max(rel_m.max(), rel_v.max()) * 1.05, 16)
    ax.hist(rel_m, bins=bins, alpha=0.7, label="mean")
    ax.hist(rel_v, bins=bins, alpha=0.7, label="variance")
    ax.set_xlabel("relative error of the linear prediction Δ_a + Δ_b, %")
    ax.set_ylabel("subset pairs")
    ax.set_title(f"Additional Proposition 7 ({len(pairs)} pairs, p = {args.p})")
    ax.legend()
    savefig(fig, f"{args.output}/fig11_superposition.png")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
