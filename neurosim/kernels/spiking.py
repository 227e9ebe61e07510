"""Spiking-mode kernels: one tick of synaptic accumulation and neuron update for a block of rows.

Pure functions on arrays (DESIGN.md "Semantics", spiking paragraph). A row is
one (chip, input) pair; ``S`` holds a layer's output of one tick, ``S[r, j]`` in
{0, 1} for spikes (or the input current for a constant-current input layer).

Forward Euler as NIR defines the models, with ``a = dt / tau``::

    I      = op(s_prev) + b
    CubaLIF: I_syn = I_syn + a_syn * (-I_syn + w_in * I);  drive = I_syn   (else drive = I)
    LIF, CubaLIF, LI:  v = v + a * (v_leak - v + r * drive)
    IF, I:             v = v + dt * r * drive
    spike z = v > v_threshold;  reset v = v_reset (or v = v - v_threshold)

Synaptic accumulation is event-driven per row (cost proportional to spikes x
fan-out) and sums the active inputs ``j`` of a row in ascending order for
every output. (An input-major loop over the block, reusing each weight row
across rows, was slower at every density from 5 % to 100 % on the benchmark
machine and was removed: docs/benchmarks.md "Spiking mode".) Randomness (rate coding, dropped spikes) comes from the
counter-based streams of :mod:`neurosim.kernels.rng`.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .rng import skip, stream, uniform

IF, LIF, CUBA, LI, INTEG = 0, 1, 2, 3, 4
"""Neuron kind codes (LI and INTEG do not spike: readout layers)."""


@jit
def synaptic_current(S, WT, b, out, rows):
    """``out[r] = b + sum_{j: S[r, j] != 0} S[r, j] * WT[j]`` (j ascending) for the listed rows.

    Event-driven: per row, the active inputs are listed once, then their
    weight rows are added four at a time (one pass over ``out[r]`` per four
    weight rows, each sum still evaluated left to right in ascending ``j``),
    so the cost is proportional to spikes x fan-out plus a scan of the row.
    A row's result depends on that row alone (any blocking, chunking or thread
    count gives the same bits). Returns the active count.
    """
    n_in = S.shape[1]
    n_out = WT.shape[1]
    act = np.empty(n_in, dtype=np.int64)
    nnz = 0
    for q in range(rows.size):
        r = rows[q]
        m = 0
        for j in range(n_in):  # branch-free compaction of the active inputs
            act[m] = j
            m += S[r, j] != 0.0
        nnz += m
        for o in range(n_out):
            out[r, o] = b[o]
        t = 0
        while t + 4 <= m:
            j0, j1, j2, j3 = act[t], act[t + 1], act[t + 2], act[t + 3]
            s0, s1, s2, s3 = S[r, j0], S[r, j1], S[r, j2], S[r, j3]
            for o in range(n_out):
                out[r, o] = (((out[r, o] + s0 * WT[j0, o]) + s1 * WT[j1, o]) + s2 * WT[j2, o]) + s3 * WT[j3, o]
            t += 4
        while t < m:
            j0 = act[t]
            s0 = S[r, j0]
            for o in range(n_out):
                out[r, o] += s0 * WT[j0, o]
            t += 1
    return nnz


@jit
def _row_fire(Vr, Dr, Sr, Rr, Br, am, r, v_leak, th, v_reset, dt, leaky, subtract, refractory):
    """One row of a firing model: Euler update, threshold, reset, refractory (one fused loop of selects)."""
    c = 0
    n = Vr.size
    if leaky:
        for i in range(n):
            held = Rr[i] > 0
            v = Vr[i]
            x = v + am[i] * (v_leak[i] - v + r[i] * Dr[i])
            x = v if held else x
            f = (x > th[i]) & (Br[i] == 0.0) & (not held)
            vr = (x - th[i]) if subtract else v_reset[i]
            Vr[i] = vr if f else x
            Sr[i] = np.float64(f)
            Rr[i] = refractory if f else max(Rr[i] - 1, 0)
            c += f
    else:
        for i in range(n):
            held = Rr[i] > 0
            v = Vr[i]
            x = v + dt * r[i] * Dr[i]
            x = v if held else x
            f = (x > th[i]) & (Br[i] == 0.0) & (not held)
            vr = (x - th[i]) if subtract else v_reset[i]
            Vr[i] = vr if f else x
            Sr[i] = np.float64(f)
            Rr[i] = refractory if f else max(Rr[i] - 1, 0)
            c += f
    return c


@jit
def _row_integrate(Vr, Dr, Sr, am, r, v_leak, dt, leaky):
    """One row of a non-spiking readout (LI, I)."""
    n = Vr.size
    if leaky:
        for i in range(n):
            v = Vr[i]
            Vr[i] = v + am[i] * (v_leak[i] - v + r[i] * Dr[i])
            Sr[i] = 0.0
    else:
        for i in range(n):
            Vr[i] = Vr[i] + dt * r[i] * Dr[i]
            Sr[i] = 0.0


@jit
def neuron_step(kind, V, ISYN, REF, I, S, a_mem, r, v_leak, v_th, v_reset, a_syn, w_in, subtract,
                refractory, dt, tptr, tcells, tscale, lptr, lcells, lscale, blocked, rows):
    """Advance the neurons of the listed rows by one tick; write spikes to ``S``; return the spike count.

    ``tptr/tcells/tscale`` and ``lptr/lcells/lscale`` (CSR per row) scale the
    threshold and the leak rate ``a`` of single neurons (permanent drift).
    A neuron in its refractory period (``REF > 0`` ticks left) holds ``v``.
    ``blocked[r, i] != 0`` (a dead neuron): it integrates but cannot fire, so
    it does not reset either. The per-row loops are fused and free of branches
    on the neuron (selects), so they vectorise.
    """
    n = V.shape[1]
    th_buf = np.empty(n)
    am_buf = np.empty(n)
    count = 0
    fires = kind == IF or kind == LIF or kind == CUBA
    leaky = kind == LIF or kind == CUBA or kind == LI
    for q in range(rows.size):
        row = rows[q]
        th = v_th
        am = a_mem
        if tptr[row + 1] > tptr[row]:
            th_buf[:] = v_th
            for e in range(tptr[row], tptr[row + 1]):
                th_buf[tcells[e]] *= tscale[e]
            th = th_buf
        if lptr[row + 1] > lptr[row]:
            am_buf[:] = a_mem
            for e in range(lptr[row], lptr[row + 1]):
                am_buf[lcells[e]] *= lscale[e]
            am = am_buf
        Dr = I[row]
        if kind == CUBA:
            Cr = ISYN[row]
            for i in range(n):
                Cr[i] = Cr[i] + a_syn[i] * (-Cr[i] + w_in[i] * Dr[i])
            Dr = Cr
        if fires:
            count += _row_fire(V[row], Dr, S[row], REF[row], blocked[row], am, r, v_leak, th, v_reset, dt, leaky,
                               subtract, refractory)
        else:
            _row_integrate(V[row], Dr, S[row], am, r, v_leak, dt, leaky)
    return count


@jit
def set_neurons(S, ptr, cells, value):
    """``S[r, i] = value`` for every listed neuron ``i`` of row ``r`` (dead: 0, saturated: 1)."""
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            S[r, cells[e]] = value


@jit
def count_set(S, ptr, cells, value):
    """Per row, how many listed neurons differ from ``value`` (for saturated-spike accounting)."""
    out = np.zeros(ptr.size - 1, dtype=np.int64)
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            if S[r, cells[e]] != value:
                out[r] += 1
    return out


@jit
def stuck_synapses_value(Z, S, W, ptr, cells, value):
    """Cell ``i*n_in+j`` contributes ``value * S[r, j]`` instead of ``W[i, j] * S[r, j]``."""
    n_in = W.shape[1]
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            s = S[r, j]
            if s != 0.0:
                Z[r, i] += (value - W[i, j]) * s


@jit
def tick_slice(ptr, cells, n_ticks, k):
    """Rows ``r * n_ticks + k`` of a (row, tick) CSR event list, as a per-row CSR."""
    nv = (ptr.size - 1) // n_ticks
    out_ptr = np.zeros(nv + 1, dtype=np.int64)
    m = 0
    for r in range(nv):
        q = r * n_ticks + k
        m += ptr[q + 1] - ptr[q]
        out_ptr[r + 1] = m
    out = np.empty(m, dtype=np.int64)
    m = 0
    for r in range(nv):
        q = r * n_ticks + k
        for e in range(ptr[q], ptr[q + 1]):
            out[m] = cells[e]
            m += 1
    return out_ptr, out


@jit
def drop_spikes(S, chips, inputs, key, salt, n_ticks, k, scale):
    """Drop each spike of ``S`` independently with probability ``p`` (``scale = inv_rate(p)``).

    Stream ``(key, salt, chip, input * n_ticks + k)``; geometric skipping over
    the row's spikes in neuron order, so the cost is the row scan plus the drops.
    Returns the dropped count per row.
    """
    nv, n = S.shape
    out = np.zeros(nv, dtype=np.int64)
    if scale == np.inf:
        return out
    for r in range(nv):
        st = stream(key, salt, chips[r], inputs[r] * n_ticks + k)
        st, g = skip(st, scale)
        nxt = g  # ordinal of the next dropped spike
        m = 0
        for i in range(n):
            if S[r, i] != 0.0:
                if m == nxt:
                    S[r, i] = 0.0
                    out[r] += 1
                    st, g = skip(st, scale)
                    nxt = m + 1 + g
                m += 1
    return out


@jit
def encode_rate(X, inputs, key, n_ticks, k, S):
    """Bernoulli rate coding: ``S[r, j] = 1`` with probability ``X[r, j]`` (in [0, 1]).

    Stream ``(key, 0, input, k)``: the same input spikes on every chip (a
    clean and a faulty run see the same spike trains).
    """
    nv, n = X.shape
    for r in range(nv):
        st = stream(key, np.uint64(0), inputs[r], k)
        for j in range(n):
            st, u = uniform(st)
            S[r, j] = 1.0 if u <= X[r, j] else 0.0


@jit
def stuck_shared(Z, S, M, ptr, sites, site_ptr, ci, cj):
    """Shared-kernel synapses (conv) stuck at 0: remove ``M[i, j] * S[r, j]`` for every cell a faulty site serves.

    ``site_ptr/ci/cj`` (CSR by site) list the dense-equivalent cells ``(i, j)`` of each stored weight.
    """
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            w = sites[e]
            for q in range(site_ptr[w], site_ptr[w + 1]):
                s = S[r, cj[q]]
                if s != 0.0:
                    Z[r, ci[q]] -= M[ci[q], cj[q]] * s
