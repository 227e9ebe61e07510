r"""Cluster-robust statistics: rates and summaries whose samples come in chips.

A fault-injection campaign simulates ``C`` chips, each on ``B`` inputs with
``O`` outputs. With permanent faults one chip's faults are shared by all of
its inputs and outputs, so the ``C·B·O`` samples are *not* independent: a
chip with a bad neuron fails on many inputs at once. An interval that treats
them as independent (Clopper–Pearson on ``k`` of ``n = C·B·O``) is far too
narrow (a design effect of ~900 was measured for permanent neuron crashes
on the digits example). The chips themselves are independent, so

* :func:`clustered_proportion` — a proportion over (chips × items) with the
  Korn–Graubard interval [KG1998]_ of
  :func:`neurosim.analysis.stats.clustered_interval` (Clopper–Pearson with
  the effective sample size ``n* = n / deff``,
  ``deff = max(1, B·Var(f_g)/(p̂(1-p̂)))`` from the variance of the per-chip
  rates ``f_g``), reshaped for ``(chips, inputs, outputs)`` arrays;
* :func:`cluster_bootstrap` — percentile bootstrap over chips (resample whole
  chips with replacement) of any statistic of the ``(C, ...)`` array, for
  quantities with no closed-form interval (coverage fractions, median
  relative errors).

Both are pure numpy/scipy and deterministic for a given ``seed``.

.. [KG1998] E. L. Korn, B. I. Graubard, "Confidence intervals for proportions
   with small expected number of positive counts estimated from survey data",
   Survey Methodology 24(2), 193–201, 1998.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as _st

from ..errors import ConfigError
from .stats import clustered_interval

__all__ = ["clustered_proportion", "cluster_bootstrap"]


def _check_confidence(confidence) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ConfigError(f"'confidence' must be in (0, 1), e.g. 0.95. Got {confidence!r}.")
    return c


def clustered_proportion(fail, confidence: float = 0.95, side: str = "two-sided") -> dict:
    """:func:`neurosim.analysis.stats.clustered_interval` on ``(clusters, ...)`` (trailing axes flattened), plus ``half_width``.

    The interval itself lives in ``stats`` (one home for every interval);
    this only reshapes and adds half the clustered interval's width.
    """
    f = np.asarray(fail, dtype=bool)
    if f.ndim < 1 or f.size == 0:
        raise ConfigError(f"'fail' must be a non-empty (clusters, items) array. Got shape {f.shape}.")
    if not 0.0 < float(confidence) < 1.0:
        raise ConfigError(f"'confidence' must be in (0, 1), e.g. 0.95. Got {confidence!r}.")
    out = clustered_interval(f.reshape(f.shape[0], -1), confidence, side)
    out["half_width"] = (out["hi_clustered"] - out["lo_clustered"]) / 2.0
    return out


def cluster_bootstrap(stat, data, n_boot: int = 200, confidence: float = 0.95, seed: int = 0,
                      method: str = "normal") -> dict:
    r"""Bootstrap over clusters (axis 0 of ``data``) of ``stat(data)``.

    ``stat`` returns a float or a 1-D array of floats (NaN = not defined).
    Resamples whole chips with replacement ``n_boot`` times (generator
    ``numpy.random.default_rng(seed)``: same seed, same interval), per
    component ignoring resamples where it is NaN, and returns the statistic
    on the original data with

    * ``method="normal"`` (default): ``value ± z · sd*`` with ``sd*`` the
      standard deviation of the resampled values. Used for coverage
      fractions and median relative errors, whose bootstrap distribution is
      *shifted* (resampled chips repeat, which shrinks the per-pair standard
      errors) while its spread is right, so percentile limits can exclude
      the estimate;
    * ``method="percentile"``: the ``(1±confidence)/2`` percentiles.

    Returns
    -------
    dict
        ``value, lo, hi`` (floats, or lists for a vector statistic; a
        component's limits are NaN when fewer than 10 resamples defined it),
        ``n_boot, confidence``.
    """
    conf = _check_confidence(confidence)
    if int(n_boot) != n_boot or n_boot < 1:
        raise ConfigError(f"'n_boot' must be an integer >= 1. Got {n_boot!r}.")
    d = np.asarray(data)
    if d.ndim < 1 or d.shape[0] < 2:
        raise ConfigError(f"'data' must have at least 2 clusters on axis 0. Got shape {d.shape}.")
    value = np.asarray(stat(d), dtype=np.float64)
    scalar = value.ndim == 0
    rng = np.random.default_rng(seed)
    C = d.shape[0]
    vals = np.array([np.asarray(stat(d[rng.integers(0, C, C)]), dtype=np.float64).reshape(-1)
                     for _ in range(int(n_boot))])
    ok = np.isfinite(vals)
    lo = np.full(vals.shape[1], np.nan)
    hi = np.full(vals.shape[1], np.nan)
    if method not in ("normal", "percentile"):
        raise ConfigError(f"'method' must be 'normal' or 'percentile'. Got {method!r}.")
    z = float(_st.norm.ppf(0.5 + conf / 2))
    flat = value.reshape(-1)
    for j in range(vals.shape[1]):
        v = vals[ok[:, j], j]
        if v.size >= 10 and np.isfinite(flat[j]):
            if method == "percentile":
                lo[j], hi[j] = np.quantile(v, [(1 - conf) / 2, (1 + conf) / 2])
            else:
                sd = float(np.std(v, ddof=1))
                lo[j], hi[j] = flat[j] - z * sd, flat[j] + z * sd
    if scalar:
        return {"value": float(value), "lo": float(lo[0]), "hi": float(hi[0]), "n_boot": int(n_boot),
                "confidence": conf}
    return {"value": value.tolist(), "lo": lo.tolist(), "hi": hi.tolist(), "n_boot": int(n_boot), "confidence": conf}
