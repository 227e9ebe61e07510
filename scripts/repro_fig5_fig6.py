"""Figs. 5 and 6: rank loss and relative error of b1..b4, split by variable input and variable network.

    python scripts/repro_fig5_fig6.py [--seed 0] [--nets 20] [--inputs 20] [--repeats 20000] [-o out/repro]

The paper (supplementary Sec. 7.1-7.2, ErrorComparisonBoston.ipynb,
ErrorComparisonRandom.ipynb) ranks networks/inputs by each bound and compares
with the experimental error: "variable input on a fixed network" (rank over
inputs, per network) and "variable network with fixed input" (rank over
networks, per input), for the mean E Δ and the standard deviation; plus the
relative error of predicting Δ. Its reading: "only b3 and b4 giving
meaningful results both for rank loss and relative error ... b4 is always
better than b3"; random networks are "qualitatively the same". The figures
are bar charts (no numbers in the text).

* Fig. 5 analogue: Boston Housing is not shipped with scikit-learn any more;
  we use ``load_diabetes`` (10 features, regression, standardised). Sigmoid
  (logistic) networks 10-50-50-1, ``MLPRegressor`` with --nets different
  initialisations.
* Fig. 6: random networks in the authors' parameterisation
  (``repro_random_networks.random_network``), relu and sigmoid, 30-50-30-3.

Crashes: neurons of layer 1, transient, p = 0.01; experiment: --repeats
Monte Carlo inferences per input. Rank loss is computed within each group
(one network: over inputs × outputs; one input: over networks × outputs) and
averaged over groups.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from neurosim.analysis import bounds
from _repro_common import mc_neuron_crashes, rank_loss, rel_err, savefig
from repro_random_networks import random_network

P = 0.01
NAMES = ("b1", "b2", "b3", "b4")


def diabetes_nets(n_nets, seed):
    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPRegressor
    from neurosim.io import from_sklearn

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed)
    nets = []
    for k in range(n_nets):
        m = MLPRegressor(hidden_layer_sizes=(50, 50), activation="logistic", alpha=1e-3, max_iter=500, random_state=seed + k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            m.fit(Xtr, ytr)
        nets.append(from_sklearn(m, name=f"diabetes{k}"))
    return nets, Xte


def collect(nets, x, repeats, rng):
    """Arrays (net, input, output) of experiment and bound moments."""
    exp_m, exp_s, pred = [], [], {n: ([], []) for n in NAMES}
    for net in nets:
        d = mc_neuron_crashes(net, x, {1: P}, repeats, rng)
        exp_m.append(np.abs(d.mean(0)))
        exp_s.append(d.std(0))
        b = bounds(net, x, {1: P})
        for n in NAMES:
            pred[n][0].append(np.abs(b[n].mean))
            pred[n][1].append(np.zeros_like(b[n].mean) if b[n].std is None else b[n].std)
    return np.array(exp_m), np.array(exp_s), {n: (np.array(a), np.array(s)) for n, (a, s) in pred.items()}


def split_scores(exp, pred):
    """(variable input, variable network) mean rank losses."""
    vi = np.mean([rank_loss(pred[k], exp[k]) for k in range(exp.shape[0])])
    vn = np.mean([rank_loss(pred[:, i], exp[:, i]) for i in range(exp.shape[1])])
    return vi, vn


def report(title, exp_m, exp_s, pred):
    print(f"\n[{title}] {exp_m.shape[0]} networks x {exp_m.shape[1]} inputs x {exp_m.shape[2]} outputs")
    print(f"{'bound':6s} {'RL mean (var.input)':>20s} {'RL mean (var.net)':>18s} {'RL std (var.input)':>19s} "
          f"{'RL std (var.net)':>17s} {'rel.err mean':>13s} {'rel.err std':>12s}")
    out = {}
    for n in NAMES:
        m, s = pred[n]
        vim, vnm = split_scores(exp_m, m)
        has_std = n != "b1"
        vis, vns = split_scores(exp_s, s) if has_std else (np.nan, np.nan)
        rem, res = rel_err(m, exp_m), (rel_err(s, exp_s) if has_std else np.nan)
        out[n] = (vim, vnm, vis, vns, rem, res)
        print(f"{n:6s} {vim:20.3f} {vnm:18.3f} {vis:19.3f} {vns:17.3f} {rem:13.3f} {res:12.3f}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nets", type=int, default=20)
    ap.add_argument("--inputs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20000)
    ap.add_argument("-o", "--output", default="out/repro")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    print(f"crashes: layer-1 neurons, transient, p = {P}; {args.repeats} Monte Carlo inferences per input; "
          "rank loss 0 = same order, 0.5 = random")
    print("paper (Figs. 5, 6, bar charts): only b3 and b4 meaningful for rank loss and relative error; b4 always "
          "better than b3; random networks qualitatively the same as Boston", flush=True)
    nets, Xte = diabetes_nets(args.nets, args.seed)
    res = {"diabetes (sigmoid)": report("Fig. 5 analogue: diabetes, sigmoid 10-50-50-1",
                                        *collect(nets, Xte[: args.inputs], args.repeats, rng))}
    for act in ("relu", "sigmoid"):
        rnets = [random_network(rng, act) for _ in range(args.nets)]
        x = rng.standard_normal((args.inputs, rnets[0].n_in))
        res[f"random ({act})"] = report(f"Fig. 6: random networks, {act} 30-50-30-3",
                                        *collect(rnets, x, args.repeats, rng))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    labels = ["RL mean\nvar. input", "RL mean\nvar. net", "RL std\nvar. input", "RL std\nvar. net"]
    for ax, (title, r) in zip(axes, res.items()):
        w = 0.2
        for k, n in enumerate(NAMES):
            ax.bar(np.arange(4) + (k - 1.5) * w, [r[n][j] for j in range(4)], w, label=n)
        ax.set_xticks(np.arange(4), labels, fontsize=8)
        ax.axhline(0.5, color="k", lw=0.6, ls=":")
        ax.set_title(title)
    axes[0].set_ylabel("rank loss (0.5 = random)")
    axes[0].legend()
    savefig(fig, f"{args.output}/fig5_fig6_rank_loss.png")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
