"""Shared helpers of the scripts/repro_*.py reproductions (not part of the package)."""
from __future__ import annotations

import numpy as np

from neurosim.network import activate


def mc_neuron_crashes(net, x, p: dict, repeats: int, rng, block: int = 20000):
    """Plain Monte Carlo of transient neuron crashes: Δ samples ``(repeats, n_inputs, n_out)``.

    ``p = {layer: rate}`` (0 = input); a crashed neuron outputs 0 (no rescaling),
    as in the engine. Blocks of ``block`` repeats bound the memory.
    """
    x = net.check_inputs(x)
    clean = net.forward(x)
    out = np.empty((repeats, x.shape[0], net.n_out))
    for s in range(0, repeats, block):
        r = min(block, repeats - s)
        h = np.broadcast_to(x, (r,) + x.shape).copy()
        if p.get(0, 0) > 0:
            h *= rng.random(h.shape) >= p[0]
        for k in range(1, net.n_layers + 1):
            h = activate(net.activations[k - 1], h @ net.weights[k - 1].T + net.biases[k - 1])
            if p.get(k, 0) > 0:
                h *= rng.random(h.shape) >= p[k]
        out[s:s + r] = h - clean[None]
    return out


def rank_loss(pred, truth):
    """Fraction of pairs ordered differently (ties discordant); neurosim.analysis.rank_loss."""
    from neurosim.analysis import rank_loss as rl

    return float(rl(np.asarray(truth).ravel(), np.asarray(pred).ravel()))


def rel_err(pred, truth):
    """Median of |pred - truth| / |truth| over items with truth != 0."""
    pred, truth = np.asarray(pred).ravel(), np.asarray(truth).ravel()
    ok = np.abs(truth) > 0
    return float(np.median(np.abs(pred[ok] - truth[ok]) / np.abs(truth[ok]))) if ok.any() else float("nan")


def savefig(fig, path):
    from pathlib import Path

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")
