"""neurosim vs plain torch and PyTorchFI on the same workloads (issue 12), in interleaved rounds.

    python scripts/bench_peers.py --install            # makes .bench-venv/ (torch 2.13.0, pytorchfi 0.6.0) and runs there
    python scripts/bench_peers.py [--rounds 5] [--inputs 1000] [--chips 100] [--precision float32|float64|both]
                                  [--only neuron]

Without torch/pytorchfi importable (and without ``--install``) it prints a skip
message and exits 0. Network 784-500-100-10 (sigmoid hidden layers, random
weights), 1,000 random inputs, the same weights in both engines. Every
formulation computes Δ = faulty − clean (its own clean forward included, as
neurosim's ``simulate`` includes its clean pass). Each case is timed once per
round, rounds interleaved; the ratio is neurosim's throughput over the peer's
(> 1: neurosim faster), from best-of-rounds and from medians. torch runs at
its best thread count (1 and 2 both timed, the faster per round). Before any
timing, a cross-check that both sides do the same work: z-scores of the
difference of Δ's mean and of its variance (per-row statistic of output 0; per
chip for permanent faults) must be below 5 in absolute value.

Peers: transient neuron faults — a torch forward hook multiplying each
layer's output (and the input) by a Bernoulli mask; PyTorchFI's
``declare_neuron_fi(function=...)`` with the same mask function.
Transient synapse faults — torch ``addmm`` then a sparse ``index_put_``
correction per layer (sites drawn with ``torch.randint``); PyTorchFI's
``declare_weight_fi`` once per inference (on a subset of inputs,
throughput scaled). Permanent synapse faults on many chips — a torch loop over
one masked weight copy per chip; a PyTorchFI loop (one
``declare_weight_fi`` per chip, on fewer chips, scaled).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".bench-venv"
TORCH_SPEC, PFI_SPEC = "torch==2.13.0", "pytorchfi==0.6.0"


def install_and_rerun(argv):
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-e", str(ROOT), TORCH_SPEC], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", PFI_SPEC], check=True)
    args = [a for a in argv if a != "--install"]
    os.execv(str(py), [str(py), str(Path(__file__).resolve()), *args])


# ----------------------------------------------------------------------------- statistics
def z_scores(a, b):
    """z of the difference of means and of variances of two independent samples (normal approximation)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ma, mb = a.mean(), b.mean()
    z_mean = (ma - mb) / np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size + 1e-300)
    qa, qb = (a - ma) ** 2, (b - mb) ** 2
    z_var = (qa.mean() - qb.mean()) / np.sqrt(qa.var(ddof=1) / qa.size + qb.var(ddof=1) / qb.size + 1e-300)
    return float(z_mean), float(z_var)


def row_stat(delta, per_chip):
    """Per-row Δ of output 0 (transient: rows independent), or its per-chip means (permanent: rows of a chip share faults)."""
    d = np.asarray(delta, np.float64)[..., 0]
    return d.mean(axis=1) if per_chip else d.reshape(-1)


def timed_rounds(cases, n_rounds):
    out = {k: [] for k in cases}
    for _ in range(n_rounds):
        for k, fn in cases.items():
            t = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t)
    return out


# ----------------------------------------------------------------------------- torch peers
class TorchPeers:
    def __init__(self, torch, net, x, dtype, seed=0):
        self.torch = torch
        self.tdt = torch.float32 if dtype == np.float32 else torch.float64
        self.W = [torch.tensor(W, dtype=self.tdt) for W in net.weights]
        self.WT = [w.t().contiguous() for w in self.W]
        self.b = [torch.tensor(b, dtype=self.tdt) for b in net.biases]
        self.acts = net.activations
        self.x = torch.tensor(x, dtype=self.tdt)
        self.gen = torch.Generator().manual_seed(seed)
        layers = []
        for W, b, a in zip(self.W, self.b, self.acts):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], dtype=self.tdt)
            with torch.no_grad():
                lin.weight.copy_(W)
                lin.bias.copy_(b)
            layers.append(lin)
            if a == "sigmoid":
                layers.append(torch.nn.Sigmoid())
        self.model = torch.nn.Sequential(*layers).eval()

    def mask(self, t, p):
        return t * (self.torch.rand(t.shape, generator=self.gen, dtype=t.dtype) >= p)

    def forward(self, x, Ws=None):
        torch = self.torch
        y = x
        for l, (W, b, a) in enumerate(zip(Ws or self.W, self.b, self.acts)):
            y = torch.addmm(b, y, W.t())
            if a == "sigmoid":
                y = torch.sigmoid(y)
        return y

    def neuron_hook_delta(self, p):
        """Transient neuron faults by forward hooks with a Bernoulli mask on every layer's output (and the input)."""
        torch = self.torch
        with torch.no_grad():
            clean = self.model(self.x)
            mods = [m for m in self.model if isinstance(m, torch.nn.Sigmoid)] + [self.model[-1]]
            hs = [m.register_forward_hook(lambda mod, inp, out: self.mask(out, p)) for m in mods]
            try:
                faulty = self.model(self.mask(self.x, p))
            finally:
                for h in hs:
                    h.remove()
        return (faulty - clean)[None]

    def synapse_sparse_delta(self, p):
        """Transient synapse faults: clean addmm per layer, then subtract the faulty products by index_put_."""
        torch = self.torch
        with torch.no_grad():
            clean = self.forward(self.x)
            y = self.x
            B = y.shape[0]
            for W, b, a in zip(self.W, self.b, self.acts):
                z = torch.addmm(b, y, W.t())
                n = W.numel()
                k = int(torch.binomial(torch.tensor(float(B * n)), torch.tensor(p), generator=self.gen))
                flat = torch.randint(0, B * n, (k,), generator=self.gen)
                r, c = flat // n, flat % n
                i, j = c // W.shape[1], c % W.shape[1]
                z.index_put_((r, i), -(W[i, j] * y[r, j]), accumulate=True)
                y = torch.sigmoid(z) if a == "sigmoid" else z
        return (y - clean)[None]

    def permanent_masked_delta(self, p, n_chips):
        """Permanent synapse faults: one masked weight copy per chip, a full forward each."""
        torch = self.torch
        out = []
        with torch.no_grad():
            clean = self.forward(self.x)
            for _ in range(n_chips):
                Ws = []
                for W in self.W:
                    n = W.numel()
                    k = int(torch.binomial(torch.tensor(float(n)), torch.tensor(p), generator=self.gen))
                    Wm = W.clone()
                    Wm.view(-1)[torch.randint(0, n, (k,), generator=self.gen)] = 0.0
                    Ws.append(Wm)
                out.append(self.forward(self.x, Ws) - clean)
        return torch.stack(out)


class PfiPeers:
    """PyTorchFI 0.6.0 formulations on the same torch model."""

    def __init__(self, torch, pfi_core, tp: TorchPeers):
        self.torch, self.tp = torch, tp
        B = tp.x.shape[0]
        self.core = pfi_core
        self.fi_neuron = pfi_core.fault_injection(tp.model, batch_size=B, input_shape=[tp.x.shape[1]],
                                                  layer_types=[torch.nn.Linear], use_cuda=False)
        self.fi_weight1 = pfi_core.fault_injection(tp.model, batch_size=1, input_shape=[tp.x.shape[1]],
                                                   layer_types=[torch.nn.Linear], use_cuda=False)
        self.fi_weightB = pfi_core.fault_injection(tp.model, batch_size=B, input_shape=[tp.x.shape[1]],
                                                   layer_types=[torch.nn.Linear], use_cuda=False)
        self.n_neuron_layers = len(tp.model)

    def neuron_function_delta(self, p):
        """declare_neuron_fi with a custom function on every Linear: transient stuck-at-0 of the neurons' outputs."""
        torch, tp = self.torch, self.tp
        n_out = tp.W[-1].shape[0]

        def fn(module, inp, out):  # PyTorchFI custom injection, in place on a Linear layer's output
            hit = torch.rand(out.shape, generator=tp.gen, dtype=out.dtype) < p
            # output layer: value 0; hidden: pre-activation -inf, so the sigmoid neuron outputs exactly 0
            out.masked_fill_(hit, 0.0 if module.out_features == n_out else -float("inf"))
        with torch.no_grad():
            clean = tp.model(tp.x)
            corrupted = self.fi_neuron.declare_neuron_fi(
                function=fn, layer_num=[0], batch=[0], dim1=[0], dim2=[None], dim3=[None])
            faulty = corrupted(tp.mask(tp.x, p))
        return (faulty - clean)[None]

    def _weight_sites(self, p):
        torch, tp = self.torch, self.tp
        layer, k, d1 = [], [], []
        for l, W in enumerate(tp.W):
            n = W.numel()
            m = int(torch.binomial(torch.tensor(float(n)), torch.tensor(p), generator=tp.gen))
            flat = torch.randint(0, n, (m,), generator=tp.gen)
            layer += [l] * m
            k += (flat // W.shape[1]).tolist()
            d1 += (flat % W.shape[1]).tolist()
        return layer, k, d1

    def _declare_weights(self, fi, p):
        layer, k, d1 = self._weight_sites(p)
        if not layer:
            return self.tp.model
        none = [None] * len(layer)
        return fi.declare_weight_fi(layer_num=layer, k=k, dim1=d1, dim2=none, dim3=none,
                                                 value=[0.0] * len(layer))

    def weight_per_inference_delta(self, p, n_inputs):
        """Transient synapse faults: a fresh declare_weight_fi for every inference."""
        torch, tp = self.torch, self.tp
        out = []
        with torch.no_grad():
            clean = tp.model(tp.x[:n_inputs])
            for r in range(n_inputs):
                model = self._declare_weights(self.fi_weight1, p)
                out.append(model(tp.x[r:r + 1])[0])
        return (torch.stack(out) - clean)[None]

    def weight_per_chip_delta(self, p, n_chips):
        """Permanent synapse faults: one declare_weight_fi per chip, then the batch."""
        torch, tp = self.torch, self.tp
        out = []
        with torch.no_grad():
            clean = tp.model(tp.x)
            for _ in range(n_chips):
                out.append(self._declare_weights(self.fi_weightB, p)(tp.x) - clean)
        return torch.stack(out)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--install", action="store_true", help=f"create {VENV.name}/ with {TORCH_SPEC} and {PFI_SPEC}, rerun there")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--inputs", type=int, default=1000)
    ap.add_argument("--chips", type=int, default=100)
    ap.add_argument("--pfi-inputs", type=int, default=50, help="inferences for PyTorchFI's per-inference weight FI")
    ap.add_argument("--pfi-chips", type=int, default=20, help="chips for the PyTorchFI permanent loop")
    ap.add_argument("--precision", choices=["float32", "float64", "both"], default="both")
    ap.add_argument("--only", default="", help="run only the workloads whose name contains this text (e.g. 'neuron')")
    args = ap.parse_args(argv)
    try:
        import torch
        from pytorchfi import core as pfi_core
    except ImportError as e:
        if args.install:
            install_and_rerun(argv)
        print(f"bench_peers: skipped ({e.name or e} not importable). Run with --install to create {VENV} "
              f"with {TORCH_SPEC} and {PFI_SPEC} (--no-deps) and benchmark there.")
        return 0
    sys.path.insert(0, str(ROOT / "scripts"))
    import neurosim as ns
    from bench_engine import make_net

    net = make_net()
    x = np.random.default_rng(1).uniform(0, 1, (args.inputs, 784))
    B, C = args.inputs, args.chips
    precisions = ["float32", "float64"] if args.precision == "both" else [args.precision]
    print(f"network {net.sizes}, {B} inputs, torch {torch.__version__}, pytorchfi 0.6.0, numpy {np.__version__}; "
          f"{args.rounds} interleaved rounds; ratio = neurosim throughput / peer throughput")

    def sim(specs, chips, prec, n=B):
        return lambda: ns.simulate(net, x[:n], specs, n_chips=chips, seed=None, precision=prec)

    for prec in precisions:
        dtype = np.dtype(prec)
        tp = TorchPeers(torch, net, x, dtype)
        pf = PfiPeers(torch, pfi_core, tp)
        # (name, neurosim fn, peer fn, rows computed by neurosim, rows by the peer, per-chip statistic)
        work = [
            ("transient neuron p=1e-3", "torch hook + Bernoulli mask", sim(["neuron:transient:1e-3"], 1, prec),
             lambda: tp.neuron_hook_delta(1e-3), B, B, False),
            ("transient neuron p=1e-3", "PyTorchFI custom function", sim(["neuron:transient:1e-3"], 1, prec),
             lambda: pf.neuron_function_delta(1e-3), B, B, False),
            ("transient neuron p=1e-2", "torch hook + Bernoulli mask", sim(["neuron:transient:1e-2"], 1, prec),
             lambda: tp.neuron_hook_delta(1e-2), B, B, False),
            ("transient synapse p=1e-3", "torch addmm + sparse index_put_", sim(["synapse:transient:1e-3"], 1, prec),
             lambda: tp.synapse_sparse_delta(1e-3), B, B, False),
            ("transient synapse p=1e-2", "torch addmm + sparse index_put_", sim(["synapse:transient:1e-2"], 1, prec),
             lambda: tp.synapse_sparse_delta(1e-2), B, B, False),
            ("transient synapse p=1e-3", "PyTorchFI weight FI per inference",
             sim(["synapse:transient:1e-3"], 1, prec), lambda: pf.weight_per_inference_delta(1e-3, args.pfi_inputs),
             B, args.pfi_inputs, False),
            (f"permanent synapse p=1e-2, {C} chips", "torch loop over masked weight copies",
             sim(["synapse:permanent:1e-2"], C, prec), lambda: tp.permanent_masked_delta(1e-2, C), C * B, C * B, True),
            (f"permanent synapse p=1e-2, {C} chips", "PyTorchFI loop (one declare per chip)",
             sim(["synapse:permanent:1e-2"], C, prec), lambda: pf.weight_per_chip_delta(1e-2, args.pfi_chips),
             C * B, args.pfi_chips * B, True),
        ]
        work = [w for w in work if args.only in w[0]]
        print(f"\nprecision {prec} (torch {tp.tdt})")
        print(f"  {'workload':34s} {'peer':38s} {'|z| mean':>8s} {'|z| var':>8s} {'ns inf/s':>10s} {'peer inf/s':>10s} "
              f"{'ratio best':>10s} {'median':>7s} {'spread ns/peer':>15s}")
        sim_cache = {}
        for name, peer, fn_ns, fn_peer, rows_ns, rows_peer, per_chip in work:
            key = name
            if key not in sim_cache:
                sim_cache[key] = fn_ns().delta
            d_ns = sim_cache[key]
            torch.set_num_threads(2)
            d_peer = fn_peer().numpy()
            n_cmp = min(d_ns.shape[1], d_peer.shape[1])
            zm, zv = z_scores(row_stat(d_ns[:, :n_cmp], per_chip), row_stat(d_peer[:, :n_cmp], per_chip))

            def peer_best_threads(fn=fn_peer):
                best = None
                for th in (1, 2):
                    torch.set_num_threads(th)
                    t = time.perf_counter()
                    fn()
                    dt = time.perf_counter() - t
                    best = dt if best is None else min(best, dt)
                return best
            ts_ns, ts_peer = [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                fn_ns()
                ts_ns.append(time.perf_counter() - t)
                ts_peer.append(peer_best_threads())
            tp_ns_b, tp_ns_m = rows_ns / min(ts_ns), rows_ns / statistics.median(ts_ns)
            tp_pe_b, tp_pe_m = rows_peer / min(ts_peer), rows_peer / statistics.median(ts_peer)
            flag = "" if abs(zm) < 5 and abs(zv) < 5 else "  MISMATCH"
            print(f"  {name:34s} {peer:38s} {abs(zm):8.2f} {abs(zv):8.2f} {tp_ns_b:10.0f} {tp_pe_b:10.0f} "
                  f"{tp_ns_b / tp_pe_b:10.2f} {tp_ns_m / tp_pe_m:7.2f} "
                  f"{max(ts_ns) / min(ts_ns):6.2f}/{max(ts_peer) / min(ts_peer):.2f}{flag}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
