r"""Common cause: ``R`` under the shared-fault model, its floor, and the deployment rule.

Model (:func:`~neurosim.plan.verify.common_cause_specs`): a replica set shares
a fraction ``F`` of its permanent faults (same lot or wafer) — rate ``F p``
drawn once per set — and draws the rest independently. Conditionally on the
shared draw ``S`` the replicas are independent with per-copy rates
``q_S(x)`` (and ``q_{S,o,s}(x)`` per output and direction), so

    ``P_F(R) = E_S mean_x f_x(R; q_S)``

— a *mixture* over the shared part of the independent tail models
(:class:`~neurosim.plan.models.TailModel`). It is estimated by simulation:
``D`` shared draws, each with ``m`` chips that share it (``group = m``). For
``R <= m`` the per-draw tail uses the unbiased hypergeometric estimate of
``T(R, q_S)`` (the chance that ``ceil(R/2)`` of ``R`` chips drawn without
replacement from the ``m`` simulated ones fail: ``E = T(R, q_S)`` exactly);
beyond ``m``, the plug-in ``T(R, k/m)``. The plan's ``R`` under common cause
is the smallest odd ``R`` whose one-sided Student-t upper limit over the
``D`` draws (``mean + t_{D-1, conf} sd / sqrt(D)``) is ``<= delta``.

The floor: as ``R -> ∞``, ``T(R, q) -> 1`` for ``q > 1/2``, ``1/2`` at
``q = 1/2`` and ``0`` below, so ``P_F(∞) = E_S mean_x [q_S(x) > 1/2]``
(component-wise: any ``q_{S,o,s} > 1/2``): shared draws under which most
replicas fail the same way. No ``R`` goes below it; only replicas that share
nothing (``F = 0``: every replica from a distinct lot/wafer) remove it.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .._validate import integer
from ..sim.engine import simulation_network
from ._common import PHASE_SHARED, _check_eps_x, _eps_b, derive_seed
from .models import tails

__all__ = ["shared_model", "shared_tail", "DEPLOYMENT_RULE"]

DEPLOYMENT_RULE = ("build the R replicas of one deployment from R distinct fabrication lots (or wafers): replicas that "
                   "share a lot share its defects (the common-cause fraction F), which no median removes")


def _hyper_tail(R: int, m: int, k) -> np.ndarray:
    """``P(X >= ceil(R/2))``, ``X ~ Hypergeometric(m, k, R)``: unbiased for ``T(R, k/m)``-type tails when ``R <= m``."""
    need = (R + 1) // 2
    return stats.hypergeom.sf(need - 1, m, np.asarray(k), R)


def shared_tail(R: int, k_any, k_comp, m: int) -> np.ndarray:
    """Per shared draw, the component-wise median-failure estimate averaged over inputs: shape ``(D,)``.

    ``k_any (D, B)``: chips of the draw failing ``||Δ||_∞ > eps``; ``k_comp (D, B, O, 2)``: per output and direction.
    """
    if R <= m:
        A, C = _hyper_tail(R, m, k_any), _hyper_tail(R, m, k_comp)
    else:
        A, C = tails(R, k_any / m), tails(R, k_comp / m)
    C = np.minimum(1.0, C.reshape(C.shape[0], C.shape[1], -1).sum(axis=2))
    per = np.where(k_any / m < 0.5, np.minimum(A, C), C)
    return per.mean(axis=1)


def shared_model(target, x, specs, F: float, eps, seed: int, delta: float, confidence: float = 0.95,
                 draws: int = 40, chips_per_draw: int = 25, max_R: int = 201, threads=None, progress=None,
                 sim_kw=None) -> dict:
    """Simulate ``draws`` shared fault draws x ``chips_per_draw`` chips; return ``R`` under common cause (module doc).

    Seeds: call ``i`` uses ``derive_seed(seed, 5, i)``. Returns a JSON-ready dict
    (``R`` None when the upper limit never reaches ``delta``: then ``floor``
    says why).
    """
    from ..sim import simulate
    from .verify import common_cause_specs

    D = integer(draws, "shared_draws", 2, "shared fault draws simulated for the common-cause model")
    m = integer(chips_per_draw, "chips_per_draw", 2, "chips simulated per shared draw")
    net = simulation_network(target)
    x = net.check_inputs(x)
    B, O = x.shape[0], net.n_out
    e = _eps_b(_check_eps_x(eps, B))
    sim_specs = common_cause_specs(specs, F, m)
    per_call = max(1, (1 << 22) // max(1, m * B * O))
    k_any = np.zeros((D, B), dtype=np.int64)
    k_comp = np.zeros((D, B, O, 2), dtype=np.int64)
    seeds = []
    for call, d0 in enumerate(range(0, D, per_call)):
        d1 = min(D, d0 + per_call)
        s = derive_seed(seed, PHASE_SHARED, call)
        seeds.append(s)
        res = simulate(target, x, sim_specs, n_chips=(d1 - d0) * m, seed=s, threads=threads, progress=progress,
                       **(sim_kw or {}))
        dl = res.delta.reshape(d1 - d0, m, B, O)
        k_any[d0:d1] = np.count_nonzero(np.any(np.abs(dl) > e, axis=3), axis=1)
        k_comp[d0:d1, ..., 0] = np.count_nonzero(dl > e, axis=1)
        k_comp[d0:d1, ..., 1] = np.count_nonzero(dl < -e, axis=1)
        del res, dl
    tq = float(stats.t.ppf(confidence, D - 1))
    floor_draws = np.mean(np.where(np.any(k_comp.reshape(D, B, -1) * 2 > m, axis=2), 1.0,
                                   np.where(np.any(k_comp.reshape(D, B, -1) * 2 == m, axis=2), 0.5, 0.0)), axis=1)
    floor = float(floor_draws.mean())
    floor_up = float(floor + tq * floor_draws.std(ddof=1) / math.sqrt(D))
    curve, R_found, prev, stop = [], None, None, None
    for R in range(1, max_R + 1, 2):
        f = shared_tail(R, k_any, k_comp, m)
        mean, up = float(f.mean()), float(f.mean() + tq * f.std(ddof=1) / math.sqrt(D))
        if R <= 25 or R % 10 == 1 or up <= delta:
            curve.append({"R": R, "mean": mean, "upper": up, "estimator": "hypergeometric" if R <= m else "plug-in"})
        if up <= delta:
            R_found = R
            break
        if R > m and prev is not None and abs(prev - up) <= 1e-3 * up:
            stop = R  # converged to its limit above delta: larger R cannot help
            break
        prev = up
    return {
        "F": float(F), "draws": D, "chips_per_draw": m, "seeds": seeds, "faults_simulated": [s.to_text() for s in sim_specs],
        "method": ("mixture over shared fault draws: per draw the replicas are independent; per-draw component-wise tail "
                   "(hypergeometric estimate for R <= chips_per_draw, plug-in beyond), averaged over inputs; R = smallest "
                   "odd R whose one-sided Student-t upper limit over the draws is <= delta"),
        "R": R_found, "max_R": int(max_R), "curve": curve, "stopped_at": stop,
        "floor": floor, "floor_upper": floor_up,
        "floor_note": ("P(median fails) as R -> infinity under this F: the shared draws under which most replicas fail "
                       "the same way; no R goes below it"),
        "q_mean": float((k_any / m).mean()),
        "deployment_rule": DEPLOYMENT_RULE,
        "_k_any": k_any, "_k_comp": k_comp,
    }
