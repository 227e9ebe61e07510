"""Bounds b1..b4 against experiment on random networks (the paper's supplementary comparison).

    python scripts/repro_random_networks.py [--seed 0] [--nets 40] [--inputs 5] [--repeats 10000]

Random networks as in the authors' code (LPD-EPFL/nn-fault-tolerance,
``RandomExperiment``): ``W = randn(n_out, n_in) * std / n_in + mean`` and
``b = randn(n_out) * std / n_out + mean``, with ``mean`` and ``std`` drawn per
network. Their "sigmoid" is ``sigmoid(4 z)``; with our logistic the hidden
weights and biases are multiplied by 4 (same function). Neurons of the first
hidden layer (layer 1) crash independently with probability p in
{1e-3, ..., 1e-2}, transient (a fresh draw for every inference).

Experiment: mean and std of Δ over ``--repeats`` faulty inferences per input,
from ``neurosim.simulate`` when it is importable, else a plain-numpy Monte
Carlo with drawn masks. For each bound, over all (network, p, input, output)
items, we print the rank loss (fraction of item pairs the bound orders
differently from the experiment, ties counted as discordant) and the Pearson
correlation, for |E Δ| and for std Δ (b1 has no std).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from neurosim import Network
from neurosim.analysis import bounds
from neurosim.network import activate

SIZES = (30, 50, 30, 3)
RATES = (1e-3, 2.2e-3, 4.6e-3, 1e-2)
CRASH_LAYER = 1

try:  # prefer the project's engine
    from neurosim import FaultSpec, simulate
except ImportError:  # pragma: no cover - engine not landed yet
    simulate = None


def random_network(rng, act):
    """One network in the authors' parameterisation; ``act`` in {"relu", "sigmoid"}."""
    mean_w = rng.uniform(-0.05, 0.05)
    std_w = rng.uniform(0.5, 5.0)
    Ws, bs = [], []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        Ws.append(rng.standard_normal((n_out, n_in)) * std_w / n_in + mean_w)
        bs.append(rng.standard_normal(n_out) * std_w / n_out + mean_w)
    if act == "sigmoid":  # sigmoid(4 z) == logistic applied to 4 W, 4 b
        Ws = [4 * W for W in Ws[:-1]] + [Ws[-1]]
        bs = [4 * b for b in bs[:-1]] + [bs[-1]]
    return Network.from_arrays(Ws, bs, [act] * (len(SIZES) - 2) + ["identity"])


def experiment_numpy(net, x, p, repeats, rng):
    """Plain Monte Carlo: Δ samples ``(repeats, n_inputs, n_out)`` for layer-1 crashes."""
    ys, _ = net.forward_all(x)
    y1 = ys[CRASH_LAYER]
    alive = rng.random((repeats,) + y1.shape) >= p
    delta = np.zeros((repeats, x.shape[0], net.n_out))
    hit = ~alive.all(axis=2)  # only inferences with at least one crash differ
    h = y1[None] * alive
    r, b = np.nonzero(hit)
    out = h[r, b]
    for k in range(CRASH_LAYER + 1, net.n_layers + 1):
        out = activate(net.activations[k - 1], out @ net.weights[k - 1].T + net.biases[k - 1])
    delta[r, b] = out - ys[-1][b]
    return delta


def experiment(net, x, p, repeats, seed):
    if simulate is not None:
        res = simulate(net, x, faults=[FaultSpec("neuron", "transient", p, layers=[CRASH_LAYER])],
                       n_chips=repeats, seed=seed)
        return res.delta
    return experiment_numpy(net, x, p, repeats, np.random.default_rng(seed))


def rank_loss(pred, truth):
    """Fraction of pairs ordered differently by ``pred`` and ``truth`` (ties are discordant)."""
    a = np.sign(pred[:, None] - pred[None, :])
    b = np.sign(truth[:, None] - truth[None, :])
    iu = np.triu_indices(len(pred), 1)
    a, b = a[iu], b[iu]
    return float(np.mean((a != b) | (a == 0)))


def pearson(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nets", type=int, default=40, help="random networks per activation")
    ap.add_argument("--inputs", type=int, default=5, help="random inputs per network")
    ap.add_argument("--repeats", type=int, default=10000, help="faulty inferences per input")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    engine = "neurosim.simulate" if simulate is not None else "plain-numpy Monte Carlo"
    print(f"networks {SIZES}, crashes at layer {CRASH_LAYER}, p in {RATES}, {args.nets} nets x "
          f"{args.inputs} inputs per activation, {args.repeats} faulty inferences each ({engine})")
    ss = np.random.SeedSequence(args.seed)
    for act, child in zip(("relu", "sigmoid"), ss.spawn(2)):
        rng = np.random.default_rng(child)
        rows = {k: [] for k in ("exp_mean", "exp_std", "b1", "b2m", "b2s", "b3m", "b3s", "b4m", "b4s")}
        for net_i in range(args.nets):
            net = random_network(rng, act)
            x = rng.standard_normal((args.inputs, SIZES[0]))
            for p in RATES:
                d = experiment(net, x, p, args.repeats, seed=int(rng.integers(2 ** 31)))
                b = bounds(net, x, {CRASH_LAYER: p})
                rows["exp_mean"].append(np.abs(d.mean(0)).ravel())
                rows["exp_std"].append(d.std(0).ravel())
                rows["b1"].append(b["b1"].mean.ravel())
                rows["b2m"].append(b["b2"].mean.ravel())
                rows["b2s"].append(b["b2"].std.ravel())
                rows["b3m"].append(np.abs(b["b3"].mean).ravel())
                rows["b3s"].append(b["b3"].std.ravel())
                rows["b4m"].append(np.abs(b["b4"].mean).ravel())
                rows["b4s"].append(b["b4"].std.ravel())
        v = {k: np.concatenate(r) for k, r in rows.items()}
        print(f"\n[{act}] {len(v['exp_mean'])} items (network, p, input, output)")
        print(f"{'bound':6s} {'rank loss |mean|':>17s} {'pearson |mean|':>15s} {'rank loss std':>14s} {'pearson std':>12s}")
        for name, m, s in (("b1", "b1", None), ("b2", "b2m", "b2s"), ("b3", "b3m", "b3s"), ("b4", "b4m", "b4s")):
            rl_m, pc_m = rank_loss(v[m], v["exp_mean"]), pearson(v[m], v["exp_mean"])
            if s is None:
                print(f"{name:6s} {rl_m:17.3f} {pc_m:15.3f} {'-':>14s} {'-':>12s}")
            else:
                rl_s, pc_s = rank_loss(v[s], v["exp_std"]), pearson(v[s], v["exp_std"])
                print(f"{name:6s} {rl_m:17.3f} {pc_m:15.3f} {rl_s:14.3f} {pc_s:12.3f}")
        nz = v["exp_std"] > 0
        ratio = v["b3s"][nz] / v["exp_std"][nz]
        print(f"b3 std / experimental std ({nz.sum()} items with std > 0): median {np.median(ratio):.3f}, 5-95% [{np.percentile(ratio, 5):.3f}, "
              f"{np.percentile(ratio, 95):.3f}]")
    print(f"\ntotal time {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
