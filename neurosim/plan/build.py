"""Plan building: derive ``R`` on both routes, verify it, and assemble the plan document and arrays."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from ..analysis.planner import log_median_failure_tail, plan_replicas
from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ._common import (AGGREGATION, MAX_R, _RULE_TEXT, _check_common_cause, _check_eps, _check_int,
                      _check_rule, _check_specs, _ci_short)
from .certify import algorithm1_certification
from .criteria import parse_failure
from .deliver import ACCEPT_FILE, acceptance_rule, replica_file
from .shared import DEPLOYMENT_RULE, shared_model
from .verdict import decide, r_spread
from .voter import parse_voter
from .spiking import NO_ANN, check_route, spiking_bound_route, spiking_options, spiking_record
from ..analysis.stats import clustered_interval
from .routes import SimModels, bound_route, estimate_copy_failures, simulation_route
from .verify import verification_size, verify_replicas


DEFAULT_CHIPS = 2000
#: Largest verification --verify-to-delta runs without asking (chips x inputs simulated).
VERIFY_BUDGET = 20_000_000
_SURROGATE = {
    "linf": "eps_x = EPS",
    "flip": "eps_x = (clean top output - runner-up) / 2 (one ulp below)",
    "topk": "eps_x = (K-th smallest gap between the clean top output and another) / 2 (one ulp below)",
    "loss": "eps_x = EPS / 2 (cross-entropy is 2-Lipschitz in ||.||_inf); sqrt(a^2 + EPS) - a for squared error",
}


class InfeasiblePlan(ConfigError):
    """No ``R`` meets ``delta`` under the stated faults before any plan exists (verdict ``infeasible``, exit 3)."""


def deployment_cost(summ: dict, R: int, n_out: int, voter) -> dict:
    """Chips, cores, synapses and an energy proxy of one deployment of ``R`` replicas and the voter."""
    return {
        "replicas": int(R), "chips": int(summ["chips_used"] * R + voter.extra_chips),
        "chips_replicas": int(summ["chips_used"] * R), "chips_voter": int(voter.extra_chips),
        "cores": int(summ["cores_used"] * R), "synapses": int(summ["synapses"] * R),
        "neurons": int(summ["neurons"] * R), "tiles": int(summ["tiles"] * R),
        "energy_proxy": {
            "synaptic_ops_per_inference": int(summ["synapses"] * R),
            "neuron_updates_per_inference": int(summ["neurons"] * R),
            "voter_comparisons_per_inference": voter.comparisons(R, n_out),
            "relative_to_one_chip": float(R),
            "note": ("crossbar reads scale with synaptic operations: R replicas cost R times one copy's inference "
                     "energy, plus the voter's comparisons (n_out R log2 R)"),
        },
    }


@dataclass
class PlanBuild:
    """A plan in memory: the JSON document, the arrays of plan.h5 and the mapping."""

    doc: dict
    arrays: dict
    mapping: ChipMapping
    inputs: np.ndarray
    labels: np.ndarray | None
    pass_counts: np.ndarray | None = None


def _public(d: dict) -> dict:
    """Drop keys starting with '_' (arrays and objects kept for plan.h5)."""
    return {k: (_public(v) if isinstance(v, dict) else v) for k, v in d.items() if not str(k).startswith("_")}


def plan_models(models: SimModels, rule: str) -> dict:
    """The tail models compared in the verification: the plan's rule (point, upper) and the copy-wise point model."""
    return {"predicted_point": models.get(rule, False), "predicted_upper": models.get(rule, True),
            "copywise_point": models.copywise_point}


def build_plan(mapping: ChipMapping, x, specs, eps=None, delta: float = 1e-3, confidence: float = 0.95,
               chips: int = DEFAULT_CHIPS, groups=None, common_cause=None, seed: int = 0, labels=None, threads=None,
               progress=None, model_info: dict | None = None, input_source: str = "",
               rule: str = "componentwise", max_R: int = MAX_R, failure=None, voter=None,
               verify_to_delta: bool = False, verify_budget: int = VERIFY_BUDGET, shared_draws: int = 40,
               chips_per_draw: int = 25, spiking=None, ann=None, route: str = "both") -> PlanBuild:
    """Derive ``R`` (both routes, and the shared-fault model), verify it by simulation, decide the verdict.

    Parameters
    ----------
    mapping : ChipMapping
        The network mapped on the chip profile (every replica is identical).
    x : array (n_inputs, n_in)
        Evaluation inputs; the target is averaged over them.
    specs : list of FaultSpec
        Fault assumptions per chip (no ``group``; see ``common_cause``).
    eps : float or None
        ``||Δ||_∞`` threshold: shorthand for ``failure="linf:eps"``.
    delta : float
        Target ``P(the voted output fails)`` in (0, 1).
    failure : str or Criterion or None
        ``linf:EPS``, ``flip``, ``topk:K`` or ``loss:EPS`` (:mod:`.criteria`).
    voter : str or Voter or None
        ``ideal`` (default) or ``digital:RATE[@host|@chip]`` (:mod:`.voter`).
    confidence : float
        Level of every interval and of the simultaneous upper limits.
    chips : int
        Independent chips simulated to estimate ``q`` (phase 1; default 2000,
        which keeps ``R`` seed-stable on the bundled example).
    groups : int or None
        Replica groups simulated by the verification (default :func:`verification_size`).
    common_cause : float or None
        Fraction ``F`` of permanent faults shared by a replica set: ``R`` comes
        from the shared-fault model (:mod:`.shared`) and the verdict from the
        common-cause verification.
    verify_to_delta : bool
        When the verification cannot resolve ``delta``, re-run it with the
        groups that would, if that costs at most ``verify_budget`` chip-inputs.
    seed : int
        Base seed; every ``simulate()`` call derives its own (:func:`derive_seed`).
    rule : {"componentwise", "copywise"}
        Tail model that chooses ``R`` (:class:`TailModel`); both are reported.
    progress : callable or None
        ``progress(phase_name, total_rows)`` -> a callable taking row increments
        (or None), called once per phase.
    spiking : dict or None
        Spiking networks: ``ticks``, ``dt_s``, ``encoding``, ``delay_ticks``
        for every simulation (recorded in plan.json ``spiking``; :mod:`.spiking`).
    ann : Network, ChipMapping or None
        Spiking networks: the ANN the network was converted from; the bound
        route uses its bounds with the 1/T quantisation term (:mod:`.spiking`).
    route : {"both", "simulation"}
        ``"simulation"`` skips the bound route (a spiking network without a
        source ANN needs it).
    """
    from ..sim import simulate

    delta = V.open_unit(delta, "delta", "target probability that the median fails", "1e-3")
    confidence = V.open_unit(confidence, "confidence", "confidence level", "0.95")
    F = _check_common_cause(common_cause)
    rule = _check_rule(rule)
    chips = _check_int("chips", chips, 2, "independent chips used to estimate q")
    seed = V.seed(seed)
    if groups is not None:
        _check_int("groups", groups, 1, "replica groups simulated by the verification")
    verify_budget = _check_int("verify_budget", verify_budget, 1, "chip-inputs the verification may simulate")
    specs = _check_specs(specs)
    if failure is None:
        crit = parse_failure(None, None if eps is None else _check_eps(eps))
    else:
        crit = parse_failure(failure, None if eps is None else _check_eps(eps))
    vot = parse_voter(voter)
    if not isinstance(mapping, ChipMapping):
        raise ConfigError(f"'mapping' must be a ChipMapping (neurosim.map_network(net, profile)). Got {type(mapping).__name__}.")
    net = mapping.qnet
    skw = spiking_options(net, spiking)
    route = check_route(route)
    if skw and route == "both" and ann is None:
        raise ConfigError(NO_ANN.format(name=net.name))
    if ann is not None and not skw:
        raise ConfigError(f"'ann' (the source ANN of a spiking network) applies to spiking networks; {net.name!r} is a "
                          "rate network, whose own bounds the plan uses: drop it.")
    x = net.check_inputs(x)
    B = x.shape[0]
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != B:
            raise ConfigError(f"'labels' must have one entry per input ({B}). Got {labels.shape[0]}.")
    crit.check_network(net.n_out, labels)
    clean = simulate(mapping, x, [], n_chips=1, seed=0, **skw).clean
    eps_x = crit.surrogate_eps(clean, labels)
    e_arg = float(crit.value) if crit.kind == "linf" else eps_x
    # the voter fails on its own with probability v: the replicas must meet (delta - v) / (1 - v)
    if vot.rate >= delta:
        raise InfeasiblePlan(f"the voter's own fault rate {vot.rate:g} is >= delta {delta:g}: no R can meet it "
                             "(a voter floor); use a more reliable voter or a larger --delta")
    d_rep = (delta - vot.rate) / (1.0 - vot.rate)

    def bar(name, total):
        return progress(name, total) if progress is not None else None

    # phase 1: per-copy failures -> R (independent faults)
    est = estimate_copy_failures(mapping, x, specs, chips, e_arg, seed, threads, bar("estimate q", chips * B),
                                 criterion=crit, labels=labels, sim_kw=skw)
    try:
        sim = simulation_route(est.fail, est.k_comp, confidence, d_rep, rule, max_R)
    except ConfigError as exc:
        raise InfeasiblePlan(str(exc)) from None
    models, pooled_plan = sim.pop("_models"), sim.pop("_pooled_plan")
    R_ind, tail_ind = sim.pop("_R"), sim.pop("_tail")
    sim["seeds"], sim["chips_per_call"] = est.seeds, est.chips_per_call
    sim["criterion_failures"] = _ci_short(clustered_interval(est.crit, confidence))
    if est.flip is not None:
        sim["per_copy_flips"] = _ci_short(clustered_interval(est.flip, confidence))
    sim["R_spread"] = r_spread(est.fail.sum(axis=0), est.k_comp, chips, confidence, d_rep, rule, seed=seed)
    # bound route + Algorithm 1
    ann_info = None
    if route == "simulation":
        why = "not run: --route simulation (the plan rests on the simulation route)"
        bnd, alg1 = {"available": False, "reason": why}, {"available": False, "reason": why}
    elif skw:  # a converted spiking network: the ANN's bounds with the 1/T quantisation term
        bnd, alg1, ann_info = spiking_bound_route(mapping, ann, x, specs, e_arg, clean, d_rep, rule, max_R, skw, crit)
    else:
        bnd = bound_route(net, x, specs, e_arg, d_rep, rule, max_R, mapping=mapping)
        alg1 = (algorithm1_certification(net, x, specs, float(crit.value), d_rep, bound=bnd) if crit.kind == "linf" else
                {"available": False, "reason": "Algorithm 1 certifies a ||Δ||_∞ threshold; run with --failure linf:EPS"})
    q_bound, q_bound_comp = bnd.pop("_q", None), bnd.pop("_q_comp", None)
    for k in ("_mean", "_std", "_model"):
        bnd.pop(k, None)
    # common cause: R under the shared-fault model
    sh, infeasible = None, None
    R, tail = R_ind, tail_ind
    if F:
        sh = shared_model(mapping, x, specs, F, e_arg, seed, d_rep, confidence, shared_draws, chips_per_draw,
                          threads=threads, progress=bar(f"shared model F={F:g}", shared_draws * chips_per_draw * B),
                          sim_kw=skw)
        sh.pop("_k_any"), sh.pop("_k_comp")
        if sh["R"] is None:
            infeasible = (f"under the shared-fault model (F = {F:g}) no R <= {sh['stopped_at'] or sh['max_R']} meets "
                          f"delta: the median's failure rate levels off at {sh['floor']:.3g} (upper {sh['floor_upper']:.3g})"
                          f", the floor no R crosses; {DEPLOYMENT_RULE}")
        else:
            R = max(R_ind, int(sh["R"]))
            tail = next(c["upper"] for c in sh["curve"] if c["R"] == sh["R"]) if R == sh["R"] else models.get(rule, True).mean(R)
    # phase 2: verification at R (independent, and under common cause)
    G = verification_size(R, groups)
    vm = plan_models(models, rule)
    vkw = dict(criterion=crit, voter=vot, sim_kw=skw)
    ver = verify_replicas(mapping, x, specs, R, G, e_arg, seed, confidence, None, vm, tail_ind if R == R_ind else
                          models.get(rule, True).mean(R), labels, threads, bar("verify", G * R * B), **vkw)
    ver_cc = None
    if F:
        ver_cc = verify_replicas(mapping, x, specs, R, G, e_arg, seed, confidence, F, vm, ver["predicted_tail"], labels,
                                 threads, bar(f"common cause F={F:g}", G * R * B), **vkw)
    predicted = vot.total(tail)
    spci = est.seconds / max(1, chips * B)
    verdict = decide(ver_cc if F else ver, delta, infeasible, predicted, R, confidence, spci)
    vtd = None
    if verify_to_delta and verdict["verdict"] == "not_confirmed":
        G2 = verdict.get("groups_to_resolve")
        cost = None if G2 is None else G2 * R * B
        vtd = {"budget_chip_inputs": verify_budget, "groups": G2, "chip_inputs": cost,
               "seconds_estimate": None if cost is None else cost * spci}
        if G2 is not None and cost <= verify_budget and G2 > G:
            again = verify_replicas(mapping, x, specs, R, G2, e_arg, seed, confidence, F, vm, ver["predicted_tail"],
                                    labels, threads, bar("verify to delta", G2 * R * B), **vkw)
            if F:
                ver_cc = again
            else:
                ver = again
            verdict = decide(again, delta, infeasible, predicted, R, confidence, spci)
            vtd["ran"] = True
        else:
            vtd["ran"] = False
            vtd["why_not"] = ("no group count resolves delta at the assumed rate" if G2 is None else
                              f"needs {cost:,} chip-inputs (about {cost * spci:.0f} s at this run's speed), above the "
                              f"budget of {verify_budget:,}")
    verdict["verify_to_delta"] = vtd
    if F:
        ind, cc = ver["median_failures"], ver_cc["median_failures"]
        ver_cc["departure"] = {
            "independent_rate": ind["rate"], "common_cause_rate": cc["rate"],
            "ratio_to_independent_empirical": (cc["rate"] / ind["rate"]) if ind["rate"] > 0 else None,
            "ratio_to_predicted_point": (cc["rate"] / ver["predicted_point"]) if ver["predicted_point"] > 0 else None,
            "single_copy_rate": sim["q"],
            "note": ("a shared fraction F of the permanent faults correlates the replicas' failures: the median's "
                     "failure rate rises above the independent prediction, towards the single-copy rate q as F -> 1; "
                     "the plan's R and verdict come from the shared-fault model and this verification"),
        }
    summ = mapping.summary()
    totals = {"replicas": R, "chips": summ["chips_used"] * R, "cores": summ["cores_used"] * R,
              "synapses": summ["synapses"] * R, "neurons": summ["neurons"] * R, "tiles": summ["tiles"] * R}
    cost = deployment_cost(summ, R, net.n_out, vot)
    from .. import __version__

    profile = mapping.profile.to_dict()
    # the recorded profile allows what the mapping uses (a replica spanning 2 chips needs max_chips >= 2)
    profile["max_chips"] = max(int(profile.get("max_chips", 1)), int(mapping.n_chips))

    paper_R = int(pooled_plan.paper_R) if pooled_plan is not None else int(plan_replicas(0.0, delta).paper_R)
    doc = {
        "format": "neurosim-plan",
        "format_version": None,  # filled by plan_io
        "neurosim_version": __version__,
        "model": dict(model_info or {}),
        "profile": profile,
        "faults": [s.to_dict() for s in specs],
        "fault_texts": [s.to_text() for s in specs],
        "inputs": {"source": input_source, "n_inputs": int(B), "n_in": int(x.shape[1]),
                   "labels": labels is not None},
        "target": {"eps": float(crit.value) if crit.kind == "linf" else None, "delta": delta,
                   "delta_replicas": d_rep, "confidence": confidence, "failure": crit.describe(),
                   "criterion": crit.text, "surrogate": _SURROGATE[crit.kind],
                   "aggregation": AGGREGATION, "voter": vot.to_dict(), "common_cause": F,
                   "population": ("P(median fails) averaged over the evaluation inputs (uniform) and over chip fault "
                                  "draws; independent replicas unless stated")},
        "spiking": spiking_record(net, skw, route, ann_info) if skw else None,
        "seed": int(seed),
        "seed_derivation": ("simulate() call i of phase P uses SeedSequence(seed, spawn_key=(P, i)).generate_state(1, "
                            "uint32)[0]; P = 1 estimate q, 2 verification, 3 common-cause verification, 5 shared-fault model; "
                            "voter faults of group g: SeedSequence(seed, spawn_key=(4, g)); R spread: spawn_key=(6,)"),
        "verdict": verdict["verdict"],
        "verdict_detail": verdict,
        "replicas": {
            "R": int(R),
            "R_independent": int(R_ind),
            "R_shared": None if sh is None else sh["R"],
            "tail_independent": float(tail_ind),
            "stability": sim["R_spread"],
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
        "common_cause": sh if sh is None else dict(sh, verified_at_R=R),
        "deployment_rule": (DEPLOYMENT_RULE if F else
                            "replicas assumed independent (no shared faults); " + DEPLOYMENT_RULE),
        "cost": cost,
        "acceptance": dict(acceptance_rule(est.crit.sum(axis=1), B), file=ACCEPT_FILE, criterion=crit.text),
        "programming": {"files": [replica_file(r) for r in range(R)], "chips_per_replica": int(mapping.n_chips),
                        "chip_numbering": "chip c of replica r is deployment chip r * chips_per_replica + c"},
        "algorithm1": alg1,
        "verification": {"independent": _public(ver), "common_cause": None if ver_cc is None else _public(ver_cc)},
        "mapping": {"per_replica": summ, "replicas_identical": True, "totals": totals},
    }
    arrays = {
        "inputs/x": x,
        "clean": ver["_clean"],
        "surrogate_eps": np.asarray(eps_x, dtype=np.float64),
        "estimate/criterion_fail": est.crit.astype(np.uint8),
        "estimate/fail": est.fail.astype(np.uint8),
        "estimate/fail_count": est.fail.sum(axis=0).astype(np.int64),
        "estimate/component_count": est.k_comp,
        "verification/independent/median_fail": ver["_fail"].astype(np.uint8),
        "verification/independent/median_surrogate_fail": ver["_surrogate_fail"].astype(np.uint8),
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
        arrays["verification/common_cause/median_surrogate_fail"] = ver_cc["_surrogate_fail"].astype(np.uint8)
        if ver_cc["_flip"] is not None:
            arrays["verification/common_cause/median_flip"] = ver_cc["_flip"].astype(np.uint8)
    return PlanBuild(doc=doc, arrays=arrays, mapping=mapping, inputs=x,
                     labels=None if labels is None else np.asarray(labels), pass_counts=est.crit.sum(axis=1))
