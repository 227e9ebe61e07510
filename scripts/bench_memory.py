"""Peak memory (RSS) of ``neurosim simulate ... -o FILE`` at growing chip counts, and the time to refuse an impossible size.

Each run is a fresh ``neurosim`` process; its peak RSS is the kernel's
``ru_maxrss`` of that child (``os.wait4``). The baseline is the same command at
the smallest size measured in the same run, so the ratio shows how peak memory
grows with ``--chips`` (streamed: Δ is written chunk by chunk, only
``n_inputs * 9`` bytes per chip stay in memory). Timings on a shared machine
are noisy; the memory figures are not.

    python scripts/bench_memory.py [--chips 1000 10000 100000] [--fault neuron:transient:1e-3] [--keep]
    python scripts/bench_memory.py --sweep [--chips 10000 100000] [--raw-samples 1000]

``--sweep`` measures one sweep point instead (``neurosim sweep MODEL --fault
neuron:transient --rates 1e-3 --chips N --raw-samples K -o s.h5``): points of
more chips than one chunk stream, so peak RSS should grow only by the per-chip
accumulators (~0.3 KB per chip), not by Δ (36 KB per chip on the example).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(argv, cwd):
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "neurosim.cli.main", *argv], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024, time.perf_counter() - t0, out, err


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, nargs="+", default=[1000, 10000, 100000])
    ap.add_argument("--fault", default="neuron:transient:1e-3")
    ap.add_argument("--model", default=str(ROOT / "examples" / "digits_mlp.h5"))
    ap.add_argument("--sweep", action="store_true", help="measure one sweep point instead of simulate -o")
    ap.add_argument("--raw-samples", type=int, default=1000, help="--raw-samples of the sweep (default 1000)")
    ap.add_argument("--keep", action="store_true", help="keep the result files (default: deleted after each run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_memory_", dir=os.environ.get("BENCH_TMP")) as d:
        rows = []
        base = None
        for n in args.chips:
            out = Path(d) / f"big_{n}.h5"
            if args.sweep:
                site, mode = args.fault.split(":")[:2]
                rate = args.fault.split(":")[2] if args.fault.count(":") >= 2 else "1e-3"
                argv = ["sweep", args.model, "--fault", f"{site}:{mode}", "--rates", rate, "--chips", str(n),
                        "--raw-samples", str(args.raw_samples), "-o", str(out)]
            else:
                argv = ["simulate", args.model, "--fault", args.fault, "--chips", str(n), "-o", str(out)]
            rc, rss, dt, _, err = run(argv, d)
            if rc != 0:
                print(f"--chips {n}: exit {rc}: {err.strip()}")
                continue
            size = out.stat().st_size
            base = base or rss
            rows.append((n, rss, dt, size))
            print(f"{argv[0]} --chips {n:>8}: peak RSS {rss / 2**20:8.1f} MB ({rss / base:5.2f}x the --chips "
                  f"{args.chips[0]} run), {dt:7.1f} s, output {size / 2**20:8.1f} MB", flush=True)
            if not args.keep:
                out.unlink()
        if args.sweep:
            return
        # an impossible size: refused in well under a second of its own work (interpreter start excluded)
        t0 = time.perf_counter()
        rc, rss, dt, _, err = run(["simulate", args.model, "--fault", args.fault, "--chips", "1000000000000",
                                   "-o", str(Path(d) / "never.h5")], d)
        rc0, _, dt0, _, _ = run(["profiles"], d)
        print(f"simulate --chips 1e12: exit {rc} in {dt:.2f} s (a bare 'neurosim profiles' takes {dt0:.2f} s): "
              f"{err.strip()}")


if __name__ == "__main__":
    main()
