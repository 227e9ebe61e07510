"""Sweep overhead: wall time of a sweep against the sum of its simulations, in one run.

For every grid point the script first times ``neurosim.simulate`` alone (same
target, inputs, spec, rate, chips and point seed as the sweep uses), then runs
the whole sweep into a fresh HDF5 file (in-process executor, same threads) and
prints ``ratio = sweep wall time / sum of simulation times``. The sweep's time
includes everything it adds: summary statistics, part files (fsync + rename),
periodic partial-file rewrites and the final merged file with raw Δ.

    NUMBA_CACHE_DIR=/tmp/nbcache .venv/bin/python scripts/bench_sweep.py
    NUMBA_CACHE_DIR=/tmp/nbcache .venv/bin/python scripts/bench_sweep.py --workers 2 --dask-local 2

Options: --threads (per simulation, both measurements), --chips, --rates (default 1e-4:1e-1:25, with two specs = 50 points),
--profile, --raw-samples, --repeat (best of N for both measurements),
--workers W / --dask-local N (also time those executors; reported as speed-up,
not as overhead, since they run points in parallel).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import neurosim as ns  # noqa: E402
from neurosim.io import load_bundled_data  # noqa: E402
from neurosim import sweep as S  # noqa: E402
from neurosim.sweep.executors import DaskExecutor, ProcessExecutor, SerialExecutor  # noqa: E402


def time_simulations(ctx, threads=None) -> float:
    total = 0.0
    for i in range(ctx.grid.n_points):
        p, s, r = ctx.grid.point(i)
        spec = S.with_rate(ctx.grid.specs[s], ctx.grid.rates[r])
        t = time.perf_counter()
        ns.simulate(ctx.targets[p], ctx.x, [spec], n_chips=ctx.n_chips, seed=S.point_seed(ctx.seed, i),
                    threads=threads)
        total += time.perf_counter() - t
    return total


def time_sweep(ctx, labels, executor, tmp: Path) -> float:
    out = tmp / f"bench_{executor.name}.h5"
    out.unlink(missing_ok=True)
    t = time.perf_counter()
    S.run_sweep(ctx, out, labels=labels, executor=executor, progress=False)
    dt = time.perf_counter() - t
    out.unlink()
    return dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits_mlp.h5"))
    ap.add_argument("--profile", default=None)
    ap.add_argument("--fault", action="append", default=None)
    ap.add_argument("--rates", default="1e-4:1e-1:25")
    ap.add_argument("--chips", type=int, default=50)
    ap.add_argument("--raw-samples", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="threads per simulation (default: the engine's)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--dask-local", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    faults = args.fault or ["neuron:transient", "synapse:permanent"]
    net = ns.load_network(args.model)
    x, labels = load_bundled_data(args.model)
    ctx = S.build_context(net, x, profiles=(args.profile,), faults=faults, rates=S.parse_rates(args.rates),
                          n_chips=args.chips, seed=args.seed, raw_samples=args.raw_samples)
    # warm up: compile / load every numba kernel once
    for spec in ctx.grid.specs:
        ns.simulate(ctx.targets[0], ctx.x[:8], [S.with_rate(spec, 0.05)], n_chips=2, seed=1)
    tmp = Path(tempfile.mkdtemp(prefix="neurosim-bench-sweep-"))
    try:
        sims, sweeps = [], []
        for _ in range(args.repeat):  # interleaved, best of N
            sims.append(time_simulations(ctx, args.threads))
            sweeps.append(time_sweep(ctx, labels, SerialExecutor(threads=args.threads), tmp))
        res = {
            "points": ctx.grid.n_points, "chips": ctx.n_chips, "inputs": ctx.n_inputs, "threads": args.threads,
            "rows_per_point": ctx.rows_per_point, "raw_rows_per_point": ctx.n_raw,
            "sum_of_simulations_s": min(sims), "sweep_in_process_s": min(sweeps),
            "ratio": min(sweeps) / min(sims),
        }
        if args.workers:
            res[f"sweep_processes_{args.workers}_s"] = time_sweep(ctx, labels, ProcessExecutor(args.workers), tmp)
        if args.dask_local:
            res[f"sweep_dask_local_{args.dask_local}_s"] = time_sweep(
                ctx, labels, DaskExecutor(local_workers=args.dask_local), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['points']} points, {res['chips']} chips x {res['inputs']} inputs each "
              f"({res['raw_rows_per_point']} raw rows kept per point), threads per simulation: "
              f"{args.threads or 'engine default'}")
        print(f"sum of simulations : {res['sum_of_simulations_s']:.3f} s")
        print(f"sweep (in-process) : {res['sweep_in_process_s']:.3f} s")
        for k, v in res.items():
            if k.startswith(("sweep_processes", "sweep_dask")):
                print(f"{k[:-2]:<19}: {v:.3f} s (parallel; includes worker start-up)")
        print(f"ratio sweep / sum of simulations = {res['ratio']:.3f} (target <= 1.2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
