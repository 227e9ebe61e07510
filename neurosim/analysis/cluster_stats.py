r"""Cluster-robust statistics: rates and summaries whose samples come in chips.

A fault-injection campaign simulates ``C`` chips, each on ``B`` inputs with
``O`` outputs. With permanent faults one chip's faults are shared by all of
its inputs and outputs, so the ``C·B·O`` samples are *not* independent: a
chip with a bad neuron fails on many inputs at once. An interval that treats
them as independent (Clopper–Pearson on ``k`` of ``n = C·B·O``) is far too
narrow (a design effect of ~900 was measured for permanent neuron crashes
on the digits example). The chips themselves are independent, so

* :func:`clustered_proportion` — a proportion over (chips × items) with the
  Korn–Graubard interval [KG1998]_: Clopper–Pearson with the effective sample
  size ``n* = n / deff``, ``deff = max(1, B·Var(f_g)/(p̂(1-p̂)))`` from the
  variance of the per-chip rates ``f_g`` (``deff = 1`` when ``p̂ ∈ {0, 1}``
  or there is one chip);
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
from .stats import clopper_pearson

__all__ = ["clustered_proportion", "cluster_bootstrap"]


def _check_confidence(confidence) -> float:
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise ConfigError(f"'confidence' must be in (0, 1), e.g. 0.95. Got {confidence!r}.")
    return c


def clustered_proportion(fail, confidence: float = 0.95, side: str = "two-sided") -> dict:
    r"""Proportion of ``True`` in ``fail`` (clusters × items) with a cluster-robust interval.

    Rows are independent clusters (chips); items within a row may be
    correlated. Returns the naive Clopper–Pearson limits ``lo``/``hi`` (all
    ``n`` items independent — kept for comparison only) and the Korn–Graubard
    limits ``lo_clustered``/``hi_clustered`` [KG1998]_:

    .. math::

        \mathrm{deff} = \max\!\Big(1, \frac{B\,\widehat{\operatorname{Var}}(f_g)}{\hat p(1-\hat p)}\Big),\quad
        n^* = n/\mathrm{deff},\quad k^* = \hat p\, n^*,

        \mathrm{lo} = B^{-1}(a; k^*, n^*-k^*+1),\quad \mathrm{hi} = B^{-1}(1-a; k^*+1, n^*-k^*).

    Parameters
    ----------
    fail : array_like of bool, shape (clusters, ...)
        Trailing axes are flattened into items.
    confidence : float
        Coverage in (0, 1).
    side : {"two-sided", "upper", "lower"}

    Returns
    -------
    dict
        ``k, n, rate, lo, hi, lo_clustered, hi_clustered, half_width`` (half
        the clustered interval), ``design_effect, n_effective, clusters,
        confidence, side``.
    """
    conf = _check_confidence(confidence)
    if side not in ("two-sided", "upper", "lower"):
        raise ConfigError(f"'side' must be one of two-sided, upper, lower. Got {side!r}.")
    f = np.asarray(fail, dtype=bool)
    if f.ndim < 1 or f.size == 0:
        raise ConfigError(f"'fail' must be a non-empty (clusters, items) array. Got shape {f.shape}.")
    f = f.reshape(f.shape[0], -1)
    G, B = f.shape
    n = G * B
    k = int(f.sum())
    p = k / n
    lo, hi = clopper_pearson(k, n, conf, side)
    deff = 1.0
    if G >= 2 and 0 < k < n:
        fg = f.mean(axis=1)
        deff = max(1.0, float(B * np.var(fg, ddof=1) / (p * (1.0 - p))))
    n_eff = n / deff
    k_eff = p * n_eff
    a = (1.0 - conf) / 2.0 if side == "two-sided" else 1.0 - conf
    clo = 0.0 if (k_eff <= 0 or side == "upper") else float(_st.beta.ppf(a, k_eff, n_eff - k_eff + 1.0))
    chi = 1.0 if (k_eff >= n_eff or side == "lower") else float(_st.beta.ppf(1.0 - a, k_eff + 1.0, n_eff - k_eff))
    return {"k": k, "n": n, "rate": p, "lo": float(lo), "hi": float(hi), "lo_clustered": clo,
            "hi_clustered": chi, "half_width": (chi - clo) / 2.0, "design_effect": deff,
            "n_effective": n_eff, "clusters": G, "confidence": conf, "side": side}


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
