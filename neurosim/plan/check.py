"""``neurosim plan --check``: validate a plan folder, recompute R from its evidence, re-run its verification."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from .files import _version, read_plan, sha256_file, weights_sha256

__all__ = ["CheckReport", "check_plan"]


# --------------------------------------------------------------------------- checking
@dataclass
class CheckReport:
    """Outcome of :func:`check_plan`: ``ok`` only if every check passed."""

    path: str
    ok: bool
    checks: list
    problems: list
    warnings: list
    rerun: dict | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "ok": self.ok, "checks": self.checks, "problems": self.problems,
                "warnings": self.warnings, "rerun": self.rerun}


def _close(a, b, rel=1e-9, abs_=1e-300):
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= max(abs_, rel * max(abs(float(a)), abs(float(b))))


def check_plan(plan_dir, rerun: bool = True, model=None, threads=None, progress=None) -> CheckReport:
    """Validate a plan folder and re-run its verification.

    Checks, in order: schema and version of plan.json; its content digest;
    plan.h5 type/version, whole-file and per-dataset SHA-256; the stored
    weights against ``model.sha256_weights`` and, if the model file is found
    (``model`` or the recorded path), its SHA-256; the mapping re-derived from
    the stored network and profile (bit-identical quantised weights); ``R``,
    the tails and the mapping totals recomputed from the stored per-input
    counts; and (``rerun``) the verification simulated again with the stored
    seeds, which must reproduce the stored counts.

    Damage that prevents reading (missing files, bad JSON, digest or hash
    mismatch) is reported as the single problem of a failed report.
    """
    from .routes import simulation_route
    from ..chip.mapping import map_network
    from ..chip.profile import ChipProfile

    d = Path(plan_dir)
    if not d.is_dir():
        raise FileFormatError(f"Plan folder not found: '{d}'. Pass the folder written by 'neurosim plan -o'.")
    checks, problems, warnings = [], [], []

    def record(name, ok, detail):
        checks.append({"check": name, "ok": bool(ok), "detail": detail})
        if not ok:
            problems.append(f"{name}: {detail}")

    try:
        lp = read_plan(d, verify_hashes=True)
    except FileFormatError as exc:
        record("integrity", False, str(exc))
        return CheckReport(str(d), False, checks, problems, warnings)
    record("integrity", True, "schema valid; plan.json digest and every plan.h5 hash match")
    doc, arrays, mapping = lp.doc, lp.arrays, lp.mapping
    _check_deliverables(d, lp, record)

    # model
    wh = weights_sha256(mapping.network)
    record("weights", wh == doc["model"]["sha256_weights"],
           "stored network matches model.sha256_weights" if wh == doc["model"]["sha256_weights"]
           else "the network stored in plan.h5 is not the one plan.json names")
    cands = [Path(model)] if model is not None else [Path(doc["model"].get("abspath", "")), Path(doc["model"]["path"])]
    found = next((p for p in cands if str(p) and p.is_file()), None)
    if found is None:
        msg = f"model file not found at {', '.join(str(p) for p in cands)}; checked the weights stored in plan.h5 only"
        if model is not None:
            record("model file", False, msg)
        else:
            warnings.append(msg)
    else:
        fh = sha256_file(found)
        record("model file", fh == doc["model"]["sha256_file"],
               f"'{found}' matches model.sha256_file" if fh == doc["model"]["sha256_file"]
               else f"'{found}' changed since the plan was made (SHA-256 differs); re-plan")
    # mapping re-derived
    try:
        prof = ChipProfile(**doc["profile"])
        m2 = map_network(mapping.network, prof, max_chips=max(prof.max_chips, mapping.n_chips), x_sample=arrays["inputs/x"])
        same = (m2.n_cores == mapping.n_cores and all(np.array_equal(a, b) for a, b in zip(m2.qnet.weights, mapping.qnet.weights)))
        record("mapping", same, "re-mapping the stored network on the stored profile gives the stored quantised weights"
               if same else "the stored mapping differs from a fresh mapping of the stored network on the stored profile")
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        record("mapping", False, f"could not re-map the stored network: {exc}")
    # totals
    R = doc["replicas"]["R"]
    per, tot = doc["mapping"]["per_replica"], doc["mapping"]["totals"]
    ok_tot = (tot.get("chips") == per.get("chips_used", -1) * R and tot.get("cores") == per.get("cores_used", -1) * R
              and tot.get("synapses") == per.get("synapses", -1) * R and per.get("cores_used") == mapping.n_cores)
    if doc.get("spiking") is not None:
        from .spiking import check_delays

        why = check_delays(doc, mapping.network)
        record("spiking", why is None, f"spiking options T = {doc['spiking']['ticks']}, dt = {doc['spiking']['dt_s']:g} s, "
               f"{doc['spiking']['encoding']} input, delays {doc['spiking']['delay_ticks_per_layer']} fit the stored "
               "network" if why is None else why)
    record("totals", ok_tot, f"totals = per-replica x R = {R}" if ok_tot else "mapping totals are not per-replica x R")
    # R and tails from the stored evidence
    tgt = doc["target"]
    rule = doc["replicas"]["rule"]
    models = None
    try:
        fail = arrays["estimate/fail"].astype(bool)
        d_rep = tgt.get("delta_replicas", tgt["delta"])
        sim = simulation_route(fail, arrays["estimate/component_count"], tgt["confidence"], d_rep, rule)
        models = sim["_models"]
        R_ind = doc["replicas"].get("R_independent", R)
        R_sh = doc["replicas"].get("R_shared")
        ok_counts = np.array_equal(fail.sum(axis=0), arrays["estimate/fail_count"])
        ok_R = (sim["_R"] == R_ind and sim["R"] == doc["replicas"]["R_by_model"]
                and R == (max(R_ind, R_sh) if R_sh is not None else R_ind))
        ok_tail = (_close(sim["_tail"], doc["replicas"].get("tail_independent", doc["replicas"]["tail"]))
                   and _close(models.get(rule, False).mean(R), doc["replicas"]["tail_point"]))
        good = ok_counts and ok_R and ok_tail
        record("replicas", good, f"R = {R} ({rule} rule) and its tails recomputed from the stored per-input counts" if good
               else f"recomputed R = {sim['_R']} ({rule} rule; by model {sim['R']}) or its tails differ from plan.json (R = {R})")
    except (ConfigError, KeyError, ValueError) as exc:
        record("replicas", False, f"could not recompute R from plan.h5: {exc}")
    try:
        _check_verdict(doc, record)
    except (KeyError, TypeError) as exc:
        record("verdict", False, f"cannot recompute the verdict ({type(exc).__name__}: {exc})")
    out_rerun = None
    try:
        out_rerun = _check_verification(doc, arrays, mapping, models, rule, rerun, threads, progress, record, warnings)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        record("structure", False, f"plan.json and plan.h5 do not fit together ({type(exc).__name__}: {exc})")
    return CheckReport(str(d), not problems, checks, problems, warnings, out_rerun)


def _check_verdict(doc, record):
    """The verdict follows from the stored verification under the stated faults (plan.verdict.decide)."""
    from .verdict import decide

    F = doc["target"].get("common_cause")
    stated = doc["verification"]["common_cause"] if F else doc["verification"]["independent"]
    sh = doc.get("common_cause")
    infeasible = "shared" if (F and sh is not None and sh.get("R") is None) else None
    v = decide(stated, doc["target"]["delta"], infeasible, doc["verdict_detail"].get("predicted"),
               doc["replicas"]["R"], doc["target"]["confidence"])
    ok = v["verdict"] == doc["verdict"] == doc["verdict_detail"]["verdict"]
    record("verdict", ok, f"'{doc['verdict']}' follows from the stored verification" if ok else
           f"plan.json says '{doc['verdict']}' but its verification gives '{v['verdict']}'")


def _check_deliverables(d, lp, record):
    """plan.md, acceptance/ and programming/: listed hashes, plan.md re-rendered, vectors and levels re-derived."""
    from .deliver import check_acceptance, check_programming
    from .files import MD_NAME, check_deliverable_hashes
    from .summary_md import render_plan_md

    probs = check_deliverable_hashes(d, lp.doc)
    record("files", not probs, "plan.md, acceptance/ and programming/ match their SHA-256 in plan.json" if not probs
           else "; ".join(probs[:3]) + (f" (and {len(probs) - 3} more)" if len(probs) > 3 else ""))
    if probs:
        return
    body = {k: v for k, v in lp.doc.items() if k not in ("files", "digest")}
    same = (d / MD_NAME).read_text(encoding="utf-8") == render_plan_md(body)
    record("plan.md", same, "re-rendered from plan.json, identical" if same else "plan.md does not match plan.json")
    for fn in (check_acceptance, check_programming):
        try:
            fn(d, lp, record)
        except (FileFormatError, KeyError, ValueError, OSError) as exc:
            record(fn.__name__.replace("check_", ""), False, f"unreadable: {exc}")


def _check_verification(doc, arrays, mapping, models, rule, rerun, threads, progress, record, warnings):
    """Checks 7-8 of :func:`check_plan`: stored verification counts, then (``rerun``) simulate it again."""
    from .build import plan_models
    from .criteria import parse_failure
    from .verify import verify_replicas
    from .spiking import sim_kwargs
    from .voter import parse_voter
    from ..faults.spec import FaultSpec

    tgt = doc["target"]
    ver = doc["verification"]["independent"]
    k_stored = int(arrays["verification/independent/median_fail"].sum())
    record("verification record", k_stored == ver["median_failures"]["k"],
           "stored median failures match plan.json" if k_stored == ver["median_failures"]["k"]
           else f"plan.h5 holds {k_stored} median failures, plan.json says {ver['median_failures']['k']}")
    if not ver["consistent"] and doc.get("verdict") != "fails_target":
        record("verification", False, f"the plan's own verification measured a median failure rate "
               f"{ver['median_failures']['rate']:.3g} above the predicted tail {doc['replicas']['tail']:.3g}")
    if not rerun or models is None:
        return None
    specs = [FaultSpec.from_dict(f) for f in doc["faults"]]
    out = {}
    runs = [("independent", ver, None)]
    if doc["verification"].get("common_cause"):
        cc = doc["verification"]["common_cause"]
        runs.append(("common_cause", cc, cc["common_cause"]))
    x = arrays["inputs/x"]
    for name, stored, F in runs:
        stored_fail = arrays[f"verification/{name}/median_fail"].astype(bool)
        bar = progress(f"re-run {name.replace('_', ' ')}", stored["groups"] * stored["R"] * x.shape[0]) if progress else None
        crit = parse_failure(tgt.get("criterion") or f"linf:{tgt['eps']!r}")
        e_arg = float(crit.value) if crit.kind == "linf" else arrays["surrogate_eps"]
        new = verify_replicas(mapping, x, specs, stored["R"], stored["groups"], e_arg, doc["seed"],
                              tgt["confidence"], F, plan_models(models, rule), stored["predicted_tail"],
                              arrays.get("inputs/labels"), threads, bar, chips_per_call=stored["chips_per_call"],
                              criterion=crit, voter=parse_voter(tgt.get("voter", {}).get("text")),
                              sim_kw=sim_kwargs(doc))
        same = list(new["seeds"]) == list(stored["seeds"]) and np.array_equal(new["_fail"], stored_fail)
        k_new, k_old, n = new["median_failures"]["k"], stored["median_failures"]["k"], new["median_failures"]["n"]
        out[name] = {"k": k_new, "n": n, "stored_k": k_old, "identical": bool(same), "consistent": new.get("consistent")}
        if same:
            record(f"re-run {name}", True, f"reproduced exactly: {k_new}/{n} median failures")
        elif doc["neurosim_version"] != _version():
            warnings.append(f"re-run {name}: {k_new} median failures vs {k_old} stored (plan made with neurosim "
                            f"{doc['neurosim_version']}, this is {_version()})")
            if name == "independent":
                record(f"re-run {name}", bool(new["consistent"]),
                       "differs from the stored run but is still consistent with the predicted tail" if new["consistent"]
                       else "no longer consistent with the predicted tail")
        else:
            record(f"re-run {name}", False, f"re-running gives {k_new}/{n} median failures, plan says {k_old}: the "
                   "plan does not reproduce")
    return out
