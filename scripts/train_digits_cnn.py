"""Re-train the second bundled example: a small CNN on scikit-learn's 8x8 digits (no download).

    python scripts/train_digits_cnn.py [-o examples/digits_cnn.h5] [--seed 0]

Architecture: conv 3x3 (1 -> 8 channels, padding 1) + ReLU -> average pool 2x2
-> flatten -> dense 128 -> 10 (logits). Inputs are pixel intensities scaled to
[0, 1], shape (1, 8, 8). Same split as scripts/train_digits.py (25 % held out,
stratified, random_state=seed); the held-out split is bundled in the model file.
Needs torch (``pip install 'neurosim-faults[torch]'``). Deterministic for a
given seed (one thread, deterministic algorithms, float64).
"""
from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import neurosim
from neurosim.io import from_torch, save_network


def build(torch, channels: int):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(channels * 16, 10),
    ).double()


def main(argv=None):
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="examples/digits_cnn.h5")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=args.seed, stratify=y)
    model = build(torch, args.channels)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    xt, yt = torch.tensor(Xtr), torch.tensor(ytr)
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor(Xte)).numpy()
    acc_torch = float(np.mean(np.argmax(logits, 1) == yte))
    net = from_torch(model, (1, 8, 8), name="digits_cnn")
    out = net.forward(Xte)
    assert np.max(np.abs(out - logits)) < 1e-9, "converted network disagrees with torch"
    acc = float(np.mean(np.argmax(out, 1) == yte))
    save_network(net, args.output, inputs=Xte, labels=yte, source={
        "script": "scripts/train_digits_cnn.py", "seed": args.seed, "dataset": "sklearn.datasets.load_digits",
        "test_size": 0.25, "channels": args.channels, "epochs": args.epochs, "test_accuracy": acc,
        "torch": torch.__version__, "neurosim": neurosim.__version__,
    })
    print(f"{net} test accuracy {acc:.4f} (torch {acc_torch:.4f}) on {len(yte)} held-out digits -> {args.output}")


if __name__ == "__main__":
    main()
