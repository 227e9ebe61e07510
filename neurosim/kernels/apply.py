"""Apply synapse and neuron faults to a block of rows as sparse corrections.

``Z`` holds pre-activations ``Y_prev @ W.T + b`` of a block, ``Y`` the faulty
outputs of the previous layer (``Z`` rows were computed from them), ``W`` is
``(n_out, n_in)``. Each function changes ``Z`` or ``Y`` in place.

One correction serves every fault value: a faulty cell ``(i, j)`` that holds
``v`` instead of ``w = W[i, j]`` changes ``Z[r, i]`` by ``(v - w) Y[r, j]``,
applied as ``Z[r, i] -= d * Y[r, j]`` with ``d = w - v`` (docs/theory.md #32).
Stuck-at-0 is ``d = W[i, j]``: the synapse kernels read ``d`` from ``W`` (pass a
table of ``d`` per cell in its place, :func:`neurosim.kernels.values.delta_table`)
or from a per-fault array ``d`` (:func:`neurosim.kernels.values.tagged_deltas`).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit

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


@jit
def _is_dead(dead_ptr, dead, r, core):
    for e in range(dead_ptr[r], dead_ptr[r + 1]):
        if dead[e] == core:
            return True
    return False


@jit
def stuck_synapses_live_cores(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols, d=None):
    """``Z[r, i] -= w * Y[r, j]`` for every faulty cell ``i*n_in+j`` of row ``r``, skipping cells on dead cores.

    ``w`` is ``W[i, j]`` (stuck-at-0, or a table of ``d`` in place of ``W``) or,
    when given, ``d[e]`` per fault. Cores: ``dead_ptr``/``dead`` CSR per row
    (``dead`` may be empty: no core is dead); ``tile_core_grid[cb, rb]`` is the
    core of tile ``(rb, cb)`` of this layer and cell ``(i, j)`` is in tile
    ``(j // rows, i // cols)``; a dead tile's contribution is removed elsewhere
    (:func:`dead_core_tiles`).
    """
    n_in = W.shape[1]
    narrow = is_narrow(Z.shape[1], n_in)
    has_cores = dead.size > 0
    for r in range(ptr.size - 1):
        has_dead = has_cores and dead_ptr[r + 1] > dead_ptr[r]
        for e in range(ptr[r], ptr[r + 1]):
            i, j = decode(cells[e], n_in, narrow)
            if has_dead and _is_dead(dead_ptr, dead, r, tile_core_grid[i // cols, j // rows]):
                continue
            if d is None:
                w = W[i, j]
            else:
                w = d[e]
            Z[r, i] -= w * Y[r, j]


_NO_PTR = np.zeros(1, dtype=np.int64)
_NO_GRID = np.zeros((1, 1), dtype=np.int64)


@jit
def stuck_synapses(Z, Y, W, ptr, cells, d=None):
    """:func:`stuck_synapses_live_cores` with no dead core: ``Z[r, i] -= w * Y[r, j]`` per faulty cell."""
    stuck_synapses_live_cores(Z, Y, W, ptr, cells, _NO_PTR, _NO_PTR[:0], _NO_GRID, 1, 1, d)


@jit
def stuck_synapses_shared(Z, Y, W, seg_ptr, fptr, cells, skip, d=None):
    """:func:`stuck_synapses` for rows that share their fault list (one chip's permanent faults).

    Segment ``s`` (rows ``seg_ptr[s]:seg_ptr[s+1]``, unless ``skip[s]``) has the
    faulty cells ``cells[fptr[s]:fptr[s+1]]``. Each fault is decoded once (its
    ``i``, ``j`` and ``w``: ``W[i, j]``, or ``d[e]`` when given) and applied to
    every row of the segment; when the faults outnumber the cost of transposing
    the rows, the segment is transposed so the row loop is innermost and
    contiguous. Every ``Z[r, i]`` receives the same subtractions in the same
    order as with :func:`stuck_synapses`, so the results are bit-identical to it.
    """
    n_out, n_in = Z.shape[1], W.shape[1]
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
        ww = np.empty(k, dtype=W.dtype if d is None else d.dtype)
        for q in range(k):
            i, j = decode(cells[e0 + q], n_in, narrow)
            ii[q] = i
            jj[q] = j
            if d is None:
                ww[q] = W[i, j]
            else:
                ww[q] = d[e0 + q]
        if nr >= 8 and k >= n_in + 2 * n_out:
            YT = np.empty((n_in, nr), dtype=Y.dtype)
            ZT = np.empty((n_out, nr), dtype=Z.dtype)
            for t in range(nr):
                for j in range(n_in):
                    YT[j, t] = Y[r0 + t, j]
                for i in range(n_out):
                    ZT[i, t] = Z[r0 + t, i]
            for q in range(k):
                i, j, w = ii[q], jj[q], ww[q]
                for t in range(nr):
                    ZT[i, t] -= w * YT[j, t]
            for t in range(nr):
                for i in range(n_out):
                    Z[r0 + t, i] = ZT[i, t]
        else:
            for r in range(r0, r1):
                for q in range(k):
                    Z[r, ii[q]] -= ww[q] * Y[r, jj[q]]


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
