"""Re-train the bundled example: an MLP on scikit-learn's 8x8 digits (no download).

    python scripts/train_digits.py [-o examples/digits_mlp.h5] [--seed 0]

Inputs are pixel intensities scaled to [0, 1] (divided by 16). The held-out
test split (inputs and labels) is bundled in the model file, so every command
can run on it without extra arguments. Deterministic for a given seed.
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import neurosim
from neurosim.io import from_sklearn, save_network


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="examples/digits_mlp.h5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default="64,32", help="hidden widths, comma-separated")
    args = ap.parse_args(argv)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    hidden = tuple(int(h) for h in args.hidden.split(","))
    clf = MLPClassifier(hidden_layer_sizes=hidden, activation="relu", alpha=1e-4,
                        max_iter=400, random_state=args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Xtr, ytr)
    net = from_sklearn(clf, name="digits_mlp")
    acc_sk = clf.score(Xte, yte)
    acc = float(np.mean(np.argmax(net.forward(Xte), 1) == yte))
    assert abs(acc - acc_sk) < 1e-12, "converted network disagrees with scikit-learn"
    save_network(net, args.output, inputs=Xte, labels=yte, source={
        "script": "scripts/train_digits.py", "seed": args.seed, "dataset": "sklearn.datasets.load_digits",
        "test_size": 0.25, "hidden": list(hidden), "test_accuracy": acc, "neurosim": neurosim.__version__,
    })
    print(f"{net} test accuracy {acc:.4f} on {len(yte)} held-out digits -> {args.output}")


if __name__ == "__main__":
    main()
