"""Fault values as sparse corrections (numba): the per-fault ``d = w - v`` of each value.

A faulty synapse ``W[i, j]`` of row ``r`` that holds ``v`` instead of ``w``
changes the pre-activation by ``(v - w) * Y[r, j]``; the stuck-at-0 kernels of
:mod:`neurosim.kernels.apply` apply it as ``Z[r, i] -= d * Y[r, j]`` with
``d = w - v`` (docs/theory.md #32), read from a per-cell table in place of
``W`` (:func:`delta_table`: one value for the whole layer) or from a per-fault
array (:func:`tagged_deltas`, :func:`bitflip_deltas`). So every value costs one
read per fault, as stuck-at-0's ``W[i, j]``, and all paths give the same bits.
A faulty neuron is set to its value. Events of several specs are merged first,
each cell tagged with the spec that decides its value (the later spec on a
tie), so every cell is corrected once.

Value codes (``neurosim.faults.values.CODES``): 0 zero, 1 number, 2 max,
3 min, 5 bitflip, 6 scale. Per tag ``t``: ``kind[t]``, ``num[t]`` (the number
or the factor), ``bitsel[t]`` (-1 = uniform bit), ``hkey[t]`` and ``hmode[t]``
(what the uniform bit is keyed by: 0 = (chip // group), 1 = (chip, input),
2 = chip) and ``group[t]``. Per layer: ``fs[cb, rb]`` the tile's full-scale
weight ``n * s``, ``step[cb, rb]`` its quantisation step ``s``, ``rows``/``cols``
the tile shape, ``bits`` the weight width (two's complement).

``d`` per value (``w = W[i, j]``, ``q = rint(w / s)`` the stored integer):
zero ``w``; number ``w - v``; ``scale`` ``w - f*w``; ``max`` ``w - n*s``;
``min`` ``w + n*s``; ``bitflip`` ``(q - q') * s`` with ``q'`` = ``q`` with one bit
flipped (``q' - q = +-2^k``, so this is ``v - w`` exactly, with no rounding).
``d`` is computed in float64 and stored in the working precision (``W.dtype``).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .apply import decode, is_narrow, stuck_synapses_shared
from .rng import mix64, stream, uniform

ZERO, NUMBER, MAX, MIN, SATURATED, BITFLIP, SCALE = 0, 1, 2, 3, 4, 5, 6

valued_synapses_shared = stuck_synapses_shared
"""Shared (per-chip segment) corrections with per-fault ``d``: the stuck-at-0 kernel itself."""


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
def flip(q, k, bits):
    """Two's-complement ``bits``-bit integer ``q`` with bit ``k`` flipped."""
    m = np.int64(1) << bits
    u = (q & (m - 1)) ^ (np.int64(1) << k)  # q mod 2^b (two's complement), bit k flipped
    if u >= (m >> 1):
        u -= m
    return u


@jit(inline="always")
def row_key(hkey, hmode, group, chip, inp):
    """Key of the stream that picks flipped bits for one row: (chip // group), (chip, input) or chip."""
    if hmode == 0:
        c = np.uint64(chip // group)
        b = np.uint64(0)
    elif hmode == 1:
        c = np.uint64(chip)
        b = np.uint64(inp) + np.uint64(1)
    else:
        c = np.uint64(chip)
        b = np.uint64(0)
    return mix64(hkey ^ mix64(c * np.uint64(0x9E3779B97F4A7C15) + b))


@jit(inline="always")
def cell_bit(rk, cell, bits):
    """Uniform bit in ``0..bits-1`` for ``cell`` under row key ``rk`` (multiply-shift of a 32-bit hash)."""
    h = mix64(rk ^ (np.uint64(cell) * np.uint64(0xD6E8FEB86659FD93))) >> np.uint64(32)
    return np.int64((h * np.uint64(bits)) >> np.uint64(32))


@jit(inline="always")
def uniform_bit(hkey, hmode, group, chip, inp, cell, bits):
    """The bit a bitflip fault flips when none is chosen: a hash of the site's stream identity."""
    return cell_bit(row_key(hkey, hmode, group, chip, inp), cell, bits)


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
    d = np.empty(cells.size, dtype=W.dtype)
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
def delta_table(W, kind, num, bit, fs, step, rows, cols, bits):
    """``D[i, j] = d`` of every cell under one value (not a uniform bit): the stuck-at-0 kernels read it for ``W``."""
    n_out, n_in = W.shape
    D = np.empty((n_out, n_in), dtype=W.dtype)
    for i in range(n_out):
        cb = i // cols
        for j in range(n_in):
            rb = j // rows
            D[i, j] = cell_delta(W[i, j], kind, num, bit, fs[cb, rb], step[cb, rb], bits)
    return D


@jit
def bitflip_deltas(W, ptr, cells, code, tstep, hkey, hmode, group, chips, inputs, bits):
    """``d = (q - q') * s`` per event of one uniform-bit ``bitflip`` spec, from the per-cell code table.

    ``code[c] = (tile << bits) | (q mod 2^bits)`` (see
    :func:`neurosim.sim.values.value_tables`), ``tstep[tile]`` the tile's step:
    one small table read and one hash per fault, no read of ``W`` (only its
    dtype is used). Same ``d`` as :func:`tagged_deltas`.
    """
    d = np.empty(cells.size, dtype=W.dtype)
    mask = (np.int64(1) << bits) - 1
    half = np.int64(1) << (bits - 1)
    for r in range(ptr.size - 1):
        rk = row_key(hkey, hmode, group, chips[r], inputs[r])
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            u = np.int64(code[c])
            q = u & mask
            if q >= half:
                q -= mask + 1
            d[e] = (q - flip(q, cell_bit(rk, c, bits), bits)) * tstep[u >> bits]
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
