"""Fig. 10 (supplementary, Regularization.ipynb): Eq. 1's λ term against accuracy and b3's Var Δ.

    python scripts/repro_fig10_regularizer.py [--lambdas 0,1e-3,1e-2,1e-1,1] [--epochs 200] [--seed 0] [-o out/repro]

The paper: "Horizontal axis represents increasing regularization parameter.
Left vertical axis represents accuracy ... test crashing network accuracy
(red) and correct network accuracy (green). Right axis shows variance of the
error Var∆ estimated by bound b3 used as a regularizer"; main text: the
network regularised with the bound is about as resilient as one trained
with dropout. No numbers are given.

Here: digits, relu 64-32-10 by ``neurosim.train`` (full batch, 200 epochs),
λ term R1 on the outputs (b3's Var Δ / p summed over logits, the quantity
plotted) and, for comparison, on the loss (the paper's Eq. 1 form); crashes
at layer 1 with p = 0.05: accuracy with and without crashes (transient, 20
draws per test input), b3 Var Δ averaged over test inputs and logits, and
Var Δ relative to the clean logits' variance (so that shrinking the logits
alone does not count). One dropout-trained network (p_t = 0.05) for the
paper's dropout comparison.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim.analysis import b3_bound
from neurosim.train import RegParams, TrainConfig, train_mlp
from neurosim.train.trainer import load_digits_split
from _repro_common import mc_neuron_crashes, savefig

P = 0.05


def evaluate(net, Xte, yte, rng):
    b3 = b3_bound(net, Xte, {1: P})
    clean = net.forward(Xte)
    d = mc_neuron_crashes(net, Xte, {1: P}, 20, rng)
    acc_c = float(np.mean(np.argmax(clean[None] + d, 2) == yte[None]))
    v = float(np.mean(b3.std ** 2))
    return float(np.mean(np.argmax(clean, 1) == yte)), acc_c, v, v / float(np.var(clean))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lambdas", default="0,1e-3,1e-2,1e-1,1")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="out/repro")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    lams = [float(v) for v in args.lambdas.split(",")]
    data = load_digits_split(args.seed)
    Xte, yte = data[1], data[3]
    rng = np.random.default_rng(args.seed)
    res = {}
    print(f"digits, relu 64-32-10, {args.epochs} epochs; crashes at layer 1 with p = {P}")
    print(f"{'target':7s} {'lambda':>8s} {'acc':>6s} {'acc crash':>10s} {'Var b3':>10s} {'Var/Var(y)':>11s}")
    for target in ("output", "loss"):
        rows = []
        for lam in lams:
            r = train_mlp(TrainConfig(hidden=(32,), epochs=args.epochs, seed=args.seed,
                                      reg=RegParams(lam=lam, target=target, crash_layers=(1,))), data=data)
            a, ac, v, vn = evaluate(r.net, Xte, yte, rng)
            rows.append((lam, a, ac, v, vn))
            print(f"{target:7s} {lam:8.0e} {a:6.3f} {ac:10.3f} {v:10.4g} {vn:11.4g}", flush=True)
        res[target] = np.array(rows)
    r = train_mlp(TrainConfig(hidden=(32,), epochs=args.epochs, seed=args.seed, crash_p=P,
                              reg=RegParams(crash_layers=(1,))), data=data)
    a, ac, v, vn = evaluate(r.net, Xte, yte, rng)
    print(f"dropout p_t = {P}: {a:6.3f} {ac:10.3f} {v:10.4g} {vn:11.4g}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, (target, R) in zip(axes, res.items()):
        xs = np.arange(len(lams))
        ax.plot(xs, R[:, 1], "o-", color="tab:green", label="accuracy")
        ax.plot(xs, R[:, 2], "s-", color="tab:red", label="accuracy with crashes")
        ax.set_xticks(xs, [f"{v:g}" for v in lams])
        ax.set_xlabel(f"λ (R1 on the {target})")
        ax.set_ylabel("test accuracy")
        ax2 = ax.twinx()
        ax2.semilogy(xs, R[:, 3], "^--", color="tab:blue", label="Var Δ (b3)")
        ax2.set_ylabel("Var Δ (b3)", color="tab:blue")
        ax.legend(loc="lower left", fontsize=7)
        ax.set_title(f"Eq. 1 λ term, target = {target}")
    savefig(fig, f"{args.output}/fig10_regularizer.png")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
