"""Does a BLAS product's bits depend on the thread count or on how the rows are split into calls?

    python scripts/blas_bits.py

For the engine benchmark's layer shapes (and two square ones), compares
``X @ W.T`` over 1,000 rows at 1 and 2 OpenBLAS threads, and against 64-row
calls. Where these differ, a whole-batch multi-threaded product cannot be
used without breaking "same seed, same result, bit for bit, for any thread
count or chunk size" — why the engine runs fixed 64-row single-threaded
calls (docs/engine.md, "Bit identity and BLAS").
"""
import numpy as np
from threadpoolctl import threadpool_limits


def main():
    rng = np.random.default_rng(0)
    print("dtype    rows  n_in n_out  1T==2T  1T==64-row calls  2T==64-row calls(2T)")
    for dt in (np.float64, np.float32):
        for B, n_in, n_out in ((1000, 784, 500), (1000, 500, 100), (1000, 100, 10), (1000, 256, 256), (1000, 1024, 1024)):
            X = rng.normal(size=(B, n_in)).astype(dt)
            WT = np.ascontiguousarray(rng.normal(size=(n_out, n_in)).astype(dt).T)
            with threadpool_limits(1):
                a = X @ WT
                a64 = np.concatenate([X[i:i + 64] @ WT for i in range(0, B, 64)])
            with threadpool_limits(2):
                b = X @ WT
                b64 = np.concatenate([X[i:i + 64] @ WT for i in range(0, B, 64)])
            print(f"{np.dtype(dt).name:8s} {B:5d} {n_in:5d} {n_out:5d}  {str(np.array_equal(a, b)):6s}  "
                  f"{str(np.array_equal(a, a64)):16s}  {np.array_equal(b, b64)}")


if __name__ == "__main__":
    main()
