"""Plans for spiking networks: the options recorded in plan.json and the bound route through the source ANN.

The simulation route needs nothing new: every ``simulate`` call of the plan
(estimate, verification, shared-fault model, ``--check``'s re-run, the
acceptance vectors) runs the spiking engine with the plan's ``ticks``,
``dt_s``, ``encoding`` and ``delay_ticks``, and a copy's output is its
spike-count rate (or LI membrane) readout; the median voter takes the
component-wise median of those.

The bound route rests on rate-mode gradients (b3, synapse first order,
Propositions 3 and 5), which a spiking network has none of. For a network
converted from an ANN (``neurosim convert``) it uses the ANN's bounds on the
same chip profile with a threshold shrunk by the conversion's quantisation:

.. math:: |Δ_{snn}(x)| \\le |Δ_{ann}(x)| + |y^{f}_{snn} - y^{f}_{ann}| + |y^{c}_{snn} - y^{c}_{ann}|
          \\le |Δ_{ann}(x)| + \\epsilon_q + m(x)

so ``P(|Δ_snn| > eps) <= P(|Δ_ann| > eps - eps_q - m(x))``: ``eps_q`` is the
nominal 1/T term of :func:`neurosim.spiking.convert.quantisation_term` (for the
faulty chip, whose SNN output is not simulated by the bound) and ``m(x) =
max_o |clean SNN - clean ANN|`` is measured on the evaluation inputs, as
``neurosim compare`` measures it for converted networks (docs/theory.md,
spiking rows). The ANN's bound at that threshold is the SNN's bound only as
far as ``eps_q`` holds (it is nominal, not a theorem; plan.json says so).
Without a source ANN the bound route is refused in one line naming the fix
(``--route simulation``).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError

ROUTES = ("both", "simulation")
NO_ANN = ("the bound route of a plan rests on rate-mode gradients and {name!r} is a spiking network with no source ANN "
          "(it was not made by 'neurosim convert', or --ann is not given): plan it with --route simulation, or pass "
          "--ann ANN.h5 (the rate network it was converted from)")


def check_route(route) -> str:
    if route not in ROUTES:
        raise ConfigError(f"'route' (which routes to q a plan runs) must be one of {', '.join(ROUTES)}. Got {route!r}.")
    return route


def spiking_options(net, spiking) -> dict:
    """Validated spiking options of a plan (``{}`` for a rate network; options on a rate network refused)."""
    from ..sim.spiking import ENCODINGS
    from ..spiking.network import check_run_options

    spiking = check_run_options(net, spiking)
    if not spiking:
        return {}
    out = {"ticks": spiking["ticks"], "dt_s": spiking.get("dt_s", 1e-3),
           "encoding": spiking.get("encoding") or "current"}
    if out["encoding"] not in ENCODINGS:
        raise ConfigError(f"'encoding' must be one of {', '.join(ENCODINGS)}. Got {out['encoding']!r}.")
    if spiking.get("delay_ticks") is not None:
        out["delay_ticks"] = spiking["delay_ticks"]
    return out


def spiking_record(net, skw: dict, route: str, ann_info: dict | None) -> dict:
    """plan.json's ``spiking`` object: what ``--check`` needs to re-run the plan's simulations."""
    from ..spiking.network import delay_of, readout, with_delay

    eff = with_delay(net, skw["delay_ticks"]) if "delay_ticks" in skw else net
    return {"ticks": int(skw["ticks"]), "dt_s": float(skw["dt_s"]), "encoding": skw["encoding"],
            "delay_ticks": None if "delay_ticks" not in skw else int(skw["delay_ticks"]),
            "delay_ticks_per_layer": [int(delay_of(la)) for la in eff.layers], "readout": readout(eff),
            "route": route, "ann": None if ann_info is None else {k: ann_info[k] for k in ("network", "sizes")},
            "note": ("every simulation of the plan runs the spiking engine with these options; a copy's output is its "
                     "readout (spike counts / T, or the LI membrane at tick T), the voter takes the component-wise "
                     "median of the R readouts")}


def sim_kwargs(doc: dict) -> dict:
    """``simulate`` keyword arguments of a plan (``{}`` for rate plans); refuses a malformed ``spiking`` record."""
    sp = doc.get("spiking")
    if sp is None:
        return {}
    bad = problems(sp)
    if bad:
        raise ConfigError(f"plan.json 'spiking': {bad[0]}")
    kw = {"ticks": sp["ticks"], "dt_s": sp["dt_s"], "encoding": sp["encoding"]}
    if sp.get("delay_ticks") is not None:
        kw["delay_ticks"] = sp["delay_ticks"]
    return kw


def problems(sp) -> list:
    """Schema problems of plan.json's ``spiking`` object (one line each)."""
    from ..sim.spiking import ENCODINGS

    if not isinstance(sp, dict):
        return [f"must be an object or null; got {sp!r}"[:200]]
    out = []
    checks = [("ticks", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1"),
              ("dt_s", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0,
               "a number > 0"),
              ("encoding", lambda v: v in ENCODINGS, f"one of {', '.join(ENCODINGS)}"),
              ("delay_ticks", lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0),
               "an integer >= 0 or null"),
              ("delay_ticks_per_layer", lambda v: isinstance(v, list) and all(isinstance(d, int) and d >= 0 for d in v),
               "a list of integers >= 0"),
              ("route", lambda v: v in ROUTES, f"one of {', '.join(ROUTES)}")]
    for key, ok, what in checks:
        if key not in sp:
            out.append(f"field 'spiking.{key}' is missing")
        elif not ok(sp[key]):
            out.append(f"field 'spiking.{key}' must be {what}; got {sp[key]!r}"[:200])
    return out


def check_delays(doc: dict, net) -> str | None:
    """Why the stored mapping with the recorded override does not give the recorded per-layer delays (None: it does)."""
    from ..spiking.network import delay_of, with_delay

    sp = doc["spiking"]
    eff = with_delay(net, sp["delay_ticks"]) if sp.get("delay_ticks") is not None else net
    got = [int(delay_of(la)) for la in eff.layers]
    if got != sp["delay_ticks_per_layer"]:
        return f"spiking.delay_ticks_per_layer says {sp['delay_ticks_per_layer']}, the stored network gives {got}"
    return None


def spiking_bound_route(mapping, ann, x, specs, eps_x, clean, d_rep, rule, max_R, skw, crit):
    """The bound route of a converted spiking plan: ``(bound, algorithm1, ann_info)`` (module docstring).

    ``ann``: the source rate network (mapped here on the plan's profile) or
    its ChipMapping; ``eps_x`` the plan's threshold (scalar or per input);
    ``clean`` the clean spiking outputs on the mapping.
    """
    from ..chip.mapping import ChipMapping, map_network
    from ..spiking.convert import quantisation_term
    from .certify import algorithm1_certification
    from .routes import bound_route

    if not isinstance(ann, ChipMapping):
        ann = map_network(ann, mapping.profile, max_chips=mapping.n_chips, x_sample=x)
    snn = mapping.qnet
    B = x.shape[0]
    qt = quantisation_term(ann.qnet, snn, skw["ticks"], skw["dt_s"])
    m_x = np.max(np.abs(np.asarray(clean) - ann.qnet.forward(x)), axis=1)
    e = np.broadcast_to(np.asarray(eps_x, dtype=np.float64), (B,))
    eps_ann = np.maximum(0.0, e - qt["eps_q"] - m_x)
    info = {"network": ann.network.name, "sizes": list(ann.network.sizes),
            "quantisation": dict(qt, clean_max_abs=float(m_x.max()), clean_median_abs=float(np.median(m_x)),
                                 eps_ann_min=float(eps_ann.min()), eps_ann_median=float(np.median(eps_ann)),
                                 inputs_without_margin=int(np.sum(eps_ann == 0.0)),
                                 rule=("the ANN's bound at eps - eps_q - m(x) bounds the SNN's P(|Δ| > eps): "
                                       "|Δ_snn| <= |Δ_ann| + eps_q (faulty SNN vs ANN, nominal) + m(x) (clean SNN vs "
                                       "ANN, measured); inputs whose margin is <= 0 are vacuous on this route"))}
    spiking_only = [s.to_text() for s in specs if s.spiking_only]
    if spiking_only:
        reason = (f"{', '.join(spiking_only)} exist in spiking mode only (router, saturated, drift, scope=tick): the "
                  "ANN's bounds have no counterpart; the plan rests on the simulation route")
        return {"available": False, "reason": reason, "ann": info}, {"available": False, "reason": reason}, info
    bnd = bound_route(ann.qnet, x, specs, eps_ann, d_rep, rule, max_R, mapping=ann)
    bnd["ann"] = info
    if not bnd.get("available"):
        return bnd, {"available": False, "reason": bnd["reason"]}, info
    bnd["method"] = "ANN " + bnd["method"] + "; threshold eps - eps_q - m(x) (spiking quantisation, see 'ann')"
    emin = float(eps_ann.min())
    if crit.kind != "linf":
        alg1 = {"available": False, "reason": "Algorithm 1 certifies a ||Δ||_∞ threshold; run with --failure linf:EPS"}
    elif emin <= 0.0:
        alg1 = {"available": False, "reason": (f"no margin left for the ANN on some input: eps - eps_q - m(x) <= 0 "
                                               f"(eps_q = {qt['eps_q']:.3g} at T = {qt['ticks']}); raise T or eps")}
    else:
        alg1 = algorithm1_certification(ann.qnet, x, specs, emin, d_rep, bound=bnd)
        alg1["eps_ann"] = emin
    return bnd, alg1, info
