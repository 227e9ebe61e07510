"""Counter-based random streams (SplitMix64) for bit-identical parallel runs.

A stream is identified by a 64-bit key (from ``numpy.random.SeedSequence``) and
up to three counters (e.g. chip, input, site); its state depends on nothing
else, so results do not depend on thread count, chunking or order of work.
Generator: SplitMix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014).
"""
from __future__ import annotations

import math

import numpy as np

from ._jit import jit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)
S30 = np.uint64(30)
S27 = np.uint64(27)
S31 = np.uint64(31)
S11 = np.uint64(11)
INV53 = 1.0 / 9007199254740992.0


@jit(inline="always")
def mix64(z):
    z = (z ^ (z >> S30)) * M1
    z = (z ^ (z >> S27)) * M2
    return z ^ (z >> S31)


@jit(inline="always")
def stream(key, a, b, c):
    """Initial state of the stream ``(key, a, b, c)`` (all non-negative ints)."""
    s = mix64(key ^ mix64(np.uint64(a) + GOLDEN))
    s = mix64(s ^ mix64(np.uint64(b) + GOLDEN * np.uint64(2)))
    return mix64(s ^ mix64(np.uint64(c) + GOLDEN * np.uint64(3)))


@jit(inline="always")
def uniform(state):
    """Advance ``state``; return ``(state, u)`` with ``u`` uniform in (0, 1]."""
    state = state + GOLDEN
    z = mix64(state)
    return state, (np.float64(z >> S11) + 1.0) * INV53


def _ziggurat_tables(n=256, r=7.69711747013104972, v=3.949659822581572e-3):
    """Tables of the exponential ziggurat (Marsaglia & Tsang, J. Stat. Softw. 5(8), 2000).

    52-bit integer draws ``j``: layer ``i`` accepts at once when ``j < k[i]`` and
    returns ``j * w[i]``; ``f[i] = exp(-x_i)``.
    """
    m = 2.0 ** 52
    k = np.zeros(n)
    w = np.zeros(n)
    f = np.zeros(n)
    d = r
    q = v / math.exp(-d)
    k[0] = (d / q) * m
    k[1] = 0.0
    w[0] = q / m
    w[n - 1] = d / m
    f[0] = 1.0
    f[n - 1] = math.exp(-d)
    for i in range(n - 2, 0, -1):
        d_new = -math.log(v / d + math.exp(-d))
        k[i + 1] = (d_new / d) * m
        d = d_new
        f[i] = math.exp(-d)
        w[i] = d / m
    return k, w, f


ZK, ZW, ZF = _ziggurat_tables()
ZR = 7.69711747013104972
M8 = np.uint64(255)
S12 = np.uint64(12)


@jit(inline="always")
def exponential(state):
    """Advance ``state``; return ``(state, e)`` with ``e`` ~ Exponential(1) (ziggurat)."""
    while True:
        state = state + GOLDEN
        z = mix64(state)
        i = np.int64(z & M8)
        j = np.float64(z >> S12)
        x = j * ZW[i]
        if j < ZK[i]:
            return state, x
        if i == 0:  # tail beyond ZR: ZR + Exponential(1) by memorylessness
            state, u = uniform(state)
            return state, ZR - math.log(u)
        state, u = uniform(state)
        if ZF[i] + u * (ZF[i - 1] - ZF[i]) < math.exp(-x):
            return state, x


@jit(inline="always")
def skip(state, inv_rate):
    """Number of healthy sites before the next faulty one: Geometric(p) on {0, 1, ...}.

    ``inv_rate = -1 / log(1 - p)``; ``floor(E * inv_rate)`` with ``E`` ~
    Exponential(1) is exactly Geometric(p) since ``P(E >= k*lam) = (1-p)^k``.
    Returns a float (may exceed any index: compare before converting).
    ``p = 1`` (``inv_rate = 0``) always gives 0.
    """
    state, e = exponential(state)
    return state, math.floor(e * inv_rate)


def inv_rate(p: float) -> float:
    """``-1 / log(1 - p)``, the scale of geometric skips (0 for ``p = 1``, inf for ``p = 0``)."""
    if p >= 1.0:
        return 0.0
    if p <= 0.0:
        return math.inf
    return -1.0 / math.log1p(-p)
