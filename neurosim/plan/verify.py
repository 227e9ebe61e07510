"""Verification by simulation: groups of ``R`` chips, their component-wise median, and common cause."""
from __future__ import annotations

import math

import numpy as np

from ..analysis.stats import clopper_pearson
from ..errors import ConfigError
from ..faults.spec import FaultSpec
from ..sim.engine import simulation_network
from ._common import (PHASE_COMMON, PHASE_VERIFY, _check_common_cause, _check_eps_x, _check_int, _chips_per_call,
                      _ci_short, _eps_b, derive_seed)
from ..analysis.stats import clustered_interval


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


def verify_replicas(target, x, specs, R: int, groups: int, eps, seed: int, confidence: float = 0.95,
                    common_cause=None, models: dict | None = None, predicted_tail=None, labels=None,
                    threads=None, progress=None, chips_per_call=None, criterion=None, voter=None,
                    sim_kw=None) -> dict:
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

    ``eps`` (scalar or per input) is the ``||Δ||_∞`` threshold the tail models
    predict (the surrogate of ``criterion``); ``median_failures`` counts the
    median failing under ``criterion`` (default ``linf:eps``) or its vote
    failing (``voter``, :mod:`.voter`), which is what the verdict uses;
    ``surrogate_failures`` counts ``||median - clean||_∞ > eps``.

    Returns a JSON-ready dict; arrays under keys starting with ``_``.
    """
    from ..sim import simulate
    from .criteria import Criterion
    from .voter import Voter

    R = _check_int("R", R, 1, "replicas")
    G = _check_int("groups", groups, 1, "replica groups")
    F = _check_common_cause(common_cause)
    net = simulation_network(target)
    x = net.check_inputs(x)
    B, O = x.shape[0], net.n_out
    eps = _check_eps_x(eps, B)
    e = _eps_b(eps)
    if criterion is None:
        criterion = Criterion("linf", float(eps)) if np.ndim(eps) == 0 else None
    if criterion is None:
        raise ConfigError("verify_replicas: per-input 'eps' needs the 'criterion' it stands for.")
    voter = voter or Voter()
    crit_r = np.zeros((len(_r_list(R)), G, B), dtype=bool)
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
        res = simulate(target, x, sim_specs, n_chips=(g1 - g0) * R, seed=s, threads=threads, progress=progress,
                       **(sim_kw or {}))
        clean = res.clean
        y = res.faulty.reshape(g1 - g0, R, B, O)
        copy_fail[g0:g1] = criterion.fails(y, clean, labels)
        ref = np.argmax(clean, axis=1)
        for i, r in enumerate(rs):
            med = np.median(y[:, :r], axis=1)
            fail_r[i, g0:g1] = np.any(np.abs(med - clean[None]) > e, axis=2)
            crit_r[i, g0:g1] = criterion.fails(med, clean, labels)
            if O >= 2:
                arg = np.argmax(med, axis=2)
                flip_r[i, g0:g1] = arg != ref[None]
                if i == len(rs) - 1:
                    med_arg[g0:g1] = arg
        if O >= 2:
            copy_arg[g0:g1] = np.argmax(y, axis=3)
        del res, y
    models = dict(models or {})
    vote_fail = voter.draws(seed, G, B)
    final = crit_r[-1] | vote_fail
    main = clustered_interval(final, confidence)
    surr = clustered_interval(fail_r[-1], confidence)
    curve = []
    for i, r in enumerate(rs):
        ci = clustered_interval(fail_r[i], confidence)
        cc = clustered_interval(crit_r[i], confidence)
        row = {"R": r, "k": ci["k"], "n": ci["n"], "rate": ci["rate"], "lo": ci["lo_clustered"], "hi": ci["hi_clustered"],
               "criterion_k": cc["k"], "criterion_rate": cc["rate"], "criterion_hi": cc["hi_clustered"]}
        for name, m in models.items():
            row[name] = m.mean(r)
        if "predicted_upper" in row:
            row["consistent"] = bool(ci["lo_clustered"] <= row["predicted_upper"])
        curve.append(row)
    out = {
        "groups": G, "R": R, "n_chips": G * R, "n_inputs": B, "confidence": float(confidence),
        "common_cause": F, "faults_simulated": [s.to_text() for s in sim_specs],
        "seeds": seeds, "chips_per_call": cpc,
        "criterion": criterion.text, "voter": voter.to_dict(),
        "median_failures": main,
        "surrogate_failures": surr,
        "vote_failures": int(vote_fail.sum()),
        "upper_limit": main["hi_clustered"],
        "per_copy_failures": _ci_short(clustered_interval(copy_fail.reshape(G * R, B), confidence)),
        "tail_curve": curve,
        "resolution": float(clopper_pearson(0, G * B, confidence, "upper")[1]),
    }
    for name, m in models.items():
        out[name] = m.mean(R)
    if predicted_tail is not None:
        out["predicted_tail"] = float(predicted_tail)
        out["consistent"] = bool(surr["lo_clustered"] <= predicted_tail)
        out["rule"] = ("consistent when the lower limit of the group-clustered two-sided interval of the empirical "
                       "rate of ||median - clean||_inf > eps (what the tail models predict) is at or below the "
                       "predicted tail")
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
    out["_fail"] = final
    out["_surrogate_fail"] = fail_r[-1]
    out["_flip"] = flip_r[-1] if O >= 2 else None
    out["_clean"] = clean
    return out
