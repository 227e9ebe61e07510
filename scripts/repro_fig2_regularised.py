"""Fig. 2 (main paper): Var Δ against the layer width n_1 for networks trained with the continuity regulariser.

    python scripts/repro_fig2_regularised.py [--widths 16,32,64,128,256] [--epochs 400] [--seed 0] [-o out/repro]

The paper (Sec. 7, FaultTolerance-Continuity-FC-MNIST.ipynb): MNIST, 784-N-100-10
sigmoid, regularised with ψ = (10⁻⁴, 10⁻²) ("derivatives and smoothing")
and λ = 0.001: "the variance decays as 1/n_l" (log-log slope −1). Unlike
``repro_width_scaling.py`` (where the −1.00 of "widened" networks is true by
construction: duplicating neurons divides Var Δ by k exactly), every network
here is trained independently from its own random initialisation.

Here: digits, sigmoid 64-N-32-10 trained by ``neurosim.train`` (full-batch
Adam), with and without Eq. 1's ψ (on W_1 rows — adjacent hidden neurons —
and W_2 columns via C2) and λ (R1 on the loss, crash layer 1); crashes of
layer-1 neurons with p = 0.01; Var Δ from b3 and from Monte Carlo (averaged
over test inputs and logits), slope of log Var Δ against log N.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim.analysis import b3_bound
from neurosim.train import RegParams, TrainConfig, train_mlp
from neurosim.train.trainer import load_digits_split
from _repro_common import mc_neuron_crashes, savefig

P = 0.01


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="16,32,64,128,256")
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", default="1e-4,1e-2", help="ψ = (derivatives, smoothing) of Eq. 1 (paper: 1e-4,1e-2)")
    ap.add_argument("--lam", type=float, default=1e-3, help="λ of Eq. 1 (paper: 1e-3)")
    ap.add_argument("--only-regularised", action="store_true")
    ap.add_argument("-o", "--output", default="out/repro")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    widths = [int(w) for w in args.widths.split(",")]
    data = load_digits_split(args.seed)
    Xte = data[1]
    rng = np.random.default_rng(args.seed)
    psi = tuple(float(v) for v in args.psi.split(","))
    settings = {} if args.only_regularised else {"unregularised": RegParams()}
    settings[f"regularised ψ=({psi[0]:g},{psi[1]:g}), λ={args.lam:g}"] = RegParams(lam=args.lam, psi=psi, layers=(1, 2),
                                                                                 crash_layers=(1,))
    res = {}
    print(f"digits, sigmoid 64-N-32-10, crashes at layer 1 with p = {P}, {args.repeats} Monte Carlo draws per "
          "test input; paper (Fig. 2, MNIST): regularised networks have Var Δ ∝ 1/n_1 (slope -1)")
    for name, reg in settings.items():
        rows = []
        for n in widths:
            r = train_mlp(TrainConfig(hidden=(n, 32), activation="sigmoid", epochs=args.epochs, lr=1e-2,
                                      seed=args.seed, reg=reg), data=data)
            vb3 = float(np.mean(b3_bound(r.net, Xte, {1: P}).std ** 2))
            vexp = float(np.mean(mc_neuron_crashes(r.net, Xte, {1: P}, args.repeats, rng).var(0, ddof=1)))
            rows.append((n, r.test_accuracy, vb3, vexp))
        R = np.array(rows)
        sl_b3 = np.polyfit(np.log(R[:, 0]), np.log(R[:, 2]), 1)[0]
        sl_ex = np.polyfit(np.log(R[:, 0]), np.log(R[:, 3]), 1)[0]
        res[name] = (R, sl_b3, sl_ex)
        print(f"\n[{name}]")
        print(f"{'N':>6s} {'test acc':>9s} {'Var b3':>10s} {'Var exp':>10s}")
        for n, acc, vb, ve in rows:
            print(f"{int(n):6d} {acc:9.3f} {vb:10.4g} {ve:10.4g}")
        print(f"slope of log Var Δ vs log N: b3 {sl_b3:.2f}, experiment {sl_ex:.2f}  (paper, regularised: -1)",
              flush=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for (name, (R, sb, se)), c in zip(res.items(), ("tab:gray", "tab:green")):
        ax.loglog(R[:, 0], R[:, 3], "o-", color=c, label=f"{name}: exp (slope {se:.2f})")
        ax.loglog(R[:, 0], R[:, 2], "x--", color=c, label=f"b3 (slope {sb:.2f})")
    R = next(iter(res.values()))[0]
    ax.loglog(R[:, 0], R[0, 3] * R[0, 0] / R[:, 0], "k:", lw=0.8, label="∝ 1/N")
    ax.set_xlabel("hidden width N (layer 1)")
    ax.set_ylabel("Var Δ (p = 0.01 at layer 1)")
    ax.legend(fontsize=7)
    ax.set_title("Fig. 2 analogue on digits")
    savefig(fig, f"{args.output}/fig2_regularised{'_psi' + args.psi.replace(',', '_') if args.only_regularised else ''}.png")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
