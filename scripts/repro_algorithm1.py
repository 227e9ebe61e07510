"""The paper's "Testing the algorithm" (Sec. 7; Figs. 7, 8): Algorithm 1 end to end on digits.

    python scripts/repro_algorithm1.py [--eps 1.0] [--delta 1e-5] [--p 0.01] [--complexity 1000] [-o out/repro]

Paper (MNIST, TheAlgorithm.ipynb): ε = 9e-3, δ = 1e-5 give R = 20, n_1 = 500,
λ = 1e-6, μ = 1e-10, ψ = (1e-4, 1e-2); Fig. 8 shows two stages (ψ raised,
then n_1 and λ raised) and Fig. 7 the distribution of Δ of the final network
against the threshold. Its R = 20 is the (1/3)^{R/2} formula at δ = 1e-5;
the exact median tail needs more copies at a single-copy δ near 1/3 and fewer
when δ is small (printed side by side).

Here: ``neurosim.plan.algorithm1.run_algorithm1`` on digits, relu 64-N-10,
ε on the logits (‖Δ‖_∞), crashes at layer 1 with probability p, the paper's
doubling (growth 2) and start values (μ0 = 1e-10, ψ0 = (1e-4, 1e-2),
λ0 = 1e-3), widths +32 per "increase n", then verification by simulation
(groups of R chips with permanent neuron faults, component-wise median).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim.plan.algorithm1 import Algorithm1Config, run_algorithm1
from neurosim.train.trainer import load_digits_split
from _repro_common import mc_neuron_crashes, savefig


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eps", type=float, default=1.0)
    ap.add_argument("--delta", type=float, default=1e-5)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--complexity", type=float, default=1000.0)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="out/repro")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data = load_digits_split(args.seed)
    cfg = Algorithm1Config(eps=args.eps, delta=args.delta, p=args.p, complexity=args.complexity, hidden=(32,),
                           width_step=32, growth=2.0, epochs=args.epochs, max_iterations=14, verify_groups=200,
                           seed=args.seed)
    res = run_algorithm1(cfg, data=data, emit=lambda s: print(s, flush=True))
    print(f"\nstatus {res.status}: {res.reason}")
    print(f"{'':24s} {'ours (digits)':>24s} {'paper (MNIST)':>24s}")
    print(f"{'epsilon, delta':24s} {f'{args.eps:g}, {args.delta:g}':>24s} {'9e-3, 1e-5':>24s}")
    print(f"{'n_1':24s} {str(res.widths[0]):>24s} {'500':>24s}")
    lam, mu, psi = res.reg["lambda"], res.reg["mu"], res.reg["psi"]
    print(f"{'lambda, mu':24s} {f'{lam:g}, {mu:g}':>24s} {'1e-6, 1e-10':>24s}")
    print(f"{'psi':24s} {str(tuple(psi)):>24s} {'(1e-4, 1e-2)':>24s}")
    if res.R is not None:
        print(f"{'single-copy delta (P5)':24s} {res.delta_single:>24.4g} {'-':>24s}")
        print(f"{'R (exact median tail)':24s} {res.R:>24d} {'-':>24s}")
        print(f"{'R ((1/3)^(R/2) rule)':24s} {res.R_paper:>24d} {'20':>24s}")
        v = res.verification
        s, m = v["single_copy"], v["median"]
        print(f"verification ({v['groups']} groups x R = {v['R']} chips, {v['n_inputs']} inputs): single copy "
              f"{s['rate']:.3g} [{s['lo_clustered']:.3g}, {s['hi_clustered']:.3g}] vs δ = {res.delta_single:.3g}; "
              f"median {m['rate']:.3g} [{m['lo_clustered']:.3g}, {m['hi_clustered']:.3g}] vs exact tail "
              f"{res.tail_at_R:.3g}")
    acc = [e["test_accuracy"] for e in res.log if e["step"] == "train"]
    print(f"test accuracy per training: {', '.join(f'{a:.3f}' for a in acc)}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [e for e in res.log if e["step"] not in ("train", "verify by simulation")]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    xs = [e["iteration"] for e in it]
    for key, lab in (("delta0", "δ0 (Prop. 3)"), ("delta", "δ (Prop. 5)")):
        pts = [(e["iteration"], e[key]) for e in it if key in e]
        if pts:
            ax.semilogy(*zip(*pts), "o-", label=lab)
    ax.axhline(1 / 3, color="k", ls=":", lw=0.8, label="1/3")
    for e in it:
        ax.annotate(e["step"].split(":")[0], (e["iteration"], 0.5), rotation=70, fontsize=6, ha="center")
    ax.set_xticks(xs)
    ax.set_xlabel("iteration")
    ax.set_ylabel("probability")
    ax.set_title("Algorithm 1 on digits (Fig. 8 analogue)")
    ax.legend(fontsize=7, loc="lower left")
    savefig(fig, f"{args.output}/fig8_algorithm_iterations.png")
    if res.net is not None:
        rng = np.random.default_rng(args.seed)
        d = mc_neuron_crashes(res.net, data[1], {1: args.p}, 200, rng).ravel()
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax.hist(d, bins=200, log=True)
        for s in (-1, 1):
            ax.axvline(s * args.eps, color="r", ls="--", lw=0.8)
        ax.set_xlabel("Δ (logits), single copy")
        ax.set_ylabel("count (log)")
        ax.set_title(f"Final network: Δ against ±ε (Fig. 7 analogue), p = {args.p}")
        savefig(fig, f"{args.output}/fig7_algorithm_delta.png")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
