"""Fault-event generation by geometric skipping (cost proportional to faults).

Every generator returns a CSR pair ``(ptr, cells)``: the faulty sites of row
``r`` (one (chip, input) pair of a block) are ``cells[ptr[r]:ptr[r+1]]``, sorted
ascending and unique. A site index is ``i * n_in + j`` for synapse ``W[i, j]``,
the neuron index for neurons, the core index for cores.

Streams (see :mod:`neurosim.kernels.rng`):

* transient: ``(key, salt, chip, input)``: independent per (chip, input);
* permanent and the weak-site draw of intermittent faults: ``(key, salt, chip, PER_CHIP)``;
* intermittent Markov chain of weak site ``s``: ``(chain_key, salt, chip, s)``.
"""
from __future__ import annotations

import numpy as np

from ._jit import jit
from .rng import mix64, skip, stream, uniform

PER_CHIP = np.uint64(1 << 62)


@jit
def _capacity(n_draws, n_sites, scale):
    """Initial buffer size: the expected number of faulty sites plus 6 standard deviations."""
    if scale == np.inf:
        return 64
    p = 1.0 - np.exp(-1.0 / scale) if scale > 0 else 1.0
    mean = n_draws * min(float(n_sites), 1e15) * p
    return np.int64(min(mean + 6.0 * np.sqrt(mean) + 64.0, 1e9))


@jit
def _grow(buf):
    new = np.empty(max(64, buf.size * 2), dtype=np.int64)
    new[: buf.size] = buf
    return new


@jit
def _draw(st, n_sites, scale, buf, m):
    """Append the faulty sites of one stream to ``buf[m:]``; return ``(buf, m)``.

    The hot loop only draws and stores; the buffer grows (rarely: it is sized
    from the expected fault count) outside it, so the loop keeps ``buf`` in
    registers. Output is the same as a grow-on-demand loop.
    """
    if scale == np.inf:  # rate 0
        return buf, m
    pos = -1.0
    n = buf.size
    while True:
        while m < n:
            st, g = skip(st, scale)
            pos = pos + g + 1.0
            if pos >= n_sites:
                return buf, m
            buf[m] = np.int64(pos)
            m += 1
        buf = _grow(buf)
        n = buf.size


@jit
def transient_events(chips, inputs, key, salt, n_sites, scale):
    """Sites faulty for each (chip, input) row, drawn independently per row."""
    n = chips.size
    ptr = np.zeros(n + 1, dtype=np.int64)
    buf = np.empty(_capacity(n, n_sites, scale), dtype=np.int64)
    m = 0
    for r in range(n):
        st = stream(key, salt, chips[r], inputs[r])
        buf, m = _draw(st, n_sites, scale, buf, m)
        ptr[r + 1] = m
    return ptr, buf[:m]


@jit
def permanent_events(chips, key, salt, n_sites, scale):
    """Sites faulty on each row's chip: drawn once per chip, same for all its rows."""
    n = chips.size
    ptr = np.zeros(n + 1, dtype=np.int64)
    buf = np.empty(_capacity(n, n_sites, scale), dtype=np.int64)
    own = np.empty(_capacity(1, n_sites, scale), dtype=np.int64)
    m = 0
    r = 0
    while r < n:
        c = chips[r]
        r1 = r
        while r1 < n and chips[r1] == c:
            r1 += 1
        own, k = _draw(stream(key, salt, c, PER_CHIP), n_sites, scale, own, 0)
        for rr in range(r, r1):
            while m + k > buf.size:
                buf = _grow(buf)
            buf[m:m + k] = own[:k]
            m += k
            ptr[rr + 1] = m
        r = r1
    return ptr, buf[:m]


@jit
def chip_site_counts(chips, key, salt, n_sites, scale):
    """Number of sites drawn faulty (permanent) or weak (intermittent) per chip."""
    out = np.zeros(chips.size, dtype=np.int64)
    own = np.empty(64, dtype=np.int64)
    for q in range(chips.size):
        own, k = _draw(stream(key, salt, chips[q], PER_CHIP), n_sites, scale, own, 0)
        out[q] = k
    return out


@jit
def intermittent_events(chips, inputs, key, salt, n_sites, scale, inv_on, inv_off, duty):
    """Sites in the faulty state for each row.

    A chip's weak sites are drawn like permanent faults (rate ``p``); each weak
    site runs a two-state Markov chain over the chip's inputs ``0, 1, 2, ...``
    started in its stationary law (faulty with probability ``duty``); sojourn
    lengths are geometric: faulty bursts last ``1 + Geometric(p_off)``
    inferences, healthy gaps ``1 + Geometric(p_on)``. Rows of one chip must
    hold consecutive increasing inputs.
    """
    n = chips.size
    ptr = np.zeros(n + 1, dtype=np.int64)
    buf = np.empty(64, dtype=np.int64)
    weak = np.empty(64, dtype=np.int64)
    chain_key = mix64(key ^ np.uint64(0x5DEECE66D))
    m = 0
    r = 0
    while r < n:
        c = chips[r]
        r1 = r
        while r1 < n and chips[r1] == c:
            r1 += 1
        b0 = inputs[r]
        b1 = inputs[r1 - 1]
        weak, k = _draw(stream(key, salt, c, PER_CHIP), n_sites, scale, weak, 0)
        active = np.zeros((r1 - r, k), dtype=np.bool_)
        for w in range(k):
            st = stream(chain_key, salt, c, weak[w])
            st, u = uniform(st)
            faulty = u <= duty
            t = 0.0
            while t <= b1:
                st, g = skip(st, inv_off if faulty else inv_on)
                end = t + g  # last input of this sojourn
                if faulty and end >= b0:
                    lo = max(t, float(b0))
                    hi = min(end, float(b1))
                    for b in range(np.int64(lo), np.int64(hi) + 1):
                        active[b - b0, w] = True
                t = end + 1.0
                faulty = not faulty
        for rr in range(r, r1):
            for w in range(k):
                if active[rr - r, w]:
                    if m == buf.size:
                        buf = _grow(buf)
                    buf[m] = weak[w]
                    m += 1
            ptr[rr + 1] = m
        r = r1
    return ptr, buf[:m].copy()


@jit
def union_events(ptr_a, a, ptr_b, b):
    """Row-wise union of two CSR event lists (each row sorted and unique)."""
    n = ptr_a.size - 1
    ptr = np.zeros(n + 1, dtype=np.int64)
    out = np.empty(a.size + b.size, dtype=np.int64)
    m = 0
    for r in range(n):
        i, ie = ptr_a[r], ptr_a[r + 1]
        j, je = ptr_b[r], ptr_b[r + 1]
        while i < ie or j < je:
            if j >= je or (i < ie and a[i] < b[j]):
                v = a[i]
                i += 1
            elif i >= ie or b[j] < a[i]:
                v = b[j]
                j += 1
            else:
                v = a[i]
                i += 1
                j += 1
            out[m] = v
            m += 1
        ptr[r + 1] = m
    return ptr, out[:m].copy()


@jit
def permanent_segments(chips, key, salt, n_sites, scale):
    """Permanent faults once per run of equal consecutive ``chips``: ``(seg_ptr, fptr, cells)``.

    Segment ``s`` covers rows ``seg_ptr[s]:seg_ptr[s+1]`` (one chip, or one
    group of chips sharing a draw); its faulty sites are
    ``cells[fptr[s]:fptr[s+1]]``, exactly the list :func:`permanent_events`
    repeats on each of those rows (same stream), but stored once.
    """
    n = chips.size
    n_seg = 0
    for r in range(n):
        if r == 0 or chips[r] != chips[r - 1]:
            n_seg += 1
    seg_ptr = np.zeros(n_seg + 1, dtype=np.int64)
    fptr = np.zeros(n_seg + 1, dtype=np.int64)
    buf = np.empty(_capacity(n_seg, n_sites, scale), dtype=np.int64)
    m = 0
    s = 0
    r = 0
    while r < n:
        c = chips[r]
        r1 = r
        while r1 < n and chips[r1] == c:
            r1 += 1
        buf, m = _draw(stream(key, salt, c, PER_CHIP), n_sites, scale, buf, m)
        seg_ptr[s + 1] = r1
        fptr[s + 1] = m
        s += 1
        r = r1
    return seg_ptr, fptr, buf[:m]

