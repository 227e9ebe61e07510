r"""Deployment planning for ``R`` median-aggregated chip replicas.

A deployment runs ``R`` copies of the mapped network on ``R`` chips and outputs
the component-wise median of their outputs. A copy *fails* on an input when
``||y_copy - y_clean||_∞ > eps`` (both outputs on the same mapped, quantised
network); the median fails when ``||median - y_clean||_∞ > eps``.

Models of ``P(median fails on x)`` for independent copies (:class:`TailModel`)
------------------------------------------------------------------------------
*Copy-wise* (the design's formula): if more than half of the copies are within
``eps`` in every component, so is the median; so the median can fail only if at
least ``ceil(R/2)`` copies fail, and ``P ≤ T(R, q(x))`` with
``T(R, q) = P(Bin(R, q) ≥ ceil(R/2))``
(:func:`neurosim.analysis.planner.median_failure_tail`). This is an upper
bound, not an equality: copies that fail in different components or in
opposite directions do not move the median.

*Component-wise* (default rule): for odd ``R`` the median's component ``o``
exceeds ``clean_o + eps`` **exactly** when at least ``(R+1)/2`` copies have
``Δ_o > eps``, and likewise below ``-eps``. A union bound over the
``2 n_out`` (output, direction) events gives
``P ≤ min(T(R, q(x)), Σ_{o,s} T(R, q_{o,s}(x)))``. Same assumption (copies
independent for a fixed input), never above the copy-wise value, and far
sharper: on the bundled digits example it matches the simulated median
failure rate within its confidence interval where the copy-wise value is
several to tens of times too high, and it still gives an ``R`` when
``q(x) ≥ 1/2`` but every ``q_{o,s}(x) < 1/2``. For ``eps`` = 4.5,
``δ = 1e-3`` and RRAM synapse faults (1000 chips) it needs ``R = 7`` where the
copy-wise rule needs 23.

Decisions (a reliability engineer should read these)
----------------------------------------------------
1. **The target is averaged over the evaluation inputs**:
   ``P_fail(R) = mean_x P(median fails on x)`` with the input drawn uniformly
   from the evaluation set and the faults drawn per chip. Because ``T(R, ·)``
   is convex on ``[0, 1/2]``, ``mean_x T(R, q(x)) ≥ T(R, mean_x q(x))``
   (Jensen): planning with one pooled ``q`` (``plan_replicas(q_upper, δ)``)
   *under-predicts* the failure rate whenever inputs differ in difficulty. On
   the bundled example the pooled formula chooses ``R = 9`` for ``δ = 1e-3``
   while the per-input copy-wise value at ``R = 9`` is 3.6e-3. The pooled ``R``
   is reported, never used.
2. **Uncertainty**: per-input rates are estimated from ``n`` independent chips
   (exactly binomial: chips are independent for a fixed input, for permanent,
   transient and intermittent faults alike). Every rate gets a one-sided
   Clopper–Pearson upper limit at a Bonferroni level (``1 - α/B`` for the
   ``B`` copy-wise rates, ``1 - α/(B (1 + 2 n_out))`` for the component-wise
   family), so with probability at least ``confidence`` *all* limits hold at
   once, and since ``T`` increases in ``q`` the model evaluated at the limits
   bounds the true failure probability. ``R`` = smallest odd ``R`` whose
   model at the limits is ``≤ δ``; ``R`` at the point estimates is reported
   (the gap is what more ``--chips`` can buy).
3. The pooled Clopper–Pearson limit over all (chip, input) pairs treats pairs
   as independent; for permanent faults one chip's failures on different
   inputs are correlated, so it is too narrow. It is reported together with a
   chip-clustered limit (Korn & Graubard 1998: Clopper–Pearson with the
   design-effect sample size ``n / deff``). The verification intervals are
   clustered by replica group the same way (coverage checked at 92–95 % for
   20–100 groups on the bundled example; the naive interval covered ~20 %).
4. **Bound route**: first-order moments (b3 for neuron crashes, the synapse
   analogue for synapse crashes, superposed) give per (input, output)
   ``E Δ`` and ``Var Δ``; Proposition 5 (Chebyshev) bounds
   ``P(|Δ_o| ≥ eps)``; where Proposition 3 applies (all faults are neuron
   crashes on one layer) its ``δ0 = P(C ≥ k_max + 1)`` (KL bound; ``k_max`` =
   crashes the output tolerates under the additive first-order model) is a
   second bound and the smaller is used. Per input: union over outputs for
   ``q(x)``; per output (two-sided) for the component-wise model. The route
   reports the mean and max over inputs and is *vacuous* when no ``R`` meets
   ``δ`` (typically ``q ≥ 1/2`` on some inputs). These are approximations
   (first-order moments), not rigorous bounds. Core faults have no analytic
   prediction.
5. **Common cause** (``F`` in ``[0, 1)``): each permanent spec of rate ``p``
   becomes a shared spec of rate ``F p`` drawn once per replica group
   (``group=R``) plus an independent spec of rate ``(p - F p) / (1 - F p)``;
   a site is then faulty with marginal probability exactly ``p`` on every
   chip, but a fraction ``F`` of the faults is common to the group. Transient
   and intermittent faults stay independent. Conditionally on the shared draw
   ``S`` the replicas are independent with rates ``q_S(x)``, so
   ``P(fail) = E_S T(R, q_S(x)) ≥ T(R, E_S q_S(x))`` whenever ``q_S ≤ 1/2``
   (Jensen again): common cause raises the failure rate above the
   independent prediction, up to the single-copy rate as ``F → 1``. The
   independent plan does not cover it; the verification reports both.

References
----------
E. L. Korn, B. I. Graubard, "Confidence intervals for proportions with small
expected number of positive counts estimated from survey data", Survey
Methodology 24(2), 193–201, 1998.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy import special
from scipy import stats as _st

from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..faults.spec import FaultSpec
from ..network import Network
from ..sim.engine import simulation_network
from .bounds import b3_bound, output_jacobians, synapse_first_order
from .compare import effective_rates
from .planner import log_median_failure_tail, plan_replicas
from .stats import clopper_pearson
from .tails import algorithm1_feasibility, chebyshev_tail, crash_count_tail, q_balancedness

__all__ = [
    "AGGREGATION",
    "FAILURE_RULE",
    "RULES",
    "CopyFailures",
    "TailModel",
    "SimModels",
    "tails",
    "mixture_tail",
    "smallest_R_mixture",
    "simulation_models",
    "plan_models",
    "clustered_interval",
    "derive_seed",
    "estimate_copy_failures",
    "simulation_route",
    "bound_route",
    "algorithm1_certification",
    "common_cause_specs",
    "verify_replicas",
    "verification_size",
    "build_plan",
    "PlanBuild",
]

AGGREGATION = "component-wise median"
FAILURE_RULE = "a copy fails on an input when ||y_copy - y_clean||_inf > eps (outputs of the mapped, quantised network)"
MAX_R = 100001
#: Largest delta array (elements) held per simulate() call; results do not depend on it
#: except through the per-call seeds, which are keyed by the call index (stored in the plan).
CALL_ELEMENTS = 1 << 22
#: Phase keys of the seed derivation ``SeedSequence(seed, spawn_key=(phase, call))``.
PHASE_ESTIMATE, PHASE_VERIFY, PHASE_COMMON = 1, 2, 3


# --------------------------------------------------------------------------- validation
def _check_eps(eps) -> float:
    try:
        v = float(eps)
    except (TypeError, ValueError):
        raise ConfigError(f"'eps' (output error threshold) must be a number > 0. Got {eps!r}.") from None
    if not (math.isfinite(v) and v > 0):
        raise ConfigError(f"'eps' (output error threshold, ||Δ||_∞ units) must be a finite number > 0, e.g. 2.0. Got {eps!r}.")
    return v


def _check_open_unit(value, name, what, example) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' ({what}) must be a number in (0, 1), e.g. {example}. Got {value!r}.") from None
    if not (0.0 < v < 1.0):
        raise ConfigError(f"'{name}' ({what}) must be in (0, 1), e.g. {example}. Got {value!r}.")
    return v


def _check_common_cause(F):
    if F is None:
        return None
    try:
        v = float(F)
    except (TypeError, ValueError):
        raise ConfigError(f"'common_cause' (shared fraction of permanent faults) must be a number in [0, 1). Got {F!r}.") from None
    if not (0.0 <= v < 1.0):
        raise ConfigError(
            f"'common_cause' (shared fraction of permanent faults) must be in [0, 1), e.g. 0.3. Got {F!r}. "
            "(F = 1 would make the replicas identical; a median of identical copies cannot help.)"
        )
    return v


def _check_int(name, v, lo, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ConfigError(f"'{name}' ({what}) must be an integer >= {lo}. Got {v!r}.")
    return int(v)


def _check_specs(specs) -> tuple:
    out = []
    for s in specs:
        if not isinstance(s, FaultSpec):
            raise ConfigError(f"Faults must be FaultSpec objects. Got {type(s).__name__}.")
        if s.group > 1:
            raise ConfigError(
                f"Fault '{s.to_text()}' sets group={s.group}; the planner draws replica groups itself. "
                "Remove 'group' and use --common-cause F (common_cause=F) for shared faults."
            )
        out.append(s)
    if not out:
        raise ConfigError("No fault given: pass at least one fault spec, e.g. synapse:permanent:0.0175.")
    return tuple(out)


def derive_seed(seed: int, phase: int, call: int) -> int:
    """Seed of one ``simulate()`` call: ``SeedSequence(seed, spawn_key=(phase, call))`` -> uint32."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(int(phase), int(call)))
    return int(ss.generate_state(1, np.uint32)[0])


# --------------------------------------------------------------------------- tails
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
            # f_x decreasing along odd R for every input: exponential search + bisection over R = 2m+1
            def M(m):
                return self.mean(2 * m + 1)
            m_max = (max_R - 1) // 2
            if M(0) <= delta:
                return 1, M(0), None
            lo, hi = 0, 1
            while True:
                if hi >= m_max:
                    hi = m_max
                    if M(hi) > delta:
                        return None, M(hi), f"even R={2 * m_max + 1} does not reach delta={delta:g}"
                    break
                if M(hi) <= delta:
                    break
                lo, hi = hi, 2 * hi
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if M(mid) <= delta:
                    hi = mid
                else:
                    lo = mid
            return 2 * hi + 1, M(hi), None
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


# --------------------------------------------------------------------------- simulation
@dataclass
class CopyFailures:
    """Per (chip, input) outcome of single copies (phase 1).

    Attributes
    ----------
    fail : ndarray (n_chips, n_inputs) bool
        ``||Δ||_∞ > eps``.
    flip : ndarray (n_chips, n_inputs) bool or None
        argmax of the faulty output differs from the clean one (None for one output).
    k_comp : ndarray (n_inputs, n_out, 2) int64
        Chips with ``Δ_o > eps`` (``[..., 0]``) and ``Δ_o < -eps`` (``[..., 1]``).
    seeds : list of int
        Seed of every ``simulate()`` call, in order.
    chips_per_call : int
    seconds : float
    """

    fail: np.ndarray
    flip: np.ndarray | None
    k_comp: np.ndarray
    seeds: list = field(default_factory=list)
    chips_per_call: int = 0
    seconds: float = 0.0


def _chips_per_call(B: int, n_out: int, unit: int) -> int:
    per_chip = max(1, B * n_out)
    n = max(1, CALL_ELEMENTS // per_chip)
    return max(unit, (n // unit) * unit)


def estimate_copy_failures(target, x, specs, n_chips: int, eps: float, seed: int, threads=None,
                           progress=None) -> CopyFailures:
    """Simulate ``n_chips`` independent copies on every input and record failures (phase 1)."""
    from ..sim import simulate

    eps = _check_eps(eps)
    n_chips = _check_int("chips", n_chips, 2, "independent chips used to estimate q")
    net = simulation_network(target)
    x = net.check_inputs(x)
    B, O = x.shape[0], net.n_out
    cpc = _chips_per_call(B, O, 1)
    fail = np.empty((n_chips, B), dtype=bool)
    flip = np.empty((n_chips, B), dtype=bool) if O >= 2 else None
    k_comp = np.zeros((B, O, 2), dtype=np.int64)
    seeds = []
    t0 = time.perf_counter()
    for call, c0 in enumerate(range(0, n_chips, cpc)):
        c1 = min(n_chips, c0 + cpc)
        s = derive_seed(seed, PHASE_ESTIMATE, call)
        seeds.append(s)
        res = simulate(target, x, list(specs), n_chips=c1 - c0, seed=s, threads=threads, progress=progress)
        d = res.delta
        fail[c0:c1] = np.max(np.abs(d), axis=2) > eps
        k_comp[..., 0] += np.count_nonzero(d > eps, axis=0)
        k_comp[..., 1] += np.count_nonzero(d < -eps, axis=0)
        if flip is not None:
            flip[c0:c1] = res.flips
        del res, d
    return CopyFailures(fail, flip, k_comp, seeds, cpc, time.perf_counter() - t0)


RULES = ("componentwise", "copywise")
_RULE_TEXT = {
    "componentwise": ("smallest odd R with mean_x min(T(R, q(x)), sum_{o,s} T(R, q_{o,s}(x))) <= delta at simultaneous "
                      "upper confidence limits of q(x) and of the per-(output, direction) rates q_{o,s}(x); "
                      "T(R, q) = P(Bin(R, q) >= ceil(R/2))"),
    "copywise": ("smallest odd R with mean_x T(R, q(x)) <= delta at simultaneous upper confidence limits of q(x); "
                 "T(R, q) = P(Bin(R, q) >= ceil(R/2))"),
}


def _check_rule(rule):
    if rule not in RULES:
        raise ConfigError(f"'rule' must be one of {', '.join(RULES)}. Got {rule!r}.")
    return rule


@dataclass
class SimModels:
    """Tail models from the phase-1 counts: point estimates and simultaneous upper limits."""

    copywise_point: TailModel
    copywise_upper: TailModel
    componentwise_point: TailModel
    componentwise_upper: TailModel
    q_pooled_upper: float

    def get(self, rule: str, upper: bool) -> TailModel:
        return getattr(self, f"{rule}_{'upper' if upper else 'point'}")


def simulation_models(fail, k_comp, confidence: float) -> SimModels:
    """Point and simultaneous-upper-limit tail models from per (chip, input) failures and component counts.

    Copy-wise limits: one-sided Clopper–Pearson at level ``1 - α/B`` per
    input (Bonferroni over the ``B`` inputs). Component-wise limits: level
    ``1 - α/(B (1 + 2 n_out))`` for ``q(x)`` and every ``q_{o,s}(x)`` (one
    family). ``α = 1 - confidence``.
    """
    f = np.asarray(fail, dtype=bool)
    C, B = f.shape
    kc = np.asarray(k_comp, dtype=np.int64)
    O = kc.shape[1]
    k_x = f.sum(axis=0).astype(np.int64)
    alpha = 1.0 - confidence
    lvl_copy = 1.0 - alpha / B
    lvl_comp = 1.0 - alpha / (B * (1 + 2 * O))
    qx_hat, qc_hat = k_x / C, kc / C
    qx_up_copy = np.asarray(clopper_pearson(k_x, C, lvl_copy, "upper")[1], dtype=np.float64).reshape(B)
    qx_up_comp = np.asarray(clopper_pearson(k_x, C, lvl_comp, "upper")[1], dtype=np.float64).reshape(B)
    qc_up = np.asarray(clopper_pearson(kc, C, lvl_comp, "upper")[1], dtype=np.float64).reshape(kc.shape)
    pooled = float(clopper_pearson(int(k_x.sum()), C * B, confidence, "upper")[1])
    return SimModels(TailModel(qx_hat), TailModel(qx_up_copy), TailModel(qx_hat, qc_hat),
                     TailModel(qx_up_comp, qc_up), pooled)


def simulation_route(fail, k_comp, confidence: float, delta: float, rule: str = "componentwise",
                     max_R: int = MAX_R) -> dict:
    """q from simulation and the R each model implies (module decisions 1-3).

    Returns a JSON-ready dict; ``_models`` holds the :class:`SimModels`.
    Raises ConfigError when the plan's ``rule`` has no R (per-copy failure
    >= 1/2 where it matters).
    """
    rule = _check_rule(rule)
    f = np.asarray(fail, dtype=bool)
    C, B = f.shape
    models = simulation_models(f, k_comp, confidence)
    pooled = clustered_interval(f, confidence, side="upper")
    q_hat, q_up = pooled["rate"], pooled["hi"]
    qx_hat = models.copywise_point.q_any
    found = {}
    for r in RULES:
        for up in (True, False):
            found[(r, up)] = models.get(r, up).smallest_R(delta, max_R)
    R, tail, why = found[(rule, True)]
    if R is None:
        worst = int(np.argmax(qx_hat))
        raise ConfigError(
            f"No number of replicas reaches delta={delta:g} (rule '{rule}'): {why}; the hardest input (#{worst}) fails "
            f"on {qx_hat[worst]:.3g} of the copies. Use a larger --eps or a lower fault rate (or a larger --delta; "
            f"more --chips help only where the limit is statistical)."
        )
    if q_up < 0.5:
        pp = plan_replicas(q_up, delta, max_R=max_R)
        pooled_R, pooled_tail, pooled_note = int(pp.R), float(pp.tail), None
    else:
        pp, pooled_R, pooled_tail = None, None, None
        pooled_note = (f"pooled q upper limit {q_up:.3g} >= 1/2: the copy-wise formula gives no R"
                       + ("; the component-wise model still does" if rule == "componentwise" else ""))
    q_sorted = np.sort(qx_hat)

    def r_of(key):
        v = found[key][0]
        return None if v is None else int(v)

    out = {
        "method": ("simulate n_chips independent chips on every input; per input the failing chips are binomial "
                   "(chips are independent for a fixed input); simultaneous one-sided Clopper-Pearson upper limits "
                   "(Bonferroni over inputs, and over outputs x directions for the component-wise model)"),
        "n_chips": int(C), "n_inputs": int(B), "confidence": float(confidence),
        "failures": int(pooled["k"]), "samples": int(pooled["n"]),
        "q": q_hat, "q_upper": q_up,
        "q_upper_clustered": pooled["hi_clustered"], "design_effect": pooled["design_effect"],
        "per_input": {
            "q_mean": float(qx_hat.mean()), "q_median": float(np.median(qx_hat)),
            "q_p90": float(q_sorted[min(B - 1, int(math.ceil(0.9 * B)) - 1)]), "q_max": float(qx_hat.max()),
            "argmax": int(np.argmax(qx_hat)),
            "inputs_never_failed": int(np.sum(qx_hat == 0)),
            "inputs_q_ge_half": int(np.sum(qx_hat >= 0.5)),
            "q_component_max": float(models.componentwise_point.q_comp.max()),
            "level_copywise": 1.0 - (1.0 - confidence) / B,
            "level_componentwise": 1.0 - (1.0 - confidence) / (B * (1 + models.componentwise_point.q_comp.shape[1])),
        },
        "R": {"componentwise": r_of(("componentwise", True)), "copywise": r_of(("copywise", True)),
              "componentwise_point": r_of(("componentwise", False)), "copywise_point": r_of(("copywise", False)),
              "pooled": pooled_R},
        "R_pooled_note": pooled_note,
        "tail_pooled_at_R_pooled": pooled_tail,
        "copywise_point_at_R_pooled": None if pooled_R is None else models.copywise_point.mean(pooled_R),
        "_models": models, "_pooled_plan": pp, "_R": int(R), "_tail": float(tail),
    }
    return out


# --------------------------------------------------------------------------- bound route
def _first_order(net, x, pn, ps):
    mean = np.zeros((x.shape[0], net.n_out))
    var = np.zeros_like(mean)
    parts = []
    if any(r > 0 for r in pn.values()):
        b = b3_bound(net, x, pn)
        mean += b.mean
        var += b.std ** 2
        parts.append("b3 (neuron crashes, Theorem 1)")
    if any(r > 0 for r in ps.values()):
        s = synapse_first_order(net, x, ps)
        mean += s.mean
        var += s.std ** 2
        parts.append("synapse first order")
    return mean, np.sqrt(var), parts


def _layer_contributions(net, x, l):
    """``c_i = -g_i = -(∂y_L/∂y_l[i]) y_l[i]``: shape (n_inputs, n_out, n_l)."""
    J = output_jacobians(net, x, [l])[l]
    ys, _ = net.forward_all(x)
    return -J * ys[l][:, None, :]


def bound_route(net: Network, x, specs, eps: float, delta: float, rule: str = "componentwise",
                max_R: int = MAX_R, mapping=None) -> dict:
    """q from the paper's bounds (module decision 4); ``available`` False for core faults.

    Per (input, output): ``q_o = min(Chebyshev δ_o, Prop. 3 δ0_o)`` bounds
    ``P(|Δ_o| >= eps)``; per input ``q(x) = min(Σ_o δ_o, δ0(x))`` (union bound;
    ``δ0(x)`` uses the fewest crashes that move any output by ``eps``). The
    component-wise model uses the per-output ``q_o`` as two-sided rates.
    """
    eps = _check_eps(eps)
    rule = _check_rule(rule)
    pn, ps, unc = effective_rates(specs, net.n_layers)
    if unc:
        return {"available": False,
                "reason": "core faults are correlated (a whole core at once); no analytic prediction covers them: "
                          + ", ".join(s.to_text() for s in unc)}
    valued = any(not s.fault_value.is_zero for s in specs)
    if valued:  # stuck-at-value faults: their own first-order moments (analysis.values)
        from .values import value_first_order

        fo = value_first_order(mapping if mapping is not None else net, x, specs)
        mean, std, parts = fo.mean, fo.std, ["stuck-at-value first order"]
        pn = {}  # Proposition 3 is for crashes only
    else:
        mean, std, parts = _first_order(net, x, pn, ps)
    cheb = chebyshev_tail(mean, std, eps)
    q_o = np.asarray(cheb.delta, dtype=np.float64)
    q_any = np.asarray(cheb.delta_any, dtype=np.float64).reshape(-1)
    q_cheb_any = q_any.copy()
    prop3 = {"applies": False}
    active_n = {l: r for l, r in pn.items() if r > 0}
    active_s = {l: r for l, r in ps.items() if r > 0}
    if len(active_n) == 1 and not active_s and not valued:
        (l, p), = active_n.items()
        c = _layer_contributions(net, x, l)
        bal = q_balancedness(c, eps)
        kmo = np.asarray(bal.k_max)  # (B, O): |Δ_o| >= eps needs >= k+1 crashes
        kmin = kmo.min(axis=1)
        n_l = bal.n
        cache = {int(k): crash_count_tail(n_l, p, int(k) + 1) for k in np.unique(kmo)}
        d0_o = np.vectorize(lambda k: cache[int(k)].delta0, otypes=[float])(kmo)
        d0 = np.array([cache[int(k)].delta0 for k in kmin])
        d0_exact = np.array([cache[int(k)].exact for k in kmin])
        q_o = np.minimum(q_o, d0_o)
        q_any = np.minimum(q_any, d0)
        prop3 = {"applies": True, "layer": int(l), "p": float(p), "n_neurons": int(n_l),
                 "k_max_min": int(kmin.min()), "k_max_median": float(np.median(kmin)),
                 "q_balanced_min": float(kmin.min() / n_l), "q_balanced_median": float(np.median(kmin) / n_l),
                 "delta0_mean": float(d0.mean()), "delta0_max": float(d0.max()),
                 "delta0_exact_binomial_mean": float(d0_exact.mean())}
    else:
        prop3["reason"] = ("Proposition 3 needs every fault to be a neuron crash on a single layer "
                           f"(here: neuron layers {sorted(active_n)}, synapse layers {sorted(active_s)})")
    model = TailModel(q_any) if rule == "copywise" else TailModel(q_any, q_o[:, :, None], two_sided=True)
    out = {
        "available": True,
        "method": ("first-order moments (" + " + ".join(parts or ["no active faults"]) + "); Proposition 5 Chebyshev "
                   "per output, union bound over outputs; min with Proposition 3's delta0 where it applies; "
                   "approximate (first-order moments), not a rigorous bound"),
        "rule": rule,
        "q_cheb_mean": float(q_cheb_any.mean()), "q_cheb_max": float(q_cheb_any.max()),
        "proposition3": prop3,
        "q_mean": float(q_any.mean()), "q_max": float(q_any.max()),
        "q_component_max": float(q_o.max()),
        "inputs_vacuous": int(model.hard.sum()),
        "inputs_uninformative": int(np.sum(~np.all(cheb.informative, axis=-1))),
        "_q": q_any, "_q_comp": q_o, "_mean": mean, "_std": std, "_model": model,
    }
    qm = out["q_mean"]
    if qm < 0.5:
        pp = plan_replicas(qm, delta, max_R=max_R)
        out["R_pooled"], out["tail_pooled"] = int(pp.R), float(pp.tail)
    else:
        out["R_pooled"], out["tail_pooled"] = None, None
    R, tail, why = model.smallest_R(delta, max_R)
    out["R"], out["tail"] = (None if R is None else int(R)), float(tail)
    out["vacuous"] = R is None
    if R is None:
        out["vacuous_reason"] = f"bound route is vacuous: {why}; no R exists on this route"
    return out


def algorithm1_certification(net: Network, x, specs, eps: float, delta: float, bound: dict | None = None) -> dict:
    """Algorithm 1's certification part (no retraining) from b3/synapse first-order moments.

    q-balancedness of every neuron layer at ``eps`` (min over outputs, per
    input), ``E Δ`` and ``Var Δ``, feasibility (``|E Δ| < eps`` on every
    output) and the width factor that would reach ``delta`` on a single copy
    (target ``delta / n_out`` per output: union bound), next to the ``R``
    the bound route implies.
    """
    eps = _check_eps(eps)
    if bound is None:
        bound = bound_route(net, x, specs, eps, delta)
    if not bound.get("available"):
        return {"available": False, "reason": bound["reason"]}
    mean, std = bound["_mean"], bound["_std"]
    feas = algorithm1_feasibility(mean, std, eps, delta / net.n_out)
    ok_in = np.all(feas.feasible, axis=1)
    k_in = np.max(feas.width_factor, axis=1)
    finite = k_in[np.isfinite(k_in)]
    layers = []
    for l in range(0, net.n_layers):
        c = _layer_contributions(net, x, l)
        bal = q_balancedness(c, eps)
        kmin = np.asarray(bal.k_max).min(axis=1)
        layers.append({"layer": l, "n_neurons": int(bal.n), "k_max_min": int(kmin.min()),
                       "k_max_median": float(np.median(kmin)), "q_min": float(kmin.min() / bal.n),
                       "q_median": float(np.median(kmin) / bal.n)})
    return {
        "available": True,
        "moments": "b3 (neurons) + synapse first order, superposed",
        "mean_abs_E_delta": float(np.mean(np.abs(mean))), "max_abs_E_delta": float(np.max(np.abs(mean))),
        "mean_std_delta": float(np.mean(std)), "max_std_delta": float(np.max(std)),
        "feasible_inputs": int(ok_in.sum()), "n_inputs": int(ok_in.size),
        "feasible": bool(ok_in.all()),
        "width_factor_median": float(np.median(finite)) if finite.size else None,
        "width_factor_max": float(finite.max()) if finite.size else None,
        "width_factor_note": ("factor by which to widen every layer (continuous limit, Var Δ ∝ 1/width) so that one copy "
                              "meets P(||Δ||_∞ >= eps) <= delta by Chebyshev + union bound; infeasible inputs "
                              "(|E Δ| >= eps) cannot be fixed by widening"),
        "q_balancedness": layers,
        "delta0": bound["proposition3"],
        "R_implied": bound.get("R"),
        "R_implied_note": bound.get("vacuous_reason") if bound.get("vacuous") else "R from the bound route",
    }


# --------------------------------------------------------------------------- verification
def common_cause_specs(specs, F: float, R: int) -> list:
    """Split every permanent spec into a shared (per group of ``R``) and an independent part.

    Rate ``p`` -> shared ``F p`` with ``group=R`` plus independent
    ``(p - F p)/(1 - F p)``: the per-site marginal stays ``p`` since
    ``1 - (1 - F p)(1 - (p - F p)/(1 - F p)) = p``.
    """
    F = _check_common_cause(F)
    R = _check_int("R", R, 1, "replicas per group")
    out = []
    for s in specs:
        if s.mode != "permanent" or not F or s.rate == 0.0:
            out.append(s)
            continue
        p = s.rate
        shared = F * p
        indep = (p - shared) / (1.0 - shared) if shared < 1.0 else 0.0
        out.append(FaultSpec.from_dict({**s.to_dict(), "rate": shared, "group": R}))
        out.append(s.with_rate(min(1.0, max(0.0, indep))))
    return out


def verification_size(R: int, groups=None) -> int:
    """Default number of replica groups: about 1,000 verification chips, between 20 and 200 groups."""
    if groups is not None:
        return _check_int("groups", groups, 1, "replica groups simulated by the verification")
    return int(min(200, max(20, math.ceil(1000 / R))))


def _r_list(R: int) -> list:
    rs = [r for r in range(1, min(R, 11) + 1, 2)]
    if R > 11:
        extra = np.unique(np.round(np.geomspace(13, R, 6) / 2).astype(int) * 2 + 1)
        rs += [int(r) for r in extra if 11 < r < R]
    if rs[-1] != R:
        rs.append(R)
    return rs


def _ci_short(ci):
    return {"k": ci["k"], "n": ci["n"], "rate": ci["rate"], "lo": ci["lo_clustered"], "hi": ci["hi_clustered"]}


def verify_replicas(target, x, specs, R: int, groups: int, eps: float, seed: int, confidence: float = 0.95,
                    common_cause=None, models: dict | None = None, predicted_tail=None, labels=None,
                    threads=None, progress=None, chips_per_call=None) -> dict:
    """Simulate ``groups × R`` chips, take the component-wise median of each group, compare with predictions.

    Chip ``c`` of a ``simulate()`` call belongs to group ``c // R`` of that call
    (calls hold whole groups). ``common_cause=F`` shares a fraction ``F`` of
    the permanent faults within each group (:func:`common_cause_specs`).
    Besides the plan's ``R``, the medians of the first ``r`` replicas of each
    group (odd ``r < R``) give the tail curve, compared with every
    :class:`TailModel` in ``models`` (``{name: model}``).

    ``chips_per_call`` (default: from the array budget) fixes how groups are
    split over ``simulate()`` calls; each call has its own derived seed, so a
    re-run must use the stored value to reproduce the draws.

    Intervals are two-sided at ``confidence`` and clustered by group
    (:func:`clustered_interval`). The verdict ``consistent`` is
    ``lower limit <= predicted_tail``: the data do not show the median
    failing more often than predicted.

    Returns a JSON-ready dict; arrays under keys starting with ``_``.
    """
    from ..sim import simulate

    eps = _check_eps(eps)
    R = _check_int("R", R, 1, "replicas")
    G = _check_int("groups", groups, 1, "replica groups")
    F = _check_common_cause(common_cause)
    net = simulation_network(target)
    x = net.check_inputs(x)
    B, O = x.shape[0], net.n_out
    sim_specs = common_cause_specs(specs, F, R) if F else list(specs)
    phase = PHASE_COMMON if F else PHASE_VERIFY
    cpc = (_chips_per_call(B, O, R) if chips_per_call is None
           else _check_int("chips_per_call", chips_per_call, R, "chips per simulate() call"))
    if cpc % R:
        raise ConfigError(f"'chips_per_call' must be a multiple of R={R} (calls hold whole groups). Got {cpc}.")
    gpc = cpc // R
    rs = _r_list(R)
    clean = None
    fail_r = np.zeros((len(rs), G, B), dtype=bool)
    flip_r = np.zeros((len(rs), G, B), dtype=bool)
    copy_fail = np.zeros((G, R, B), dtype=bool)
    med_arg = np.zeros((G, B), dtype=np.int64)
    copy_arg = np.zeros((G, R, B), dtype=np.int64)
    seeds = []
    for call, g0 in enumerate(range(0, G, gpc)):
        g1 = min(G, g0 + gpc)
        s = derive_seed(seed, phase, call)
        seeds.append(s)
        res = simulate(target, x, sim_specs, n_chips=(g1 - g0) * R, seed=s, threads=threads, progress=progress)
        clean = res.clean
        y = res.faulty.reshape(g1 - g0, R, B, O)
        copy_fail[g0:g1] = res.linf().reshape(g1 - g0, R, B) > eps
        ref = np.argmax(clean, axis=1)
        for i, r in enumerate(rs):
            med = np.median(y[:, :r], axis=1)
            fail_r[i, g0:g1] = np.max(np.abs(med - clean[None]), axis=2) > eps
            if O >= 2:
                arg = np.argmax(med, axis=2)
                flip_r[i, g0:g1] = arg != ref[None]
                if i == len(rs) - 1:
                    med_arg[g0:g1] = arg
        if O >= 2:
            copy_arg[g0:g1] = np.argmax(y, axis=3)
        del res, y
    models = dict(models or {})
    main = clustered_interval(fail_r[-1], confidence)
    curve = []
    for i, r in enumerate(rs):
        ci = clustered_interval(fail_r[i], confidence)
        row = {"R": r, "k": ci["k"], "n": ci["n"], "rate": ci["rate"], "lo": ci["lo_clustered"], "hi": ci["hi_clustered"]}
        for name, m in models.items():
            row[name] = m.mean(r)
        if "predicted_upper" in row:
            row["consistent"] = bool(ci["lo_clustered"] <= row["predicted_upper"])
        curve.append(row)
    out = {
        "groups": G, "R": R, "n_chips": G * R, "n_inputs": B, "confidence": float(confidence),
        "common_cause": F, "faults_simulated": [s.to_text() for s in sim_specs],
        "seeds": seeds, "chips_per_call": cpc,
        "median_failures": main,
        "per_copy_failures": _ci_short(clustered_interval(copy_fail.reshape(G * R, B), confidence)),
        "tail_curve": curve,
        "resolution": float(clopper_pearson(0, G * B, confidence, "upper")[1]),
    }
    for name, m in models.items():
        out[name] = m.mean(R)
    if predicted_tail is not None:
        out["predicted_tail"] = float(predicted_tail)
        out["consistent"] = bool(main["lo_clustered"] <= predicted_tail)
        out["rule"] = ("consistent when the lower limit of the group-clustered two-sided interval of the empirical "
                       "median failure rate is at or below the predicted tail")
    if O >= 2:
        ref = np.argmax(clean, axis=1)
        cls = {"median_flips": _ci_short(clustered_interval(flip_r[-1], confidence)),
               "per_copy_flips": _ci_short(clustered_interval((copy_arg != ref[None, None]).reshape(G * R, B), confidence))}
        if labels is not None:
            lab = np.asarray(labels).reshape(B)
            cls["accuracy"] = {"clean": float(np.mean(ref == lab)),
                               "single_copy": float(np.mean(copy_arg == lab[None, None])),
                               "median": float(np.mean(med_arg == lab[None]))}
        out["classification"] = cls
    out["_fail"] = fail_r[-1]
    out["_flip"] = flip_r[-1] if O >= 2 else None
    out["_clean"] = clean
    return out


# --------------------------------------------------------------------------- the plan
@dataclass
class PlanBuild:
    """A plan in memory: the JSON document, the arrays of plan.h5 and the mapping."""

    doc: dict
    arrays: dict
    mapping: ChipMapping
    inputs: np.ndarray
    labels: np.ndarray | None


def _public(d: dict) -> dict:
    """Drop keys starting with '_' (arrays and objects kept for plan.h5)."""
    return {k: (_public(v) if isinstance(v, dict) else v) for k, v in d.items() if not str(k).startswith("_")}


def plan_models(models: SimModels, rule: str) -> dict:
    """The tail models compared in the verification: the plan's rule (point, upper) and the copy-wise point model."""
    return {"predicted_point": models.get(rule, False), "predicted_upper": models.get(rule, True),
            "copywise_point": models.copywise_point}


def build_plan(mapping: ChipMapping, x, specs, eps: float, delta: float, confidence: float = 0.95,
               chips: int = 1000, groups=None, common_cause=None, seed: int = 0, labels=None, threads=None,
               progress=None, model_info: dict | None = None, input_source: str = "",
               rule: str = "componentwise", max_R: int = MAX_R) -> PlanBuild:
    """Derive ``R`` (both routes), verify it by simulation, and assemble the plan.

    Parameters
    ----------
    mapping : ChipMapping
        The network mapped on the chip profile (every replica is identical).
    x : array (n_inputs, n_in)
        Evaluation inputs; the target is averaged over them.
    specs : list of FaultSpec
        Fault assumptions per chip (no ``group``; see ``common_cause``).
    eps : float
        Output error threshold (``||Δ||_∞`` units of the network outputs), > 0.
    delta : float
        Target ``P(median fails)`` in (0, 1).
    confidence : float
        Level of every interval and of the simultaneous upper limits.
    chips : int
        Independent chips simulated to estimate ``q`` (phase 1).
    groups : int or None
        Replica groups simulated by the verification (default :func:`verification_size`).
    common_cause : float or None
        Also verify with a fraction ``F`` of permanent faults shared per group.
    seed : int
        Base seed; every ``simulate()`` call derives its own (:func:`derive_seed`).
    rule : {"componentwise", "copywise"}
        Tail model that chooses ``R`` (:class:`TailModel`); both are reported.
    progress : callable or None
        ``progress(phase_name, total_rows)`` -> a callable taking row increments
        (or None), called once per phase.
    """
    eps = _check_eps(eps)
    delta = _check_open_unit(delta, "delta", "target probability that the median fails", "1e-3")
    confidence = _check_open_unit(confidence, "confidence", "confidence level", "0.95")
    F = _check_common_cause(common_cause)
    rule = _check_rule(rule)
    chips = _check_int("chips", chips, 2, "independent chips used to estimate q")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"'seed' must be a non-negative integer. Got {seed!r}.")
    if groups is not None:
        _check_int("groups", groups, 1, "replica groups simulated by the verification")
    specs = _check_specs(specs)
    if not isinstance(mapping, ChipMapping):
        raise ConfigError(f"'mapping' must be a ChipMapping (neurosim.map_network(net, profile)). Got {type(mapping).__name__}.")
    net = mapping.qnet
    x = net.check_inputs(x)
    B = x.shape[0]

    def bar(name, total):
        return progress(name, total) if progress is not None else None

    # phase 1: per-copy failures -> R
    est = estimate_copy_failures(mapping, x, specs, chips, eps, seed, threads, bar("estimate q", chips * B))
    sim = simulation_route(est.fail, est.k_comp, confidence, delta, rule, max_R)
    models, pooled_plan = sim.pop("_models"), sim.pop("_pooled_plan")
    R, tail = sim.pop("_R"), sim.pop("_tail")
    sim["seeds"], sim["chips_per_call"] = est.seeds, est.chips_per_call
    if est.flip is not None:
        sim["per_copy_flips"] = _ci_short(clustered_interval(est.flip, confidence))
    # bound route + Algorithm 1
    bnd = bound_route(net, x, specs, eps, delta, rule, max_R, mapping=mapping)
    alg1 = algorithm1_certification(net, x, specs, eps, delta, bound=bnd)
    q_bound, q_bound_comp = bnd.pop("_q", None), bnd.pop("_q_comp", None)
    for k in ("_mean", "_std", "_model"):
        bnd.pop(k, None)
    # phase 2: verification
    G = verification_size(R, groups)
    vm = plan_models(models, rule)
    ver = verify_replicas(mapping, x, specs, R, G, eps, seed, confidence, None, vm, tail, labels,
                          threads, bar("verify", G * R * B))
    ver_cc = None
    if F:
        ver_cc = verify_replicas(mapping, x, specs, R, G, eps, seed, confidence, F, vm, tail, labels,
                                 threads, bar(f"common cause F={F:g}", G * R * B))
        ind, cc = ver["median_failures"], ver_cc["median_failures"]
        ver_cc["departure"] = {
            "independent_rate": ind["rate"], "common_cause_rate": cc["rate"],
            "ratio_to_independent_empirical": (cc["rate"] / ind["rate"]) if ind["rate"] > 0 else None,
            "ratio_to_predicted_point": (cc["rate"] / ver["predicted_point"]) if ver["predicted_point"] > 0 else None,
            "single_copy_rate": sim["q"],
            "note": ("a shared fraction F of the permanent faults correlates the replicas' failures: the median's "
                     "failure rate rises above the independent prediction, towards the single-copy rate q as F -> 1; "
                     "the independent plan does not cover it"),
        }
    summ = mapping.summary()
    totals = {"replicas": R, "chips": summ["chips_used"] * R, "cores": summ["cores_used"] * R,
              "synapses": summ["synapses"] * R, "neurons": summ["neurons"] * R, "tiles": summ["tiles"] * R}
    from .. import __version__

    paper_R = int(pooled_plan.paper_R) if pooled_plan is not None else int(plan_replicas(0.0, delta).paper_R)
    doc = {
        "format": "neurosim-plan",
        "format_version": None,  # filled by plan_io
        "neurosim_version": __version__,
        "model": dict(model_info or {}),
        "profile": mapping.profile.to_dict(),
        "faults": [s.to_dict() for s in specs],
        "fault_texts": [s.to_text() for s in specs],
        "inputs": {"source": input_source, "n_inputs": int(B), "n_in": int(x.shape[1]),
                   "labels": labels is not None},
        "target": {"eps": eps, "delta": delta, "confidence": confidence, "failure": FAILURE_RULE,
                   "aggregation": AGGREGATION,
                   "population": ("P(median fails) averaged over the evaluation inputs (uniform) and over chip fault "
                                  "draws; independent replicas unless stated")},
        "seed": int(seed),
        "seed_derivation": ("simulate() call i of phase P uses SeedSequence(seed, spawn_key=(P, i)).generate_state(1, "
                            "uint32)[0]; P = 1 estimate q, 2 verification, 3 common-cause verification"),
        "replicas": {
            "R": int(R),
            "rule": rule,
            "rule_text": _RULE_TEXT[rule],
            "tail": float(tail),
            "tail_point": models.get(rule, False).mean(R),
            "tails_at_R": {
                "componentwise_upper": models.componentwise_upper.mean(R),
                "componentwise_point": models.componentwise_point.mean(R),
                "copywise_upper": models.copywise_upper.mean(R),
                "copywise_point": models.copywise_point.mean(R),
                "pooled": float(np.exp(log_median_failure_tail(R, min(models.q_pooled_upper, 1.0)))),
            },
            "log_tail_pooled": float(log_median_failure_tail(R, min(models.q_pooled_upper, 1.0))),
            "R_by_model": sim["R"],
            "R_bound": bnd.get("R") if bnd.get("available") else None,
            "paper": {
                "formula": "(1/3)^(R/2) <= delta",
                "R": paper_R,
                "claimed_tail_at_R": (1.0 / 3.0) ** (paper_R / 2.0),
                "tail_at_R": models.get(rule, False).mean(paper_R),
                "copywise_tail_at_R": models.copywise_point.mean(paper_R),
                "valid": False,
                "note": ("The paper's (1/3)^(R/2) omits the binomial coefficient C(R, ceil(R/2)) and is not a valid "
                         "bound on P(median fails); reported for comparison only"
                         + ("" if pooled_plan is None else "; planner: " + pooled_plan.note)),
            },
        },
        "q": {"simulation": sim, "bound": bnd},
        "algorithm1": alg1,
        "verification": {"independent": _public(ver), "common_cause": None if ver_cc is None else _public(ver_cc)},
        "mapping": {"per_replica": summ, "replicas_identical": True, "totals": totals},
    }
    arrays = {
        "inputs/x": x,
        "clean": ver["_clean"],
        "estimate/fail": est.fail.astype(np.uint8),
        "estimate/fail_count": est.fail.sum(axis=0).astype(np.int64),
        "estimate/component_count": est.k_comp,
        "verification/independent/median_fail": ver["_fail"].astype(np.uint8),
    }
    if labels is not None:
        arrays["inputs/labels"] = np.asarray(labels).astype(np.int64)
    if est.flip is not None:
        arrays["estimate/flip"] = est.flip.astype(np.uint8)
        arrays["verification/independent/median_flip"] = ver["_flip"].astype(np.uint8)
    if q_bound is not None:
        arrays["bound/q"] = np.asarray(q_bound, dtype=np.float64)
        arrays["bound/q_output"] = np.asarray(q_bound_comp, dtype=np.float64)
    if ver_cc is not None:
        arrays["verification/common_cause/median_fail"] = ver_cc["_fail"].astype(np.uint8)
        if ver_cc["_flip"] is not None:
            arrays["verification/common_cause/median_flip"] = ver_cc["_flip"].astype(np.uint8)
    return PlanBuild(doc=doc, arrays=arrays, mapping=mapping, inputs=x,
                     labels=None if labels is None else np.asarray(labels))
