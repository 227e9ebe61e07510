"""Statistics for fault-injection campaigns: intervals, bands, sample sizes.

Every function here is a pure function of arrays and scalars (numpy + scipy
only) and validates its user input with :class:`neurosim.errors.ConfigError`.

Contents
--------
- Binomial proportions (e.g. the per-chip failure rate
  ``q = P(||Δ||_∞ ≥ eps)``): :func:`clopper_pearson` (exact) and
  :func:`wilson_interval` (score). Near 0 and 1 the Wald interval
  ``p̂ ± z sqrt(p̂(1-p̂)/n)`` collapses to a point and must not be used
  [BCD2001]_; neither function implements it.
- :func:`empirical_tail`: estimate and Clopper–Pearson interval of
  ``P(|Δ| ≥ eps)`` from Monte Carlo samples; its one-sided upper limit is
  the per-copy failure probability to feed to
  :func:`neurosim.analysis.planner.plan_replicas`.
- Moments: :func:`mean_ci` (normal approximation) and :func:`std_ci`
  (chi-square, assumes normal samples).
- Whole distributions: :func:`dkw_epsilon` / :func:`dkw_sample_size` (the
  Dvoretzky–Kiefer–Wolfowitz band with Massart's constant) and
  :func:`ks_distance_normal` (exact sup-distance to a normal law, e.g. the
  one predicted by bound b3/b4).
- :func:`leveugle_sample_size`: statistical fault-injection sample size.
- :func:`rank_loss`: fraction of misordered pairs, as in the paper's code.

Decisions (recorded here so reviewers and users can find them)
--------------------------------------------------------------
1. ``clopper_pearson`` edge cases use closed forms: for ``k = 0`` the upper
   limit is ``1 - a**(1/n)`` and the lower limit is exactly 0; for ``k = n``
   the lower limit is ``a**(1/n)`` and the upper limit exactly 1
   (``a = alpha/2`` two-sided, ``alpha`` one-sided). ``side="upper"`` means
   a one-sided *upper* confidence bound, returned as ``(0, hi)``;
   ``side="lower"`` returns ``(lo, 1)``.
2. ``mean_ci`` uses the normal quantile ``z`` (not Student's t), as its name
   "normal approximation" says; with fewer than ~30 samples the interval is
   too narrow. ``std_ci`` is exact only for i.i.d. *normal* samples; error
   distributions under faults are often a point mass at 0 plus heavy tails,
   for which the chi-square interval can badly under-cover. Prefer the
   DKW band or bootstrap then.
3. ``ks_distance_normal`` with ``std == 0`` compares with the point mass at
   ``mean`` (CDF ``1[x ≥ mean]``); the supremum is then
   ``max(#{x < mean}, #{x > mean}) / n`` exactly.
4. ``leveugle_sample_size`` uses *rounded* normal quantiles: 1.96 (95 %)
   and 2.58 (99 %), the values that reproduce the published large-N sizes
   for ``e = 1 %`` exactly (9,604 and 16,641; the exact quantile 2.5758
   would give 16,587), and the customary 1.645 for 90 % (not checked
   against the paper's text). Any other confidence level uses the
   exact quantile ``Φ⁻¹(1 - (1 - confidence)/2)``; pass ``t=`` to override
   (e.g. ``t=2.5758`` gives 16,587 at 99 %). The result is rounded *up*
   after discarding floating-point noise of relative size 1e-12, so that
   2.58² · 0.25 / 0.01² = 16,641 is not reported as 16,642.
5. ``rank_loss`` counts a pair as concordant only if both arrays order it
   strictly the same way; every tie (in either array) is discordant. This is
   exactly the paper's helper ``rank_loss`` (LPD-EPFL/nn-fault-tolerance,
   ``fault_tolerance/helpers.py``) whenever ``a`` has no ties; with ties in
   ``a`` their result depends on ``np.argsort``'s arbitrary order among tied
   entries, ours is the conservative, order-independent choice.

References
----------
.. [CP1934] C. J. Clopper, E. S. Pearson, "The use of confidence or fiducial
   limits illustrated in the case of the binomial", Biometrika 26(4),
   404–413, 1934.
.. [W1927] E. B. Wilson, "Probable inference, the law of succession, and
   statistical inference", JASA 22(158), 209–212, 1927.
.. [BCD2001] L. D. Brown, T. T. Cai, A. DasGupta, "Interval estimation for a
   binomial proportion", Statistical Science 16(2), 101–133, 2001.
.. [DKW1956] A. Dvoretzky, J. Kiefer, J. Wolfowitz, "Asymptotic minimax
   character of the sample distribution function ...", Ann. Math. Statist.
   27(3), 642–669, 1956.
.. [M1990] P. Massart, "The tight constant in the Dvoretzky–Kiefer–Wolfowitz
   inequality", Ann. Probab. 18(3), 1269–1283, 1990.
.. [L2009] R. Leveugle, A. Calvez, P. Maistri, P. Vanhauwaert, "Statistical
   fault injection: quantified error and confidence", DATE 2009, 502–506,
   doi:10.1109/DATE.2009.5090716.
.. [EM2019] E. M. El Mhamdi, R. Guerraoui, A. Kucharavy, S. Volodin, "The
   probabilistic fault tolerance of neural networks in the continuous
   limit", arXiv:1902.01686; code: github.com/LPD-EPFL/nn-fault-tolerance.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from scipy import stats

from .. import _validate as V
from ..errors import ConfigError

__all__ = [
    "clopper_pearson",
    "wilson_interval",
    "clustered_interval",
    "mean_ci",
    "t_interval",
    "std_ci",
    "dkw_epsilon",
    "dkw_sample_size",
    "ks_distance_normal",
    "leveugle_sample_size",
    "LEVEUGLE_T",
    "rank_loss",
    "TailEstimate",
    "empirical_tail",
]

_SIDES = ("two-sided", "upper", "lower")


# ---------------------------------------------------------------------------
# validation helpers (scalar checks: neurosim._validate)
# ---------------------------------------------------------------------------

def _confidence(confidence) -> float:
    return V.open_unit(confidence, "confidence", "coverage probability of the interval", "0.95")


def _counts(k, n) -> Tuple[np.ndarray, np.ndarray]:
    """Validate and broadcast binomial counts ``0 <= k <= n``, ``n >= 1``."""
    k = V.int_array(k, "k", "number of successes", 0)
    n = V.int_array(n, "n", "number of trials", 1)
    try:
        k, n = np.broadcast_arrays(k, n)
    except ValueError:
        raise ConfigError(
            f"The 'k' and 'n' arrays must broadcast together. Got shapes {np.shape(k)} and {np.shape(n)}."
        ) from None
    if np.any(k > n):
        i = np.flatnonzero(k > n)[0]
        raise ConfigError(
            f"The 'k' (number of successes) must be <= 'n' (number of trials). "
            f"Got k={int(k.flat[i])} with n={int(n.flat[i])}."
        )
    return k, n


def _samples(samples, name: str = "samples") -> np.ndarray:
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"The '{name}' must be an array of real numbers. Got {samples!r:.80}.") from None
    if not np.all(np.isfinite(x)):
        raise ConfigError(
            f"The '{name}' must be finite; found {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values. "
            "Drop or fix them first."
        )
    return x


def _axis(x: np.ndarray, axis) -> int:
    if x.ndim == 0:
        raise ConfigError("The 'samples' must be an array with at least one dimension. Got a scalar.")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral) or not -x.ndim <= axis < x.ndim:
        raise ConfigError(
            f"The 'axis' must be an integer in [{-x.ndim}, {x.ndim - 1}] for {x.ndim}-D samples. Got {axis!r}."
        )
    return int(axis) % x.ndim


def _out(a: np.ndarray):
    """0-d arrays become numpy scalars, others stay arrays."""
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a


# ---------------------------------------------------------------------------
# binomial proportions
# ---------------------------------------------------------------------------

def clopper_pearson(k, n, confidence: float = 0.95, side: str = "two-sided"):
    r"""Exact (Clopper–Pearson) confidence interval of a binomial proportion.

    With ``alpha = 1 - confidence`` and ``a = alpha/2`` (two-sided) or
    ``a = alpha`` (one-sided) [CP1934]_:

    .. math::

        \mathrm{lo} = B^{-1}(a;\, k,\, n-k+1), \qquad
        \mathrm{hi} = B^{-1}(1-a;\, k+1,\, n-k),

    with ``lo = 0`` for ``k = 0`` and ``hi = 1`` for ``k = n``. The edge
    cases use their closed forms ``hi(k=0) = 1 - a^{1/n}`` and
    ``lo(k=n) = a^{1/n}``. The coverage is at least ``confidence`` for every
    true proportion (it is conservative).

    Parameters
    ----------
    k : int or array_like of int
        Number of successes (e.g. chips whose output error exceeded eps).
    n : int or array_like of int
        Number of trials, ``n >= 1``; broadcast against ``k``.
    confidence : float, default 0.95
        Coverage probability in (0, 1).
    side : {"two-sided", "upper", "lower"}
        ``"upper"``: one-sided upper bound, returned as ``(0, hi)``;
        ``"lower"``: one-sided lower bound, returned as ``(lo, 1)``.

    Returns
    -------
    lo, hi : float or ndarray
        Interval limits, shaped like ``broadcast(k, n)``.

    Raises
    ------
    ConfigError
        If ``k``/``n`` are not whole numbers with ``0 <= k <= n``, ``n >= 1``,
        ``confidence`` is not in (0, 1) or ``side`` is unknown.

    Examples
    --------
    >>> lo, hi = clopper_pearson(0, 100, side="upper")   # "rule of three"-like
    >>> round(float(hi), 4)
    0.0295
    """
    conf = _confidence(confidence)
    if side not in _SIDES:
        raise ConfigError(f"The 'side' of the interval must be one of {', '.join(_SIDES)}. Got {side!r}.")
    k, n = _counts(k, n)
    alpha = 1.0 - conf
    a = alpha / 2.0 if side == "two-sided" else alpha
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    lo = np.zeros(k.shape)
    hi = np.ones(k.shape)
    if side in ("two-sided", "lower"):
        inner = (k > 0) & (k < n)
        # safe shape parameters where the edge forms apply (avoids beta(0, .))
        lo = np.where(inner, stats.beta.ppf(a, np.where(inner, kf, 1.0), nf - kf + 1.0), lo)
        lo = np.where(k == n, np.exp(np.log(a) / nf), lo)
        lo = np.where(k == 0, 0.0, lo)
    if side in ("two-sided", "upper"):
        inner = (k > 0) & (k < n)
        hi = np.where(inner, stats.beta.ppf(1.0 - a, kf + 1.0, np.where(inner, nf - kf, 1.0)), hi)
        hi = np.where(k == 0, -np.expm1(np.log(a) / nf), hi)
        hi = np.where(k == n, 1.0, hi)
    return _out(lo), _out(hi)


def clustered_interval(fail, confidence: float, side: str = "two-sided") -> dict:
    r"""Proportion of failures in ``fail`` (clusters × items) with a cluster-robust interval.

    Rows are independent clusters (chips, or replica groups); items within a
    row may be correlated. Reports the naive Clopper–Pearson interval over all
    ``n = rows × items`` and the Korn–Graubard one: Clopper–Pearson with the
    effective size ``n* = n / deff`` and ``k* = p̂ n*``, where
    ``deff = max(1, B Var(f_g) / (p̂(1-p̂)))`` compares the variance of the
    row means ``f_g`` with the binomial one (``deff = 1`` when ``p̂`` is 0 or 1
    or there is one row).

    Reference: E. L. Korn, B. I. Graubard, "Confidence intervals for
    proportions with small expected number of positive counts estimated from
    survey data", Survey Methodology 24(2), 193–201, 1998.
    """
    f = np.asarray(fail, dtype=bool)
    if f.ndim != 2 or f.size == 0:
        raise ConfigError(f"'fail' must be a non-empty (clusters, items) array. Got shape {f.shape}.")
    G, B = f.shape
    n = G * B
    k = int(f.sum())
    p = k / n
    lo, hi = clopper_pearson(k, n, confidence, side)
    deff = 1.0
    if G >= 2 and 0 < k < n:
        fg = f.mean(axis=1)
        deff = max(1.0, float(B * np.var(fg, ddof=1) / (p * (1.0 - p))))
    n_eff = n / deff
    k_eff = p * n_eff
    alpha = 1.0 - confidence
    a = alpha / 2.0 if side == "two-sided" else alpha
    clo = 0.0 if (k_eff <= 0 or side == "upper") else float(stats.beta.ppf(a, k_eff, n_eff - k_eff + 1.0))
    chi = 1.0 if (k_eff >= n_eff or side == "lower") else float(stats.beta.ppf(1.0 - a, k_eff + 1.0, n_eff - k_eff))
    return {"k": k, "n": n, "rate": p, "lo": float(lo), "hi": float(hi), "side": side,
            "design_effect": deff, "n_effective": n_eff, "lo_clustered": clo, "hi_clustered": chi,
            "clusters": G, "confidence": float(confidence)}


def wilson_interval(k, n, confidence: float = 0.95):
    r"""Wilson score interval of a binomial proportion [W1927]_.

    With ``p̂ = k/n`` and ``z = Φ⁻¹(1 - (1-confidence)/2)``:

    .. math::

        \frac{k + z^2/2}{n + z^2} \pm \frac{z}{n + z^2}
        \sqrt{\frac{k(n-k)}{n} + \frac{z^2}{4}}.

    Unlike Wald, it behaves well near 0 and 1 [BCD2001]_ but its coverage can
    dip slightly below nominal; use :func:`clopper_pearson` when a guarantee
    is needed. ``lo`` is exactly 0 for ``k = 0`` and ``hi`` exactly 1 for
    ``k = n`` (the formula gives these up to rounding).

    Parameters
    ----------
    k, n : int or array_like of int
        Successes and trials, ``0 <= k <= n``, ``n >= 1`` (broadcast).
    confidence : float, default 0.95
        Nominal coverage in (0, 1).

    Returns
    -------
    lo, hi : float or ndarray
    """
    conf = _confidence(confidence)
    k, n = _counts(k, n)
    z = stats.norm.ppf(0.5 + conf / 2.0)
    kf, nf = k.astype(np.float64), n.astype(np.float64)
    z2 = z * z
    centre = (kf + z2 / 2.0) / (nf + z2)
    half = z / (nf + z2) * np.sqrt(kf * (nf - kf) / nf + z2 / 4.0)
    lo = np.clip(centre - half, 0.0, 1.0)
    hi = np.clip(centre + half, 0.0, 1.0)
    lo = np.where(k == 0, 0.0, lo)
    hi = np.where(k == n, 1.0, hi)
    return _out(lo), _out(hi)


@dataclass(frozen=True)
class TailEstimate:
    """Monte Carlo estimate of a tail probability ``P(|Δ| ≥ eps)``."""

    k: object
    """Number of samples with ``|Δ| ≥ eps`` (int, or an integer array when ``axis`` is given)."""
    n: int
    """Number of samples."""
    estimate: object
    """Point estimate ``k / n`` (float or array, like ``k``)."""
    lo: object
    """Lower Clopper–Pearson limit (0 for ``side="upper"``)."""
    hi: object
    """Upper Clopper–Pearson limit (1 for ``side="lower"``)."""
    eps: float
    """Threshold the samples were compared with."""
    confidence: float
    """Coverage probability of ``[lo, hi]``."""
    side: str
    """``"two-sided"``, ``"upper"`` or ``"lower"``."""


def empirical_tail(abs_values, eps: float, confidence: float = 0.95, side: str = "two-sided",
                   axis: Optional[int] = None) -> TailEstimate:
    r"""Estimate ``P(|Δ| ≥ eps)`` with an exact Clopper–Pearson interval.

    ``k = #{i : |Δ_i| ≥ eps}`` out of ``n`` i.i.d. samples; the interval is
    :func:`clopper_pearson` ``(k, n, confidence, side)``. For the replica
    planner pass the per-chip worst error ``max_j |Δ_j|`` and use
    ``side="upper"``: ``hi`` is then a ``confidence``-level upper bound on
    the per-copy failure probability ``q``.

    Parameters
    ----------
    abs_values : array_like
        Non-negative magnitudes ``|Δ|`` (e.g. ``np.abs(result.delta).max(-1)``).
    eps : float
        Threshold, ``eps >= 0``.
    confidence : float, default 0.95
    side : {"two-sided", "upper", "lower"}
    axis : int or None, default None
        None pools every element into one sample; an integer counts along
        that axis and returns arrays for the remaining dimensions.

    Returns
    -------
    TailEstimate
    """
    eps_v = V.real(eps, "eps", "error threshold")
    if eps_v < 0:
        raise ConfigError(f"The 'eps' (error threshold) must be >= 0. Got {eps!r}.")
    x = _samples(abs_values, "abs_values")
    if np.any(x < 0):
        raise ConfigError(
            f"The 'abs_values' must be non-negative magnitudes |Δ|; found minimum {float(x.min())!r}. "
            "Pass np.abs(delta)."
        )
    if axis is None:
        x = x.ravel()
        ax = 0
    else:
        ax = _axis(x, axis)
    n = x.shape[ax] if x.ndim else 0
    if n < 1:
        raise ConfigError("The 'abs_values' must hold at least one sample. Got an empty array.")
    k = np.count_nonzero(x >= eps_v, axis=ax)
    lo, hi = clopper_pearson(k, n, confidence, side)
    est = np.asarray(k, dtype=np.float64) / n
    if np.ndim(k) == 0:  # plain Python scalars: JSON-friendly
        return TailEstimate(k=int(k), n=int(n), estimate=float(est), lo=float(lo), hi=float(hi),
                            eps=eps_v, confidence=float(confidence), side=side)
    return TailEstimate(k=np.asarray(k), n=int(n), estimate=est, lo=lo, hi=hi,
                        eps=eps_v, confidence=float(confidence), side=side)


# ---------------------------------------------------------------------------
# moments
# ---------------------------------------------------------------------------

def mean_ci(samples, confidence: float = 0.95, axis: int = 0):
    r"""Mean with a normal-approximation confidence interval.

    ``mean ± z · s / sqrt(n)`` with the sample standard deviation ``s``
    (``ddof=1``) and ``z = Φ⁻¹(1 - (1-confidence)/2)``. Valid by the central
    limit theorem for large ``n`` (rule of thumb n ≥ 30, more for skewed or
    heavy-tailed Δ); too narrow for small ``n`` (it does not use Student's t).

    Parameters
    ----------
    samples : array_like
        At least two samples along ``axis``; finite.
    confidence : float, default 0.95
    axis : int, default 0
        Axis holding the samples.

    Returns
    -------
    mean, lo, hi, stderr : float or ndarray
        Shaped like ``samples`` without ``axis``.
    """
    conf = _confidence(confidence)
    x = _samples(samples)
    ax = _axis(x, axis)
    n = x.shape[ax]
    if n < 2:
        raise ConfigError(
            f"The 'samples' must hold at least 2 values along axis {axis} to estimate a standard error. Got {n}."
        )
    mean = x.mean(axis=ax)
    stderr = x.std(axis=ax, ddof=1) / math.sqrt(n)
    z = stats.norm.ppf(0.5 + conf / 2.0)
    return _out(mean), _out(mean - z * stderr), _out(mean + z * stderr), _out(stderr)


@functools.lru_cache(maxsize=64)
def _t_quantile(q: float, dof: int) -> float:
    return float(stats.t.ppf(q, dof))


def t_interval(samples, confidence: float = 0.95) -> np.ndarray:
    r"""Student-t interval of the mean along axis 0: array ``(2, ...)``; NaN with fewer than 2 samples.

    ``mean ± t_{n-1, 1/2 + confidence/2} · s / sqrt(n)`` (``s`` with ``ddof=1``):
    exact for normal samples, and the sweep's interval over independent chips
    (or replica groups). No argument checks: a hot path of the sweep; use
    :func:`mean_ci` for a checked (normal-approximation) interval.
    """
    samples = np.asarray(samples, dtype=np.float64)
    n = samples.shape[0]
    m = samples.mean(axis=0)
    if n < 2:
        nan = np.full_like(m, np.nan)
        return np.stack([nan, nan])
    half = _t_quantile(0.5 + confidence / 2, n - 1) * samples.std(axis=0, ddof=1) / math.sqrt(n)
    return np.stack([m - half, m + half])


def std_ci(samples, confidence: float = 0.95, axis: int = 0):
    r"""Standard deviation with a chi-square confidence interval.

    Assumes i.i.d. **normal** samples, for which
    ``(n-1) s² / σ² ~ χ²_{n-1}``; then

    .. math::

        \sigma \in \left[ s\sqrt{\tfrac{n-1}{\chi^2_{n-1,\,1-\alpha/2}}},\;
                          s\sqrt{\tfrac{n-1}{\chi^2_{n-1,\,\alpha/2}}} \right].

    The interval is not robust to non-normality: with excess kurtosis (e.g.
    Δ that is 0 on most chips and large on a few) its coverage can be far
    below ``confidence``. Check normality first (:func:`ks_distance_normal`).

    Parameters
    ----------
    samples : array_like
        At least two finite samples along ``axis``.
    confidence : float, default 0.95
    axis : int, default 0

    Returns
    -------
    std, lo, hi : float or ndarray
        Sample standard deviation (``ddof=1``) and the interval limits.
    """
    conf = _confidence(confidence)
    x = _samples(samples)
    ax = _axis(x, axis)
    n = x.shape[ax]
    if n < 2:
        raise ConfigError(f"The 'samples' must hold at least 2 values along axis {axis} to estimate a spread. Got {n}.")
    s = x.std(axis=ax, ddof=1)
    alpha = 1.0 - conf
    df = n - 1
    lo = s * np.sqrt(df / stats.chi2.ppf(1.0 - alpha / 2.0, df))
    hi = s * np.sqrt(df / stats.chi2.ppf(alpha / 2.0, df))
    return _out(s), _out(lo), _out(hi)


# whole distributions, sample sizes and rank loss live in .distribution (kept importable from here)
from .distribution import (  # noqa: E402  (after the helpers it imports)
    LEVEUGLE_T,
    dkw_epsilon,
    dkw_sample_size,
    ks_distance_normal,
    leveugle_sample_size,
    rank_loss,
)
