"""Apply stuck-at-0 faults to a block of rows as sparse corrections.

``Z`` holds pre-activations ``Y_prev @ W.T + b`` of a block, ``Y`` the faulty
outputs of the previous layer (``Z`` rows were computed from them), ``W`` is
``(n_out, n_in)``. Each function changes ``Z`` or ``Y`` in place.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit


@jit
def stuck_synapses(Z, Y, W, ptr, cells):
    """Remove ``W[i, j] * Y[r, j]`` from ``Z[r, i]`` for every faulty cell ``i*n_in+j`` of row ``r``."""
    n_in = W.shape[1]
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            Z[r, i] -= W[i, j] * Y[r, j]


@jit
def _is_dead(dead_ptr, dead, r, core):
    for e in range(dead_ptr[r], dead_ptr[r + 1]):
        if dead[e] == core:
            return True
    return False


@jit
def stuck_synapses_live_cores(Z, Y, W, ptr, cells, dead_ptr, dead, tile_core_grid, rows, cols):
    """As :func:`stuck_synapses`, skipping cells on cores already dead for the row.

    ``tile_core_grid[cb, rb]`` is the core of tile ``(rb, cb)`` of this layer; a
    cell ``(i, j)`` is in tile ``(j // rows, i // cols)``.
    """
    n_in = W.shape[1]
    for r in range(ptr.size - 1):
        has_dead = dead_ptr[r + 1] > dead_ptr[r]
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            if has_dead and _is_dead(dead_ptr, dead, r, tile_core_grid[i // cols, j // rows]):
                continue
            Z[r, i] -= W[i, j] * Y[r, j]


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
def stuck_neurons_recorded(Y, ptr, cells):
    """As :func:`stuck_neurons`; returns the values the stuck neurons had (0 if already stuck)."""
    old = np.empty(cells.size)
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            old[e] = Y[r, cells[e]]
            Y[r, cells[e]] = 0.0
    return old


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
