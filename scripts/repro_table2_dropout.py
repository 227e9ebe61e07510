"""Table 2 (main paper): networks trained with increasing dropout, ordered by experimental and theoretical metrics.

    python scripts/repro_table2_dropout.py [--reps 4] [--epochs 300] [--seed 0]

The paper (Sec. 7, ComparisonIncreasingDropoutMNIST.ipynb): sigmoid networks
with N ~ 100 on MNIST; crash probability at inference p_i = 0.05 at the first
layer; 10 training dropout values p_t in [0, 1.2 p_i]; 10 repetitions; the
crashing error is estimated on 6 repetitions of the dataset. Rank loss
between p_t and each metric (fraction of incorrectly ordered pairs).

Here: digits (8×8, 1,347 train / 450 test) instead of MNIST; sigmoid
64-100-10 trained by ``neurosim.train`` (full-batch Adam, unscaled dropout at
p_t on the hidden layer = crash injection); metrics on softmax outputs (MAE
to the one-hot label) with and without crashes (p_i = 0.05, layer 1, 6
transient draws per input); bounds: T1 (b3) Var Δ and E Δ, P2 (b2) Var Δ and
E Δ on the logits, averaged over test inputs and outputs. Rank loss over all
network pairs with different p_t, as min(RL, 1 − RL) (0.5 = no relation),
with the sign of the trend.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim.analysis import b2_bound, b3_bound
from neurosim.train import RegParams, TrainConfig, train_mlp
from neurosim.train.trainer import load_digits_split
from _repro_common import mc_neuron_crashes

PAPER = {"Crashing, MAE": (5.6, 5.6), "Crashing, Accuracy": (19.8, 17.7), "Correct, MAE": (23.3, 22.0),
         "Correct, Accuracy": (31.7, 39.9), "T1 Var∆": 3.6, "P2 E∆": 24.8, "P2 Var∆": 31.7, "T1 E∆": 40.8}
P_I = 0.05


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def metrics(net, X, y, rng):
    onehot = np.eye(net.n_out)[y]
    clean = net.forward(X)
    d = mc_neuron_crashes(net, X, {1: P_I}, 6, rng)
    crashed = clean[None] + d
    return {"Correct, MAE": float(np.mean(np.abs(softmax(clean) - onehot))),
            "Correct, Accuracy": float(np.mean(np.argmax(clean, 1) == y)),
            "Crashing, MAE": float(np.mean(np.abs(softmax(crashed) - onehot[None]))),
            "Crashing, Accuracy": float(np.mean(np.argmax(crashed, 2) == y[None]))}


def rank_loss_vs(pt, v, rep=None):
    """min(RL, 1-RL) over pairs with different p_t (and the same repetition if ``rep``), sign of the trend."""
    i, j = np.triu_indices(len(pt), 1)
    ok = pt[i] != pt[j]
    if rep is not None:
        ok &= rep[i] == rep[j]
    s = np.sign(pt[i] - pt[j])[ok] * np.sign(v[i] - v[j])[ok]
    rl_up = float(np.mean(s <= 0))
    return (rl_up, "+") if rl_up <= 0.5 else (1 - rl_up, "-")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4, help="repetitions per p_t (paper: 10)")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    Xtr, Xte, ytr, yte = load_digits_split(args.seed)
    pts = np.linspace(0, 1.2 * P_I, 10)
    rows = []
    for rep in range(args.reps):
        for pt in pts:
            r = train_mlp(TrainConfig(hidden=(100,), activation="sigmoid", epochs=args.epochs, lr=1e-2,
                                      crash_p=float(pt), seed=args.seed + 100 * rep, reg=RegParams(crash_layers=(1,))),
                          data=(Xtr, Xte, ytr, yte))
            mtr, mte = metrics(r.net, Xtr, ytr, rng), metrics(r.net, Xte, yte, rng)
            b3, b2 = b3_bound(r.net, Xte, {1: P_I}), b2_bound(r.net, Xte, {1: P_I})
            rows.append({"rep": rep, "pt": pt, "train": mtr, "test": mte, "T1 Var∆": float(np.mean(b3.std ** 2)),
                         "T1 E∆": float(np.mean(np.abs(b3.mean))), "P2 Var∆": float(np.mean(b2.std ** 2)),
                         "P2 E∆": float(np.mean(b2.mean))})
        print(f"repetition {rep + 1}/{args.reps} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    pt = np.array([r["pt"] for r in rows])
    rp = np.array([r["rep"] for r in rows])
    print(f"\ndigits, sigmoid 64-100-10, p_i = {P_I} at layer 1, p_t in {np.round(pts, 4).tolist()}, "
          f"{args.reps} repetitions ({len(rows)} networks)")
    print("per p_t (mean over repetitions): test accuracy correct / crashing, T1 Var∆")
    for v in pts:
        sel = [r for r in rows if r["pt"] == v]
        print(f"  p_t {v:.4f}: {np.mean([r['test']['Correct, Accuracy'] for r in sel]):.3f} / "
              f"{np.mean([r['test']['Crashing, Accuracy'] for r in sel]):.3f}, "
              f"{np.mean([r['T1 Var∆'] for r in sel]):.4g}")
    print(f"\n{'quantity':20s} {'train RL':>9s} {'test RL':>8s} {'within rep.':>12s} {'paper train':>12s} {'paper test':>11s}")
    for q in ("Crashing, MAE", "Crashing, Accuracy", "Correct, MAE", "Correct, Accuracy"):
        a, sa = rank_loss_vs(pt, np.array([r["train"][q] for r in rows]))
        b, sb = rank_loss_vs(pt, np.array([r["test"][q] for r in rows]))
        c, sc = rank_loss_vs(pt, np.array([r["test"][q] for r in rows]), rp)
        print(f"{q:20s} {100 * a:7.1f}%{sa} {100 * b:6.1f}%{sb} {100 * c:10.1f}%{sc} {PAPER[q][0]:11.1f}% "
              f"{PAPER[q][1]:10.1f}%")
    print(f"\n{'bound':20s} {'RL':>9s} {'within rep.':>12s} {'paper':>8s}")
    for q in ("T1 Var∆", "P2 E∆", "P2 Var∆", "T1 E∆"):
        a, sa = rank_loss_vs(pt, np.array([r[q] for r in rows]))
        c, sc = rank_loss_vs(pt, np.array([r[q] for r in rows]), rp)
        print(f"{q:20s} {100 * a:7.1f}%{sa} {100 * c:10.1f}%{sc} {PAPER[q]:7.1f}%")
    print("(+/-: the metric grows/shrinks with p_t; 'within rep.': only pairs trained from the same initialisation; "
          "test metrics)")
    print(f"total time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
