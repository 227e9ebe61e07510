r"""Tail guarantees ``P(|Δ| >= ε) <= δ`` from moments and crash counts.

Pure functions on arrays (no network): feed them the moments of
:func:`~neurosim.analysis.bounds.b3_bound`, :func:`~neurosim.analysis.bounds.b4_bound`
or :func:`~neurosim.analysis.exact.exact_moments`, or single-crash
contributions ``d_i``.

Numbering is the paper's (arXiv:1902.01686 v3, main text and supplementary;
extracted text in ``/work/shared/papers/001_*``), checked against it:

* :func:`chebyshev_tail` — the Chebyshev part ``Var Δ / t²`` of Proposition 5;
* :func:`proposition5_tail` — Proposition 5 as the supplementary states it:
  ``δ = δ0 + Var Δ / t²`` with ``t = ε - E Δ`` and ``δ0`` from Proposition 3
  (a sum, never a minimum);
* :func:`weight_mass`, :func:`weight_balancedness`, :func:`proposition3_tail`
  — Proposition 3 exactly as written: the vectors ``W_l^i = Σ_j |W_l^{ij}|``
  are q-balanced (``min_i W_l^i >= q · max_i W_l^i``) and
  ``δ0 = P{‖U_l‖_1 >= α ‖W_l‖_1} <= exp(-n_l · q · d_KL(α ‖ p_l))``, ``α > p_l``,
  where ``‖U_l‖_1 = Σ_i ξ_i W_l^i`` is the crashed weight mass;
* :func:`kl_bernoulli` — ``d_KL(a, b)`` of Proposition 3;
* the project's crash-count variant, kept under its own names:
  :func:`crash_count_tail` (Chernoff tail of the number of crashes: the
  ``q = 1`` case of Proposition 3), :func:`crash_count_balancedness` (fewest
  crashes that can move the output by ``ε`` under the additive model) and
  :func:`balanced_tail`; ``q_balancedness`` is an old alias of
  :func:`crash_count_balancedness` (its ``q`` is a crash *fraction*, not the
  paper's balance ratio);
* :func:`algorithm1_feasibility` — the ``E Δ > ε → infeasible`` check of
  Algorithm 1 and the width that Proposition 5's Chebyshev part asks for
  (the full loop is :mod:`neurosim.plan.algorithm1`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import rel_entr
from scipy.stats import binom

from ..errors import ConfigError

__all__ = [
    "ChebyshevTail",
    "Feasibility",
    "CrashCountTail",
    "Balancedness",
    "chebyshev_tail",
    "algorithm1_feasibility",
    "kl_bernoulli",
    "crash_count_tail",
    "q_balancedness",
    "crash_count_balancedness",
    "balanced_tail",
    "Proposition3Tail",
    "Proposition5Tail",
    "weight_mass",
    "weight_balancedness",
    "proposition3_tail",
    "proposition5_tail",
    "default_alpha",
    "network_delta0",
]


def _positive(name: str, value) -> float:
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise ConfigError(f"'{name}' must be a finite number > 0. Got {value!r}.")
    return v


def _probability(name: str, value, open_interval: bool = False) -> float:
    v = float(value)
    ok = 0.0 < v < 1.0 if open_interval else 0.0 <= v <= 1.0
    if not (np.isfinite(v) and ok):
        rng = "(0, 1)" if open_interval else "[0, 1]"
        raise ConfigError(f"'{name}' must be in {rng}. Got {value!r}.")
    return v


def _moments(mean, std):
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(std, dtype=np.float64)
    if m.shape != s.shape:
        raise ConfigError(f"'mean' and 'std' must have the same shape. Got {m.shape} and {s.shape}.")
    if np.any(s < 0) or not np.all(np.isfinite(s)) or not np.all(np.isfinite(m)):
        raise ConfigError("'std' must be finite and >= 0 and 'mean' finite.")
    return m, s


# --------------------------------------------------------------------------- Chebyshev
@dataclass(frozen=True)
class ChebyshevTail:
    """Chebyshev bound on ``P(|Δ| >= ε)``.

    Attributes
    ----------
    delta : numpy.ndarray
        Per component, ``min(1, Var Δ / (ε - |E Δ|)^2)`` where ``ε > |E Δ|``, else 1.
    delta_any : numpy.ndarray or float
        Union bound on ``P(||Δ||_∞ >= ε)``: ``min(1, Σ_o delta_o)`` over the last axis.
    informative : numpy.ndarray
        True where ``ε > |E Δ|`` (the bound can be below 1).
    eps : float
        The threshold ``ε``.
    """

    delta: np.ndarray
    delta_any: np.ndarray | float
    informative: np.ndarray
    eps: float


def chebyshev_tail(mean, std, eps: float) -> ChebyshevTail:
    r"""Chebyshev part of Proposition 5 (``δ0`` left out: see :func:`proposition5_tail`).

    If ``|Δ| >= ε`` then ``|Δ - EΔ| >= ε - |EΔ|``; for ``ε > |EΔ|`` Chebyshev's
    inequality gives

    .. math::

        P(|\Delta| \ge \varepsilon) \le
        \frac{\operatorname{Var}\Delta}{(\varepsilon - |\mathbb E\Delta|)^2} .

    The bound is rigorous when ``mean``/``std`` are the true moments (e.g.
    :func:`~neurosim.analysis.exact.exact_moments`) and approximate when they
    are first-order (b3, b4).

    Parameters
    ----------
    mean, std : array_like
        ``E Δ`` and ``sqrt(Var Δ)``, same shape (typically ``(n_inputs, n_out)``).
    eps : float
        Threshold ``ε > 0``.

    Returns
    -------
    ChebyshevTail
    """
    eps = _positive("eps", eps)
    m, s = _moments(mean, std)
    gap = eps - np.abs(m)
    informative = gap > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(informative, (s * s) / np.where(informative, gap, 1.0) ** 2, 1.0)
    d = np.minimum(d, 1.0)
    d_any = np.minimum(d.sum(axis=-1), 1.0) if d.ndim else d
    return ChebyshevTail(d, d_any, informative, eps)


# --------------------------------------------------------------------------- Algorithm 1
@dataclass(frozen=True)
class Feasibility:
    """Outcome of the feasibility test of Algorithm 1.

    Attributes
    ----------
    feasible : numpy.ndarray
        False where ``|E Δ| >= ε``: widening the network cannot help, since in
        the continuous limit ``E Δ`` does not depend on the width.
    delta_now : numpy.ndarray
        Chebyshev bound at the current width.
    width_factor : numpy.ndarray
        Factor ``k >= 1`` by which to multiply the width (continuous-limit
        scaling ``Var Δ ∝ 1/n``) so that the Chebyshev bound reaches ``δ``;
        ``inf`` where infeasible.
    eps, delta : float
        The target.
    """

    feasible: np.ndarray
    delta_now: np.ndarray
    width_factor: np.ndarray
    eps: float
    delta: float


def algorithm1_feasibility(mean, std, eps: float, delta: float) -> Feasibility:
    r"""Feasibility test of Algorithm 1 and the width it needs.

    Algorithm 1 grows the network in the continuous limit (more, similar
    neurons), which leaves ``E Δ`` unchanged and divides ``Var Δ`` by the
    width factor ``k``. The target ``P(|Δ| >= ε) <= δ`` is then reachable iff
    ``|E Δ| < ε``, and by :func:`chebyshev_tail` it suffices that

    .. math::

        k \ge \frac{\operatorname{Var}\Delta}{\delta\,(\varepsilon - |\mathbb E\Delta|)^2}.

    Parameters
    ----------
    mean, std : array_like
        ``E Δ`` and ``sqrt(Var Δ)`` at the current width.
    eps : float
        Threshold ``ε > 0``.
    delta : float
        Target probability in ``(0, 1)``.

    Returns
    -------
    Feasibility
    """
    eps = _positive("eps", eps)
    delta = _probability("delta", delta, open_interval=True)
    m, s = _moments(mean, std)
    cheb = chebyshev_tail(m, s, eps)
    gap = eps - np.abs(m)
    feasible = gap > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(feasible, (s * s) / (delta * np.where(feasible, gap, 1.0) ** 2), np.inf)
    k = np.where(feasible, np.maximum(k, 1.0), np.inf)
    return Feasibility(feasible, cheb.delta, k, eps, delta)


# --------------------------------------------------------------------------- Proposition 3
def kl_bernoulli(q, p):
    r"""Kullback–Leibler divergence between Bernoulli(q) and Bernoulli(p).

    .. math:: \mathrm{KL}(q\,\|\,p) = q\ln\frac{q}{p} + (1-q)\ln\frac{1-q}{1-p},

    with ``0 ln 0 = 0``; ``inf`` where ``q > 0 = p`` or ``q < 1 = p``.
    """
    q = np.asarray(q, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    return rel_entr(q, p) + rel_entr(1.0 - q, 1.0 - p)


@dataclass(frozen=True)
class CrashCountTail:
    """Probability that at least ``k`` of ``n`` neurons crash.

    Attributes
    ----------
    k, n : int
        Threshold count and number of neurons.
    p : float
        Crash probability of each neuron.
    delta0 : float
        Chernoff–KL bound ``exp(-n KL(k/n || p))`` for ``k/n > p``, else 1.
    exact : float
        Exact binomial tail ``P(Bin(n, p) >= k)``; never above ``delta0``.
    """

    k: int
    n: int
    p: float
    delta0: float
    exact: float


def crash_count_tail(n: int, p: float, k: int) -> CrashCountTail:
    r"""KL (Chernoff) tail of the number of crashed neurons: ``δ0`` of Proposition 3.

    With ``C ~ Bin(n, p)`` crashes and ``q = k/n > p``,

    .. math:: P(C \ge qn) \le \delta_0 = \exp\!\big(-n\,\mathrm{KL}(q\,\|\,p)\big).

    Parameters
    ----------
    n : int
        Number of neurons (``>= 1``).
    p : float
        Crash probability in ``[0, 1]``.
    k : int
        Count threshold in ``0..n+1`` (``n+1`` gives probability 0).

    Returns
    -------
    CrashCountTail
    """
    if int(n) != n or n < 1:
        raise ConfigError(f"'n' must be an integer >= 1. Got {n!r}.")
    if int(k) != k or not 0 <= k <= n + 1:
        raise ConfigError(f"'k' must be an integer in 0..n+1 = 0..{int(n) + 1}. Got {k!r}.")
    n, k = int(n), int(k)
    p = _probability("p", p)
    exact = 0.0 if k > n else float(binom.sf(k - 1, n, p))
    q = k / n
    if k > n:
        d0 = 0.0
    elif q > p:
        d0 = float(math.exp(-n * float(kl_bernoulli(q, p))))
    else:
        d0 = 1.0
    return CrashCountTail(k, n, p, d0, exact)


@dataclass(frozen=True)
class Balancedness:
    """How many crashes a layer tolerates before ``|Δ|`` can reach ``ε``.

    Attributes
    ----------
    k_max : numpy.ndarray
        Largest ``k`` such that every set of at most ``k`` crashed neurons
        gives ``|Δ| < ε`` (additive model, see :func:`q_balancedness`).
    q : numpy.ndarray
        ``k_max / n``: the network is ``q``-balanced at level ``ε``.
    n : int
        Number of neurons.
    worst : numpy.ndarray
        ``worst[..., k-1]`` = largest ``|Δ|`` over sets of at most ``k`` crashes, ``k = 1..n``.
    """

    k_max: np.ndarray
    q: np.ndarray
    n: int
    worst: np.ndarray


def crash_count_balancedness(contributions, eps: float) -> Balancedness:
    r"""Crash-count balance of one crash layer at level ``ε`` (the project's variant, not the paper's q).

    Model: the error of a crash set ``S`` is additive,
    ``Δ_S = Σ_{i∈S} c_i``, with ``c_i`` the single-crash contribution of neuron
    ``i`` (``d_i`` of b4, or ``-g_i`` of b3). This is exact when everything
    after the crash layer is linear and to first order otherwise. The largest
    ``|Δ_S|`` over ``|S| <= k`` is

    .. math::

        \max\Big(\sum_{\text{top-}k} c_i^+,\; \sum_{\text{top-}k} c_i^-\Big),

    and ``q = k_max/n`` is the largest crash *fraction* for which every set
    of at most ``k_max`` crashes keeps ``|Δ| < ε``. This is the project's own
    notion (it plays the role of Proposition 3's ``α``, not of its ``q``);
    the paper's q-balancedness is :func:`weight_balancedness`. Under a
    non-linearity after the crash layer the additive model can be wrong
    (the exact tail can be positive where this says 0).

    Parameters
    ----------
    contributions : array_like, shape (..., n)
        ``c_i`` along the last axis (e.g. ``(n_inputs, n_out, n)``).
    eps : float
        Threshold ``ε > 0``.

    Returns
    -------
    Balancedness
    """
    eps = _positive("eps", eps)
    c = np.asarray(contributions, dtype=np.float64)
    if c.ndim < 1 or c.shape[-1] == 0 or not np.all(np.isfinite(c)):
        raise ConfigError(f"'contributions' must be finite with neurons on the last axis. Got shape {c.shape}.")
    pos = -np.sort(-np.maximum(c, 0.0), axis=-1)
    neg = -np.sort(-np.maximum(-c, 0.0), axis=-1)
    worst = np.maximum(np.cumsum(pos, axis=-1), np.cumsum(neg, axis=-1))
    k_max = (worst < eps).sum(axis=-1)  # worst is non-decreasing in k
    n = c.shape[-1]
    return Balancedness(k_max, k_max / n, n, worst)


def balanced_tail(contributions, p: float, eps: float):
    r"""Proposition-3 style guarantee: ``P(|Δ| >= ε) <= δ0``.

    If the layer is ``q``-balanced at level ``ε`` (:func:`q_balancedness`),
    ``|Δ| >= ε`` needs at least ``k_max + 1`` crashes, so

    .. math::

        P(|\Delta| \ge \varepsilon) \le P(C \ge k_{max}+1)
        \le \exp\!\Big(-n\,\mathrm{KL}\big(\tfrac{k_{max}+1}{n}\,\big\|\,p\big)\Big)

    (when ``(k_max+1)/n > p``). Exact under the additive model.

    Parameters
    ----------
    contributions : array_like, shape (..., n)
        Single-crash contributions ``c_i`` along the last axis.
    p : float
        Crash probability of each neuron of the layer.
    eps : float
        Threshold ``ε > 0``.

    Returns
    -------
    balance : Balancedness
    delta0 : numpy.ndarray
        KL bound, same shape as ``balance.k_max``.
    exact : numpy.ndarray
        Exact binomial tail ``P(Bin(n, p) >= k_max + 1)`` (tighter).
    """
    p = _probability("p", p)
    bal = crash_count_balancedness(contributions, eps)
    km = np.asarray(bal.k_max)
    flat = [crash_count_tail(bal.n, p, int(k) + 1) for k in km.ravel()]
    d0 = np.array([t.delta0 for t in flat]).reshape(km.shape)
    ex = np.array([t.exact for t in flat]).reshape(km.shape)
    return bal, d0, ex


#: Old name of :func:`crash_count_balancedness` (kept so existing callers work).
q_balancedness = crash_count_balancedness


# kept importable from here; defined in .propositions
from .propositions import (  # noqa: E402  (after the names it imports)
    Proposition3Tail,
    Proposition5Tail,
    default_alpha,
    network_delta0,
    proposition3_tail,
    proposition5_tail,
    weight_balancedness,
    weight_mass,
)
