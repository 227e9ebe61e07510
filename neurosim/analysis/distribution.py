"""Whole-distribution statistics: DKW bands, the KS distance to a normal law, sample sizes, rank loss.

Split out of :mod:`neurosim.analysis.stats` (which re-exports every name here,
so ``from neurosim.analysis.stats import dkw_epsilon`` keeps working); the
decisions and references these functions cite ([DKW1956]_, [M1990]_,
[L2009]_, [EM2019]_, decisions 3-5) are recorded in that module's docstring.
"""
from __future__ import annotations

import math
import numbers
from typing import Optional

import numpy as np
from scipy import special, stats

from .. import _validate as V
from ..errors import ConfigError
from .stats import _axis, _confidence, _out, _samples

__all__ = ["dkw_epsilon", "dkw_sample_size", "ks_distance_normal", "leveugle_sample_size", "LEVEUGLE_T", "rank_loss"]

#: Rounded two-sided normal quantiles ``t`` (keys are confidence levels);
#: 1.96 and 2.58 reproduce Leveugle et al.'s [L2009] 9,604 and 16,641.
LEVEUGLE_T = {0.90: 1.645, 0.95: 1.96, 0.99: 2.58}

#: Above this many elements :func:`rank_loss` switches from the blocked
#: O(n²) pair count to the O(n log n) count through Kendall's tau.
_RANK_PAIRS_MAX_N = 5000

# ---------------------------------------------------------------------------
# whole distributions
# ---------------------------------------------------------------------------

def dkw_epsilon(n, alpha: float = 0.05):
    r"""Half-width of the Dvoretzky–Kiefer–Wolfowitz confidence band.

    For ``n`` i.i.d. samples with empirical CDF ``F_n`` [DKW1956]_ with
    Massart's tight constant [M1990]_:

    .. math::

        P\left(\sup_x |F_n(x) - F(x)| > \varepsilon\right) \le 2 e^{-2 n \varepsilon^2},
        \qquad \varepsilon = \sqrt{\frac{\ln(2/\alpha)}{2n}},

    so ``F`` lies within ``F_n ± ε`` everywhere with probability at least
    ``1 - alpha``. Exact level for continuous ``F``, conservative otherwise.

    Parameters
    ----------
    n : int or array_like of int
        Sample size(s), ``n >= 1``.
    alpha : float, default 0.05
        Error probability in (0, 1).

    Returns
    -------
    float or ndarray
    """
    a = V.open_unit(alpha, "alpha", "error probability of the band", "0.05")
    n = V.int_array(n, "n", "number of samples", 1)
    return _out(np.sqrt(math.log(2.0 / a) / (2.0 * n.astype(np.float64))))


def dkw_sample_size(eps: float, alpha: float = 0.05) -> int:
    r"""Smallest ``n`` whose DKW band half-width is at most ``eps``.

    ``n = ceil(ln(2/alpha) / (2 eps²))``, the inverse of :func:`dkw_epsilon`.

    Parameters
    ----------
    eps : float
        Band half-width in (0, 1).
    alpha : float, default 0.05

    Returns
    -------
    int
    """
    e = V.open_unit(eps, "eps", "half-width of the CDF band", "0.01")
    a = V.open_unit(alpha, "alpha", "error probability of the band", "0.05")
    x = math.log(2.0 / a) / (2.0 * e * e)
    n = max(1, math.ceil(x * (1.0 - 1e-12)))
    while math.sqrt(math.log(2.0 / a) / (2.0 * n)) > e:  # guard the rounding
        n += 1
    return n


def ks_distance_normal(samples, mean, std, axis: int = 0):
    r"""Exact Kolmogorov distance between the empirical CDF and a normal law.

    .. math::

        D = \sup_x |F_n(x) - \Phi((x - \mu)/\sigma)|
          = \max_i \max\left(\tfrac{i}{n} - \Phi(z_{(i)}),\;
                             \Phi(z_{(i)}) - \tfrac{i-1}{n}\right),

    evaluated on both sides of every step of ``F_n`` (sorted samples
    ``x_(1) ≤ … ≤ x_(n)``); ties are handled because the largest index of a
    tied run gives ``F_n(x)`` and the smallest gives ``F_n(x-)``. For
    ``std == 0`` the reference is the point mass at ``mean`` and
    ``D = max(#{x < mean}, #{x > mean}) / n`` exactly.

    Compare ``D`` with :func:`dkw_epsilon` to test the normal law predicted by
    bounds b3/b4 (``mean``, ``std``) against Monte Carlo Δ.

    Parameters
    ----------
    samples : array_like
        Finite samples, at least one along ``axis``.
    mean, std : float or array_like
        Parameters of the normal law, broadcast against ``samples`` without
        ``axis``; ``std >= 0``.
    axis : int, default 0

    Returns
    -------
    float or ndarray
        ``D`` in [0, 1], shaped like ``samples`` without ``axis``.
    """
    x = _samples(samples)
    ax = _axis(x, axis)
    x = np.moveaxis(x, ax, 0)
    n = x.shape[0]
    if n < 1:
        raise ConfigError("The 'samples' must hold at least one value. Got an empty array.")
    mu = _samples(mean, "mean")
    sd = _samples(std, "std")
    if np.any(sd < 0):
        raise ConfigError(f"The 'std' (standard deviation of the normal law) must be >= 0. Got {float(sd.min())!r}.")
    try:
        mu = np.broadcast_to(mu, x.shape[1:])
        sd = np.broadcast_to(sd, x.shape[1:])
    except ValueError:
        raise ConfigError(
            f"The 'mean' and 'std' must broadcast to the samples' shape without the sample axis {x.shape[1:]}. "
            f"Got shapes {np.shape(mean)} and {np.shape(std)}."
        ) from None
    xs = np.sort(x, axis=0)
    degenerate = sd == 0
    z = (xs - mu) / np.where(degenerate, 1.0, sd)
    cdf = special.ndtr(z)
    i = np.arange(1, n + 1, dtype=np.float64).reshape((n,) + (1,) * (x.ndim - 1))
    d = np.maximum((i / n - cdf).max(axis=0), (cdf - (i - 1) / n).max(axis=0))
    if np.any(degenerate):
        below = np.count_nonzero(x < mu, axis=0) / n
        above = np.count_nonzero(x > mu, axis=0) / n
        d = np.where(degenerate, np.maximum(below, above), d)
    return _out(np.asarray(d, dtype=np.float64))


# ---------------------------------------------------------------------------
# sample sizes
# ---------------------------------------------------------------------------

def leveugle_sample_size(N, e: float, confidence: float = 0.95, p: float = 0.5, t: Optional[float] = None) -> int:
    r"""Number of fault injections for a margin of error ``e`` [L2009]_.

    Sampling ``n`` of ``N`` possible faults without replacement, the
    proportion of failing faults is within ``±e`` of the true one with the
    given confidence (normal approximation) when

    .. math::

        n = \frac{N}{1 + e^2 \frac{N-1}{t^2 p (1-p)}}
        \;\xrightarrow{N\to\infty}\; \frac{t^2 p(1-p)}{e^2},

    rounded up. ``p = 0.5`` is the conservative (largest-n) choice.
    ``t`` is the rounded quantile from :data:`LEVEUGLE_T` for 90 %, 95 % and
    99 % (1.645, 1.96, 2.58; the last two reproduce the published 9,604 for
    95 %/±1 % and 16,641 for 99 %/±1 %) and the exact normal quantile for
    any other level.

    Parameters
    ----------
    N : int, None or inf
        Population size (number of possible faults); None or ``inf`` gives
        the large-N limit.
    e : float
        Margin of error in (0, 1), e.g. 0.01 for ±1 %.
    confidence : float, default 0.95
        Confidence level in (0, 1).
    p : float, default 0.5
        Assumed proportion in (0, 1).
    t : float, optional
        Override the quantile (e.g. ``scipy.stats.norm.ppf(0.995)``).

    Returns
    -------
    int
        Sample size, at most ``N``.

    Examples
    --------
    >>> leveugle_sample_size(None, 0.01, 0.99), leveugle_sample_size(None, 0.01, 0.95)
    (16641, 9604)
    """
    e_v = V.open_unit(e, "e", "margin of error", "0.01 for ±1%")
    conf = _confidence(confidence)
    p_v = V.open_unit(p, "p", "assumed failing proportion", "0.5")
    if t is None:
        t_v = next((tv for c, tv in LEVEUGLE_T.items() if abs(c - conf) < 1e-12), None)
        if t_v is None:
            t_v = float(stats.norm.ppf(0.5 + conf / 2.0))
    else:
        t_v = V.real(t, "t", "normal quantile of the confidence level")
        if t_v <= 0:
            raise ConfigError(f"The 't' (normal quantile of the confidence level) must be > 0, e.g. 1.96. Got {t!r}.")
    limit = t_v * t_v * p_v * (1.0 - p_v) / (e_v * e_v)
    if N is None or (isinstance(N, numbers.Real) and not isinstance(N, bool) and math.isinf(float(N)) and float(N) > 0):
        n_real = limit
        N_int = None
    else:
        N_int = V.integer(N, "N", 1, "population size: number of possible faults", whole_floats=True)
        n_real = N_int / (1.0 + (N_int - 1) / limit)
    n = max(1, math.ceil(n_real * (1.0 - 1e-12)))
    return min(n, N_int) if N_int is not None else n


# ---------------------------------------------------------------------------
# ranking
# ---------------------------------------------------------------------------

def _concordant_pairs_blocked(a: np.ndarray, b: np.ndarray, block: int = 512) -> int:
    """Number of pairs i<j with sign(a_i-a_j) * sign(b_i-b_j) > 0, O(n²)."""
    n = a.size
    total = 0
    for s in range(0, n, block):
        e = min(n, s + block)
        sa = np.sign(a[s:e, None] - a[None, :])
        sb = np.sign(b[s:e, None] - b[None, :])
        total += int(np.count_nonzero(sa * sb > 0))
    return total // 2  # every unordered pair was counted twice


def _tied_pairs(*cols: np.ndarray) -> int:
    """Number of pairs equal in every given column."""
    if len(cols) == 1:
        _, c = np.unique(cols[0], return_counts=True)
    else:
        _, c = np.unique(np.stack(cols, axis=1), axis=0, return_counts=True)
    c = c.astype(np.int64)
    return int((c * (c - 1) // 2).sum())


def _concordant_pairs_kendall(a: np.ndarray, b: np.ndarray) -> int:
    """Same count in O(n log n), from Kendall's tau-b and tie counts."""
    n = a.size
    n0 = n * (n - 1) // 2
    ta, tb, tab = _tied_pairs(a), _tied_pairs(b), _tied_pairs(a, b)
    if ta == n0 or tb == n0:
        return 0
    tau = stats.kendalltau(a, b, variant="b").statistic
    c_minus_d = tau * math.sqrt(float(n0 - ta) * float(n0 - tb))
    c_plus_d = n0 - ta - tb + tab
    return int(round((c_plus_d + c_minus_d) / 2.0))


def rank_loss(a, b) -> float:
    r"""Fraction of pairs ordered one way by ``a`` and not the same way by ``b``.

    .. math::

        \mathrm{RL}(a, b) = \frac{\#\{i<j : (a_i - a_j)(b_i - b_j) \le 0\}}{n(n-1)/2},

    i.e. one minus the fraction of strictly concordant pairs; a tie in
    either array counts as discordant. This is the paper's rank loss
    [EM2019]_ (``helpers.rank_loss``) when ``a`` has no ties (see the module
    docstring). 0 means identical strict orderings, 1 means reversed (or
    all tied).

    Parameters
    ----------
    a, b : array_like
        Same number of finite elements, at least 2; flattened (as in the
        paper's code). Typically ``a`` = experiment, ``b`` = bound.

    Returns
    -------
    float

    Notes
    -----
    Up to 5,000 elements the pairs are counted directly in blocks (O(n²)
    time, O(n) memory per block); above that through Kendall's tau-b plus
    tie counts (O(n log n)), which gives the same integer count.
    """
    x = _samples(a, "a").ravel()
    y = _samples(b, "b").ravel()
    if x.size != y.size:
        raise ConfigError(f"The 'a' and 'b' must have the same number of elements. Got {x.size} and {y.size}.")
    n = x.size
    if n < 2:
        raise ConfigError(f"The 'a' and 'b' must hold at least 2 elements to form a pair. Got {n}.")
    n0 = n * (n - 1) // 2
    if n <= _RANK_PAIRS_MAX_N:
        conc = _concordant_pairs_blocked(x, y)
    else:
        conc = _concordant_pairs_kendall(x, y)
    return (n0 - conc) / n0
