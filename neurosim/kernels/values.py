"""Fault values (numba): per-fault ``d = w - v`` for merged specs, neuron values, read noise.

A faulty synapse ``W[i, j]`` of row ``r`` that holds ``v`` instead of ``w``
changes the pre-activation by ``(v - w) * Y[r, j]``; the kernels of
:mod:`neurosim.kernels.apply` apply it as ``Z[r, i] -= d * Y[r, j]`` with
``d = w - v`` (docs/theory.md #32): one spec's value inside the loop
(:func:`~neurosim.kernels.apply.value_synapses`), several specs' values from the
per-fault ``d`` of :func:`tagged_deltas`. Events of several specs are merged
first, each cell tagged with the spec that decides its value (the later spec
on a tie), so every cell is corrected once. A faulty neuron is set to its value.

Value codes (``neurosim.faults.values.CODES``): 0 zero, 1 number, 2 max,
3 min, 5 bitflip, 6 scale. Per tag ``t``: ``kind[t]``, ``num[t]`` (the number
or the factor), ``bitsel[t]`` (-1 = uniform bit), ``hkey[t]`` and ``hmode[t]``
(what the uniform bit is keyed by: 0 = (chip // group), 1 = (chip, input),
2 = chip) and ``group[t]``. Per layer: ``fs[cb, rb]`` the tile's full-scale
weight ``n * s``, ``step[cb, rb]`` its quantisation step ``s``, ``rows``/``cols``
the tile shape, ``bits`` the weight width (two's complement).

``d`` per value (``w = W[i, j]``, ``q = rint(w / s)`` the stored integer):
zero ``w``; number ``w - v``; ``scale`` ``w - f*w``; ``max`` ``w - n*s``;
``min`` ``w + n*s``; ``bitflip`` ``(q - q') * s`` with ``q'`` = ``q`` with bit
``k`` flipped (``q - q' = +-2^k``, so this is ``w - v`` exactly, no rounding).
``d`` is computed in float64, so all paths give the same bits in float64;
in float32 the weight is float32 and the correction float64 before it is
added (stuck-at-0 alone keeps float32 arithmetic).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .apply import BITFLIP, MAX, MIN, NUMBER, SCALE, ZERO, decode, flip, is_narrow, uniform_bit
from .rng import stream, uniform


@jit
def merge_tagged(ptr_a, a, ta, ptr_b, b, tag_b):
    """Row-wise union of two sorted CSR event lists with tags; on a tie the tag of ``b`` wins."""
    n = ptr_a.size - 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(a.size + b.size, dtype=np.int64)
    tags = np.empty(a.size + b.size, dtype=np.int64)
    m = 0
    for r in range(n):
        i, ie = ptr_a[r], ptr_a[r + 1]
        j, je = ptr_b[r], ptr_b[r + 1]
        while i < ie or j < je:
            if j >= je or (i < ie and a[i] < b[j]):
                out[m] = a[i]
                tags[m] = ta[i]
                i += 1
            elif i >= ie or b[j] < a[i]:
                out[m] = b[j]
                tags[m] = tag_b
                j += 1
            else:
                out[m] = b[j]
                tags[m] = tag_b
                i += 1
                j += 1
            m += 1
        ptr[r + 1] = m
    return ptr, out[:m].copy(), tags[:m].copy()


@jit(inline="always")
def cell_delta(w, kind, num, k, fs, step, bits):
    """``d = w - v`` of one faulty cell (module docstring); ``k``: the flipped bit (bitflip only)."""
    if kind == ZERO:
        return w - 0.0
    if kind == NUMBER:
        return w - num
    if kind == MAX:
        return w - fs
    if kind == MIN:
        return w - (-fs)
    if kind == SCALE:
        return w - num * w
    q = np.int64(np.rint(w / step))  # BITFLIP
    return (q - flip(q, k, bits)) * step


@jit
def tagged_deltas(W, ptr, cells, tags, tag0, chips, inputs, kind, num, bitsel, hkey, hmode, group,
                  fs, step, rows, cols, bits):
    """``d = w - v`` per event of the CSR ``ptr``/``cells`` (rows, or a chip's segments), each by its tag's value.

    Event ``e`` of row ``r`` has tag ``tags[e]`` (all ``tag0`` when ``tags`` is
    empty); its uniform bit is keyed by ``(chips[r], inputs[r])``. Apply with
    the stuck-at-0 kernels' ``d`` argument.
    """
    n_in = W.shape[1]
    narrow = is_narrow(W.shape[0], n_in)
    d = np.empty(cells.size)
    has_tags = tags.size > 0
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i, j = decode(c, n_in, narrow)
            t = tags[e] if has_tags else tag0
            cb, rb = i // cols, j // rows
            k = bitsel[t]
            if kind[t] == BITFLIP and k < 0:
                k = uniform_bit(hkey[t], hmode[t], group[t], chips[r], inputs[r], c, bits)
            d[e] = cell_delta(W[i, j], kind[t], num[t], k, fs[cb, rb], step[cb, rb], bits)
    return d


@jit
def set_neurons_recorded(Y, ptr, cells, v):
    """Set ``Y[r, i] = v`` for every faulty neuron; return ``old - v`` per event (for the light path)."""
    d = np.empty(cells.size, dtype=Y.dtype)
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            d[e] = Y[r, cells[e]] - v
            Y[r, cells[e]] = v
    return d


@jit
def column_noise(Z, Y, S2, sel, key, salt, chips, inputs):
    """Read noise: ``Z[r, i] += sqrt(sum_j S2[i, j] Y[r, j]^2) * N(0, 1)`` for the rows ``sel``.

    ``S2`` holds per-cell noise variances; the normal deviates come from the
    counter-based stream ``(key, salt, chip, input)`` (Box-Muller), so a row's
    noise does not depend on its block.
    """
    n_out, n_in = S2.shape
    for q in range(sel.size):
        r = sel[q]
        st = stream(key, salt, chips[r], inputs[r])
        i = 0
        while i < n_out:
            st, u1 = uniform(st)
            st, u2 = uniform(st)
            rad = np.sqrt(-2.0 * np.log(u1))  # u1 in (0, 1]
            for h in range(2):
                if i >= n_out:
                    break
                g = rad * (np.cos(2.0 * np.pi * u2) if h == 0 else np.sin(2.0 * np.pi * u2))
                acc = 0.0
                for j in range(n_in):
                    y = Y[r, j]
                    acc += S2[i, j] * y * y
                Z[r, i] += np.sqrt(acc) * g
                i += 1
