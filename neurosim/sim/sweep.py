r"""Fault-rate sweeps: a grid of (profile, fault spec, rate) points over the engine.

A sweep runs :func:`~neurosim.sim.simulate` once per grid point and keeps, per
point, summary statistics of ``Δ = y_faulty - y_clean`` and (optionally
subsampled) raw ``Δ`` in one HDF5 file. See ``docs/sweeps.md`` for the file
format, the resume semantics and the executors.

Grid
----
``points = profiles × specs × rates`` in that nesting order (rates vary
fastest): point ``i`` is ``(profile p, spec s, rate r)`` with
``i = (p * n_specs + s) * n_rates + r``. Every spec's own rate is replaced by
the grid rate. Point ``i`` simulates with the seed

.. math:: \mathrm{seed}_i = \mathtt{SeedSequence(seed, spawn\_key=(i,)).generate\_state(1, uint64)[0]}

so a point's result depends only on the configuration and ``i``, never on the
executor, the number of workers or the order in which points complete.

Crash safety
------------
The unit of commit is a *part file*: each completed point is written to
``OUT.parts/<config hash>/pNNNNNNN.h5`` (temporary name, fsync, atomic rename).
``OUT`` itself is only ever replaced atomically (rename), so it is readable at
every moment: while the sweep runs it holds the configuration and the summaries
of the points completed so far (``status="partial"``, rewritten at most every
``flush_interval_s``); the complete file (all summaries and raw ``Δ``,
``status="complete"``) is assembled next to the parts while points complete
and renamed onto ``OUT`` at the end, after which the parts are removed. A
killed sweep re-run with the same arguments reuses every part file and
recomputes only the missing points; every value in the final file depends only
on the configuration and the point index, so it equals an uninterrupted
run's. No timestamps are stored.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError, FileFormatError
from ..faults.spec import FaultSpec, load_faults_toml, parse_fault
from ..network import Network
from .engine import simulate, simulation_network
from .progress import progress_bar

SWEEP_KIND = "sweep"
SWEEP_VERSION = 1
#: Quantile levels of Δ (per output) and of ``||Δ||_∞`` stored per point.
QUANTILE_LEVELS = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)
#: Rule for the per-point seed (stored in the file's configuration).
POINT_SEED_RULE = "SeedSequence(seed, spawn_key=(point,)).generate_state(1, uint64)[0]"
#: Rule for the raw-Δ subsample (stored in the file's configuration).
RAW_SUBSAMPLE_RULE = ("sort(Generator(PCG64(SeedSequence(seed, spawn_key=(point, 1))))"
                      ".choice(n_chips * n_inputs, K, replace=False)); row = chip * n_inputs + input")
_PART_PREFIX = "p"


# ============================================================================ grid
def parse_rates(text) -> tuple:
    """Rates from ``"LO:HI:N"`` (``N`` log-spaced points, ``0 < LO <= HI <= 1``) or ``"r1,r2,..."``.

    Returns the rates sorted ascending. Raises :class:`ConfigError` for an empty
    grid, a rate outside ``[0, 1]`` or a repeated rate.
    """
    if isinstance(text, (list, tuple, np.ndarray)):
        return check_rates(text)
    s = str(text).strip()
    if not s:
        raise ConfigError("'--rates' is empty: the sweep grid has no rate. Give e.g. 1e-4:1e-1:13 or 0.001,0.01,0.1.")
    if ":" in s:
        parts = [t.strip() for t in s.split(":")]
        if len(parts) != 3:
            raise ConfigError(f"'--rates' {s!r} must be LO:HI:N (N log-spaced rates), e.g. 1e-4:1e-1:13.")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"'--rates' {s!r}: LO and HI must be numbers, e.g. 1e-4:1e-1:13.") from None
        try:
            n = int(parts[2])
        except ValueError:
            raise ConfigError(f"'--rates' {s!r}: N must be an integer count of rates. Got {parts[2]!r}.") from None
        if n < 1:
            raise ConfigError(f"'--rates' {s!r} gives an empty grid (N = {n}); N must be >= 1.")
        for name, v in (("LO", lo), ("HI", hi)):
            if not (math.isfinite(v) and 0.0 < v <= 1.0):
                raise ConfigError(
                    f"'--rates' {s!r}: {name} = {v!r} must be in (0, 1] for a log-spaced grid "
                    f"(rates are probabilities; list 0 explicitly with a comma list)."
                )
        if lo > hi:
            raise ConfigError(f"'--rates' {s!r}: LO = {lo!r} must be <= HI = {hi!r}.")
        if n == 1:
            if lo != hi:
                raise ConfigError(f"'--rates' {s!r}: one rate (N = 1) needs LO == HI; give N >= 2 or a single rate.")
            return check_rates([lo])
        vals = list(np.logspace(math.log10(lo), math.log10(hi), n))
        vals[0], vals[-1] = lo, hi  # exact end points
        if len(set(vals)) < n:
            raise ConfigError(f"'--rates' {s!r}: LO == HI gives N equal rates; give distinct LO and HI, or N = 1.")
        return check_rates(vals)
    vals = []
    for t in s.split(","):
        t = t.strip()
        if not t:
            continue
        try:
            vals.append(float(t))
        except ValueError:
            raise ConfigError(f"'--rates': {t!r} is not a number; give LO:HI:N or a comma list like 0.001,0.01.") from None
    return check_rates(vals)


def check_rates(vals) -> tuple:
    """Validate a list of rates (each in [0, 1], no repeats, at least one); return them sorted."""
    try:
        vals = [float(v) for v in vals]
    except (TypeError, ValueError):
        raise ConfigError(f"Sweep rates must be numbers in [0, 1]. Got {vals!r}.") from None
    if not vals:
        raise ConfigError("The sweep grid is empty: no rate given. Give --rates LO:HI:N or a comma list.")
    for v in vals:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ConfigError(f"Every sweep rate must be a probability in [0, 1]. Got {v!r}.")
    out = sorted(vals)
    dup = [a for a, b in zip(out, out[1:]) if a == b]
    if dup:
        raise ConfigError(f"Sweep rate {dup[0]!r} is given twice; list each rate once.")
    return tuple(out)


def parse_sweep_fault(text: str) -> FaultSpec:
    """A ``--fault`` spec for a sweep: the rate field is optional (it is replaced by the grid rate).

    ``neuron:transient``, ``neuron:transient:0``, ``synapse:permanent:profile:layers=1``
    are all accepted; the given rate is ignored.
    """
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) < 2:
        raise ConfigError(f"Fault spec {text!r} must look like SITE:MODE[:RATE][:KEY=VALUE...], e.g. 'neuron:transient'.")
    if len(parts) == 2 or "=" in parts[2]:
        parts.insert(2, "0")
    else:
        parts[2] = "0"  # replaced by the grid rate; 'profile' or a number are both accepted
    return parse_fault(":".join(parts))


def load_sweep_faults(path) -> list:
    """``[[fault]]`` tables of a TOML file (as ``--faults``); ``rate`` is optional and ignored."""
    return load_faults_toml(path, ignore_rate=True)


def spec_key(spec: FaultSpec) -> str:
    """Spec text without its rate, e.g. ``neuron:transient:layers=1``."""
    parts = spec.to_text().split(":")
    return ":".join(parts[:2] + parts[3:])


def with_rate(spec: FaultSpec, rate: float) -> FaultSpec:
    d = spec.to_dict()
    d["rate"] = float(rate)
    return FaultSpec.from_dict(d)


def point_seed(seed: int, index: int) -> int:
    """Seed of grid point ``index`` (see :data:`POINT_SEED_RULE`)."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class SweepGrid:
    """The grid ``profiles × specs × rates`` (rates vary fastest)."""

    profiles: tuple
    """Profile names; ``None`` = the float network (no mapping)."""
    specs: tuple
    """Fault specs (their own rates are ignored)."""
    rates: tuple
    """Rates, ascending."""

    def __post_init__(self):
        if not self.specs:
            raise ConfigError("The sweep grid is empty: give at least one --fault SPEC or --faults FILE.toml.")
        if not self.rates:
            raise ConfigError("The sweep grid is empty: no rate given. Give --rates LO:HI:N or a comma list.")
        if not self.profiles:
            raise ConfigError("The sweep grid is empty: no profile (use None for the float network).")
        keys = [spec_key(s) for s in self.specs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ConfigError(f"Fault spec '{dup[0]}' is given twice (rates are set by --rates); list each spec once.")
        names = [p for p in self.profiles]
        dupp = sorted({str(p) for p in names if names.count(p) > 1})
        if dupp:
            raise ConfigError(f"Profile {dupp[0]!r} is given twice; list each --profile once.")

    @property
    def n_points(self) -> int:
        return len(self.profiles) * len(self.specs) * len(self.rates)

    def point(self, i: int) -> tuple:
        """``(profile index, spec index, rate index)`` of point ``i``."""
        R, S = len(self.rates), len(self.specs)
        return i // (S * R), (i // R) % S, i % R

    def index(self, p: int, s: int, r: int) -> int:
        return (p * len(self.specs) + s) * len(self.rates) + r


# ============================================================================ statistics
def clopper_pearson_interval(k: int, n: int, confidence: float) -> tuple:
    """Two-sided Clopper–Pearson interval for ``k`` successes in ``n`` trials (NaN if ``n == 0``)."""
    if n <= 0:
        return (math.nan, math.nan)
    from ..analysis.stats import clopper_pearson

    lo, hi = clopper_pearson(int(k), int(n), confidence)
    return float(lo), float(hi)


@functools.lru_cache(maxsize=64)
def _t_quantile(q: float, dof: int) -> float:
    from scipy.stats import t

    return float(t.ppf(q, dof))


def t_interval(samples: np.ndarray, confidence: float) -> np.ndarray:
    """Student-t interval of the mean along axis 0: array ``(2, ...)``; NaN with fewer than 2 samples."""
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    m = samples.mean(axis=0)
    if n < 2:
        nan = np.full_like(m, np.nan)
        return np.stack([nan, nan])
    half = _t_quantile(0.5 + confidence / 2, n - 1) * samples.std(axis=0, ddof=1) / math.sqrt(n)
    return np.stack([m - half, m + half])


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


# ============================================================================ per-point execution
@dataclass(frozen=True, eq=False)
class SweepContext:
    """Everything a worker needs to run any grid point (sent once per worker)."""

    grid: SweepGrid
    targets: tuple
    """Per profile: the :class:`ChipMapping`, or the :class:`Network` for ``None``."""
    x: np.ndarray
    n_chips: int
    seed: int
    raw_samples: int | None
    max_chips: int | None = None
    levels: tuple = QUANTILE_LEVELS
    confidence: float = 0.95

    @property
    def n_inputs(self) -> int:
        return int(self.x.shape[0])

    @property
    def rows_per_point(self) -> int:
        return self.n_chips * self.n_inputs

    @property
    def n_raw(self) -> int:
        total = self.rows_per_point
        return total if self.raw_samples is None else min(int(self.raw_samples), total)


def raw_rows(ctx: SweepContext, index: int) -> np.ndarray:
    """Rows (``chip * n_inputs + input``) of point ``index`` kept as raw Δ (see :data:`RAW_SUBSAMPLE_RULE`)."""
    total, k = ctx.rows_per_point, ctx.n_raw
    if k >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(ctx.seed), spawn_key=(int(index), 1))))
    return np.sort(rng.choice(total, size=k, replace=False)).astype(np.int64)


def simulate_point(ctx: SweepContext, index: int, threads=None, progress=None):
    """Stage 1 of a point: the simulation (:class:`~neurosim.sim.SimResult`)."""
    p, s, r = ctx.grid.point(index)
    spec = with_rate(ctx.grid.specs[s], ctx.grid.rates[r])
    return simulate(ctx.targets[p], ctx.x, [spec], n_chips=ctx.n_chips, seed=point_seed(ctx.seed, index),
                    threads=threads, progress=progress)


def finish_point(ctx: SweepContext, index: int, res) -> dict:
    """Stage 2 of a point: summary statistics and the raw-Δ rows kept (plain arrays)."""
    spec = ctx.grid.specs[ctx.grid.point(index)[1]]
    summ = summarize(res.delta, res.clean, res.fault_counts[:, 0, :], res.fault_events[:, 0, :],
                     ctx.levels, ctx.confidence, group=int(getattr(spec, "group", 1) or 1))
    rows = raw_rows(ctx, index)
    flat = res.delta.reshape(ctx.rows_per_point, -1)
    raw = flat if rows.size == flat.shape[0] else flat[rows]
    return {"index": int(index), "summary": summ, "raw_delta": np.ascontiguousarray(raw), "raw_row": rows}


def run_point(ctx: SweepContext, index: int, threads=None, progress=None) -> dict:
    """Simulate grid point ``index`` and return its summary and raw Δ (plain arrays)."""
    return finish_point(ctx, index, simulate_point(ctx, index, threads=threads, progress=progress))


class PointTask:
    """The work of one point, as executors see it (module-level, pickles by reference).

    ``task(ctx, i, threads, progress)`` runs the whole point; executors that
    pipeline in one process call ``task.simulate`` and ``task.finish`` separately.
    """

    simulate = staticmethod(simulate_point)
    finish = staticmethod(finish_point)

    def __call__(self, ctx, index, threads=None, progress=None):
        return run_point(ctx, index, threads=threads, progress=progress)


_point_task = PointTask()


# ============================================================================ configuration
def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def network_digest(net: Network) -> dict:
    return {"name": net.name, "sizes": list(net.sizes), "activations": list(net.activations),
            "sha256": _sha(*net.weights, *net.biases)}


def sweep_config(net: Network, grid: SweepGrid, targets, x, labels, n_chips, seed, raw_samples,
                 max_chips, levels, confidence) -> dict:
    """The configuration a sweep file is tied to (everything that changes its values)."""
    from .. import __version__

    profs = []
    for name, t in zip(grid.profiles, targets):
        if name is None:
            profs.append(None)
        else:
            d = {k: v for k, v in t.profile.to_dict().items() if k not in ("path", "sources")}
            profs.append({"name": t.profile.name, "sha256": hashlib.sha256(
                json.dumps(d, sort_keys=True, default=str).encode()).hexdigest(),
                "target_sha256": network_digest(t.qnet)["sha256"]})
    return {
        "neurosim_version": __version__,
        "model": network_digest(net),
        "profiles": profs,
        "max_chips": max_chips,
        "faults": [{k: v for k, v in s.to_dict().items() if k != "rate"} for s in grid.specs],
        "fault_keys": [spec_key(s) for s in grid.specs],
        "rates": [float(r) for r in grid.rates],
        "n_chips": int(n_chips),
        "seed": int(seed),
        "inputs": {"n_inputs": int(x.shape[0]), "n_in": int(x.shape[1]), "sha256": _sha(x),
                   "labels_sha256": None if labels is None else _sha(np.asarray(labels))},
        "raw_samples": None if raw_samples is None else int(raw_samples),
        "quantile_levels": [float(q) for q in levels],
        "confidence": float(confidence),
        "point_seed_rule": POINT_SEED_RULE,
        "raw_subsample_rule": RAW_SUBSAMPLE_RULE,
    }


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _config_diff(old: dict, new: dict) -> list:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)]


# ============================================================================ HDF5 store
def _write_attrs(f, config, chash, status, n_points, n_complete):
    from ..io.h5util import header_attrs, write_json_attr

    for k, v in header_attrs(SWEEP_KIND, SWEEP_VERSION).items():
        f.attrs[k] = v
    write_json_attr(f, "config", config)
    f.attrs["config_sha256"] = chash
    f.attrs["seed"] = str(config["seed"])
    f.attrs["status"] = status
    f.attrs["n_points"] = int(n_points)
    f.attrs["n_complete"] = int(n_complete)


def _write_static(f, ctx: SweepContext, labels, cleans):
    from ..io.mapping_io import write_mapping_group, write_network_group

    grid = ctx.grid
    g = f.create_group("grid")
    g.create_dataset("profiles", data=np.array(["" if p is None else p for p in grid.profiles], dtype=object),
                     dtype=h5py.string_dtype())
    g.create_dataset("specs", data=np.array([spec_key(s) for s in grid.specs], dtype=object),
                     dtype=h5py.string_dtype())
    g.create_dataset("rates", data=np.array(grid.rates, dtype=np.float64))
    N = grid.n_points
    idx = [grid.point(i) for i in range(N)]
    pt = f.create_group("points")
    pt.create_dataset("profile", data=np.array([a for a, _, _ in idx], dtype=np.int64))
    pt.create_dataset("spec", data=np.array([b for _, b, _ in idx], dtype=np.int64))
    pt.create_dataset("rate_index", data=np.array([c for _, _, c in idx], dtype=np.int64))
    pt.create_dataset("rate", data=np.array([grid.rates[c] for _, _, c in idx], dtype=np.float64))
    pt.create_dataset("seed", data=np.array([point_seed(ctx.seed, i) for i in range(N)], dtype=np.uint64))
    inp = f.create_group("inputs")
    inp.create_dataset("x", data=ctx.x)
    if labels is not None:
        inp.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
    tg = f.create_group("targets")
    for k, (name, t) in enumerate(zip(grid.profiles, ctx.targets)):
        gg = tg.create_group(f"{k:03d}")
        gg.attrs["profile"] = "" if name is None else name
        if isinstance(t, ChipMapping):
            gg.attrs["kind"] = "mapping"
            write_mapping_group(gg, t)
        else:
            gg.attrs["kind"] = "network"
            write_network_group(gg.create_group("network"), t)
        gg.create_dataset("clean", data=cleans[k])


def _write_summary(f, ctx: SweepContext, done: dict):
    N = ctx.grid.n_points
    O = ctx.targets[0].qnet.n_out if isinstance(ctx.targets[0], ChipMapping) else ctx.targets[0].n_out
    L = _n_layers(ctx.targets[0])
    fields = summary_fields(ctx.n_chips, O, L + 1, len(ctx.levels))
    complete = np.zeros(N, dtype=bool)
    for i in done:
        complete[i] = True
    f["points"].create_dataset("complete", data=complete)
    sg = f.create_group("summary")
    sg.attrs["quantile_levels"] = np.array(ctx.levels, dtype=np.float64)
    sg.attrs["confidence"] = float(ctx.confidence)
    for name, (shape, dtype, fill) in fields.items():
        arr = np.full((N,) + shape, fill, dtype=dtype)
        for i, summ in done.items():
            arr[i] = summ[name]
        sg.create_dataset(name, data=arr)


def _n_layers(t) -> int:
    return t.qnet.n_layers if isinstance(t, ChipMapping) else t.n_layers


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Parts:
    """The part files of one configuration: ``OUT.parts/<hash[:16]>/pNNNNNNN.h5``."""

    def __init__(self, out: Path, chash: str):
        self.root = out.with_name(out.name + ".parts")
        self.dir = self.root / chash[:16]
        self.chash = chash

    def path(self, i: int) -> Path:
        return self.dir / f"{_PART_PREFIX}{i:07d}.h5"

    def write(self, result: dict, fields: dict):
        i = result["index"]
        final = self.path(i)
        tmp = final.with_name(final.name + ".tmp")
        f8, i8 = pack_summary(result["summary"], fields)
        with h5py.File(tmp, "w") as f:
            f.attrs["config_sha256"] = self.chash
            f.attrs["index"] = i
            f.create_dataset("summary_f8", data=f8)
            f.create_dataset("summary_i8", data=i8)
            f.create_dataset("raw_delta", data=result["raw_delta"])
            f.create_dataset("raw_row", data=result["raw_row"])
        _fsync_file(tmp)
        os.replace(tmp, final)
        _fsync_dir(self.dir)

    def scan(self, n_points: int, fields) -> tuple:
        """Read the summaries of every valid part file -> ``({index: summary}, [broken paths])``."""
        done, broken = {}, []
        if not self.dir.is_dir():
            return done, broken
        for p in sorted(self.dir.glob(f"{_PART_PREFIX}*.h5")):
            try:
                i = int(p.stem[len(_PART_PREFIX):])
                with h5py.File(p, "r") as f:
                    if f.attrs.get("config_sha256") != self.chash or int(f.attrs["index"]) != i or i >= n_points:
                        raise ValueError("foreign part")
                    summ = unpack_summary(f["summary_f8"][()], f["summary_i8"][()], fields)
                    if "raw_delta" not in f or "raw_row" not in f:
                        raise KeyError("raw")
                done[i] = summ
            except (OSError, ValueError, KeyError):
                broken.append(p)
        return done, broken

    def read_raw(self, i: int):
        with h5py.File(self.path(i), "r") as f:
            return np.array(f["raw_delta"][()]), np.array(f["raw_row"][()])


# ============================================================================ the sweep
@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    path: str
    n_points: int
    n_computed: int
    n_reused: int
    status: str
    executor: str
    elapsed_s: float
    replaced_previous: bool = False
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _inspect_existing(out: Path):
    """``(config, status, n_complete)`` of an existing sweep file; raises for a foreign/unreadable file."""
    from ..io.h5util import open_for_read, read_json_attr

    try:
        f = open_for_read(out, SWEEP_KIND, SWEEP_VERSION)
    except FileFormatError as exc:
        raise FileFormatError(f"{exc} It is left untouched (even with --force); choose another -o.") from None
    with f:
        try:
            config = read_json_attr(f, "config")
            status = f.attrs["status"]
            status = status.decode() if isinstance(status, bytes) else str(status)
            n_complete = int(f.attrs["n_complete"])
        except (KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(f"'{out}' is a damaged sweep file ({exc}); it is left untouched, choose another -o.") from None
    return config, status, n_complete


@contextlib.contextmanager
def _lock(root: Path, out: Path):
    created = not root.exists()
    root.mkdir(exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"Another neurosim sweep is writing '{out}' (lock '{root / '.lock'}' is held); wait for it or choose another -o."
            ) from None
        yield created
    finally:
        os.close(fd)


def _cleanup_root(root: Path):
    """Remove ``OUT.parts`` if nothing but the lock file is left."""
    with contextlib.suppress(OSError):
        left = [p for p in root.iterdir() if p.name != ".lock"]
        if not left:
            (root / ".lock").unlink(missing_ok=True)
            root.rmdir()


def build_context(net: Network, x, profiles=(None,), faults=(), rates=(), n_chips: int = 10, seed: int = 0,
                  raw_samples=None, max_chips=None, confidence: float = 0.95) -> SweepContext:
    """Validate the sweep arguments, map the network onto each profile and build the context."""
    from ..chip import map_network

    if not isinstance(net, Network):
        raise ConfigError(f"'net' must be a neurosim.Network. Got {type(net).__name__}.")
    if isinstance(n_chips, bool) or not isinstance(n_chips, (int, np.integer)) or n_chips < 1:
        raise ConfigError(f"'--chips' must be an integer >= 1. Got {n_chips!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"'--seed' must be a non-negative integer. Got {seed!r}.")
    if raw_samples is not None and (isinstance(raw_samples, bool) or not isinstance(raw_samples, (int, np.integer))
                                    or raw_samples < 0):
        raise ConfigError(f"'--raw-samples' must be an integer >= 0 (0 = keep no raw Δ). Got {raw_samples!r}.")
    if not (0.0 < float(confidence) < 1.0):
        raise ConfigError(f"'confidence' must be in (0, 1). Got {confidence!r}.")
    specs = []
    for f in faults if not isinstance(faults, (str, FaultSpec)) else [faults]:
        specs.append(parse_sweep_fault(f) if isinstance(f, str) else f)
    profiles = tuple(profiles) if profiles else (None,)
    grid = SweepGrid(profiles=profiles, specs=tuple(specs), rates=check_rates(rates))
    x = net.check_inputs(x)
    if x.shape[0] == 0:
        raise ConfigError("The sweep needs at least one input row. Got 0.")
    for s in grid.specs:
        s.resolve_layers(net.n_layers)
        if s.site == "core" and None in grid.profiles:
            raise ConfigError(
                f"Fault '{spec_key(s)}' needs a chip mapping: give --profile (core faults are not defined on the bare network)."
            )
    targets = tuple(net if p is None else map_network(net, p, max_chips=max_chips, x_sample=x) for p in grid.profiles)
    return SweepContext(grid=grid, targets=targets, x=x, n_chips=int(n_chips), seed=int(seed),
                        raw_samples=None if raw_samples is None else int(raw_samples), max_chips=max_chips,
                        confidence=float(confidence))


class _Assembly:
    """The final file, assembled in the background while points complete.

    Lives at ``OUT.parts/<hash>/assembly.h5.tmp`` (a killed run's copy is
    discarded on resume and rebuilt from the part files, which are the only
    crash-safe record). Raw Δ of each point is written into it as soon as the
    point's part file is in place; at the end the summaries are added and the
    file is renamed onto ``OUT``.
    """

    def __init__(self, path: Path, ctx: SweepContext, n_out: int):
        self.path = path
        self.f = h5py.File(path, "w")
        N, K = ctx.grid.n_points, ctx.n_raw
        rg = self.f.create_group("raw")
        rg.attrs["rule"] = RAW_SUBSAMPLE_RULE if K < ctx.rows_per_point else "all rows (chip-major)"
        if K > 0:
            chunk_rows = max(1, min(K, (1 << 20) // (8 * n_out)))
            self.delta = rg.create_dataset("delta", shape=(N, K, n_out), dtype=np.float64, chunks=(1, chunk_rows, n_out))
            self.row = rg.create_dataset("row", shape=(N, K), dtype=np.int64, chunks=(1, K))
        else:
            self.delta = rg.create_dataset("delta", shape=(N, 0, n_out), dtype=np.float64)
            self.row = rg.create_dataset("row", shape=(N, 0), dtype=np.int64)
            self.delta = self.row = None

    def put(self, i: int, delta: np.ndarray, row: np.ndarray):
        if self.delta is not None:
            self.delta[i] = delta
            self.row[i] = row

    def finish(self, out: Path, fill):
        fill(self.f)
        self.f.close()
        self.f = None
        _fsync_file(self.path)
        os.replace(self.path, out)
        _fsync_dir(out.parent if str(out.parent) else Path("."))

    def discard(self):
        with contextlib.suppress(Exception):
            if self.f is not None:
                self.f.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


def run_sweep(ctx: SweepContext, out, net: Network | None = None, labels=None, executor=None, force: bool = False,
              progress: bool | None = None, flush_interval_s: float = 2.0) -> SweepOutcome:
    """Run (or resume) the sweep ``ctx`` into the HDF5 file ``out``.

    Parameters
    ----------
    ctx : SweepContext
        From :func:`build_context`.
    out : path
        Sweep file. If it exists with the same configuration, completed points
        are reused; with another configuration it is refused unless ``force``,
        in which case it is replaced only once the new sweep is complete.
    net : Network
        The float network (for the configuration); default: taken from ``ctx``.
    labels : array or None
        Class labels of ``ctx.x`` (stored).
    executor : executor from :mod:`neurosim.sim.executors` or None (in-process)
    progress : bool or None
        tqdm bar on stderr (None: only when stderr is a terminal).
    flush_interval_s : float
        Minimum seconds between rewrites of the partial ``out`` file.
    """
    from ..io.h5util import atomic_h5
    from .executors import SerialExecutor

    t0 = time.perf_counter()
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Output folder '{parent}' does not exist; create it or choose another -o path.")
    if out.is_dir():
        raise ConfigError(f"Output '{out}' is a directory; give a file name to -o.")
    if net is None:
        t = ctx.targets[0]
        net = t.network if isinstance(t, ChipMapping) else t
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (ctx.n_inputs,):
            raise ConfigError(f"'labels' must have shape ({ctx.n_inputs},). Got {labels.shape}.")
    config = sweep_config(net, ctx.grid, ctx.targets, ctx.x, labels, ctx.n_chips, ctx.seed, ctx.raw_samples,
                          ctx.max_chips, ctx.levels, ctx.confidence)
    chash = config_hash(config)
    N = ctx.grid.n_points
    notes = []
    existing = None
    if out.exists():
        existing = _inspect_existing(out)
        if existing[0] != config and not force:
            diff = ", ".join(_config_diff(existing[0], config)) or "configuration"
            raise ConfigError(
                f"'{out}' holds a sweep with a different configuration (differs in: {diff}; "
                f"{existing[2]} of its points complete); re-run with its arguments to resume, choose another -o, "
                f"or add --force to replace it once the new sweep completes."
            )
    same = existing is not None and existing[0] == config
    parts = _Parts(out, chash)
    if same and existing[1] == "complete":
        if parts.dir.is_dir():  # killed between the final rename and the clean-up
            with _lock(parts.root, out):
                shutil.rmtree(parts.dir, ignore_errors=True)
            _cleanup_root(parts.root)
        return SweepOutcome(str(out), N, 0, N, "complete", "none", time.perf_counter() - t0, notes=notes)
    executor = executor or SerialExecutor()
    O = simulation_network(ctx.targets[0]).n_out
    fields = summary_fields(ctx.n_chips, O, _n_layers(ctx.targets[0]) + 1, len(ctx.levels))
    replaced = existing is not None and not same
    with _lock(parts.root, out) as root_created:
        parts.dir.mkdir(parents=True, exist_ok=True)
        for stale in list(parts.dir.glob("*.tmp")) + list(parent.glob(f".{out.name}.*.tmp")):
            with contextlib.suppress(OSError):
                stale.unlink()
        done, broken = parts.scan(N, fields)
        for b in broken:
            notes.append(f"discarded unreadable part file '{b}' (its point is recomputed)")
            with contextlib.suppress(OSError):
                b.unlink()
        n_reused = len(done)
        todo = [i for i in range(N) if i not in done]
        cleans = [simulate(t, ctx.x, [], n_chips=1, seed=0, threads=1).clean for t in ctx.targets]
        owns_out = existing is None or same  # may partial states be written into OUT?

        def fill(f, status, n_complete):
            _write_attrs(f, config, chash, status, N, n_complete)
            _write_static(f, ctx, labels, cleans)
            _write_summary(f, ctx, done)

        def write_partial():
            with atomic_h5(out) as f:
                fill(f, "partial", len(done))

        try:
            executor.start()
        except BaseException:
            if root_created and not any(parts.dir.iterdir()):
                with contextlib.suppress(OSError):
                    parts.dir.rmdir()
                _cleanup_root(parts.root)
            raise
        bar = progress_bar(N * ctx.rows_per_point, f"sweep[{executor.name}]", progress, n_reused * ctx.rows_per_point)
        # One background thread writes part files (crash-safe record) and the raw Δ into the
        # assembling final file, overlapping the next simulations. A point counts as done only
        # once its part file has been renamed into place.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurosim-sweep-writer")
        assembly = None
        pending = collections.deque()
        state = {"computed": 0, "flush": time.monotonic()}

        def store(result):
            parts.write(result, fields)
            assembly.put(result["index"], result["raw_delta"], result["raw_row"])

        def copy_reused():
            for i in sorted(done):
                assembly.put(i, *parts.read_raw(i))

        def settle(block: bool):
            while pending and (block or len(pending) > 2 or pending[0][1].done()):
                i, fut, summ = pending.popleft()
                fut.result()
                done[i] = summ
                state["computed"] += 1
                if not executor.reports_rows:
                    bar.update(ctx.rows_per_point)
                bar.set_postfix_str(f"{len(done)}/{N} points", refresh=False)
                if owns_out and time.monotonic() - state["flush"] >= flush_interval_s and len(done) < N:
                    write_partial()
                    state["flush"] = time.monotonic()

        try:
            if owns_out:
                write_partial()
            assembly = writer.submit(_Assembly, parts.dir / "assembly.h5.tmp", ctx, O).result()
            reused_copy = writer.submit(copy_reused)
            on_rows = bar.update if executor.reports_rows else None
            for i, result in executor.run(_point_task, ctx, todo, on_rows):
                pending.append((i, writer.submit(store, result), result["summary"]))
                del result
                settle(block=False)
            settle(block=True)
            reused_copy.result()
            # every point is done: add the summaries and move the assembled file onto OUT
            writer.submit(assembly.finish, out, lambda f: fill(f, "complete", N)).result()
        except BaseException:
            with contextlib.suppress(BaseException):
                settle(block=True)  # keep every point already computed
            if owns_out and state["computed"]:
                with contextlib.suppress(Exception):
                    write_partial()
            if assembly is not None:
                writer.submit(assembly.discard).result()
            raise
        finally:
            writer.shutdown(wait=True)
            bar.close()
            executor.close()
        shutil.rmtree(parts.dir, ignore_errors=True)
        others = [p for p in parts.root.iterdir() if p.is_dir()] if parts.root.is_dir() else []
        if replaced:
            for p in others:
                shutil.rmtree(p, ignore_errors=True)
            notes.append(f"replaced the previous sweep in '{out}' ({existing[2]} points complete) as asked by --force")
        elif others:
            notes.append(f"'{parts.root}' still holds partial results of another configuration; left untouched")
    _cleanup_root(parts.root)
    return SweepOutcome(str(out), N, state["computed"], n_reused, "complete", executor.name,
                        time.perf_counter() - t0, replaced_previous=replaced, notes=notes)


# ============================================================================ reading
@dataclass(frozen=True, eq=False)
class SweepData:
    """A sweep file in memory (summaries only; raw Δ via :func:`load_raw_delta`)."""

    path: str
    config: dict
    status: str
    profiles: tuple
    specs: tuple
    rates: np.ndarray
    point_profile: np.ndarray
    point_spec: np.ndarray
    point_rate_index: np.ndarray
    point_rate: np.ndarray
    point_seed: np.ndarray
    complete: np.ndarray
    summary: dict
    levels: np.ndarray
    confidence: float
    x: np.ndarray
    labels: np.ndarray | None
    networks: tuple
    """Per profile: the simulated network (the mapping's quantised network, or the float one)."""
    cleans: tuple

    @property
    def n_points(self) -> int:
        return int(self.complete.size)

    def fault_specs(self) -> tuple:
        return tuple(FaultSpec.from_dict({**d, "rate": 0.0}) for d in self.config["faults"])

    def select(self, profile: int, spec: int) -> np.ndarray:
        """Indices of the complete points of (profile, spec), by ascending rate."""
        m = (self.point_profile == profile) & (self.point_spec == spec) & self.complete
        idx = np.flatnonzero(m)
        return idx[np.argsort(self.point_rate[idx], kind="stable")]


def load_sweep(path) -> SweepData:
    """Read a sweep file (complete or partial)."""
    from ..io.h5util import open_for_read, read_json_attr
    from ..io.mapping_io import read_network_group

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f:
        try:
            st = f.attrs["status"]
            status = st.decode() if isinstance(st, bytes) else str(st)
            dec = lambda a: [v.decode() if isinstance(v, bytes) else str(v) for v in a]  # noqa: E731
            sg = f["summary"]
            pts = f["points"]
            nets, cleans = [], []
            for k in sorted(f["targets"].keys()):
                g = f["targets"][k]
                kind = g.attrs["kind"]
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                nets.append(read_network_group(g["qnetwork"] if kind == "mapping" else g["network"]))
                cleans.append(np.array(g["clean"][()]))
            return SweepData(
                path=str(path), config=read_json_attr(f, "config"), status=status,
                profiles=tuple(p or None for p in dec(f["grid/profiles"][()])),
                specs=tuple(dec(f["grid/specs"][()])), rates=np.array(f["grid/rates"][()]),
                point_profile=np.array(pts["profile"][()]), point_spec=np.array(pts["spec"][()]),
                point_rate_index=np.array(pts["rate_index"][()]), point_rate=np.array(pts["rate"][()]),
                point_seed=np.array(pts["seed"][()]), complete=np.array(pts["complete"][()]),
                summary={k: np.array(sg[k][()]) for k in sg.keys()},
                levels=np.array(sg.attrs["quantile_levels"]), confidence=float(sg.attrs["confidence"]),
                x=np.array(f["inputs/x"][()]),
                labels=np.array(f["inputs/labels"][()]) if "labels" in f["inputs"] else None,
                networks=tuple(nets), cleans=tuple(cleans),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"'{path}' is a damaged sweep file ({exc}); re-run the sweep.") from None


def load_raw_delta(path, index: int):
    """Raw Δ of point ``index`` of a complete sweep file -> ``(delta (K, n_out), row (K,))``.

    ``row = chip * n_inputs + input``; when every row is kept, ``delta`` reshapes
    to ``(n_chips, n_inputs, n_out)``.
    """
    from ..io.h5util import open_for_read

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f:
        if "raw" not in f:
            raise FileFormatError(f"'{path}' is a partial sweep: raw Δ is still in '{path}.parts/'; finish the sweep first.")
        n = f["raw/delta"].shape[0]
        if not 0 <= index < n:
            raise ConfigError(f"Point index must be in 0..{n - 1}. Got {index}.")
        return np.array(f["raw/delta"][index]), np.array(f["raw/row"][index])
