"""Single-copy width check (no retraining): crash-count balance, moments, feasibility, width factor.

Not the paper's Algorithm 1 (that trains and loops: :mod:`neurosim.plan.algorithm1`).
"""
from __future__ import annotations

import numpy as np

from ..analysis.tails import algorithm1_feasibility, crash_count_balancedness
from ..network import Network
from ._common import _check_eps
from .routes import _layer_contributions, bound_route


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
        bal = crash_count_balancedness(c, eps)
        kmin = np.asarray(bal.k_max).min(axis=1)
        layers.append({"layer": l, "n_neurons": int(bal.n), "k_max_min": int(kmin.min()),
                       "k_max_median": float(np.median(kmin)), "q_min": float(kmin.min() / bal.n),
                       "q_median": float(np.median(kmin) / bal.n)})
    return {
        "available": True,
        "moments": ("stuck-at-value first order" if any(not s.fault_value.is_zero for s in specs)
                    else "b3 (neurons) + synapse first order, superposed"),
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
