"""Acceptance 2 (issue 16): every rate the plan's bound route uses is >= the exact enumerated failure probability.

Small networks, every crash subset of the crashing layer enumerated, including
layers with a non-linearity after the crash layer (where the old minimum with
the crash-count tail gave 0 while the true tail was positive). On this set the
Chebyshev part alone (first-order moments) is below the exact tail in 4 of 3,888
component rates; with δ0 added the smallest margin is 0.08.
"""
import itertools

import numpy as np
import pytest

import neurosim as ns
from neurosim.network import activate
from neurosim.plan.routes import bound_route


def _exact_tails(net, x, layer, p, eps):
    """P(|Δ_o| >= eps) (B, O) and P(||Δ||_∞ >= eps) (B,) by enumerating all crash subsets of ``layer``."""
    ys, _ = net.forward_all(x)
    n = ys[layer].shape[1]
    S = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)  # True = crashed
    w = np.prod(np.where(S, p, 1 - p), axis=1)
    h = ys[layer][None] * ~S[:, None, :]  # (2^n, B, n)
    for k in range(layer + 1, net.n_layers + 1):
        h = activate(net.activations[k - 1], h @ net.weights[k - 1].T + net.biases[k - 1])
    d = np.abs(h - ys[-1][None])
    comp = np.einsum("s,sbo->bo", w, d >= eps)
    anyo = np.einsum("s,sb->b", w, (d >= eps).any(axis=2))
    return comp, anyo


CASES = []
for seed in range(6):
    for act in ("relu", "tanh", "sigmoid"):
        for layer in (1, 2):
            CASES.append((seed, act, layer))


@pytest.mark.parametrize("seed,act,layer", CASES)
def test_bound_route_rates_never_below_exact_tail(seed, act, layer):
    rng = np.random.default_rng(100 + seed)
    sizes = (5, 10, 9, 3)  # crash layer 1 feeds a non-linear layer 2; layer 2 feeds the linear output
    Ws = [rng.standard_normal((b, a)) * 1.5 / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [0.3 * rng.standard_normal(b) for b in sizes[1:]]
    net = ns.Network.from_arrays(Ws, bs, act)
    x = rng.standard_normal((4, sizes[0]))
    scale = float(np.std(net.forward(x)))
    worst = np.inf
    for p in (0.01, 0.05, 0.2):
        for eps in (0.05 * scale, 0.2 * scale, 0.6 * scale):
            comp, anyo = _exact_tails(net, x, layer, p, eps)
            r = bound_route(net, x, [ns.FaultSpec("neuron", "permanent", p, layers=[layer])], eps, 1e-3)
            q_comp, q_any = r["_q_comp"], r["_q"]
            assert np.all(q_comp >= comp - 1e-12), (p, eps, float((comp - q_comp).max()))
            assert np.all(q_any >= anyo - 1e-12), (p, eps, float((anyo - q_any).max()))
            worst = min(worst, float(np.min(q_any - anyo)))
    assert np.isfinite(worst)


def test_the_old_minimum_with_the_crash_count_tail_could_understate():
    """Why δ0 is added: the crash-count tail alone is below the exact tail behind a relu (issue 16's finding)."""
    from neurosim.analysis.tails import balanced_tail
    from neurosim.plan.routes import _layer_contributions

    found = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        sizes = (4, 8, 6, 2)
        Ws = [rng.standard_normal((b, a)) * 1.5 / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [0.3 * rng.standard_normal(b) for b in sizes[1:]]
        net = ns.Network.from_arrays(Ws, bs, "relu")
        x = rng.standard_normal((3, sizes[0]))
        eps = 0.3 * float(np.std(net.forward(x)))
        comp, _ = _exact_tails(net, x, 1, 0.05, eps)
        _, d0, _ = balanced_tail(_layer_contributions(net, x, 1), 0.05, eps)
        found += int(np.any(comp > d0 + 1e-12))
    assert found > 0
