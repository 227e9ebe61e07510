"""Spiking-mode speed: neurosim vs Brian2 (cpp_standalone after its build, and the numpy target).

Same LIF network (delay_ticks=1, Brian2's schedule), same inputs, same T, same
permanent dead-neuron faults (chip 0's sites replayed in Brian2). Reported per
(chip x input x tick): neurosim's whole ``simulate`` call (clean pass included;
rows and layers no fault reaches are copied from it, exactly) divided by
chips x inputs x T; the clean baseline is the same C x B rows (inputs tiled C
times) simulated on one fault-free chip; Brian2's simulation loop (cpp_standalone: the
binary's own timer, compilation excluded; numpy: the run() call) divided by
copies x T. Rounds are interleaved; best and median are printed. Also:
faulty/clean throughput for dead neurons at p=1e-3, and the cost against the
spike count at low activity (the synaptic-accumulation kernel on one block at
spike densities 0.25-8 %: log-log slope of its time minus the time of a
silent block, against the number of spikes).

The machine is shared: timings are noisy; compare ratios from the same run.

    python scripts/bench_spiking.py                      # full run (~5 min)
    python scripts/bench_spiking.py --quick              # smaller, no numpy target
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites
from neurosim.spiking import LIF, from_arrays


def make_net(sizes, gain, seed=0):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * gain / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [np.full(sizes[k + 1], 5.0) for k in range(len(sizes) - 1)]
    return from_arrays(Ws, bs, [LIF(tau_s=0.02, v_threshold=1.0, delay_ticks=1) for _ in Ws], name="bench-lif")


def timed(f, *a, **kw):
    t = time.perf_counter()
    out = f(*a, **kw)
    return time.perf_counter() - t, out


def stats(v):
    return {"best": min(v), "median": statistics.median(v)}


def linearity(rounds, nv=64, n_in=256, n_out=512):
    """Synaptic-accumulation kernel (event-driven path) on one block at spike densities 0.25-8 %.

    Returns the points, the log-log slope of (time - time of a silent block)
    against the spike count, and the slope of the total time.
    """
    from neurosim.kernels import spiking as SK

    WT = np.random.default_rng(2).normal(size=(n_in, n_out))
    bvec, out = np.zeros(n_out), np.empty((nv, n_out))
    rows = np.arange(nv, dtype=np.int64)
    lin = []
    for dens in (0.0, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08):
        Sx = (np.random.default_rng(3).random((nv, n_in)) < dens).astype(float)
        SK.synaptic_current(Sx, WT, bvec, out, rows)
        ts = []
        for _ in range(max(7, 3 * rounds)):
            t0 = time.perf_counter()
            for _ in range(10):
                SK.synaptic_current(Sx, WT, bvec, out, rows)
            ts.append((time.perf_counter() - t0) / 10)
        lin.append({"density": dens, "spikes": float(Sx.sum()), "best_s": min(ts), "median_s": statistics.median(ts)})
    base = lin[0]["best_s"]
    pts = [(p["spikes"], p["best_s"] - base) for p in lin[1:] if p["best_s"] > base]
    slope = float(np.polyfit(np.log([s for s, _ in pts]), np.log([t for _, t in pts]), 1)[0]) if len(pts) >= 2 else None
    slope_total = float(np.polyfit(np.log([p["spikes"] for p in lin[1:]]), np.log([p["best_s"] for p in lin[1:]]), 1)[0])
    return lin, slope, slope_total, (nv, n_in, n_out)


def crossover(rounds, nv=256, n_in=400, n_out=400):
    """Event-driven accumulation vs a dense per-tick BLAS product on one block (SPIKE_BLOCK rows), by spike density.

    Dense: the block's rows gathered into a fixed-shape buffer, ``buf @ WT + b``
    (single-threaded BLAS, as the rate engine runs it). Interleaved rounds;
    returns per density the best and median times and their ratio event/dense.
    """
    from threadpoolctl import threadpool_limits

    from neurosim.kernels import spiking as SK

    WT = np.random.default_rng(2).normal(size=(n_in, n_out))
    bvec, out = np.zeros(n_out), np.empty((nv, n_out))
    rows = np.arange(nv, dtype=np.int64)
    buf = np.zeros((nv, n_in))
    pts = []
    with threadpool_limits(1):
        for dens in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0):
            Sx = (np.random.default_rng(3).random((nv, n_in)) < dens).astype(float)
            SK.synaptic_current(Sx, WT, bvec, out, rows)
            te, td = [], []
            for _ in range(max(7, 3 * rounds)):
                t0 = time.perf_counter()
                for _ in range(10):
                    SK.synaptic_current(Sx, WT, bvec, out, rows)
                te.append((time.perf_counter() - t0) / 10)
                t0 = time.perf_counter()
                for _ in range(10):
                    buf[:] = Sx[rows]
                    np.matmul(buf, WT, out=out)
                    out += bvec
                td.append((time.perf_counter() - t0) / 10)
            pts.append({"density": dens, "event_best_s": min(te), "event_median_s": statistics.median(te),
                        "dense_best_s": min(td), "dense_median_s": statistics.median(td),
                        "ratio_best": min(te) / min(td), "ratio_median": statistics.median(te) / statistics.median(td)})
    return pts, (nv, n_in, n_out)


def _print_crossover(pts, shape):
    nv, n_in, n_out = shape
    print(f"synaptic accumulation, one block of {nv} rows, {n_in} -> {n_out}: event-driven vs dense BLAS (1 thread)")
    for p in pts:
        print(f"  density {100 * p['density']:5.1f} %: event {p['event_best_s'] * 1e6:8.1f} us  dense "
              f"{p['dense_best_s'] * 1e6:8.1f} us  event/dense best {p['ratio_best']:.2f}  median {p['ratio_median']:.2f}")
    above = [p["density"] for p in pts if p["ratio_best"] > 1.0]
    print("dense is faster from density " + (f"{100 * above[0]:g} %" if above else "- (never in this scan)"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100,400,400,10")
    ap.add_argument("--inputs", type=int, default=32)
    ap.add_argument("--chips", type=int, default=16)
    ap.add_argument("--ticks", type=int, default=100)
    ap.add_argument("--gain", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--brian2-copies", type=int, default=32, help="inputs simulated by cpp_standalone")
    ap.add_argument("--numpy-copies", type=int, default=4, help="inputs simulated by the numpy target")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--brian2-dir", default=None, help="cpp_standalone project directory (default: a fixed temp dir)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only-linearity", action="store_true", help="only the spike-count scaling of the kernel")
    ap.add_argument("--only-crossover", action="store_true",
                    help="only the event-driven vs dense-BLAS accumulation by spike density (docs/spiking.md)")
    a = ap.parse_args(argv)
    if a.only_crossover:
        pts, shape = crossover(a.rounds)
        if a.json:
            print(json.dumps({"crossover": pts, "shape": shape}, indent=1))
        else:
            _print_crossover(pts, shape)
        return
    if a.only_linearity:
        lin, slope, slope_total, shape = linearity(a.rounds)
        _print_linearity(lin, slope, slope_total, shape)
        return
    if a.quick:
        a.sizes, a.inputs, a.chips, a.ticks, a.rounds, a.brian2_copies, a.numpy_copies = "64,200,200,10", 16, 8, 50, 2, 16, 0
    sizes = tuple(int(s) for s in a.sizes.split(","))
    net = make_net(sizes, a.gain)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (a.inputs, sizes[0]))
    dead = "neuron:permanent:1e-3"
    T, C, B = a.ticks, a.chips, a.inputs
    simulate_spiking(net, x[:2], dead, n_chips=2, ticks=5, seed=0)  # compile / load the numba cache
    # chip 0's dead neurons, replayed in Brian2
    sites = spiking_fault_sites(net, dead, chip=0, seed=0)[0]
    dmask = {l: np.isin(np.arange(sizes[l]), sites.get(l, [])) for l in range(len(sizes))}
    import brian2  # noqa: F401
    from neurosim.spiking.brian2_net import run_brian2_network

    d = a.brian2_dir or os.path.join(tempfile.gettempdir(), "neurosim-bench-brian2")  # reused: no recompilation
    xb = np.resize(x, (a.brian2_copies, sizes[0]))
    t_build, _ = timed(run_brian2_network, net, xb, T, dead=dmask,
                       codegen_target="cpp_standalone", standalone_dir=d)  # build (compile) once
    xb = np.resize(x, (a.brian2_copies, sizes[0]))
    x_clean = np.tile(x, (C, 1))  # the clean baseline: the same C x B rows simulated without faults
    res = {"ns_clean": [], "ns_faulty": [], "b2_cpp": [], "b2_numpy": []}
    activity = None
    for r in range(a.rounds):
        t, _ = timed(simulate_spiking, net, x_clean, [], n_chips=1, ticks=T, seed=r, threads=a.threads)
        res["ns_clean"].append(t)
        t, _ = timed(simulate_spiking, net, x, dead, n_chips=C, ticks=T, seed=0, threads=a.threads)
        res["ns_faulty"].append(t)
        b = run_brian2_network(net, xb, T, dead=dmask, codegen_target="cpp_standalone", standalone_dir=d)
        res["b2_cpp"].append(b.run_s)
        if a.numpy_copies:
            b = run_brian2_network(net, x[:a.numpy_copies], T, dead=dmask, codegen_target="numpy")
            res["b2_numpy"].append(b.run_s)
    out = simulate_spiking(net, x, [], ticks=T, spike_counts=True)
    activity = {l: float(c.mean() / T) for l, c in out.clean_spike_counts.items()}
    # check: Brian2 and neurosim agree on chip 0 (same faults, delay 1)
    ours = simulate_spiking(net, x[:4], dead, n_chips=1, ticks=T, seed=0, spike_counts=True)
    b = run_brian2_network(net, x[:4], T, dead=dmask, codegen_target="numpy") if a.numpy_copies else None
    agree = None if b is None else bool(all(np.array_equal(ours.spike_counts[l][0], b.spike_counts[l]) for l in b.spike_counts))
    per = {
        "ns_faulty": [t / (C * B * T) for t in res["ns_faulty"]],
        "ns_clean": [t / (C * B * T) for t in res["ns_clean"]],
        "b2_cpp": [t / (a.brian2_copies * T) for t in res["b2_cpp"]],
        "b2_numpy": [t / (a.numpy_copies * T) for t in res["b2_numpy"]],
    }
    lin, slope, slope_total, lin_shape = linearity(a.rounds)
    med = {k: statistics.median(v) for k, v in per.items() if v}
    best = {k: min(v) for k, v in per.items() if v}
    report = {
        "network": {"sizes": sizes, "neuron": "LIF", "delay_ticks": 1, "ticks": T, "chips": C, "inputs": B,
                    "activity_spikes_per_tick": activity, "threads": a.threads},
        "faults": dead, "brian2_build_s": t_build, "brian2_agrees_on_chip0": agree,
        "seconds_per_chip_input_tick": {k: stats(v) for k, v in per.items() if v},
        "speedup_vs_cpp_standalone": {"best": best["b2_cpp"] / best["ns_faulty"], "median": med["b2_cpp"] / med["ns_faulty"]},
        "clean_rows_vs_cpp_standalone": {"best": best["b2_cpp"] / best["ns_clean"], "median": med["b2_cpp"] / med["ns_clean"]},
        "speedup_vs_numpy": ({"best": best["b2_numpy"] / best["ns_faulty"], "median": med["b2_numpy"] / med["ns_faulty"]}
                             if "b2_numpy" in best else None),
        "faulty_over_clean_throughput": {"best": min(res["ns_clean"]) / min(res["ns_faulty"]),
                                         "median": statistics.median(res["ns_clean"]) / statistics.median(res["ns_faulty"])},
        "linearity_kernel_shape": lin_shape, "activity_scan": lin, "loglog_slope_synaptic": slope, "loglog_slope_total": slope_total,
    }
    if a.json:
        print(json.dumps(report, indent=2))
        return
    n = report["network"]
    print(f"network {sizes} LIF, delay 1, T={T}, {C} chips x {B} inputs, threads={a.threads}, faults {dead}")
    print("activity (spikes per neuron per tick): " + ", ".join(f"L{l} {v:.3f}" for l, v in n["activity_spikes_per_tick"].items()))
    print(f"Brian2 cpp_standalone build {t_build:.1f} s (excluded); Brian2 == neurosim on chip 0: {agree}")
    for k, v in report["seconds_per_chip_input_tick"].items():
        print(f"  {k:10s} per chip x input x tick: best {v['best'] * 1e9:10.0f} ns   median {v['median'] * 1e9:10.0f} ns")
    s = report["speedup_vs_cpp_standalone"]
    print(f"neurosim (faulty) vs Brian2 cpp_standalone: best {s['best']:.1f}x  median {s['median']:.1f}x")
    s = report["clean_rows_vs_cpp_standalone"]
    print(f"neurosim (clean, every row computed) vs Brian2 cpp_standalone: best {s['best']:.1f}x  median {s['median']:.1f}x")
    if report["speedup_vs_numpy"]:
        s = report["speedup_vs_numpy"]
        print(f"neurosim (faulty) vs Brian2 numpy target:   best {s['best']:.1f}x  median {s['median']:.1f}x")
    s = report["faulty_over_clean_throughput"]
    print(f"faulty/clean throughput (dead neurons p=1e-3): best {s['best']:.2f}  median {s['median']:.2f}")
    _print_linearity(lin, slope, slope_total, lin_shape)


def _print_linearity(lin, slope, slope_total, shape):
    nv, n_in, n_out = shape
    print(f"synaptic accumulation, one block of {nv} rows, {n_in} -> {n_out} (event-driven):")
    for p in lin:
        print(f"  density {100 * p['density']:5.2f} %: {p['spikes']:8.0f} spikes  best {p['best_s'] * 1e6:9.1f} us")
    sl = "n/a" if slope is None else f"{slope:.2f}"
    print(f"log-log slope of (time - silent time) vs spikes: {sl}; of total time: {slope_total:.2f}")


if __name__ == "__main__":
    main()
