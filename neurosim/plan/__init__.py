r"""Deployment planning for ``R`` median-aggregated chip replicas (the ``plan`` layer).

Modules: :mod:`.models` (tail models), :mod:`.routes` (simulation and bound
routes), :mod:`.certify` (Algorithm 1 certification), :mod:`.verify`
(verification, common cause), :mod:`.build` (:func:`build_plan`),
:mod:`.files` and :mod:`.check` (the plan folder format and ``--check``).
The pure maths it uses (exact tails, :func:`~neurosim.analysis.plan_replicas`,
bounds, intervals) lives in :mod:`neurosim.analysis`.

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
from ._common import AGGREGATION, FAILURE_RULE, MAX_R, RULES, derive_seed
from .build import PlanBuild, build_plan, plan_models
from .certify import algorithm1_certification
from .check import CheckReport, check_plan
from .files import (
    H5_NAME, JSON_NAME, PLAN_VERSION, LoadedPlan, PlanCheckError, canonical_json, check_output_dir, content_digest,
    dataset_sha256, model_info, read_plan, sha256_file, weights_sha256, write_plan,
)
from ..analysis.stats import clustered_interval
from .models import TailModel, mixture_tail, smallest_R_mixture, tails
from .routes import CopyFailures, SimModels, bound_route, estimate_copy_failures, simulation_models, simulation_route
from .verify import common_cause_specs, verification_size, verify_replicas

__all__ = [
    "AGGREGATION", "FAILURE_RULE", "MAX_R", "RULES", "derive_seed",
    "PlanBuild", "build_plan", "plan_models", "algorithm1_certification",
    "CheckReport", "check_plan",
    "H5_NAME", "JSON_NAME", "PLAN_VERSION", "LoadedPlan", "PlanCheckError", "canonical_json", "check_output_dir",
    "content_digest", "dataset_sha256", "model_info", "read_plan", "sha256_file", "weights_sha256", "write_plan",
    "TailModel", "clustered_interval", "mixture_tail", "smallest_R_mixture", "tails",
    "CopyFailures", "SimModels", "bound_route", "estimate_copy_failures", "simulation_models", "simulation_route",
    "common_cause_specs", "verification_size", "verify_replicas",
]
