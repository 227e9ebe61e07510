"""Per-point summary statistics of a sweep (intervals from :mod:`neurosim.analysis.stats`)."""
from __future__ import annotations

import math

import numpy as np

from ..analysis.stats import clopper_pearson

#: Quantile levels of Δ (per output) and of ``||Δ||_∞`` stored per point.
QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def clopper_pearson_interval(k: int, n: int, confidence: float) -> tuple:
    """Two-sided Clopper–Pearson interval for ``k`` successes in ``n`` trials (NaN if ``n == 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    lo, hi = clopper_pearson(int(k), int(n), confidence)
    return float(lo), float(hi)


def quantiles(a: np.ndarray, levels) -> np.ndarray:
    """Quantiles of each column of ``a`` (``(n, m)``) at ``levels`` -> ``(len(levels), m)``.

    numpy's default ("linear") definition, computed on the non-zero entries
    only when most entries are exactly zero (common at low fault rates): the
    sorted column is ``[negatives, zeros, positives]``, so each order statistic
    is read from the sorted non-zeros or is 0. Same values as ``np.quantile``.
    """
    a = np.asarray(a, dtype=np.float64)
    n, m = a.shape
    levels = np.asarray(levels, dtype=np.float64)
    out = np.empty((levels.size, m))
    if n == 0:
        out.fill(np.nan)
        return out
    h = (n - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = h - lo
    nz = a != 0
    if np.count_nonzero(nz) * 2 > a.size:
        return np.quantile(a, levels, axis=0)
    ks = np.unique(np.concatenate([lo, hi]))
    for j in range(m):
        v = a[nz[:, j], j]
        neg = int(np.count_nonzero(v < 0))
        zeros = n - v.size
        # order statistic k is a negative (k < neg), a zero, or a positive (k >= neg + zeros)
        need = ks[(ks < neg) | (ks >= neg + zeros)]
        idx = np.where(need < neg, need, need - zeros)
        part = np.partition(v, idx) if idx.size else v
        stat = np.zeros(n if ks.size == 0 else int(ks[-1]) + 1)
        stat[need] = part[idx]
        alo, ahi = stat[lo], stat[hi]
        diff = ahi - alo  # numpy's _lerp, including its t >= 0.5 branch
        out[:, j] = np.where(frac >= 0.5, ahi - diff * (1.0 - frac), alo + diff * frac)
    return out


def summary_fields(n_chips: int, n_out: int, n_slots: int, n_q: int) -> dict:
    """Per-point summary datasets: ``name -> (shape, dtype, fill for missing points)``."""
    f8, i8 = np.float64, np.int64
    return {
        "mean": ((n_out,), f8, np.nan),
        "std": ((n_out,), f8, np.nan),
        "mean_ci": ((2, n_out), f8, np.nan),
        "quantiles": ((n_q, n_out), f8, np.nan),
        "linf_mean": ((), f8, np.nan),
        "linf_mean_ci": ((2,), f8, np.nan),
        "linf_quantiles": ((n_q,), f8, np.nan),
        "rms": ((), f8, np.nan),
        "rms_ci": ((2,), f8, np.nan),
        "flip_count": ((), i8, -1),
        "flip_trials": ((), i8, -1),
        "flip_rate": ((), f8, np.nan),
        "flip_ci": ((2,), f8, np.nan),
        "flip_chip_ci": ((2,), f8, np.nan),
        "non_finite": ((), i8, -1),
        "faults_per_chip": ((), f8, np.nan),
        "fault_counts": ((n_chips, n_slots), i8, -1),
        "fault_events": ((n_chips, n_slots), i8, -1),
    }


def pack_summary(summ: dict, fields: dict) -> tuple:
    """Flatten a summary into one float64 and one int64 vector (order of ``fields``)."""
    f8 = [np.asarray(summ[k], np.float64).ravel() for k, (_, dt, _) in fields.items() if dt == np.float64]
    i8 = [np.asarray(summ[k], np.int64).ravel() for k, (_, dt, _) in fields.items() if dt == np.int64]
    return np.concatenate(f8), np.concatenate(i8)


def unpack_summary(f8: np.ndarray, i8: np.ndarray, fields: dict) -> dict:
    out, pos = {}, {np.float64: 0, np.int64: 0}
    for k, (shape, dt, _) in fields.items():
        n = int(np.prod(shape, dtype=np.int64))
        src = f8 if dt == np.float64 else i8
        v = src[pos[dt]:pos[dt] + n]
        if v.size != n:
            raise ValueError(f"summary vector too short for '{k}'")
        out[k] = v.reshape(shape).copy()
        pos[dt] += n
    if pos[np.float64] != f8.size or pos[np.int64] != i8.size:
        raise ValueError("summary vector of the wrong length")
    return out


def summarize(delta: np.ndarray, clean: np.ndarray, fault_counts: np.ndarray, fault_events: np.ndarray,
              levels=QUANTILE_LEVELS, confidence: float = 0.95, group: int = 1, chunk_chips: int | None = None) -> dict:
    """Summary statistics of one grid point's ``Δ`` (``(n_chips, n_inputs, n_out)``).

    Chips are the independent units: intervals on means (``mean_ci``,
    ``linf_mean_ci``, ``rms_ci``, ``flip_chip_ci``) are Student-t intervals over
    the ``n_chips`` per-chip averages, valid for every fault mode. ``flip_ci``
    is Clopper–Pearson on all ``n_chips * n_inputs`` (chip, input) trials:
    exact for transient faults (independent trials), too narrow for permanent
    and intermittent ones (trials on one chip are correlated) — use
    ``flip_chip_ci`` (or the union of both) there. With ``group > 1``
    (permanent faults shared by consecutive groups of chips) the independent
    units of those intervals are the groups (per-group averages).

    Computed by :class:`neurosim.sweep.stream.PointStats` over chunks of
    ``chunk_chips`` chips (default: about 16 MB of Δ each): the same bits for
    any chunk size, and the same bits as a streamed sweep point that never
    holds its whole Δ. Quantiles are exact (the values of ``np.quantile``).
    """
    from .._resources import stream_chunk_chips
    from .stream import PointStats

    delta = np.asarray(delta)
    C, B, O = delta.shape
    fault_counts, fault_events = np.asarray(fault_counts), np.asarray(fault_events)
    step = int(chunk_chips or stream_chunk_chips(B, O))

    def chunks():
        for c0 in range(0, C, step):
            yield c0, delta[c0:c0 + step]

    acc = PointStats(C, B, O, clean, fault_counts.shape[1])
    for c0, d in chunks():
        acc.add(c0, d, fault_counts[c0:c0 + step], fault_events[c0:c0 + step])
    return acc.result(levels, confidence, lambda: (d for _, d in chunks()), group=group)
