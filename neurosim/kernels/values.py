"""Fault values as sparse corrections (numba).

A faulty synapse ``W[i, j]`` of row ``r`` that holds ``v`` instead of ``w``
changes the pre-activation by ``(v - w) * Y[r, j]``; a faulty neuron is set to
its value. Events of several specs are merged first, each cell tagged with the
spec that decides its value (the later spec on a tie), so every cell is
corrected once.

Value codes (``neurosim.faults.values.CODES``): 0 zero, 1 number, 2 max,
3 min, 5 bitflip, 6 scale. Per tag ``t``: ``kind[t]``, ``num[t]`` (the number
or the factor), ``bitsel[t]`` (-1 = uniform bit), ``hkey[t]`` and ``hmode[t]``
(what the uniform bit is keyed by: 0 = (chip // group), 1 = (chip, input),
2 = chip) and ``group[t]``. Per layer: ``fs[cb, rb]`` the tile's full-scale
weight ``n * s``, ``step[cb, rb]`` its quantisation step, ``rows``/``cols`` the
tile shape, ``bits`` the weight width (two's complement).
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .rng import mix64, stream, uniform

ZERO, NUMBER, MAX, MIN, SATURATED, BITFLIP, SCALE = 0, 1, 2, 3, 4, 5, 6
TABLED = (MAX, MIN, BITFLIP)  # values read from the packed cell table


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
def cell_value(w, kind, num, bitsel, hkey, hmode, group, chip, inp, cell, fs, step, bits):
    if kind == ZERO:
        return 0.0
    if kind == NUMBER:
        return num
    if kind == MAX:
        return fs
    if kind == MIN:
        return -fs
    if kind == SCALE:
        return num * w
    # BITFLIP
    q = np.int64(np.rint(w / step))
    k = bitsel if bitsel >= 0 else uniform_bit(hkey, hmode, group, chip, inp, cell, bits)
    return flip(q, k, bits) * step


@jit
def _dead(dead_ptr, dead, r, core):
    for e in range(dead_ptr[r], dead_ptr[r + 1]):
        if dead[e] == core:
            return True
    return False


@jit
def valued_synapses(Z, Y, W, ptr, cells, tags, kind, num, bitsel, hkey, hmode, group, chips, inputs,
                    fs, step, rows, cols, bits, dead_ptr, dead, tile_core_grid):
    """``Z[r, i] += (v - W[i, j]) * Y[r, j]`` for every tagged faulty cell ``i*n_in+j`` of row ``r``.

    Cells on a core that is dead for the row (``dead_ptr``/``dead`` CSR, may be
    empty) are skipped: the dead tile's contribution is already removed.
    """
    n_in = W.shape[1]
    has_cores = dead.size > 0
    for r in range(ptr.size - 1):
        has_dead = has_cores and dead_ptr[r + 1] > dead_ptr[r]
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            cb = i // cols
            rb = j // rows
            if has_dead and _dead(dead_ptr, dead, r, tile_core_grid[cb, rb]):
                continue
            t = tags[e]
            w = W[i, j]
            v = cell_value(w, kind[t], num[t], bitsel[t], hkey[t], hmode[t], group[t], chips[r], inputs[r], c,
                           fs[cb, rb], step[cb, rb], bits)
            Z[r, i] += (v - w) * Y[r, j]


@jit
def one_value_synapses(Z, Y, W, ptr, cells, kind, num, bitsel, hkey, hmode, group, chips, inputs,
                       fs, step, rows, cols, bits):
    """As :func:`valued_synapses` for events of a single spec (value ``kind``), no dead cores.

    One loop per value kind, so the per-fault work is as small as stuck-at-0's.
    """
    n_in = W.shape[1]
    n = ptr.size - 1
    if kind == ZERO:
        for r in range(n):
            for e in range(ptr[r], ptr[r + 1]):
                c = cells[e]
                i = c // n_in
                j = c - i * n_in
                Z[r, i] -= W[i, j] * Y[r, j]
    elif kind == NUMBER:
        for r in range(n):
            for e in range(ptr[r], ptr[r + 1]):
                c = cells[e]
                i = c // n_in
                j = c - i * n_in
                Z[r, i] += (num - W[i, j]) * Y[r, j]
    elif kind == SCALE:
        for r in range(n):
            for e in range(ptr[r], ptr[r + 1]):
                c = cells[e]
                i = c // n_in
                j = c - i * n_in
                w = W[i, j]
                Z[r, i] -= (w - num * w) * Y[r, j]
    else:
        raise ValueError("one_value_synapses: max/min/bitflip go through table_synapses")


Q_OFFSET = np.int64(1) << 31
LOW32 = (np.int64(1) << 32) - 1


@jit
def table_synapses(Z, Y, ptr, cells, n_in, kind, bitsel, hkey, hmode, group, chips, inputs, packed, tscale,
                   nlev, bits):
    """``max``/``min``/``bitflip`` faults of one spec from the packed cell table (no dead cores).

    ``packed[c] = (tile << 32) | (q + 2^31)`` holds the stored integer ``q`` and
    the tile of cell ``c``, so the correction ``(v - w) y = (q' - q) s_tile y``
    (``q' = +-n`` or ``q`` with one bit flipped) reads one table entry per fault,
    as stuck-at-0 reads one weight.
    """
    n = ptr.size - 1
    for r in range(n):
        rk = row_key(hkey, hmode, group, chips[r], inputs[r])
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            pk = packed[c]
            q = (pk & LOW32) - Q_OFFSET
            sc = tscale[pk >> 32]
            if kind == MAX:
                qn = nlev
            elif kind == MIN:
                qn = -nlev
            else:
                k = bitsel if bitsel >= 0 else cell_bit(rk, c, bits)
                qn = flip(q, k, bits)
            Z[r, i] += (qn - q) * sc * Y[r, j]


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


@jit
def segment_deltas(W, seg_ptr, fptr, cells, tags, tag0, chips, kind, num, bitsel, hkey, hmode, group,
                   fs, step, rows, cols, bits):
    """``w - v`` for every fault of per-chip segments (permanent faults shared by a chip's rows).

    Segment ``s`` covers rows ``seg_ptr[s]:seg_ptr[s+1]`` (one chip, ``chips[seg_ptr[s]]``)
    and faults ``cells[fptr[s]:fptr[s+1]]`` tagged ``tags`` (or all ``tag0``
    when ``tags`` is empty). A stuck-at-0 kernel that subtracts ``d * Y[r, j]``
    with these ``d`` in place of ``W[i, j]`` applies the values.
    """
    n_in = W.shape[1]
    d = np.empty(cells.size, dtype=W.dtype)
    has_tags = tags.size > 0
    for s in range(seg_ptr.size - 1):
        if seg_ptr[s + 1] == seg_ptr[s]:
            for e in range(fptr[s], fptr[s + 1]):
                d[e] = 0.0
            continue
        ch = chips[seg_ptr[s]]
        for e in range(fptr[s], fptr[s + 1]):
            c = cells[e]
            i = c // n_in
            j = c - i * n_in
            t = tags[e] if has_tags else tag0
            w = W[i, j]
            cb = i // cols
            rb = j // rows
            v = cell_value(w, kind[t], num[t], bitsel[t], hkey[t], hmode[t], group[t], ch, 0, c,
                           fs[cb, rb], step[cb, rb], bits)
            d[e] = w - v
    return d


@jit
def valued_synapses_shared(Z, Y, W, seg_ptr, fptr, cells, skip, d):
    """Shared (per-chip segment) corrections ``Z[r, i] -= d[e] * Y[r, j]`` with ``d = w - v``.

    The stuck-at-0 shared kernel of :mod:`neurosim.kernels.apply` with the
    per-fault ``d`` of :func:`segment_deltas` in place of ``W[i, j]``: each
    fault is decoded once per segment; many faults on a segment of >= 8 rows
    transpose it so the row loop is innermost and contiguous.
    """
    n_out, n_in = W.shape
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
            c = cells[e0 + q]
            i = c // n_in
            ii[q] = i
            jj[q] = c - i * n_in
        if nr >= 8 and k >= n_in + 2 * n_out:
            YT = np.empty((n_in, nr), dtype=Y.dtype)
            ZT = np.empty((n_out, nr), dtype=Z.dtype)
            for t in range(nr):
                for j in range(n_in):
                    YT[j, t] = Y[r0 + t, j]
                for i in range(n_out):
                    ZT[i, t] = Z[r0 + t, i]
            for q in range(k):
                i, j, w = ii[q], jj[q], d[e0 + q]
                for t in range(nr):
                    ZT[i, t] -= w * YT[j, t]
            for t in range(nr):
                for i in range(n_out):
                    Z[r0 + t, i] = ZT[i, t]
        else:
            for r in range(r0, r1):
                for q in range(k):
                    Z[r, ii[q]] -= d[e0 + q] * Y[r, jj[q]]


@jit
def event_deltas(W, ptr, cells, tags, kind, num, hkey, chips, inputs):
    """``w - v`` per tagged event on a float network (per-row CSR ``ptr``/``cells``; spiking mode).

    ``v`` is :func:`cell_value` of tag ``tags[e]`` with a unit tile (zero,
    numbers, ``scale``, stated ranges); :func:`delta_synapses` applies the
    values with these ``d`` (zero gives ``d = w``: the stuck-at-0 correction).
    Formula: docs/theory.md #32 (#24's correction per tick).
    """
    n_in = W.shape[1]
    d = np.empty(cells.size, dtype=W.dtype)
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            w = W[i, c - i * n_in]
            t = tags[e]
            d[e] = w - cell_value(w, kind[t], num[t], -1, hkey[t], 1, 1, chips[r], inputs[r], c, 1.0, 1.0, 1)
    return d


@jit
def delta_synapses(Z, Y, n_in, ptr, cells, d):
    """``Z[r, i] -= d[e] * Y[r, j]`` per faulty cell ``i*n_in+j`` (the stuck-at-0 kernel with ``d`` for ``W[i, j]``).

    With ``d = w - v`` this adds ``(v - w) y_j`` (docs/theory.md #32).
    """
    for r in range(ptr.size - 1):
        for e in range(ptr[r], ptr[r + 1]):
            c = cells[e]
            i = c // n_in
            Z[r, i] -= d[e] * Y[r, c - i * n_in]
