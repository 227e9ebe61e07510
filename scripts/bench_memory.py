"""Peak memory (RSS) of ``neurosim simulate ... -o FILE`` at growing chip counts, and the time to refuse an impossible size.

Each run is a fresh ``neurosim`` process; its peak RSS is the kernel's
``ru_maxrss`` of that child (``os.wait4``). The baseline is the same command at
the smallest size measured in the same run, so the ratio shows how peak memory
grows with ``--chips`` (streamed: Δ is written chunk by chunk, only
``n_inputs * 9`` bytes per chip stay in memory). Timings on a shared machine
are noisy; the memory figures are not.

    python scripts/bench_memory.py [--chips 1000 10000 100000] [--fault neuron:transient:1e-3] [--keep]
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
    ap.add_argument("--keep", action="store_true", help="keep the result files (default: deleted after each run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_memory_", dir=os.environ.get("BENCH_TMP")) as d:
        rows = []
        base = None
        for n in args.chips:
            out = Path(d) / f"big_{n}.h5"
            rc, rss, dt, _, err = run(["simulate", args.model, "--fault", args.fault, "--chips", str(n),
                                       "-o", str(out)], d)
            if rc != 0:
                print(f"--chips {n}: exit {rc}: {err.strip()}")
                continue
            size = out.stat().st_size
            base = base or rss
            rows.append((n, rss, dt, size))
            print(f"simulate --chips {n:>8}: peak RSS {rss / 2**20:8.1f} MB ({rss / base:5.2f}x the --chips "
                  f"{args.chips[0]} run), {dt:7.1f} s, output {size / 2**20:8.1f} MB", flush=True)
            if not args.keep:
                out.unlink()
        # an impossible size: refused in well under a second of its own work (interpreter start excluded)
        t0 = time.perf_counter()
        rc, rss, dt, _, err = run(["simulate", args.model, "--fault", args.fault, "--chips", "1000000000000",
                                   "-o", str(Path(d) / "never.h5")], d)
        rc0, _, dt0, _, _ = run(["profiles"], d)
        print(f"simulate --chips 1e12: exit {rc} in {dt:.2f} s (a bare 'neurosim profiles' takes {dt0:.2f} s): "
              f"{err.strip()}")


if __name__ == "__main__":
    main()
