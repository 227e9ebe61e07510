"""Per-point sweep statistics accumulated chunk by chunk (bounded memory), bit-identical for any chunking.

:class:`PointStats` folds consecutive chunks of a point's chips into per-chip
quantities (sums, centred sums of squares, mean square, ``||Δ||_∞`` sums, flip
counts, non-finite Δ counts, fault counts) and per-column tallies for the quantiles; every
per-chip value depends only on that chip's Δ, and the reductions over chips
run once, in chip order, at the end, so the summary does not depend on where
the chunks were cut. :func:`neurosim.sweep.summarize` is this class fed one
chunk (the whole Δ).

Mean and variance: per-chip sums ``S_c`` and centred sums of squares ``M_c``
merged as ``M = Σ_c M_c + B Σ_c (S_c / B - mean)²`` (the pairwise update of
Chan, Golub & LeVeque 1979 with equal counts; docs/theory.md row 26).

Quantiles are **exact** (numpy's ``"linear"`` definition, Hyndman & Fan 1996 type 7, the same values as
``np.quantile``) without holding Δ: each order statistic is located by
counting. Values are mapped to order-preserving 64-bit keys; the first pass
counts zeros, negatives and NaN per column and histograms the top 16 key bits
of the non-zero values. Each further pass (``rescan()`` yields the same
chunks again: a sweep re-simulates them, same seed, same bits) either
collects the keys of a bin holding an order statistic (when the bins to
collect hold at most :data:`COLLECT_BUDGET` keys together) or histograms the
next 16 bits inside it; after at most 3 refinements a bin is one key, i.e.
one value. Typical points need one extra pass. Memory: one chunk plus
``(3 n_out + 6 + 2 n_slots) * 8`` bytes per chip (the file stores the per-chip
fault counts anyway) plus ``(n_out + 1) * 65536 * 8`` bytes of histograms.
"""
from __future__ import annotations

import math

import numpy as np

from ..analysis.stats import t_interval
from ..sim.stream import count_non_finite

#: Keys gathered at most in one pass to read order statistics from (8 bytes each: 64 MB).
COLLECT_BUDGET = 1 << 23
_BITS = 16
_BINS = 1 << _BITS
_SIGN = np.uint64(1 << 63)


def float_keys(v: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of float64 values (``a < b`` iff ``key(a) < key(b)``; not for NaN, ±0)."""
    u = np.ascontiguousarray(v, dtype=np.float64).view(np.uint64)
    return np.where(u & _SIGN, ~u, u | _SIGN)


def key_values(k: np.ndarray) -> np.ndarray:
    """Inverse of :func:`float_keys`."""
    k = np.asarray(k, dtype=np.uint64)
    return np.where(k & _SIGN, k & ~_SIGN, ~k).view(np.float64)


def order_ranks(n: int, levels) -> tuple:
    """numpy's ``"linear"`` quantile: lower and upper order statistics and the fraction, per level."""
    levels = np.asarray(levels, dtype=np.float64)
    h = (n - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    return lo, hi, h - lo


def lerp_quantiles(stat_lo: np.ndarray, stat_hi: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """numpy's ``_lerp`` (including its ``t >= 0.5`` branch) between two order statistics."""
    diff = stat_hi - stat_lo
    return np.where(frac >= 0.5, stat_hi - diff * (1.0 - frac), stat_lo + diff * frac)


def _units(per_chip: np.ndarray, group: int) -> np.ndarray:
    """Per-chip values -> per independent unit: chips, or means over groups of ``group`` chips."""
    if group <= 1:
        return per_chip
    starts = np.arange(0, per_chip.shape[0], group)
    counts = np.diff(np.append(starts, per_chip.shape[0])).astype(np.float64)
    sums = np.add.reduceat(per_chip, starts, axis=0)
    return sums / counts.reshape((-1,) + (1,) * (per_chip.ndim - 1))


def _columns(d: np.ndarray) -> np.ndarray:
    """``(rows, n_out + 1)`` float64: the Δ of each output, then ``||Δ||_∞`` of the row."""
    C, B, O = d.shape
    flat = d.reshape(C * B, O)
    cols = np.empty((C * B, O + 1))
    cols[:, :O] = flat
    np.abs(flat[:, 0], out=cols[:, O])
    for o in range(1, O):  # running maximum: max over a short last axis is slow in numpy
        np.maximum(cols[:, O], np.abs(flat[:, o]), out=cols[:, O])
    return cols


class PointStats:
    """Accumulators of one grid point; :meth:`add` chunks of chips in any cut, then :meth:`result`."""

    def __init__(self, n_chips: int, n_inputs: int, n_out: int, clean: np.ndarray, n_slots: int):
        C, O = int(n_chips), int(n_out)
        self.C, self.B, self.O = C, int(n_inputs), O
        self.clean = np.asarray(clean, dtype=np.float64)
        self.top = np.argmax(self.clean, axis=1)
        self.chip_sum = np.zeros((C, O))
        self.chip_m2 = np.zeros((C, O))
        self.chip_ms = np.zeros(C)
        self.linf_sum = np.zeros(C)
        self.flips = np.zeros(C, dtype=np.int64)
        self.non_finite = np.zeros(C, dtype=np.int64)
        self.counts = np.zeros((C, n_slots), dtype=np.int64)
        self.events = np.zeros((C, n_slots), dtype=np.int64)
        self.neg = np.zeros(O + 1, dtype=np.int64)
        self.zeros = np.zeros(O + 1, dtype=np.int64)
        self.nan = np.zeros(O + 1, dtype=np.int64)
        self.hist = np.zeros((O + 1) * _BINS, dtype=np.int64)
        self.added = 0

    def add(self, c0: int, delta: np.ndarray, fault_counts: np.ndarray, fault_events: np.ndarray):
        """Fold chips ``c0 .. c0 + len(delta) - 1`` (``delta``: ``(m, n_inputs, n_out)``)."""
        with np.errstate(all="ignore"):  # inf/NaN: counted, summarised as IEEE arithmetic gives them
            self._add(int(c0), np.asarray(delta, dtype=np.float64), fault_counts, fault_events)

    def _add(self, c0, d, fault_counts, fault_events):
        m, B, O = d.shape
        c1 = c0 + m
        s = d.sum(axis=1)
        self.chip_sum[c0:c1] = s
        self.chip_m2[c0:c1] = np.square(d - (s / B)[:, None, :]).sum(axis=1)
        self.chip_ms[c0:c1] = np.square(d).sum(axis=1).sum(axis=1) / (B * O)
        cols = _columns(d)
        self.linf_sum[c0:c1] = cols[:, O].reshape(m, B).sum(axis=1)
        if O >= 2:
            self.flips[c0:c1] = np.count_nonzero(np.argmax(d + self.clean[None], axis=2) != self.top[None], axis=1)
        self.counts[c0:c1] = fault_counts
        self.events[c0:c1] = fault_events
        for c in range(m):  # per chip, so the total does not depend on the chunking
            self.non_finite[c0 + c] = count_non_finite(d[c])
        nan = np.isnan(cols)
        zero = cols == 0
        self.nan += np.count_nonzero(nan, axis=0)
        self.zeros += np.count_nonzero(zero, axis=0)
        self.neg += np.count_nonzero(cols < 0, axis=0)
        keep = ~(nan | zero)
        bins = (float_keys(cols) >> np.uint64(64 - _BITS)).astype(np.int64) + np.arange(O + 1) * _BINS
        self.hist += np.bincount(bins[keep], minlength=(O + 1) * _BINS)
        self.added += m

    # ------------------------------------------------------------------ quantiles
    def _order_stats(self, levels, rescan) -> np.ndarray:
        """Exact order statistics ``(len(levels), 2, n_out + 1)`` (lower, upper) of every column."""
        n = self.C * self.B
        lo, hi, _ = order_ranks(n, levels)
        ks = np.unique(np.concatenate([lo, hi]))
        value = {}                      # (col, k) -> order statistic
        open_ = {}                      # (col, prefix, shift) -> [count in bin, [(k, rank in bin)]]
        hist = self.hist.reshape(self.O + 1, _BINS)
        for j in range(self.O + 1):
            neg, zeros = int(self.neg[j]), int(self.zeros[j])
            cum = np.cumsum(hist[j])
            for k in ks.tolist():
                if self.nan[j]:
                    value[j, k] = np.nan
                elif neg <= k < neg + zeros:
                    value[j, k] = 0.0
                else:
                    r = k if k < neg else k - zeros
                    b = int(np.searchsorted(cum, r, side="right"))
                    slot = open_.setdefault((j, b, 64 - _BITS), [int(hist[j, b]), []])
                    slot[1].append((k, r - (int(cum[b - 1]) if b else 0)))
        while open_:
            collect, budget = set(), COLLECT_BUDGET
            for key in sorted(open_, key=lambda t: open_[t][0]):
                if open_[key][0] <= budget:
                    collect.add(key)
                    budget -= open_[key][0]
            found = {key: ([] if key in collect else np.zeros(_BINS, dtype=np.int64)) for key in open_}
            for d in rescan():
                cols = _columns(np.asarray(d, dtype=np.float64))
                keys = float_keys(cols)
                keys[cols == 0] = 0  # zeros are counted apart; key 0 (a negative NaN) is never a target
                for (j, prefix, shift), acc in found.items():
                    col = keys[:, j]
                    sel = col[(col >> np.uint64(shift)) == np.uint64(prefix)]
                    if isinstance(acc, list):
                        acc.append(sel)
                    else:
                        acc += np.bincount(((sel >> np.uint64(shift - _BITS)) & np.uint64(_BINS - 1)).astype(np.int64),
                                           minlength=_BINS)
            nxt = {}
            for (j, prefix, shift), acc in found.items():
                wanted = open_[j, prefix, shift][1]
                if isinstance(acc, list):
                    got = np.concatenate(acc) if acc else np.zeros(0, np.uint64)
                    if got.size != open_[j, prefix, shift][0]:
                        raise RuntimeError("PointStats: rescan() did not give the chunks of the first pass")
                    ranks = sorted({r for _, r in wanted})
                    part = np.partition(got, ranks)
                    for k, r in wanted:
                        value[j, k] = float(key_values(part[r:r + 1])[0])
                    continue
                cum = np.cumsum(acc)
                for k, r in wanted:
                    b = int(np.searchsorted(cum, r, side="right"))
                    p, s = (prefix << _BITS) | b, shift - _BITS
                    if s == 0:  # the bin is one key: one value
                        value[j, k] = float(key_values(np.array([p], np.uint64))[0])
                    else:
                        slot = nxt.setdefault((j, p, s), [int(acc[b]), []])
                        slot[1].append((k, r - (int(cum[b - 1]) if b else 0)))
            open_ = nxt
        out = np.empty((len(lo), 2, self.O + 1))
        for j in range(self.O + 1):
            out[:, 0, j] = [value[j, int(k)] for k in lo]
            out[:, 1, j] = [value[j, int(k)] for k in hi]
        return out

    # ------------------------------------------------------------------ the summary
    def result(self, levels, confidence: float, rescan, group: int = 1) -> dict:
        """The point's summary (fields of :func:`neurosim.sweep.summary_fields`).

        ``rescan()`` must yield the point's Δ again, chunk by chunk, in any cut
        (called only when an order statistic is not resolved yet).
        """
        if self.added != self.C:
            raise RuntimeError(f"PointStats: {self.added} of {self.C} chips added")
        with np.errstate(all="ignore"):
            return self._result(levels, confidence, rescan, max(1, int(group)))

    def _result(self, levels, confidence, rescan, group):
        from .summary import clopper_pearson_interval

        C, B, O = self.C, self.B, self.O
        n = C * B
        mean = self.chip_sum.sum(axis=0) / n
        m2 = self.chip_m2.sum(axis=0) + B * np.square(self.chip_sum / B - mean[None]).sum(axis=0)
        _, _, frac = order_ranks(n, levels)
        st = self._order_stats(levels, rescan)
        q = lerp_quantiles(st[:, 0], st[:, 1], frac[:, None])
        linf_chip = self.linf_sum / B
        out = {
            "mean": mean,
            "std": np.sqrt(np.maximum(m2 / n, 0.0)),
            "mean_ci": t_interval(_units(self.chip_sum / B, group), confidence),
            "quantiles": q[:, :O],
            "linf_mean": np.float64(self.linf_sum.sum() / n),
            "linf_mean_ci": t_interval(_units(linf_chip, group), confidence),
            "linf_quantiles": q[:, O].copy(),
            "rms": np.float64(math.sqrt(self.chip_ms.mean())),
            "rms_ci": np.sqrt(np.clip(t_interval(_units(self.chip_ms, group), confidence), 0.0, None)),
        }
        if O >= 2:
            k = int(self.flips.sum())
            out.update(flip_count=np.int64(k), flip_trials=np.int64(n), flip_rate=np.float64(k / n),
                       flip_ci=np.array(clopper_pearson_interval(k, n, confidence)),
                       flip_chip_ci=np.clip(t_interval(_units(self.flips / B, group), confidence), 0.0, 1.0))
        else:
            out.update(flip_count=np.int64(0), flip_trials=np.int64(0), flip_rate=np.float64(np.nan),
                       flip_ci=np.full(2, np.nan), flip_chip_ci=np.full(2, np.nan))
        out["non_finite"] = np.int64(self.non_finite.sum())
        out["faults_per_chip"] = np.float64(self.counts.sum(axis=1).mean())
        out["fault_counts"] = self.counts
        out["fault_events"] = self.events
        return out

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.chip_sum, self.chip_m2, self.chip_ms, self.linf_sum, self.flips, self.non_finite,
                                      self.counts, self.events, self.hist))


def point_stats_bytes(n_chips: int, n_out: int, n_slots: int) -> float:
    """Bytes of :class:`PointStats` for a point (per-chip arrays, histograms, the collect budget)."""
    return float(n_chips) * (3 * n_out + 6 + 2 * n_slots) * 8 + (n_out + 1) * _BINS * 8 * 2 + COLLECT_BUDGET * 8.0
