"""Plan building: derive ``R`` on both routes, verify it, and assemble the plan document and arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from ..analysis.planner import log_median_failure_tail, plan_replicas
from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ._common import (AGGREGATION, FAILURE_RULE, MAX_R, _RULE_TEXT, _check_common_cause, _check_eps, _check_int,
                      _check_rule, _check_specs, _ci_short)
from .certify import algorithm1_certification
from ..analysis.stats import clustered_interval
from .routes import SimModels, bound_route, estimate_copy_failures, simulation_route
from .verify import verification_size, verify_replicas


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
    delta = V.open_unit(delta, "delta", "target probability that the median fails", "1e-3")
    confidence = V.open_unit(confidence, "confidence", "confidence level", "0.95")
    F = _check_common_cause(common_cause)
    rule = _check_rule(rule)
    chips = _check_int("chips", chips, 2, "independent chips used to estimate q")
    seed = V.seed(seed)
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
