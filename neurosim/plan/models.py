"""Tail models of the median of ``R`` replicas (:class:`TailModel`), averaged over the evaluation inputs.

See :mod:`neurosim.plan` for the component-wise and copy-wise models and the decisions behind them.
"""
from __future__ import annotations

import numpy as np

from ..analysis.planner import median_failure_tails as tails  # ``tails(R, q)``: the exact T(R, q) elementwise
from ..analysis.planner import smallest_odd_R
from ..errors import ConfigError
from ._common import MAX_R

__all__ = ["TailModel", "mixture_tail", "smallest_R_mixture", "tails"]


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
