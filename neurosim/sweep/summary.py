"""Per-point summary statistics of a sweep (intervals from :mod:`neurosim.analysis.stats`)."""
from __future__ import annotations

import math

import numpy as np

from ..analysis.stats import clopper_pearson, t_interval

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


def _units(per_chip: np.ndarray, group: int) -> np.ndarray:
    """Per-chip values -> per independent unit: chips, or means over groups of ``group`` chips."""
    if group <= 1:
        return per_chip
    starts = np.arange(0, per_chip.shape[0], group)
    counts = np.diff(np.append(starts, per_chip.shape[0])).astype(np.float64)
    sums = np.add.reduceat(per_chip, starts, axis=0)
    return sums / counts.reshape((-1,) + (1,) * (per_chip.ndim - 1))


def summarize(delta: np.ndarray, clean: np.ndarray, fault_counts: np.ndarray, fault_events: np.ndarray,
              levels=QUANTILE_LEVELS, confidence: float = 0.95, group: int = 1) -> dict:
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
    """
    C, B, O = delta.shape
    n = C * B
    flat = delta.reshape(n, O)
    absd = np.abs(delta)
    if O <= 32:  # max over a short last axis is slow in numpy; a running maximum is not
        linf = absd[:, :, 0].copy()
        for o in range(1, O):
            np.maximum(linf, absd[:, :, o], out=linf)
    else:
        linf = absd.max(axis=2)                          # (C, B)
    del absd
    chip_sum = delta.sum(axis=1)                         # (C, O)
    chip_sq = np.square(delta).sum(axis=1)               # (C, O)
    mean = chip_sum.sum(axis=0) / n
    e2 = chip_sq.sum(axis=0) / n
    var = e2 - mean * mean
    unsafe = var <= 1e-6 * e2  # cancellation: recompute those outputs with the two-pass formula
    if unsafe.any():
        var[unsafe] = flat[:, unsafe].var(axis=0)
    chip_ms = chip_sq.sum(axis=1) / (B * O)              # (C,)
    out = {
        "mean": mean,
        "std": np.sqrt(np.maximum(var, 0.0)),
        "mean_ci": t_interval(_units(chip_sum / B, group), confidence),
        "quantiles": quantiles(flat, levels),
        "linf_mean": np.float64(linf.mean()),
        "linf_mean_ci": t_interval(_units(linf.mean(axis=1), group), confidence),
        "linf_quantiles": quantiles(linf.reshape(-1, 1), levels)[:, 0],
        "rms": np.float64(math.sqrt(chip_ms.mean())),
        "rms_ci": np.sqrt(np.clip(t_interval(_units(chip_ms, group), confidence), 0.0, None)),
    }
    if O >= 2:
        faulty = delta + clean[None]
        flips = np.argmax(faulty, axis=2) != np.argmax(clean, axis=1)[None]
        k, n = int(flips.sum()), C * B
        out.update(flip_count=np.int64(k), flip_trials=np.int64(n), flip_rate=np.float64(k / n),
                   flip_ci=np.array(clopper_pearson_interval(k, n, confidence)),
                   flip_chip_ci=np.clip(t_interval(_units(flips.mean(axis=1), group), confidence), 0.0, 1.0))
    else:
        out.update(flip_count=np.int64(0), flip_trials=np.int64(0), flip_rate=np.float64(np.nan),
                   flip_ci=np.full(2, np.nan), flip_chip_ci=np.full(2, np.nan))
    out["faults_per_chip"] = np.float64(fault_counts.sum(axis=1).mean())
    out["fault_counts"] = np.ascontiguousarray(fault_counts, dtype=np.int64)
    out["fault_events"] = np.ascontiguousarray(fault_events, dtype=np.int64)
    return out
