"""Check the numba engine against the Brian2 spiking reference on the bundled digits MLP.

    python scripts/compare_brian2.py [--inputs 20] [--steps 2000] [--chips 3] [--seed 1]
                                     [--codegen-target numpy]

Model examples/digits_mlp.h5 (64-64-32-10, relu), the first ``--inputs`` bundled
digits. Runs the Brian2 rate-coded IF network (neurosim.spiking) clean and, for
``--chips`` chip instances, with the engine's permanent faults
``neuron:permanent:0.05`` + ``synapse:permanent:0.02`` replayed. Prints, per case,
the max absolute and relative (to max |output|) deviation between Brian2 and
the engine, the argmax agreement, the nominal quantisation bound and the
runtimes. Every figure is measured in this run.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import neurosim as ns
from neurosim.io import load_bundled_data
from neurosim.spiking import replay_engine_faults, run_brian2

MODEL = Path(__file__).resolve().parents[1] / "examples" / "digits_mlp.h5"
FAULTS = ["neuron:permanent:0.05", "synapse:permanent:0.02"]


def row(name, brian, engine, clean, bound, t_brian, t_engine, n_dead=""):
    d = np.abs(brian - engine)
    rel = d.max() / np.max(np.abs(engine))
    agree = np.mean(np.argmax(brian, axis=1) == np.argmax(engine, axis=1))
    effect = np.max(np.abs(engine - clean))
    print(f"{name:<8} {n_dead:>14} {d.max():9.4f} {rel:8.2%} {agree:7.0%} {bound:8.3f} {effect:9.3f} "
          f"{t_brian:9.2f} {t_engine:9.3f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=20)
    ap.add_argument("--steps", type=int, default=2000, help="simulated steps T (error ~ 1/T)")
    ap.add_argument("--chips", type=int, default=3, help="faulty chip instances to replay")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--codegen-target", default="numpy", choices=["numpy", "cython"])
    args = ap.parse_args(argv)

    net = ns.load_network(MODEL)
    x, _ = load_bundled_data(MODEL)
    x = x[:args.inputs]
    kw = dict(duration_steps=args.steps, codegen_target=args.codegen_target)
    print(f"model {MODEL.name} {net.sizes}, {x.shape[0]} inputs, T = {args.steps} steps, "
          f"codegen target {args.codegen_target}, faults {' + '.join(FAULTS)}, seed {args.seed}")
    print(f"{'case':<8} {'dead n/syn':>14} {'max|dev|':>9} {'rel':>8} {'argmax':>7} {'bound':>8} "
          f"{'|faulty-clean|':>9} {'brian2 s':>9} {'engine s':>9}")

    t = time.perf_counter()
    clean = ns.simulate(net, x, [], seed=args.seed).clean
    t_engine = time.perf_counter() - t
    r = run_brian2(net, x, **kw)
    row("clean", r.rates, clean, clean, r.error_bound(), r.runtime_s, t_engine)

    t_all = time.perf_counter()
    for chip in range(args.chips):
        t = time.perf_counter()
        ns.simulate(net, x, FAULTS, n_chips=chip + 1, seed=args.seed)
        t_engine = time.perf_counter() - t
        rep = replay_engine_faults(net, x, FAULTS, chip=chip, seed=args.seed, **kw)
        n_n = sum(v.size for v in rep.dead_neurons.values())
        n_s = sum(v.size for v in rep.dead_synapses.values())
        row(f"chip {chip}", rep.brian2.rates, rep.engine, rep.clean, rep.brian2.error_bound(),
            rep.brian2.runtime_s, t_engine, f"{n_n}/{n_s}")
    print(f"total wall time of the faulty replays (incl. engine and setup): {time.perf_counter() - t_all:.1f} s")


if __name__ == "__main__":
    main()
