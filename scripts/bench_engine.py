"""Engine throughput: neurosim vs the clean numpy forward of the same precision, in interleaved rounds.

    python scripts/bench_engine.py [--inputs 1000] [--rounds 5] [--precision float64|float32|both]
                                   [--widths 256,1024,4096] [--threads N] [--only CASE]
                                   [--baseline-src DIR]

Network 784-500-100-10 (sigmoid hidden layers, random weights), 1,000 random
inputs. Every case is timed once per round, the rounds interleaved so that a
load change on the (shared) machine hits all cases alike; the script prints the
best and the median over rounds and the ratios of throughputs to the clean
baseline measured in the same rounds (the faster of multi- and single-threaded
BLAS, one batched product per layer, at the same precision). A neurosim run
with one chip includes its own clean pass (Δ needs it).

``--clock cpu`` times process CPU time instead of wall time (summed over
threads: with ``--threads 1`` it is the work done, unaffected by time the
process waits for a core on a loaded machine). ``--only CASE`` keeps the cases whose name contains ``CASE`` (the clean
baselines always run). ``--baseline-src DIR`` compares against a second
checkout (e.g. the main branch): each side runs in its own worker process
importing its own ``neurosim`` (``DIR`` for B, this script's checkout for A),
each case is timed on A then B within every round, and the results (Δ, clean
outputs, fault counts) of the two sides are checked to be bit-identical (a
SHA-256 of their bytes); the table adds B's throughputs and "A/B" = B's time over A's (> 1: A faster).

Goals (issue 12): faulty/clean >= 0.8 for transient synapse faults at p=1e-3
and >= 0.9 for transient neuron faults at p=1e-3 (one chip); a no-fault
``simulate`` within 1.3x of the clean forward at widths 256..4096
(``--widths``: a 784-w-w-10 network, 1,000 inputs, ReLU).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = [
    ("no faults", [], 1),
    ("transient synapse p=1e-3", ["synapse:transient:1e-3"], 1),
    ("transient synapse p=1e-2", ["synapse:transient:1e-2"], 1),
    ("transient neuron p=1e-3", ["neuron:transient:1e-3"], 1),
    ("transient neuron p=1e-2", ["neuron:transient:1e-2"], 1),
    ("permanent synapse p=1e-3, 100 chips", ["synapse:permanent:1e-3"], 100),
    ("permanent synapse p=1e-2, 100 chips", ["synapse:permanent:1e-2"], 100),
    ("intermittent synapse p=1e-2 (p_on .1, p_off .5)", ["synapse:intermittent:1e-2:p_on=0.1:p_off=0.5"], 1),
]
CLEAN = ("clean MT", "clean 1T")


def make_net(sizes=(784, 500, 100, 10), acts=("sigmoid", "sigmoid", "identity"), seed=0):
    import neurosim as ns

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
    from neurosim.sim.engine import _activate

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


def digest(result) -> str:
    """SHA-256 of a SimResult's Δ, clean outputs and fault counts (bit identity across checkouts)."""
    h = hashlib.sha256()
    for a in (result.delta, result.clean, result.fault_counts, result.fault_events):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class Runner:
    """Runs named cases in this process; ``run(name)`` -> (seconds, digest or None)."""

    def __init__(self, n_inputs, threads, clock="wall"):
        self.clock = time.perf_counter if clock == "wall" else time.process_time
        from threadpoolctl import threadpool_limits

        import neurosim as ns

        self.ns, self.limits, self.threads = ns, threadpool_limits, threads
        self.x = np.random.default_rng(1).uniform(0, 1, (n_inputs, 784))
        self.net = make_net()
        self.fns = {}

    def setup(self, precision, width=None):
        """Build the cases of one precision (``width``: the 784-w-w-10 ReLU no-fault check instead)."""
        ns, x, prec = self.ns, self.x, precision
        net = self.net if width is None else make_net((784, width, width, 10), ("relu", "relu", "identity"))
        warm = ["synapse:transient:1e-3", "neuron:permanent:1e-3", "synapse:permanent:0.1",
                "synapse:intermittent:1e-3:p_on=0.1:p_off=0.5"] if width is None else []
        ns.simulate(net, x[:70], warm, n_chips=2, seed=0, precision=prec)
        fwd = clean_forward(net, x, np.dtype(prec))

        def one_thread():
            with self.limits(limits=1, user_api="blas"):
                fwd()
        self.fns = {"clean MT": fwd, "clean 1T": one_thread}
        cases = CASES if width is None else [("simulate", [], 1)]
        for name, specs, chips in cases:
            self.fns[name] = (lambda specs=specs, chips=chips: ns.simulate(net, x, specs, n_chips=chips, seed=0,
                                                                          threads=self.threads, precision=prec))
        return "ok"

    def run(self, name):
        t = self.clock()
        out = self.fns[name]()
        dt = self.clock() - t
        return dt, (digest(out) if hasattr(out, "delta") else None)


class Remote:
    """A :class:`Runner` in a worker process whose ``neurosim`` comes from ``src`` (JSON lines over pipes)."""

    def __init__(self, src, n_inputs, threads, clock):
        env_path = str(Path(src).resolve())
        code = (f"import sys; sys.path.insert(0, {env_path!r}); sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                f"import bench_engine as b; b.worker({n_inputs}, {threads!r}, {clock!r})")
        self.p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, cwd="/")
        self.origin = self.call("origin")

    def call(self, method, *args):
        self.p.stdin.write(json.dumps([method, *args]) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"bench worker died (exit {self.p.wait()})")
        return json.loads(line)

    def setup(self, precision, width=None):
        return self.call("setup", precision, width)

    def run(self, name):
        return tuple(self.call("run", name))

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def worker(n_inputs, threads, clock):
    """Worker loop of :class:`Remote`: one JSON request per stdin line, one JSON answer per stdout line."""
    import neurosim

    r = Runner(n_inputs, threads, clock)
    for line in sys.stdin:
        method, *args = json.loads(line)
        out = neurosim.__file__ if method == "origin" else getattr(r, method)(*args)
        print(json.dumps(out), flush=True)


def rounds(sides, names, n_rounds):
    """Time every case once per round on every side, interleaved; return (times, digests) per side."""
    times = [{k: [] for k in names} for _ in sides]
    digests = [{} for _ in sides]
    for _ in range(n_rounds):
        for k in names:
            for s, side in enumerate(sides):
                t, d = side.run(k)
                times[s][k].append(t)
                digests[s][k] = d
    return times, digests


def report(sides, times, digests, n_rows, names, header):
    ta = times[0]
    base = [min(a, b) for a, b in zip(ta["clean MT"], ta["clean 1T"])]
    base_best, base_med = min(base), statistics.median(base)
    ab = len(sides) > 1
    print(header)
    print(f"  {'case':48s} {'inf/s best':>10s} {'med':>8s} {'vs clean':>8s} {'med':>5s} {'spread':>6s}"
          + (f" {'B inf/s best':>12s} {'med':>8s} {'A/B best':>8s} {'med':>5s}  same" if ab else ""))
    for name, rows in names:
        ts = ta[name]
        best, med = min(ts), statistics.median(ts)
        line = (f"  {name:48s} {rows / best:10.0f} {rows / med:8.0f} {base_best / best * rows / n_rows:8.2f} "
                f"{base_med / med * rows / n_rows:5.2f} {max(ts) / best:5.2f}x")
        if ab:
            tb = times[1][name]
            same = "-" if digests[0][name] is None else ("yes" if digests[0][name] == digests[1][name] else "NO")
            line += (f" {rows / min(tb):12.0f} {rows / statistics.median(tb):8.0f} {min(tb) / best:8.2f} "
                     f"{statistics.median(tb) / med:5.2f}  {same}")
        print(line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--precision", choices=["float64", "float32", "both"], default="both")
    ap.add_argument("--widths", default="256,1024,4096", help="widths of the no-fault check ('' to skip)")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this text")
    ap.add_argument("--baseline-src", default=None, help="checkout to compare against (A/B, bit identity checked)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time (all threads; with --threads 1 it hides time lost to other load)")
    args = ap.parse_args(argv)
    precisions = ["float64", "float32"] if args.precision == "both" else [args.precision]
    B = args.inputs
    if args.baseline_src:
        sides = [Remote(Path(__file__).resolve().parent.parent, B, args.threads, args.clock),
                 Remote(args.baseline_src, B, args.threads, args.clock)]
        print("A:", sides[0].origin, " B:", sides[1].origin)
    else:
        sides = [Runner(B, args.threads, args.clock)]
    cases = [c for c in CASES if args.only is None or args.only in c[0]]
    print(f"network (784, 500, 100, 10), {B} inputs, threads={args.threads or 'auto'}, {args.clock} clock, "
          f"{args.rounds} interleaved "
          "rounds; ratios = neurosim inferences/s over clean inferences/s (same rounds)")
    for prec in precisions if cases else []:
        for s in sides:
            s.setup(prec)
        names = list(CLEAN) + [c[0] for c in cases]
        times, digests = rounds(sides, names, args.rounds)
        report(sides, times, digests, B, [(n, B) for n in CLEAN] + [(n, ch * B) for n, _, ch in cases],
               f"precision {prec}")
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    if widths and (args.only is None or args.only in "no faults"):
        print("no-fault simulate vs clean forward, 784-w-w-10 ReLU (goal: simulate time / clean time <= 1.3)")
        for prec in precisions:
            for w in widths:
                for s in sides:
                    s.setup(prec, w)
                times, digests = rounds(sides, list(CLEAN) + ["simulate"], max(3, args.rounds // 2))
                report(sides, times, digests, B, [(n, B) for n in CLEAN] + [("simulate", B)], f"{prec} w={w}")
    for s in sides:
        if isinstance(s, Remote):
            s.close()


if __name__ == "__main__":
    main()
