r"""Replica planner: how many chip copies, aggregated by a median, reach a target.

Model (DESIGN.md, "Median aggregation")
---------------------------------------
``R`` independent chip copies compute the same output; the deployed output is
their component-wise median. Each copy *fails* (``||Δ||_∞ > eps``) with
probability ``q``, independently. If more than half of the copies are within
``eps`` in every component, so is the median (in each component the median
lies between two good values). The median can therefore fail only if at least
``ceil(R/2)`` copies fail, and we count exactly that event as a failure:

.. math::

    T(R, q) = P(\mathrm{Bin}(R, q) \ge \lceil R/2 \rceil)
            = \sum_{k=\lceil R/2 \rceil}^{R} \binom{R}{k} q^k (1-q)^{R-k}.

The threshold ``ceil(R/2)`` is ``(R+1)/2`` for odd ``R`` (a strict majority
of failures) and ``R/2`` for even ``R`` (a tie: the median of an even number
of values averages the two middle ones, and one bad middle value can break
it, so a tie is conservatively a failure). ``T`` is evaluated exactly in log
space (a log-sum-exp over ``log C(R,k) + k log q + (R-k) log(1-q)`` with
``gammaln``), so tails like 1e-300 or 1e-1000 are neither lost to underflow
nor turned into garbage; :func:`median_failure_tail` returns
``exp(log T)``, which is 0.0 only when ``T`` is below the smallest double.

Decisions
---------
1. *Even R never helps.* For ``0 < q < 1``, with ``X_R ~ Bin(R, q)``:

   - ``T(2m) - T(2m-1) = q · P(X_{2m-1} = m-1) > 0``, and
   - ``T(2m+1) - T(2m-1) = -C(2m-1, m-1) q^m (1-q)^m (1 - 2q) < 0`` for
     ``q < 1/2``.

   So the tail falls strictly along odd ``R`` and every even ``R`` is worse
   than the odd ``R - 1`` before it (``R = 2`` is worse than ``R = 1``). The
   smallest ``R`` with ``T(R) ≤ δ`` over *all* ``R ≥ 1`` is therefore always
   odd: :attr:`ReplicaPlan.R` (that true smallest ``R``) and
   :attr:`ReplicaPlan.R_odd` (the smallest odd one) are always equal. Both
   are reported because the contract asks for the smallest ``R``; the tests
   confirm the equality by brute force over all ``R``.
2. Search: the odd tail is strictly decreasing, so the smallest odd ``R`` is
   found by exponential search plus bisection over ``m`` in ``R = 2m+1``
   (``O(log R)`` tail evaluations), comparing ``log T`` with ``log δ``.
3. ``q = 0`` gives ``R = 1`` (tail 0). ``q ≥ 1/2`` is refused: the tail
   then does not decrease with ``R`` and no number of copies helps.
4. The paper [EM2019]_ claims ``P(median fails) ≤ (1/3)^{R/2}`` for a
   per-copy failure probability of 1/3 (obtained by Chebyshev), i.e. an
   ``O(log 1/δ)`` number of copies. That expression drops the binomial
   coefficient ``C(R, ceil(R/2))`` and is **not** a valid bound: for
   ``q = 1/3`` and ``δ = 1e-5`` it gives ``R = 21`` whereas the exact
   smallest ``R`` is 155 (the exact tail at 21 is about 0.056).
   :attr:`ReplicaPlan.paper_R` is the smallest ``R`` with
   ``(1/3)^{R/2} ≤ δ`` (it does not depend on ``q``), reported only for
   comparison; :attr:`ReplicaPlan.paper_tail_at_R` is the exact tail
   ``T(paper_R, q)`` — what a user relying on the paper would actually get.
   (The correct Chernoff bound is ``(4q(1-q))^{R/2}``, which is
   ``(8/9)^{R/2}`` at ``q = 1/3``.)

References
----------
.. [EM2019] E. M. El Mhamdi, R. Guerraoui, A. Kucharavy, S. Volodin, "The
   probabilistic fault tolerance of neural networks in the continuous
   limit", arXiv:1902.01686, 2019.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np
from scipy import special

from .. import _validate as V
from ..errors import ConfigError
from .stats import _out

__all__ = [
    "median_failure_tail",
    "log_median_failure_tail",
    "median_failure_tails",
    "ReplicaPlan",
    "plan_replicas",
    "smallest_odd_R",
]


# ---------------------------------------------------------------------------
# exact tail
# ---------------------------------------------------------------------------

def _log_tail_scalar(R: int, q: float) -> float:
    """log P(Bin(R, q) >= ceil(R/2)) for one validated (R, q)."""
    k0 = (R + 1) // 2  # == ceil(R/2)
    if q == 0.0:
        return -math.inf  # k0 >= 1 failures needed, none possible
    if q == 1.0:
        return 0.0
    log_q, log_1mq, log_odds = math.log(q), math.log1p(-q), math.log(q) - math.log1p(-q)
    log_rfact = special.gammaln(R + 1.0)
    acc = -math.inf
    start, size = k0, 512
    while True:
        stop = min(R + 1, start + size)
        k = np.arange(start, stop, dtype=np.float64)
        log_pmf = (log_rfact - special.gammaln(k + 1.0) - special.gammaln(R - k + 1.0)
                   + k * log_q + (R - k) * log_1mq)
        acc = float(np.logaddexp(acc, special.logsumexp(log_pmf)))
        if stop > R:
            break
        # Terms beyond k_last shrink by ratios r_k = (R-k)/(k+1) * q/(1-q), which
        # decrease in k; so the rest of the sum is at most pmf(k_last) * r / (1 - r).
        k_last = stop - 1
        log_r = math.log(R - k_last) - math.log(k_last + 1) + log_odds
        if log_r < 0.0 and log_pmf[-1] + log_r - math.log(-math.expm1(log_r)) < acc - 45.0:
            break  # remainder below 3e-20 of the sum
        start, size = stop, 2 * size
    return min(0.0, acc)


def _validate_q_any(q) -> np.ndarray:
    arr = np.asarray(q)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ConfigError(
            f"The 'q' (per-copy failure probability) must be a number or array of numbers in [0, 1]. Got {q!r}."
        )
    arr = arr.astype(np.float64)
    bad = ~((arr >= 0.0) & (arr <= 1.0))  # also catches NaN
    if np.any(bad):
        raise ConfigError(f"The 'q' (per-copy failure probability) must be in [0, 1]. Got {arr[bad].ravel()[0]!r}.")
    return arr


def log_median_failure_tail(R, q):
    r"""Natural log of the exact failure probability of a median of ``R`` copies.

    .. math::

        \log T(R, q) = \log \sum_{k=\lceil R/2 \rceil}^{R}
            \binom{R}{k} q^k (1-q)^{R-k},

    computed as a log-sum-exp of ``gammaln``-based log-pmf terms, so it is
    accurate far below the double-precision underflow limit (checked against
    exact integer arithmetic: relative error of ``T`` below 1e-10 up to
    ``R = 40000``). The sum stops once a rigorous geometric bound on the
    remaining terms is below 3e-20 of the total (the term ratios
    ``(R-k)/(k+1) · q/(1-q)`` decrease in ``k``), so even ``R ~ 1e7`` costs
    milliseconds. See the module docstring for why the threshold is
    ``ceil(R/2)``.

    Parameters
    ----------
    R : int or array_like of int
        Number of copies, ``R >= 1``.
    q : float or array_like
        Per-copy failure probability in [0, 1]; broadcast against ``R``.

    Returns
    -------
    float or ndarray
        ``log T`` (``-inf`` for ``q = 0``).
    """
    R_arr = V.int_array(R, "R", "number of chip copies", 1)
    q_arr = _validate_q_any(q)
    try:
        R_b, q_b = np.broadcast_arrays(R_arr, q_arr)
    except ValueError:
        raise ConfigError(
            f"The 'R' and 'q' arrays must broadcast together. Got shapes {R_arr.shape} and {q_arr.shape}."
        ) from None
    out = np.empty(R_b.shape, dtype=np.float64)
    for idx in np.ndindex(R_b.shape):
        out[idx] = _log_tail_scalar(int(R_b[idx]), float(q_b[idx]))
    return _out(out)


def median_failure_tail(R, q):
    r"""Exact ``P(Bin(R, q) ≥ ceil(R/2))``: failure probability of a median of ``R`` copies.

    ``exp`` of :func:`log_median_failure_tail`; values below the smallest
    positive double (about 5e-324) come back as 0.0 — use the log version to
    compare such tails.

    Parameters
    ----------
    R : int or array_like of int
        Number of copies, ``R >= 1``.
    q : float or array_like
        Per-copy failure probability in [0, 1].

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> float(median_failure_tail(1, 0.25)), round(float(median_failure_tail(3, 0.25)), 6)
    (0.25, 0.15625)
    """
    return _out(np.exp(log_median_failure_tail(R, q)))


def _tail_unique(R: int, u: np.ndarray) -> np.ndarray:
    """``T(R, u) = P(Bin(R, u) >= ceil(R/2))`` for a 1-d array ``u`` (the formula of :func:`log_median_failure_tail`, vectorised)."""
    u = np.asarray(u, dtype=np.float64)
    if R > 4096:  # the planner truncates the sum with a rigorous remainder bound: cheaper for large R
        return np.exp(np.asarray(log_median_failure_tail(R, u), dtype=np.float64)).reshape(u.shape)
    out = np.empty(u.shape)
    k = np.arange((R + 1) // 2, R + 1, dtype=np.float64)
    logc = special.gammaln(R + 1.0) - special.gammaln(k + 1.0) - special.gammaln(R - k + 1.0)
    inner = (u > 0.0) & (u < 1.0)
    out[u <= 0.0] = 0.0
    out[u >= 1.0] = 1.0
    idx = np.flatnonzero(inner)
    step = max(1, (1 << 22) // k.size)
    for i0 in range(0, idx.size, step):
        j = idx[i0:i0 + step]
        lq, l1q = np.log(u[j])[:, None], np.log1p(-u[j])[:, None]
        lp = logc[None, :] + k[None, :] * lq + (R - k)[None, :] * l1q
        out[j] = np.exp(np.minimum(0.0, special.logsumexp(lp, axis=1)))
    return out


def median_failure_tails(R: int, q) -> np.ndarray:
    """``T(R, q)`` elementwise for an array of probabilities (exact, log space; no argument checks).

    The vectorised form of :func:`median_failure_tail` used by the plan's tail
    models (one ``R``, many ``q``): the full log-sum-exp over ``k >= ceil(R/2)``
    for ``R <= 4096``, :func:`log_median_failure_tail` above.
    """
    q = np.asarray(q, dtype=np.float64)
    u, inv = np.unique(q.ravel(), return_inverse=True)
    return _tail_unique(int(R), u)[inv].reshape(q.shape)


# ---------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplicaPlan:
    """Smallest number of chip copies whose median meets ``P(fail) ≤ delta``."""

    q: float
    """Per-copy failure probability used (e.g. an upper confidence bound)."""
    delta: float
    """Target failure probability of the median."""
    R: int
    """Smallest ``R ≥ 1`` (over all integers) with ``T(R, q) ≤ delta``."""
    R_odd: int
    """Smallest odd ``R`` with ``T(R, q) ≤ delta``; always equal to :attr:`R` (module docstring)."""
    tail: float
    """Exact ``T(R, q) = P(Bin(R, q) ≥ ceil(R/2))`` (may underflow to 0.0; see :attr:`log_tail`)."""
    log_tail: float
    """Natural log of :attr:`tail`, exact even below double underflow."""
    paper_R: int
    """Smallest ``R`` with ``(1/3)^(R/2) ≤ delta`` — the paper's formula, for comparison only."""
    paper_tail_at_R: float
    """Exact ``T(paper_R, q)``: the true failure probability when deploying ``paper_R`` copies."""
    note: str
    """Human-readable caveat about the paper's formula at this (q, delta)."""

    def to_dict(self) -> dict:
        """Plain-Python dict (JSON-serialisable) of every field."""
        return asdict(self)


def _validate_q_plan(q) -> float:
    what = "per-copy failure probability"
    if isinstance(q, (bool, np.bool_)) or not isinstance(q, numbers.Real):
        raise ConfigError(f"The 'q' ({what}) must be a real number in [0, 0.5). Got {q!r}.")
    v = float(q)
    if math.isnan(v):
        raise ConfigError(f"The 'q' ({what}) must be a real number in [0, 0.5). Got {v}.")
    if v < 0.0:
        raise ConfigError(f"The 'q' ({what}) must be >= 0. Got {q!r}.")
    if v >= 0.5:
        raise ConfigError(
            f"The 'q' ({what}) must be < 0.5 for a median of replicas to help. Got {q!r}. "
            "Lower the per-copy failure rate (larger eps or a more reliable chip)."
        )
    return v


def smallest_odd_R(predicate, R_max: int):
    """Smallest odd ``R <= R_max`` with ``predicate(R)`` true, or None; ``predicate`` must be monotone on odd ``R``.

    Exponential search over ``R = 2m + 1`` for a bracket (``m = 0, 1, 2, 4, ...``,
    capped at the largest odd ``R <= R_max``), then bisection: ``O(log R)``
    predicate calls. Used by :func:`plan_replicas` (exact tail ``T(R, q)``) and
    by the plan's input-averaged tail models (:class:`neurosim.plan.TailModel`).
    """
    m_max = (int(R_max) - 1) // 2

    def ok(m: int) -> bool:
        return bool(predicate(2 * m + 1))

    if ok(0):
        return 1
    lo, hi = 0, 1
    while True:
        if hi >= m_max:
            hi = m_max
            if not ok(hi):
                return None
            break
        if ok(hi):
            break
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return 2 * hi + 1


def _paper_R(delta: float) -> int:
    """Smallest R >= 1 with (1/3)**(R/2) <= delta, i.e. R >= 2 ln(1/delta) / ln 3."""
    log_third = math.log(1.0 / 3.0)
    log_delta = math.log(delta)
    R = max(1, math.ceil(2.0 * log_delta / log_third))
    # settle floating-point ties on the predicate itself
    while R > 1 and (R - 1) / 2.0 * log_third <= log_delta:
        R -= 1
    while R / 2.0 * log_third > log_delta:
        R += 1
    return R


def plan_replicas(q: float, delta: float, max_R: int = 100000) -> ReplicaPlan:
    r"""Smallest number of copies ``R`` whose component-wise median fails with probability ≤ ``delta``.

    Finds the smallest ``R ≥ 1`` with ``T(R, q) = P(Bin(R, q) ≥ ceil(R/2)) ≤ δ``
    (exact, log space). As shown in the module docstring the answer is always
    odd, so the search is an exponential search plus bisection over odd ``R``
    (the odd tail is strictly decreasing for ``0 < q < 1/2``).

    To account for the Monte Carlo uncertainty in ``q``, pass a one-sided
    upper confidence bound, e.g. ``empirical_tail(..., side="upper").hi``.

    Parameters
    ----------
    q : float
        Per-copy failure probability ``P(||Δ||_∞ > eps)``, in [0, 0.5).
    delta : float
        Target failure probability of the median, in (0, 1).
    max_R : int, default 100000
        Largest ``R`` searched.

    Returns
    -------
    ReplicaPlan

    Raises
    ------
    ConfigError
        If ``q`` is outside [0, 0.5), ``delta`` outside (0, 1), ``max_R < 1``
        or no ``R ≤ max_R`` meets ``delta``.

    Examples
    --------
    >>> plan = plan_replicas(1 / 3, 1e-5)
    >>> plan.R, plan.paper_R
    (155, 21)
    """
    q_v = _validate_q_plan(q)
    d_v = V.real(delta, "delta", "target failure probability of the median")
    if not 0.0 < d_v < 1.0:
        raise ConfigError(
            f"The 'delta' (target failure probability of the median) must be in (0, 1), e.g. 1e-6. Got {delta!r}."
        )
    max_R = V.integer(max_R, "max_R", 1, "largest number of copies searched", whole_floats=True)
    log_delta = math.log(d_v)

    def log_tail_odd(m: int) -> float:
        return _log_tail_scalar(2 * m + 1, q_v)

    m_max = (max_R - 1) // 2
    found = smallest_odd_R(lambda r: log_tail_odd((r - 1) // 2) <= log_delta, max_R)
    if found is None:
        R_top = 2 * m_max + 1
        raise ConfigError(
            f"No number of copies up to 'max_R'={max_R} meets 'delta'={d_v:g} at q={q_v:g} "
            f"(the median of R={R_top} still fails with probability "
            f"{math.exp(log_tail_odd(m_max)):.3g}). Raise 'max_R', raise 'delta' or lower 'q'."
        )
    m_found = (found - 1) // 2
    R = 2 * m_found + 1
    log_tail = log_tail_odd(m_found)

    paper_R = _paper_R(d_v)
    paper_tail = math.exp(_log_tail_scalar(paper_R, q_v))
    if paper_tail > d_v:
        verdict = (f"at q={q_v:g} it gives R={paper_R}, whose exact failure probability {paper_tail:.3g} "
                   f"exceeds delta={d_v:g}; the smallest valid R is {R}.")
    else:
        verdict = (f"at q={q_v:g} its R={paper_R} happens to meet delta={d_v:g} "
                   f"(exact failure probability {paper_tail:.3g}); the smallest valid R is {R}.")
    note = ("The paper's (1/3)^(R/2) omits the binomial coefficient C(R, ceil(R/2)) and is not a valid bound "
            "on P(median fails); " + verdict)
    return ReplicaPlan(q=q_v, delta=d_v, R=R, R_odd=R, tail=math.exp(log_tail), log_tail=log_tail,
                       paper_R=paper_R, paper_tail_at_R=paper_tail, note=note)
