"""Engine throughput: clean BLAS inference vs a naive dense-mask engine vs neurosim.

    python scripts/bench_engine.py [--inputs 1000] [--threads N] [--repeat 3]

Network 784-500-100-10 (sigmoid hidden layers, random weights), 1,000 random
inputs. All figures are measured in this run; ratios are against the clean
baseline (numpy, multi-threaded BLAS, one batched forward pass) and the naive
engine (a dense Bernoulli mask of every synapse/neuron drawn per inference,
then a masked matrix-vector forward pass, as simple fault injectors do).
Goal (issue 3): ratio to clean >= 0.5 at p <= 1e-3, >= 50x the naive engine.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

import neurosim as ns


def make_net(seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 500, 100, 10]
    Ws = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.standard_normal(o) for o in sizes[1:]]
    return ns.Network.from_arrays(Ws, bs, ["sigmoid", "sigmoid", "identity"], name="bench-784-500-100-10")


def best_time(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def naive(net, x, site, p, rng):
    """Dense mask per inference (the baseline a sparse engine must beat)."""
    out = np.empty((x.shape[0], net.n_out))
    for b in range(x.shape[0]):
        y = x[b]
        if site == "neuron":
            y = y * (rng.random(y.shape) >= p)
        for W, bias, a in zip(net.weights, net.biases, net.activations):
            Wm = W * (rng.random(W.shape) >= p) if site == "synapse" else W
            y = ns.network.activate(a, Wm @ y + bias)
            if site == "neuron" and a != "identity":
                y = y * (rng.random(y.shape) >= p)
        out[b] = y
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-inputs", type=int, default=40, help="inferences timed for the naive engine")
    args = ap.parse_args(argv)
    net = make_net()
    x = np.random.default_rng(1).uniform(0, 1, (args.inputs, 784))
    B = x.shape[0]
    # warm-up: compile kernels
    ns.simulate(net, x[:10], ["synapse:transient:1e-3", "neuron:permanent:1e-3",
                              "synapse:intermittent:1e-3:p_on=0.1:p_off=0.5"], n_chips=2, seed=0)
    from threadpoolctl import threadpool_limits

    t_mt = best_time(lambda: net.forward(x), args.repeat)
    with threadpool_limits(limits=1, user_api="blas"):
        t_st = best_time(lambda: net.forward(x), args.repeat)
    t_clean = min(t_mt, t_st)  # the faster of multi- and single-threaded BLAS: a fair baseline
    clean_tp = B / t_clean
    print(f"network {net.sizes}, {B} inputs, threads={args.threads or 'auto'}")
    print(f"{'case':48s} {'inferences/s':>14s} {'vs clean':>9s} {'vs naive':>9s} {'faults/inf':>11s}")
    print(f"{'clean numpy forward (BLAS, batched; best of MT/1T)':48s} {clean_tp:14.0f} {1.0:9.2f} {'':>9s} {'':>11s}"
          f"   [MT {B / t_mt:.0f}/s, 1T {B / t_st:.0f}/s]")
    t0 = best_time(lambda: ns.simulate(net, x, [], n_chips=1, seed=0, threads=args.threads), args.repeat)
    print(f"{'neurosim, no faults (clean + faulty pass)':48s} {B / t0:14.0f} {B / t0 / clean_tp:9.2f} {'':>9s} {0:11.1f}")
    cases = [
        ("transient synapse p=1e-3", ["synapse:transient:1e-3"], 1, "synapse", 1e-3),
        ("transient synapse p=1e-2", ["synapse:transient:1e-2"], 1, "synapse", 1e-2),
        ("transient neuron p=1e-3", ["neuron:transient:1e-3"], 1, "neuron", 1e-3),
        ("permanent synapse p=1e-3, 100 chips", ["synapse:permanent:1e-3"], 100, "synapse", 1e-3),
        ("intermittent synapse p=1e-2 (p_on .1, p_off .5)", ["synapse:intermittent:1e-2:p_on=0.1:p_off=0.5"],
         1, "synapse", 1e-2 * 0.1 / 0.6),
    ]
    naive_tp = {}
    rng = np.random.default_rng(2)
    xn = x[: args.naive_inputs]
    for name, specs, chips, site, p in cases:
        key = (site, p)
        if key not in naive_tp:
            naive_tp[key] = len(xn) / best_time(lambda: naive(net, xn, site, p, rng), 1)
        holder = {}

        def run():
            holder["r"] = ns.simulate(net, x, specs, n_chips=chips, seed=0, threads=args.threads)
        t = best_time(run, args.repeat)
        tp = chips * B / t
        r = holder["r"]
        fpi = r.fault_events.sum() / (chips * B)
        print(f"{'neurosim, ' + name:48s} {tp:14.0f} {tp / clean_tp:9.2f} {tp / naive_tp[key]:9.0f} {fpi:11.1f}")
    for (site, p), tp in naive_tp.items():
        print(f"{'naive dense-mask engine, ' + site + f' p={p:.3g}':48s} {tp:14.0f} {tp / clean_tp:9.4f}")
    tracemalloc.start()
    ns.simulate(net, x, ["synapse:permanent:1e-3"], n_chips=100, seed=0, threads=args.threads)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    w_bytes = sum(W.nbytes for W in net.weights)
    out_bytes = 100 * B * net.n_out * 8
    print(f"peak traced memory, permanent synapse over 100 chips: {peak / 2**20:.1f} MiB "
          f"(weights {w_bytes / 2**20:.1f} MiB, inputs {x.nbytes / 2**20:.1f} MiB, delta output {out_bytes / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
