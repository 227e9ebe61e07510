"""Sparse fault corrections for conv2d layers (numba).

Layout: a conv layer's pre-activations ``Z`` are flat rows ``(c_out * P)``
(channel major, ``P`` output positions); its input ``Y`` is flat ``(n_in)``.
``Wm`` is the unrolled kernel ``(c_out, K)`` with ``K = c_in*kh*kw`` taps,
``idx`` the im2col gather table ``(P, K)`` (flat input index of tap ``k`` at
position ``p``, ``-1`` in the zero padding). Each function changes ``Z`` in
place, mirroring :mod:`neurosim.kernels.apply` for dense layers.

Synapse sites: with a shared kernel, cell ``c = co*K + k`` is kernel weight
``Wm[co, k]`` and serves every position; replicated kernels have one cell per
position, ``c = (p*c_out + co)*K + k``.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .apply import _is_dead


@jit(inline="always")
def _remove_cell(Z, Y, Wm, idx, r, c, replicated):
    """Remove cell ``c``'s contribution ``Wm[co, k] * Y[r, idx[p, k]]`` from ``Z[r, co*P + p]`` (all ``p`` it serves)."""
    P, K = idx.shape
    if replicated:
        pc = c // K
        k = c - pc * K
        p = pc // Wm.shape[0]
        co = pc - p * Wm.shape[0]
        j = idx[p, k]
        if j >= 0:
            Z[r, co * P + p] -= Wm[co, k] * Y[r, j]
    else:
        co = c // K
        k = c - co * K
        w = Wm[co, k]
        for p in range(P):
            j = idx[p, k]
            if j >= 0:
                Z[r, co * P + p] -= w * Y[r, j]


@jit
def conv_stuck_synapses_live_cores(Z, Y, Wm, idx, ptr, cells, dead_ptr, dead, cell_core, replicated):
    """Remove every faulty cell's contribution, skipping cells whose core is already dead for the row.

    Shared kernel (``replicated`` False): cell ``co*K + k`` removes
    ``Wm[co, k] * Y[r, idx[p, k]]`` from ``Z[r, co*P + p]`` for every position
    ``p``; replicated kernels: cell ``(p*c_out + co)*K + k`` for its one
    position. ``dead_ptr``/``dead``: per-row CSR of dead cores (``dead`` may be
    empty); ``cell_core`` is the mapping's
    :meth:`~neurosim.ChipMapping.synapse_core` of the layer, flattened (one core
    per cell, in cell order).
    """
    has_cores = dead.size > 0
    for r in range(ptr.size - 1):
        has_dead = has_cores and dead_ptr[r + 1] > dead_ptr[r]
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            if has_dead and _is_dead(dead_ptr, dead, r, cell_core[c]):
                continue
            _remove_cell(Z, Y, Wm, idx, r, c, replicated)


_NO_CORES = np.zeros(1, dtype=np.int64)


@jit
def conv_stuck_synapses(Z, Y, Wm, idx, ptr, cells):
    """Shared kernel, no dead core: :func:`conv_stuck_synapses_live_cores` with ``replicated`` False."""
    conv_stuck_synapses_live_cores(Z, Y, Wm, idx, ptr, cells, _NO_CORES, _NO_CORES[:0], _NO_CORES, False)


@jit
def conv_stuck_synapses_replicated(Z, Y, Wm, idx, ptr, cells):
    """Replicated kernels, no dead core: :func:`conv_stuck_synapses_live_cores` with ``replicated`` True."""
    conv_stuck_synapses_live_cores(Z, Y, Wm, idx, ptr, cells, _NO_CORES, _NO_CORES[:0], _NO_CORES, True)


@jit
def conv_dead_core_tiles(Z, Y, Wm, idx, dead_ptr, dead, core_tile_ptr, tile_layer, tr0, tr1, tc0, tc1,
                         tile_pos, layer):
    """Remove the contribution of every tile of ``layer`` on a dead core.

    A tile holds kernel taps ``[tr0, tr1)`` of channels ``[tc0, tc1)``; it
    serves every position (``tile_pos = -1``, shared kernel) or one.
    """
    P = idx.shape[0]
    for r in range(dead_ptr.size - 1):
        for e in range(dead_ptr[r], dead_ptr[r + 1]):
            kc = dead[e]
            for t in range(core_tile_ptr[kc], core_tile_ptr[kc + 1]):
                if tile_layer[t] != layer:
                    continue
                p0, p1 = (0, P) if tile_pos[t] < 0 else (tile_pos[t], tile_pos[t] + 1)
                for p in range(p0, p1):
                    for co in range(tc0[t], tc1[t]):
                        acc = 0.0
                        for k in range(tr0[t], tr1[t]):
                            j = idx[p, k]
                            if j >= 0:
                                acc += Wm[co, k] * Y[r, j]
                        Z[r, co * P + p] -= acc


@jit
def conv_remove_inputs(Z, Wm, P, inv_ptr, inv_p, inv_k, ptr, cells, old, rows):
    """Conv analogue of :func:`neurosim.kernels.apply.remove_inputs`.

    For each stuck input ``i`` (value ``old``) of the selected rows, subtract
    ``old * Wm[co, k]`` from ``Z[r, co*P + p]`` for every use ``(p, k)`` of
    input ``i`` (``inv_p/inv_k[inv_ptr[i]:inv_ptr[i+1]]``) and every channel.
    """
    c_out = Wm.shape[0]
    for q in range(rows.size):
        r = rows[q]
        for e in range(ptr[r], ptr[r + 1]):
            v = old[e]
            if v != 0.0:
                i = cells[e]
                for u in range(inv_ptr[i], inv_ptr[i + 1]):
                    p = inv_p[u]
                    k = inv_k[u]
                    for co in range(c_out):
                        Z[r, co * P + p] -= v * Wm[co, k]
