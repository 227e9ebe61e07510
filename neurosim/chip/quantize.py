"""Weight quantisation to a profile's signed precision.

Scheme (documented in ``docs/mapping.md``): a signed weight is stored as a
differential pair of cells (G+ - G-), so ``b`` signed bits give the symmetric
integer levels ``-(2^(b-1)-1) .. 2^(b-1)-1``; with ``b = 2`` this is the ternary
{-1, 0, +1} used for TrueNorth deployments. Each group of weights (a crossbar
tile, or a whole layer) shares one scale ``s = max|W| / (2^(b-1)-1)`` and
``Q(w) = s * round(w / s)`` (round half to even). The error of every weight is at
most ``s / 2``.
"""
from __future__ import annotations

import numpy as np


def levels(bits: int) -> int:
    """Largest integer level for ``bits`` signed bits (0 for unquantised)."""
    return 0 if bits == 0 else (1 << (bits - 1)) - 1


SCALE_RULES = ("max", "mse")


def scale_for(block: np.ndarray, bits: int, rule: str = "max") -> float:
    """Quantisation step of a block of weights (1.0 for an all-zero block or float).

    ``rule="max"``: ``s = max|W| / n`` (no clipping; every error <= s/2).
    ``rule="mse"``: the ``s`` among ``max|W|/n * f``, ``f`` in 96 steps of
    (0, 1], that minimises the squared quantisation error (weights beyond
    ``n*s`` are clipped). For 2 bits this is the ternary fit of ternary weight
    networks (Li et al., 2016) done by search.
    """
    m = float(np.max(np.abs(block))) if block.size else 0.0
    n = levels(bits)
    if n == 0 or m == 0.0:
        return 1.0
    if rule == "max":
        return m / n
    best, best_err = m / n, np.inf
    a = np.abs(block).ravel()
    for f in np.linspace(1.0 / 96, 1.0, 96):
        s = m / n * f
        err = float(np.sum((np.clip(np.rint(a / s), 0, n) * s - a) ** 2))
        if err < best_err:
            best, best_err = s, err
    return best


def quantize_block(block: np.ndarray, bits: int, scale: float) -> np.ndarray:
    """``scale * round(block / scale)``, clipped to the representable levels."""
    if bits == 0:
        return np.array(block, dtype=np.float64, copy=True)
    n = levels(bits)
    q = np.clip(np.rint(block / scale), -n, n)
    return q * scale
