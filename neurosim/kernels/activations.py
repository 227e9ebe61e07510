"""Activation kernels for the engine's blocks (in place, row by row).

numpy's float64 ``tanh`` is scalar on this class of CPU (~35 ns an element), so
the logistic of the engine's float64 runs is computed here as
``1 / (1 + exp(-z))`` (the same function as ``Network``'s
``0.5 * (1 + tanh(z / 2))``, equal to it within a few ulps; overflow of
``exp`` gives 0 as it should, NaN stays NaN). Each row is one inner loop, so
an element's rounding depends only on its column, never on the block's
height: results stay bit-identical for any chunking.
"""
from __future__ import annotations

import math

from ._jit import jit


@jit
def sigmoid_rows(Z):
    """``Z[r, j] = 1 / (1 + exp(-Z[r, j]))`` in place; returns ``Z``."""
    for r in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            Z[r, j] = 1.0 / (1.0 + math.exp(-Z[r, j]))
    return Z


@jit
def bias_sigmoid_rows(Z, b, Y):
    """``Z[r, j] += b[j]``, then ``Y[r, j] = 1 / (1 + exp(-Z[r, j]))`` (``Y`` may be ``Z``); returns ``Y``.

    One pass over the block instead of numpy's ``Z += b`` followed by
    :func:`sigmoid_rows`; each element gets the same two roundings (the add,
    then the logistic of the same expression), so the bits are those of the
    two-step form.
    """
    for r in range(Z.shape[0]):
        for j in range(Z.shape[1]):
            z = Z[r, j] + b[j]
            Z[r, j] = z
            Y[r, j] = 1.0 / (1.0 + math.exp(-z))
    return Y


@jit
def sigmoid_or_copy_rows(Z, Yc, keep):
    """Per row ``r``: ``Z[r] = Yc[r]`` where ``keep[r]``, else the logistic of ``Z[r]`` in place (as :func:`sigmoid_rows`)."""
    for r in range(Z.shape[0]):
        if keep[r]:
            for j in range(Z.shape[1]):
                Z[r, j] = Yc[r, j]
        else:
            for j in range(Z.shape[1]):
                Z[r, j] = 1.0 / (1.0 + math.exp(-Z[r, j]))
    return Z
