"""Engine throughput: neurosim vs the clean numpy forward of the same precision, in interleaved rounds.

    python scripts/bench_engine.py [--inputs 1000] [--rounds 5] [--precision float64|float32|both]
                                   [--widths 256,1024,4096] [--threads N]

Network 784-500-100-10 (sigmoid hidden layers, random weights), 1,000 random
inputs. Every case is timed once per round, the rounds interleaved so that a
load change on the (shared) machine hits all cases alike; the script prints the
best and the median over rounds and the ratios of throughputs to the clean
baseline measured in the same rounds (the faster of multi- and single-threaded
BLAS, one batched product per layer, at the same precision). A neurosim run
with one chip includes its own clean pass (Δ needs it).

Goals (issue 12): faulty/clean >= 0.8 for transient synapse faults at p=1e-3
and >= 0.9 for transient neuron faults at p=1e-3 (one chip); a no-fault
``simulate`` within 1.3x of the clean forward at widths 256..4096
(``--widths``: a 784-w-w-10 network, 1,000 inputs, ReLU).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import neurosim as ns
from neurosim.sim.engine import _activate


def make_net(sizes=(784, 500, 100, 10), acts=("sigmoid", "sigmoid", "identity"), seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.standard_normal(o) for o in sizes[1:]]
    return ns.Network.from_arrays(Ws, bs, list(acts), name="bench-" + "-".join(map(str, sizes)))


def clean_forward(net, x, dtype):
    """The baseline: numpy batched forward at ``dtype`` (weights cast once, outside the timing).

    It uses the engine's own activation routine (for float64 sigmoid a numba
    kernel ~4x faster than numpy's tanh form), so the ratios measure the cost
    of the faults, not of the activation implementation.
    """
    Ws = [W.astype(dtype) for W in net.weights]
    bs = [b.astype(dtype) for b in net.biases]
    xd = x.astype(dtype)

    def run():
        y = xd
        for W, b, a in zip(Ws, bs, net.activations):
            z = y @ W.T
            z += b
            _activate(a, z)
            y = z
        return y
    return run


def rounds(cases: dict, n_rounds: int) -> dict:
    """Time every case once per round, interleaved; return name -> list of seconds."""
    out = {k: [] for k in cases}
    for _ in range(n_rounds):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t)
    return out


def baseline_cases(net, x, dtype):
    fwd = clean_forward(net, x, dtype)

    def st():
        with threadpool_limits(limits=1, user_api="blas"):
            fwd()
    return {"clean MT": fwd, "clean 1T": st}


def report(times, n_rows, names, base_best, base_med, header):
    print(header)
    print(f"  {'case':46s} {'inf/s best':>11s} {'inf/s med':>10s} {'vs clean best':>13s} {'med':>6s} {'spread':>7s}")
    for name, rows in names:
        ts = times[name]
        best, med = min(ts), statistics.median(ts)
        print(f"  {name:46s} {rows / best:11.0f} {rows / med:10.0f} {base_best / best * rows / n_rows:13.2f} "
              f"{base_med / med * rows / n_rows:6.2f} {max(ts) / best:6.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--precision", choices=["float64", "float32", "both"], default="both")
    ap.add_argument("--widths", default="256,1024,4096", help="widths of the no-fault check ('' to skip)")
    args = ap.parse_args(argv)
    precisions = ["float64", "float32"] if args.precision == "both" else [args.precision]
    net = make_net()
    x = np.random.default_rng(1).uniform(0, 1, (args.inputs, 784))
    B = x.shape[0]
    cases = [
        ("no faults", [], 1),
        ("transient synapse p=1e-3", ["synapse:transient:1e-3"], 1),
        ("transient synapse p=1e-2", ["synapse:transient:1e-2"], 1),
        ("transient neuron p=1e-3", ["neuron:transient:1e-3"], 1),
        ("transient neuron p=1e-2", ["neuron:transient:1e-2"], 1),
        ("permanent synapse p=1e-3, 100 chips", ["synapse:permanent:1e-3"], 100),
        ("permanent synapse p=1e-2, 100 chips", ["synapse:permanent:1e-2"], 100),
        ("intermittent synapse p=1e-2 (p_on .1, p_off .5)", ["synapse:intermittent:1e-2:p_on=0.1:p_off=0.5"], 1),
    ]
    print(f"network {net.sizes}, {B} inputs, threads={args.threads or 'auto'}, {args.rounds} interleaved rounds; "
          "ratios = neurosim inferences/s over clean inferences/s (same rounds)")
    for prec in precisions:
        dtype = np.dtype(prec)
        ns.simulate(net, x[:70], ["synapse:transient:1e-3", "neuron:permanent:1e-3", "synapse:permanent:0.1",
                                  "synapse:intermittent:1e-3:p_on=0.1:p_off=0.5"], n_chips=2, seed=0, precision=prec)
        fns = baseline_cases(net, x, dtype)
        for name, specs, chips in cases:
            fns[name] = (lambda specs=specs, chips=chips: ns.simulate(net, x, specs, n_chips=chips, seed=0,
                                                                     threads=args.threads, precision=prec))
        times = rounds(fns, args.rounds)
        per_round = [min(a, b) for a, b in zip(times["clean MT"], times["clean 1T"])]
        times["clean (best of MT/1T per round)"] = per_round
        base_best, base_med = min(per_round), statistics.median(per_round)
        names = [("clean MT", B), ("clean 1T", B), ("clean (best of MT/1T per round)", B)]
        names += [(name, chips * B) for name, _, chips in cases]
        report(times, B, names, base_best, base_med, f"precision {prec}")
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    if widths:
        print("no-fault simulate vs clean forward, 784-w-w-10 ReLU, ratio = simulate time / clean time (goal <= 1.3)")
        for prec in precisions:
            for w in widths:
                netw = make_net((784, w, w, 10), ("relu", "relu", "identity"))
                ns.simulate(netw, x[:5], [], seed=0, precision=prec)
                fns = baseline_cases(netw, x, np.dtype(prec))
                fns["simulate"] = lambda: ns.simulate(netw, x, [], seed=0, threads=args.threads, precision=prec)
                times = rounds(fns, max(3, args.rounds // 2))
                base = [min(a, b) for a, b in zip(times["clean MT"], times["clean 1T"])]
                sim = times["simulate"]
                print(f"  {prec} w={w:5d}: clean best {min(base) * 1e3:8.1f} ms, simulate best {min(sim) * 1e3:8.1f} ms, "
                      f"ratio best {min(sim) / min(base):.2f}, median {statistics.median(sim) / statistics.median(base):.2f}")


if __name__ == "__main__":
    main()
