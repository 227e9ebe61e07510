"""Tail models of the median of ``R`` replicas (:class:`TailModel`) and the cluster-robust interval.

See :mod:`neurosim.plan` for the component-wise and copy-wise models and the decisions behind them.
"""
from __future__ import annotations

import numpy as np
from scipy import special
from scipy import stats as _st

from ..analysis.planner import log_median_failure_tail, smallest_odd_R
from ..analysis.stats import clopper_pearson
from ..errors import ConfigError
from ._common import MAX_R

def _tail_unique(R: int, u: np.ndarray) -> np.ndarray:
    """``T(R, u) = P(Bin(R, u) >= ceil(R/2))`` for a 1-d array ``u`` (same formula as the planner, vectorised)."""
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


def tails(R: int, q) -> np.ndarray:
    """``T(R, q)`` elementwise for an array of probabilities (exact, log space)."""
    q = np.asarray(q, dtype=np.float64)
    u, inv = np.unique(q.ravel(), return_inverse=True)
    return _tail_unique(int(R), u)[inv].reshape(q.shape)


class TailModel:
    r"""Per-input prediction of ``P(median of R copies fails on x)`` for independent copies.

    *Copy-wise* (``q_comp`` None; the design's formula): the median can fail
    only if at least ``ceil(R/2)`` copies fail, so ``f_x(R) = T(R, q(x))``.

    *Component-wise*: for odd ``R`` the median's component ``o`` exceeds
    ``clean_o + eps`` **exactly** when at least ``(R+1)/2`` copies have
    ``Δ_o > eps`` (the median is an order statistic), and likewise below. A
    union bound over the ``2 n_out`` (component, direction) events gives
    ``f_x(R) = min(T(R, q(x)), Σ_{o,s} T(R, q_{o,s}(x)))``. It is never
    above the copy-wise value and much sharper when copies fail in different
    components or directions. With ``two_sided=True``, ``q_comp[..., o, 0]``
    bounds ``P(|Δ_o| > eps)`` (both directions; the bound route): since
    ``T`` is convex on [0, 1/2] with ``T(0) = 0``, ``T(a) + T(b) <= T(a + b)``
    and the term is ``T(R, q_o)`` for ``q_o <= 1/2`` (else ``min(1, 2 T)``).

    Inputs with ``q(x) >= 1/2`` use the component sum alone (a valid upper
    bound that keeps ``f_x`` monotone along odd ``R``). Inputs with a
    (component, direction) rate ``>= 1/2`` — or, copy-wise, ``q(x) >= 1/2``
    — are *hard*: ``f_x(R) >= 1/2`` for every odd ``R``; no median fixes them.
    """

    def __init__(self, q_any, q_comp=None, two_sided: bool = False):
        self.q_any = np.asarray(q_any, dtype=np.float64).reshape(-1)
        if self.q_any.size == 0:
            raise ConfigError("Per-input failure probabilities are empty; need at least one input.")
        self.q_comp = None if q_comp is None else np.asarray(q_comp, dtype=np.float64).reshape(self.q_any.size, -1)
        self.two_sided = bool(two_sided)
        if self.q_comp is None:
            self.hard = self.q_any >= 0.5
        else:
            self.hard = np.any(self.q_comp >= 0.5, axis=1)

    @property
    def kind(self) -> str:
        return "copywise" if self.q_comp is None else "componentwise"

    def per_input(self, R: int) -> np.ndarray:
        A = tails(R, self.q_any)
        if self.q_comp is None:
            return A
        t = tails(R, self.q_comp)
        if self.two_sided:
            t = np.where(self.q_comp <= 0.5, t, np.minimum(1.0, 2.0 * t))
        C = np.minimum(1.0, t.sum(axis=1))
        return np.where(self.q_any < 0.5, np.minimum(A, C), C)

    def mean(self, R: int) -> float:
        return float(np.mean(self.per_input(int(R))))

    def smallest_R(self, delta: float, max_R: int = MAX_R):
        """Smallest odd ``R`` with ``mean(R) <= delta``: ``(R, tail, reason)``; ``R`` None if none exists."""
        w_hard = float(np.mean(self.hard))
        if w_hard / 2.0 > delta:
            return None, self.mean(1), (
                f"{100 * w_hard:.3g}% of the inputs have a per-copy failure probability >= 1/2"
                + (" in some output component and direction" if self.q_comp is not None else "")
                + f", which no median of replicas can fix (they alone give >= {w_hard / 2:.3g} > delta={delta:g})")
        if not self.hard.any():
            # f_x decreasing along odd R for every input: one search over odd R
            cache = {}

            def M(R):
                if R not in cache:
                    cache[R] = self.mean(R)
                return cache[R]

            R = smallest_odd_R(lambda r: M(r) <= delta, max_R)
            if R is None:
                top = 2 * ((max_R - 1) // 2) + 1
                return None, M(top), f"even R={top} does not reach delta={delta:g}"
            return R, M(R), None
        scan_max = min(max_R, 4001)
        tot = 1.0
        for R in range(1, scan_max + 1, 2):
            tot = self.mean(R)
            if tot <= delta:
                return R, tot, None
        return None, tot, f"no R <= {scan_max} reaches delta={delta:g}"


def mixture_tail(R: int, q) -> float:
    r"""``mean_x T(R, q(x))``: copy-wise failure probability of the median, averaged over inputs."""
    return TailModel(q).mean(R)


def smallest_R_mixture(q, delta: float, max_R: int = MAX_R):
    """Smallest odd ``R`` with ``mixture_tail(R, q) <= delta``: ``(R, tail, reason)``."""
    return TailModel(q).smallest_R(delta, max_R)


def clustered_interval(fail, confidence: float, side: str = "two-sided") -> dict:
    r"""Proportion of failures in ``fail`` (clusters × items) with a cluster-robust interval.

    Rows are independent clusters (chips, or replica groups); items within a
    row may be correlated. Reports the naive Clopper–Pearson interval over all
    ``n = rows × items`` and the Korn–Graubard one: Clopper–Pearson with the
    effective size ``n* = n / deff`` and ``k* = p̂ n*``, where
    ``deff = max(1, B Var(f_g) / (p̂(1-p̂)))`` compares the variance of the
    row means ``f_g`` with the binomial one (``deff = 1`` when ``p̂`` is 0 or 1
    or there is one row).
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
    clo = 0.0 if (k_eff <= 0 or side == "upper") else float(_st.beta.ppf(a, k_eff, n_eff - k_eff + 1.0))
    chi = 1.0 if (k_eff >= n_eff or side == "lower") else float(_st.beta.ppf(1.0 - a, k_eff + 1.0, n_eff - k_eff))
    return {"k": k, "n": n, "rate": p, "lo": float(lo), "hi": float(hi), "side": side,
            "design_effect": deff, "n_effective": n_eff, "lo_clustered": clo, "hi_clustered": chi,
            "clusters": G, "confidence": float(confidence)}
