"""RRAM stuck-at faults at the profile's literature rates: SA0 (1.75 %) and SA1 (9.04 %).

    python scripts/rram_sa1.py [--chips 200] [--seed 1] [-o out/rram-sa]

The bundled digits MLP on the RRAM profile. SA0 -> weight 0 (value=zero),
SA1 -> the tile's largest positive / negative weight (value=max / min, half
the SA1 rate each; docs/profiles.md). Writes ``rram_sa.png`` (accuracy per
chip for SA0 only, SA1 only, both; accuracy of the component-wise median of R
chips), ``rram_sa1_rate.png`` (accuracy as the SA1 rate grows, SA0 fixed) and
``summary.json``, and prints the numbers quoted in the README.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import neurosim as ns

MODEL = Path(__file__).resolve().parents[1] / "examples" / "digits_mlp.h5"


def specs_for(profile, sa0=True, sa1=1.0):
    out = []
    if sa0:
        out.append(ns.parse_fault("synapse:permanent:profile", profile=profile))
    if sa1 > 0:
        for v in ("max", "min"):
            s = ns.parse_fault(f"synapse:permanent:profile:value={v}", profile=profile)
            out.append(s.with_rate(s.rate * sa1))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="out/rram-sa")
    args = ap.parse_args(argv)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    net = ns.load_network(MODEL)
    x, lab = ns.io.load_bundled_data(MODEL)
    m = ns.map_network(net, "rram", x_sample=x)
    prof = m.profile
    scen = {"SA0 only (1.75 %)": specs_for(prof, True, 0.0),
            "SA1 only (4.52 % max + 4.52 % min)": specs_for(prof, False, 1.0),
            "SA0 + SA1 (profile rates)": specs_for(prof, True, 1.0)}
    acc, res = {}, {}
    for k, (name, specs) in enumerate(scen.items()):
        r = ns.simulate(m, x, specs, n_chips=args.chips, seed=args.seed, labels=lab)
        res[name] = r
        acc[name] = (np.argmax(r.faulty, 2) == lab[None]).mean(1)
    clean_acc = float(np.mean(np.argmax(res["SA0 only (1.75 %)"].clean, 1) == lab))
    both = res["SA0 + SA1 (profile rates)"].faulty
    Rs = [1, 3, 5, 9, 15, 25, 49]
    med = {}
    for R in Rs:
        groups = args.chips // R
        a = [np.mean(np.argmax(np.median(both[g * R:(g + 1) * R], axis=0), 1) == lab) for g in range(groups)]
        med[R] = (float(np.mean(a)), float(np.std(a)), groups)
    fr = np.linspace(0.0, 1.0, 9)
    sweep = []
    for f in fr:
        r = ns.simulate(m, x, specs_for(prof, True, f), n_chips=max(20, args.chips // 5), seed=args.seed, labels=lab)
        a = (np.argmax(r.faulty, 2) == lab[None]).mean(1)
        sweep.append((float(f * prof.fault_rates["synapse_stuck1"]), float(a.mean()), float(a.std())))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    ax = axes[0]
    names = list(acc)
    ax.boxplot([100 * acc[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), [n.replace(" (", "\n(") for n in names], fontsize=8)
    ax.axhline(100 * clean_acc, color="k", ls="--", lw=1, label=f"fault-free chip {100 * clean_acc:.1f} %")
    ax.set_ylabel("test accuracy per chip (%)\n(box: quartiles, whiskers: 1.5 IQR)")
    ax.set_title(f"RRAM stuck-at faults, {args.chips} chips")
    ax.legend(loc="lower left", fontsize=8)
    ax = axes[1]
    ax.errorbar(Rs, [100 * med[R][0] for R in Rs], yerr=[100 * med[R][1] for R in Rs], marker="o", capsize=3,
                label="mean over disjoint groups of R chips (bars: ±1 std)")
    ax.axhline(100 * clean_acc, color="k", ls="--", lw=1, label="fault-free chip")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_xticks(Rs, [str(R) for R in Rs])
    ax.set_xlabel("R chips, component-wise median of outputs")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("SA0 + SA1: median of R replicas")
    fig.tight_layout()
    fig.savefig(out / "rram_sa.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 4))
    s = np.array(sweep)
    ax.errorbar(100 * s[:, 0], 100 * s[:, 1], yerr=100 * s[:, 2], marker="o", capsize=3,
                label=f"mean over {max(20, args.chips // 5)} chips (bars: ±1 std)")
    ax.axhline(100 * clean_acc, color="k", ls="--", lw=1, label="fault-free chip")
    ax.set_xlabel("SA1 rate per weight (%), SA0 fixed at 1.75 %")
    ax.set_ylabel("test accuracy per chip (%)")
    ax.set_title("RRAM: accuracy vs SA1 rate")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rram_sa1_rate.png", dpi=120)
    plt.close(fig)

    summary = {"chips": args.chips, "seed": args.seed, "clean_accuracy": clean_acc,
               "accuracy": {n: {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max())}
                            for n, a in acc.items()},
               "median_of_R": {str(R): {"mean": v[0], "std": v[1], "groups": v[2]} for R, v in med.items()},
               "sa1_sweep": [{"sa1_rate": a, "accuracy_mean": b, "accuracy_std": c} for a, b, c in sweep],
               "faults": {n: [s.to_text() for s in sp] for n, sp in scen.items()}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"fault-free mapped chip: {100 * clean_acc:.2f} %")
    for n, a in acc.items():
        print(f"{n:38s} accuracy per chip: mean {100 * a.mean():.2f} %, range {100 * a.min():.1f}-{100 * a.max():.1f} %")
    print("SA0 + SA1, median of R chips: " + ", ".join(f"R={R} {100 * v[0]:.1f} %" for R, v in med.items()))
    print(f"figures: {out / 'rram_sa.png'}, {out / 'rram_sa1_rate.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
