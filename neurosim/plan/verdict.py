r"""The plan's verdict, the verification size that resolves ``delta``, and the seed-stability spread of ``R``.

Verdicts (``plan.json`` ``verdict``; CLI exit status in brackets):

* ``meets_target`` [0] — the verification under the stated faults (common
  cause when ``F`` is given, the voter included) has its upper confidence
  limit (group-clustered, two-sided interval at the plan's confidence) ``<= delta``.
* ``not_confirmed`` [0] — the models predict ``<= delta`` but the
  verification's upper limit is above ``delta`` while its lower limit is not:
  it cannot resolve ``delta``. ``groups_to_resolve`` says how many replica
  groups would (:func:`groups_to_resolve`), ``--verify-to-delta`` runs them
  when affordable.
* ``infeasible`` [3] — no ``R <= R_max`` meets ``delta`` under the stated
  faults (independent model, shared-fault model or the voter's own rate).
* ``fails_target`` [1] — the verification's *lower* limit is above ``delta``:
  the prediction does not hold (the models are wrong for this case).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


__all__ = ["EXIT_CODES", "VERDICTS", "decide", "groups_to_resolve", "r_spread"]

VERDICTS = ("meets_target", "not_confirmed", "infeasible", "fails_target")
EXIT_CODES = {"meets_target": 0, "not_confirmed": 0, "infeasible": 3, "fails_target": 1}


def _cp_upper_eff(k_eff: float, n_eff: float, confidence: float) -> float:
    """Upper limit of the two-sided Korn–Graubard interval at effective counts (as ``clustered_interval``)."""
    a = (1.0 - confidence) / 2.0
    if k_eff >= n_eff:
        return 1.0
    return float(stats.beta.ppf(1.0 - a, k_eff + 1.0, n_eff - k_eff))


def groups_to_resolve(rate: float, n_inputs: int, deff: float, delta: float, confidence: float,
                      max_groups: int = 10**9):
    """Fewest replica groups whose clustered upper limit would be ``<= delta`` if the rate stays at ``rate``.

    Effective size per group: ``n_inputs / deff`` (the design effect measured by
    the verification, at least 1). ``None`` when ``rate >= delta`` (more groups
    only confirm that the target is missed) or beyond ``max_groups``.
    """
    if rate >= delta:
        return None
    per = n_inputs / max(1.0, deff)

    def ok(G):
        n = G * per
        return _cp_upper_eff(rate * n, n, confidence) <= delta

    hi = 1
    while not ok(hi):
        hi *= 2
        if hi > max_groups:
            return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return int(hi)


def decide(stated: dict | None, delta: float, infeasible_reason: str | None, predicted: float | None,
           R: int | None, confidence: float, seconds_per_chip_input: float | None = None) -> dict:
    """The verdict block of plan.json from the verification under the stated faults (module docstring)."""
    if infeasible_reason is not None or stated is None:
        return {"verdict": "infeasible", "exit_code": EXIT_CODES["infeasible"], "R": R, "delta": delta,
                "reason": infeasible_reason or "no verification"}
    mf = stated["median_failures"]
    hi, lo = mf["hi_clustered"], mf["lo_clustered"]
    out = {"R": R, "delta": delta, "predicted": predicted, "upper_limit": hi, "lower_limit": lo,
           "measured": mf["rate"], "failures": mf["k"], "samples": mf["n"], "groups": stated["groups"],
           "confidence": confidence, "verification": "common_cause" if stated.get("common_cause") else "independent"}
    if hi <= delta:
        v, why = "meets_target", (f"the verification's upper {100 * confidence:g}% limit {hi:.3g} is <= delta {delta:g}")
    elif lo > delta:
        v, why = "fails_target", (f"the verification's lower limit {lo:.3g} is above delta {delta:g}: the prediction "
                                  f"{predicted:.3g} does not hold")
    else:
        v = "not_confirmed"
        assumed = max(mf["rate"], predicted or 0.0)
        G = groups_to_resolve(assumed, stated["n_inputs"], mf.get("design_effect", 1.0), delta, confidence)
        out["groups_to_resolve"] = G
        out["assumed_rate"] = assumed
        if G is not None:
            out["chips_to_resolve"] = int(G * stated["R"])
            out["chip_inputs_to_resolve"] = int(G * stated["R"] * stated["n_inputs"])
            if seconds_per_chip_input:
                out["seconds_to_resolve"] = float(out["chip_inputs_to_resolve"] * seconds_per_chip_input)
        why = (f"predicted <= {predicted:.3g} but the verification's upper limit {hi:.3g} is above delta {delta:g}: it "
               "cannot resolve delta" + ("" if G is None else
                                         f"; about {G} replica groups ({G * stated['R']} chips) would, if the rate "
                                         f"is {assumed:.3g}"))
    out.update(verdict=v, exit_code=EXIT_CODES[v], reason=why)
    return out


def r_spread(k_any, k_comp, n_chips: int, confidence: float, delta: float, rule: str, boots: int = 100,
             seed: int = 0) -> dict:
    """How much ``R`` would move with the seed: parametric bootstrap of the phase-1 counts.

    Each replicate redraws every per-input count ``k(x) ~ Bin(n, q̂(x))`` and
    per-output count ``k_{o,s}(x) ~ Bin(n, q̂_{o,s}(x))``, recomputes the
    simultaneous upper limits and the plan's ``R``. Returns the counts of each
    ``R``; the share of the most common one estimates how often another seed
    gives the same ``R`` (checked against 20 real seeds in the tests).
    """
    from .routes import simulation_models_from_counts

    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(6,)))
    n = int(n_chips)
    qa, qc = np.asarray(k_any) / n, np.asarray(k_comp) / n
    counts: dict = {}
    for _ in range(int(boots)):
        ka, kc = rng.binomial(n, qa), rng.binomial(n, qc)
        kc = np.minimum(kc, ka[:, None, None])
        models = simulation_models_from_counts(ka, kc, n, confidence)
        R = models.get(rule, True).smallest_R(delta)[0]
        counts[str(R)] = counts.get(str(R), 0) + 1
    top = max(counts.items(), key=lambda kv: kv[1])
    return {"method": ("parametric bootstrap of the phase-1 counts (k(x) ~ Bin(n, k/n) per input and per output x "
                       "direction), R recomputed with the plan's rule"),
            "replicates": int(boots), "R_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "most_common_R": None if top[0] == "None" else int(top[0]), "share": top[1] / int(boots)}
