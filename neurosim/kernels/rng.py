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


@jit(inline="always")
def skip(state, log1mp):
    """Number of healthy sites before the next faulty one: Geometric(p) on {0, 1, ...}.

    ``log1mp = log(1 - p)``; returns a float (may exceed any index: compare
    before converting). ``p = 1`` (``log1mp = -inf``) always gives 0.
    """
    state, u = uniform(state)
    if log1mp == -math.inf:
        return state, 0.0
    return state, math.floor(math.log(u) / log1mp)


def log1m(p: float) -> float:
    """``log(1 - p)`` with ``p = 1`` mapped to ``-inf``."""
    return -math.inf if p >= 1.0 else math.log1p(-p)
