"""Var Δ against hidden width on digits networks: does it fall like 1/n?

    python scripts/repro_width_scaling.py [--seed 0] [--p 0.01] [--repeats 200]

The paper's continuous-limit argument predicts ``Var Δ ∝ p / n`` for crashes
in a hidden layer of width ``n`` when the network is in the continuous limit
(neighbouring neurons compute similar functions, outgoing weights ``O(1/n)``),
i.e. a slope of about -1 of ``log Var Δ`` against ``log n``.

Two families of one-hidden-layer networks on scikit-learn's 8x8 digits
(inputs / 16, 75/25 split, fixed seeds):

* ``trained``: an independent ``MLPClassifier`` per width (16 .. 256);
* ``widened``: the width-16 network made wider in the continuous limit: each
  hidden neuron repeated k times and its outgoing weights divided by k (same
  function, the construction behind the paper's Algorithm 1).

Neurons of the hidden layer (layer 1) crash with probability p (transient).
Var Δ is averaged over test inputs and the 10 logits: b3 (Taylor), b4
(single crashes) and experiment (``neurosim.simulate`` if importable, else a
plain-numpy Monte Carlo). The slope is a least-squares fit on log-log axes.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from neurosim import Network
from neurosim.analysis import b3_bound, b4_bound

WIDTHS = (16, 32, 64, 128, 256)
SK_ACT = {"relu": "relu", "sigmoid": "logistic", "tanh": "tanh"}

try:
    from neurosim import FaultSpec, simulate
except ImportError:  # pragma: no cover - engine not landed yet
    simulate = None


def to_network(clf, act):
    return Network.from_arrays([W.T for W in clf.coefs_], clf.intercepts_, [act, "identity"])


def widen(net, k):
    """Repeat each hidden neuron k times, outgoing weights / k: same function, k times wider."""
    (W1, W2), (b1, b2) = net.weights, net.biases
    return Network.from_arrays([np.repeat(W1, k, axis=0), np.repeat(W2, k, axis=1) / k],
                               [np.repeat(b1, k), b2], net.activations)


def experiment_var(net, x, p, repeats, seed):
    if simulate is not None:
        d = simulate(net, x, faults=[FaultSpec("neuron", "transient", p, layers=[1])],
                     n_chips=repeats, seed=seed).delta
    else:
        rng = np.random.default_rng(seed)
        y1 = net.forward_all(x)[0][1]
        alive = rng.random((repeats,) + y1.shape) >= p
        out = (y1[None] * alive) @ net.weights[1].T + net.biases[1]  # linear read-out
        d = out - net.forward(x)[None]
    return float(d.var(axis=0).mean())


def slope(widths, values):
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=200, help="faulty inferences per test input")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    engine = "neurosim.simulate" if simulate is not None else "plain-numpy Monte Carlo"
    print(f"digits: {len(Xtr)} train / {len(Xte)} test, hidden-layer crashes p = {args.p}, "
          f"experiment: {args.repeats} faulty inferences per test input ({engine})")
    for act in ("relu", "sigmoid"):
        nets = {}
        for w in WIDTHS:
            clf = MLPClassifier(hidden_layer_sizes=(w,), activation=SK_ACT[act], alpha=1e-4,
                                max_iter=300, random_state=args.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(Xtr, ytr)
            nets[("trained", w)] = (to_network(clf, act), clf.score(Xte, yte))
        base = nets[("trained", WIDTHS[0])][0]
        for w in WIDTHS:
            nets[("widened", w)] = (widen(base, w // WIDTHS[0]), nets[("trained", WIDTHS[0])][1])
        for family in ("trained", "widened"):
            print(f"\n[{act}, {family}]")
            print(f"{'width':>6s} {'test acc':>9s} {'Var b3':>11s} {'Var b4':>11s} {'Var exp':>11s} {'|E Δ| b4':>11s}")
            cols = {"b3": [], "b4": [], "exp": []}
            for w in WIDTHS:
                net, acc = nets[(family, w)]
                pl = {1: args.p}
                b3, b4 = b3_bound(net, Xte, pl), b4_bound(net, Xte, pl)
                v3, v4 = float((b3.std ** 2).mean()), float((b4.std ** 2).mean())
                ve = experiment_var(net, Xte, args.p, args.repeats, seed=args.seed + w)
                cols["b3"].append(v3)
                cols["b4"].append(v4)
                cols["exp"].append(ve)
                print(f"{w:6d} {acc:9.3f} {v3:11.4g} {v4:11.4g} {ve:11.4g} {float(np.abs(b4.mean).mean()):11.4g}")
            print("slope of log Var Δ vs log width: " + ", ".join(
                f"{k} {slope(WIDTHS, v):+.2f}" for k, v in cols.items()) + "  (continuous limit: -1)")
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
