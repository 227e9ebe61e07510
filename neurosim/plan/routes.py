"""The two routes to ``q``: simulation (phase 1, Clopper–Pearson limits) and the paper's bounds.

See :mod:`neurosim.plan` (decisions 1-4).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ..analysis.bounds import b3_bound, output_jacobians, synapse_first_order
from ..analysis.compare import effective_rates
from ..analysis.planner import plan_replicas
from ..analysis.stats import clopper_pearson, clustered_interval
from ..analysis.tails import network_delta0, proposition3_tail, proposition5_tail
from ..errors import ConfigError
from ..network import Network
from ..sim.engine import simulation_network
from ._common import (MAX_R, PHASE_ESTIMATE, RULES, _check_eps, _check_eps_x, _check_int, _check_rule, _chips_per_call,
                      _eps_b, derive_seed)
from .models import TailModel


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
    crit: np.ndarray | None = None


def estimate_copy_failures(target, x, specs, n_chips: int, eps, seed: int, threads=None,
                           progress=None, criterion=None, labels=None, sim_kw=None) -> CopyFailures:
    """Simulate ``n_chips`` independent copies on every input and record failures (phase 1).

    ``eps`` is a scalar or one surrogate threshold per input
    (:meth:`~neurosim.plan.criteria.Criterion.surrogate_eps`); ``fail`` and
    ``k_comp`` use it. With ``criterion`` the copies' failures under it are
    kept in ``crit``. ``sim_kw``: spiking-mode options passed to every
    ``simulate`` call (``ticks``, ``dt_s``, ``encoding``, ``delay_ticks``).
    """
    from ..sim import simulate

    n_chips = _check_int("chips", n_chips, 2, "independent chips used to estimate q")
    net = simulation_network(target)
    x = net.check_inputs(x)
    B, O = x.shape[0], net.n_out
    eps = _check_eps_x(eps, B)
    e = _eps_b(eps)
    crit = None if criterion is None else np.empty((n_chips, B), dtype=bool)
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
        res = simulate(target, x, list(specs), n_chips=c1 - c0, seed=s, threads=threads, progress=progress,
                       **(sim_kw or {}))
        d = res.delta
        fail[c0:c1] = np.any(np.abs(d) > e, axis=2)
        k_comp[..., 0] += np.count_nonzero(d > e, axis=0)
        k_comp[..., 1] += np.count_nonzero(d < -e, axis=0)
        if flip is not None:
            flip[c0:c1] = res.flips
        if crit is not None:
            crit[c0:c1] = criterion.fails(res.faulty, res.clean, labels)
        del res, d
    return CopyFailures(fail, flip, k_comp, seeds, cpc, time.perf_counter() - t0, crit)


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
    return simulation_models_from_counts(f.sum(axis=0).astype(np.int64), k_comp, f.shape[0], confidence)


def simulation_models_from_counts(k_x, k_comp, n_chips: int, confidence: float) -> SimModels:
    """:func:`simulation_models` from the counts: ``k_x (B,)`` failing chips per input, ``k_comp (B, O, 2)``."""
    k_x = np.asarray(k_x, dtype=np.int64)
    C, B = int(n_chips), k_x.size
    kc = np.asarray(k_comp, dtype=np.int64)
    O = kc.shape[1]
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


def _chebyshev(mean, std, eps):
    """:func:`chebyshev_tail` with one threshold per input (``eps`` of shape ``(B,)``; 0 gives the vacuous 1)."""
    if np.ndim(eps) == 0:
        return chebyshev_tail(mean, std, eps)
    m, s = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    gap = np.asarray(eps)[:, None] - np.abs(m)
    inf = gap > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.minimum(1.0, np.where(inf, (s * s) / np.where(inf, gap, 1.0) ** 2, 1.0))
    return SimpleNamespace(delta=d, delta_any=np.minimum(d.sum(axis=-1), 1.0), informative=inf, eps=eps)


def _delta0(net, pn, ps, alpha=None):
    """Proposition 3 over every crashing layer (union bound): neuron layers as written; weight failures by analogy."""
    d0, layers = network_delta0(net, pn, alpha)
    for l, rate in sorted(ps.items()):
        if rate <= 0:
            continue
        # Definition 2 (weight failures): each weight is its own crashing unit with mass |W_l^{ij}|
        t = proposition3_tail(np.abs(net.weights[l - 1]).ravel(), rate, alpha)
        layers.append({"layer": int(l), "site": "synapse", **t.__dict__})
        d0 += t.delta0
    return float(min(1.0, d0)), layers


def bound_route(net: Network, x, specs, eps: float, delta: float, rule: str = "componentwise",
                max_R: int = MAX_R, alpha: float | None = None, mapping=None) -> dict:
    """q from the paper's bounds (module decision 4); ``available`` False for core faults.

    Proposition 5 as the supplementary states it, ``δ = δ0 + Var Δ / t²``
    with ``t = ε - |E Δ|`` (:func:`neurosim.analysis.tails.proposition5_tail`;
    ``δ0`` is added, never minimised against): per (input, output)
    ``q_o = min(1, δ0 + Var Δ_o / t_o²)`` bounds ``P(|Δ_o| >= eps)``; per input
    ``q(x) = min(1, δ0 + Σ_o Var Δ_o / t_o²)`` (union bound over outputs). ``δ0``
    is Proposition 3 (q-balanced weight masses ``W_l^i = Σ_j |W_l^{ij}|``,
    ``exp(-n_l q d_KL(α ‖ p_l))``, ``α = e² p_l`` by default) summed over the
    crashing layers; synapse layers use the same bound on the weights
    themselves (Definition 2, by analogy). The component-wise model uses the
    per-output ``q_o`` as two-sided rates.
    """
    eps = _check_eps_x(eps, np.shape(x)[0])
    rule = _check_rule(rule)
    pn, ps, unc = effective_rates(specs, net)  # wiring layers (pooling, flatten) carry no faults
    if unc:
        return {"available": False,
                "reason": "core faults are correlated (a whole core at once); no analytic prediction covers them: "
                          + ", ".join(s.to_text() for s in unc)}
    valued = any(not s.fault_value.is_zero for s in specs)
    if valued:  # stuck-at-value faults: their own first-order moments (analysis.values); δ0 is for crashes only
        from ..analysis.values import value_first_order

        fo = value_first_order(mapping if mapping is not None else net, x, specs)
        mean, std, parts = fo.mean, fo.std, ["stuck-at-value first order"]
        d0, d0_layers = 0.0, []
    else:
        mean, std, parts = _first_order(net, x, pn, ps)
        d0, d0_layers = _delta0(net, pn, ps, alpha)
    if np.ndim(eps) == 0:
        p5 = proposition5_tail(mean, std, eps, d0)
        cheb = p5.chebyshev
        q_o = np.asarray(p5.delta, dtype=np.float64)
        q_any = np.asarray(p5.delta_any, dtype=np.float64).reshape(-1)
    else:  # per-input thresholds (a --failure other than linf): Proposition 5 at eps_x, same δ0
        cheb = _chebyshev(mean, std, eps)
        q_o = np.minimum(1.0, d0 + cheb.delta)
        q_any = np.minimum(1.0, d0 + cheb.delta.sum(axis=-1)).reshape(-1)
    q_cheb_any = np.asarray(cheb.delta_any, dtype=np.float64).reshape(-1)
    prop3 = {"applies": bool(d0_layers), "delta0": d0, "layers": d0_layers,
             "q_min": float(min((t["q"] for t in d0_layers), default=1.0))}
    if valued:
        prop3["reason"] = "Proposition 3 is for crash faults; stuck-at-value faults use Chebyshev on their own moments"
    model = TailModel(q_any) if rule == "copywise" else TailModel(q_any, q_o[:, :, None], two_sided=True)
    out = {
        "available": True,
        "method": ("first-order moments (" + " + ".join(parts or ["no active faults"]) + "); Proposition 5: "
                   "delta0 (Proposition 3) + Var/t^2 per output, union bound over outputs; approximate when the "
                   "first-order moments are"),
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
