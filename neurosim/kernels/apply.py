"""Apply synapse and neuron faults to a block of rows as sparse corrections.

``Z`` holds pre-activations ``Y_prev @ W.T + b`` of a block, ``Y`` the faulty
outputs of the previous layer (``Z`` rows were computed from them), ``W`` is
``(n_out, n_in)``. Each function changes ``Z`` or ``Y`` in place.

One correction serves every fault value: a faulty cell ``(i, j)`` that holds
``v`` instead of ``w = W[i, j]`` changes ``Z[r, i]`` by ``(v - w) Y[r, j]``,
applied as ``Z[r, i] -= d * Y[r, j]`` with ``d = w - v`` (docs/theory.md #32).
Stuck-at-0 is ``d = w``. The loop is written once (:func:`_corrections`) and
specialised per value kind at compile time (the kind is a constant in each
call), so no fault pays for a branch on its value:

=========  ==========================================================  ==========
kind       ``d``                                                        reads
=========  ==========================================================  ==========
ZERO       ``w``                                                        ``W``
GIVEN      ``d[e]`` (per fault, e.g. several specs merged)              ``d``
NUMBER     ``w - v``                                                    ``W``
SCALE      ``w - f*w``                                                  ``W``
MAX / MIN  ``w - n*s`` / ``w + n*s`` (tile full scale ``n*s``)          ``qtab``
BITFLIP    ``(q - q') * s = +-2^k s`` (bit ``k`` of ``q`` flipped)      ``qtab``
=========  ==========================================================  ==========

``q`` is the stored integer of the cell (``qtab``: one byte per cell on 8-bit
chips, much smaller than ``W`` and so mostly in cache), ``s`` its tile's
step; the tile of ``(i, j)`` is ``t = cbt[i] + rbj[j]`` (small per-row/column
tables, no division). ``max``/``min`` read ``d`` from ``T[(t << bits) + (q mod
2^bits)]``, the same float64 ``w - (+-n*s)`` for each possible ``q`` of the
tile (``w = q*s`` exactly, rounded to ``W``'s precision first); bit flips read
``+-2^k s`` from ``T[(t*bits + k)*2 + bit_k(q)]`` (exact: ``q - q'`` is
``+-2^k``, or ``-+2^(b-1)`` for the sign bit). Value parameters travel as one tuple ``va``
(:func:`neurosim.sim.values.value_args`).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .rng import mix64

ZERO, NUMBER, MAX, MIN, SATURATED, BITFLIP, SCALE, GIVEN = 0, 1, 2, 3, 4, 5, 6, 7
NARROW = np.int64(1) << 32
"""Layers with fewer cells than this decode a cell with one 32-bit unsigned divide."""


@jit(inline="always")
def decode(c, n_in, narrow):
    """Cell ``c = i*n_in + j`` -> ``(i, j)``; ``narrow`` (all cells < 2^32): unsigned 32-bit divide (exact, faster)."""
    if narrow:
        i = np.int64(np.uint32(c) // np.uint32(n_in))
    else:
        i = c // n_in
    return i, c - i * n_in


@jit(inline="always")
def is_narrow(n_out, n_in):
    return np.int64(n_out) * np.int64(n_in) < NARROW


@jit(inline="always")
def flip(q, k, bits):
    """Two's-complement ``bits``-bit integer ``q`` with bit ``k`` flipped (branch-free sign extension)."""
    sh = np.int64(64 - bits)
    return ((q ^ (np.int64(1) << k)) << sh) >> sh


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


@jit
def _is_dead(dead_ptr, dead, r, core):
    for e in range(dead_ptr[r], dead_ptr[r + 1]):
        if dead[e] == core:
            return True
    return False


@jit(inline="always")
def _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, kind, d, va):
    """``Z[r, i] -= d * Y[r, j]`` per faulty cell of row ``r``, ``d`` by ``kind`` (module table); dead cores skipped.

    Inlined into each caller with a constant ``kind``. ``va`` =
    ``(num, bit, hkey, hmode, group, chips, inputs, qtab, cbt, rbj, T, bits)``.
    """
    num, bit, hkey, hmode, group, chips, inputs, qtab, cbt, rbj, T, bits = va
    mask = (np.int64(1) << bits) - 1
    n_in = W.shape[1]
    narrow = is_narrow(Z.shape[1], n_in)
    has_cores = dead.size > 0
    for r in range(ptr.size - 1):
        has_dead = has_cores and dead_ptr[r + 1] > dead_ptr[r]
        rk = row_key(hkey, hmode, group, chips[r], inputs[r]) if kind == BITFLIP and bit < 0 else np.uint64(0)
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i, j = decode(c, n_in, narrow)
            if has_dead and _is_dead(dead_ptr, dead, r, tile_core_grid[i // cols, j // rows]):
                continue
            if kind == ZERO:  # each kind updates Z itself: W's precision is kept for stuck-at-0
                Z[r, i] -= W[i, j] * Y[r, j]
            elif kind == GIVEN:
                Z[r, i] -= d[e] * Y[r, j]
            elif kind == NUMBER:
                Z[r, i] -= (W[i, j] - num) * Y[r, j]
            elif kind == SCALE:
                w = W[i, j]
                Z[r, i] -= (w - num * w) * Y[r, j]
            elif kind == MAX or kind == MIN:
                Z[r, i] -= T[((cbt[i] + rbj[j]) << bits) + (np.int64(qtab[c]) & mask)] * Y[r, j]
            else:  # BITFLIP
                q = np.int64(qtab[c])
                k = bit if bit >= 0 else cell_bit(rk, c, bits)
                Z[r, i] -= T[((cbt[i] + rbj[j]) * bits + k) * 2 + ((q >> k) & 1)] * Y[r, j]


@jit
def _no_value():
    """``va`` of the stuck-at-0 kernels (unused arrays empty)."""
    e = np.zeros(0, dtype=np.int64)
    return (0.0, np.int64(-1), np.uint64(0), np.int64(0), np.int64(1), e, e, np.zeros(0, dtype=np.int8), e, e,
            np.zeros(0), np.int64(1))


@jit
def stuck_synapses_live_cores(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, d=None):
    """``Z[r, i] -= w * Y[r, j]`` for every faulty cell ``i*n_in+j`` of row ``r``, skipping cells on dead cores.

    ``w`` is ``W[i, j]`` (stuck-at-0) or, when given, ``d[e]`` per fault.
    Cores: ``dead_ptr``/``dead`` CSR per row (``dead`` may be empty: no core is
    dead); ``tile_core_grid[cb, rb]`` is the core of tile ``(rb, cb)`` of this
    layer and cell ``(i, j)`` is in tile ``(j // rows, i // cols)``; a dead
    tile's contribution is removed elsewhere (:func:`dead_core_tiles`).
    """
    va = _no_value()
    if d is None:
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, ZERO, va[10], va)
    else:
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, GIVEN, d, va)


_NO_PTR = np.zeros(1, dtype=np.int64)
_NO_GRID = np.zeros((1, 1), dtype=np.int64)


@jit
def stuck_synapses(Z, Y, W, ptr, cells, d=None):
    """:func:`stuck_synapses_live_cores` with no dead core: ``Z[r, i] -= w * Y[r, j]`` per faulty cell."""
    stuck_synapses_live_cores(Z, Y, W, ptr, cells, _NO_PTR, _NO_PTR[:0], _NO_GRID, 1, 1, d)


@jit
def value_synapses(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, kind, va):
    """One spec's value faults (``kind`` NUMBER, SCALE, MAX, MIN or BITFLIP; ``va`` of
    :func:`neurosim.sim.values.value_args`).

    The loop of :func:`stuck_synapses_live_cores`, compiled once per kind.
    """
    d = va[10]
    if kind == NUMBER:
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, NUMBER, d, va)
    elif kind == SCALE:
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, SCALE, d, va)
    elif kind == MAX or kind == MIN:  # the same loop: the sign is in va's table
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, MAX, d, va)
    elif kind == BITFLIP:
        _corrections(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, BITFLIP, d, va)
    else:
        raise ValueError("value_synapses: kind must be NUMBER, SCALE, MAX, MIN or BITFLIP")


@jit
def stuck_synapses_shared(Z, Y, W, seg_ptr, fptr, cells, skip, d=None):
    """:func:`stuck_synapses` for rows that share their fault list (one chip's permanent faults).

    Segment ``s`` (rows ``seg_ptr[s]:seg_ptr[s+1]``, unless ``skip[s]``) has the
    faulty cells ``cells[fptr[s]:fptr[s+1]]``, each with ``w = W[i, j]``
    (stuck-at-0) or ``d[e]`` when given; see :func:`_shared_segments`.
    """
    if d is None:
        _shared_segments(Z, Y, W.shape[1], seg_ptr, fptr, cells, skip, _gather(W, cells))
    else:
        _shared_segments(Z, Y, W.shape[1], seg_ptr, fptr, cells, skip, d)


@jit
def _gather(W, cells):
    """``W[i, j]`` of every cell (in ``W``'s precision)."""
    n_in = W.shape[1]
    narrow = is_narrow(W.shape[0], n_in)
    w = np.empty(cells.size, dtype=W.dtype)
    for e in range(cells.size):
        i, j = decode(cells[e], n_in, narrow)
        w[e] = W[i, j]
    return w


@jit
def _shared_segments(Z, Y, n_in, seg_ptr, fptr, cells, skip, ww):
    """``Z[r, i] -= ww[e] * Y[r, j]`` for the faults of each segment and every row of it.

    Each fault is decoded once per segment and applied to every row of the
    segment; when the faults outnumber the cost of transposing the rows, the
    segment is transposed so the row loop is innermost and contiguous. Every
    ``Z[r, i]`` receives the same subtractions in the same order as with
    :func:`stuck_synapses`, so the results are bit-identical to it.
    """
    n_out = Z.shape[1]
    narrow = is_narrow(n_out, n_in)
    for s in range(seg_ptr.size - 1):
        if skip[s]:
            continue
        e0, e1 = fptr[s], fptr[s + 1]
        r0, r1 = seg_ptr[s], seg_ptr[s + 1]
        k, nr = e1 - e0, r1 - r0
        if k == 0 or nr == 0:
            continue
        ii = np.empty(k, dtype=np.int64)
        jj = np.empty(k, dtype=np.int64)
        for q in range(k):
            ii[q], jj[q] = decode(cells[e0 + q], n_in, narrow)
        if nr >= 8 and k >= n_in + 2 * n_out:
            YT = np.empty((n_in, nr), dtype=Y.dtype)
            ZT = np.empty((n_out, nr), dtype=Z.dtype)
            for t in range(nr):
                for j in range(n_in):
                    YT[j, t] = Y[r0 + t, j]
                for i in range(n_out):
                    ZT[i, t] = Z[r0 + t, i]
            for q in range(k):
                i, j, w = ii[q], jj[q], ww[e0 + q]
                for t in range(nr):
                    ZT[i, t] -= w * YT[j, t]
            for t in range(nr):
                for i in range(n_out):
                    Z[r0 + t, i] = ZT[i, t]
        else:
            for r in range(r0, r1):
                for q in range(k):
                    Z[r, ii[q]] -= ww[e0 + q] * Y[r, jj[q]]


@jit
def dead_core_tiles(Z, Y, W, dead_ptr, dead, core_tile_ptr, tile_layer, tr0, tr1, tc0, tc1, layer):
    """Remove the contribution of every tile of ``layer`` on a dead core."""
    for r in range(dead_ptr.size - 1):
        for e in range(dead_ptr[r], dead_ptr[r + 1]):
            k = dead[e]
            for t in range(core_tile_ptr[k], core_tile_ptr[k + 1]):
                if tile_layer[t] != layer:
                    continue
                for i in range(tc0[t], tc1[t]):
                    acc = 0.0
                    for j in range(tr0[t], tr1[t]):
                        acc += W[i, j] * Y[r, j]
                    Z[r, i] -= acc


@jit
def stuck_neurons(Y, ptr, cells):
    """Set ``Y[r, i] = 0`` for every faulty neuron ``i`` of row ``r``."""
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            Y[r, cells[e]] = 0.0


@jit
def dead_core_neurons(Y, dead_ptr, dead, core_neuron_ptr, neuron_layer, neuron_index, layer):
    """Set to 0 every neuron of ``layer`` placed on a dead core."""
    for r in range(dead_ptr.size - 1):
        for e in range(dead_ptr[r], dead_ptr[r + 1]):
            k = dead[e]
            for q in range(core_neuron_ptr[k], core_neuron_ptr[k + 1]):
                if neuron_layer[q] == layer:
                    Y[r, neuron_index[q]] = 0.0


@jit
def remove_inputs(Z, WT, ptr, cells, old, rows):
    """``Z[r] -= old * WT[i]`` for each stuck input ``i`` of the selected rows.

    Turns the clean pre-activations of a row into those of the same row with
    some inputs stuck at 0, without the dense product (``WT`` is ``W.T``).
    """
    for q in range(rows.size):
        r = rows[q]
        for e in range(ptr[r], ptr[r + 1]):
            v = old[e]
            if v != 0.0:
                i = cells[e]
                for o in range(WT.shape[1]):
                    Z[r, o] -= v * WT[i, o]
