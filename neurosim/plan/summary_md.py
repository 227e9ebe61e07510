"""``plan.md``: the one-page summary a hardware lead reads, rendered from plan.json (so ``--check`` can re-render it)."""
from __future__ import annotations

__all__ = ["render_plan_md"]


def _g(v, fmt=".3g"):
    return "-" if v is None else format(v, fmt)


def render_plan_md(doc: dict) -> str:
    """Markdown text of the plan; a pure function of ``doc`` (every field except ``files`` and ``digest``)."""
    t, r, v = doc["target"], doc["replicas"], doc["verdict_detail"]
    m, per, cost = doc["model"], doc["mapping"]["per_replica"], doc["cost"]
    conf = f"{100 * t['confidence']:g}%"
    sim = doc["q"]["simulation"]
    cc = doc.get("common_cause")
    st = r.get("stability") or {}
    L = [f"# Deployment plan: {m.get('name', 'model')} on '{doc['profile']['name']}'", ""]
    L += [f"**Verdict: `{v['verdict']}`** — {v['reason']}.", ""]
    L += ["## Target", "",
          f"- Failure: {t['failure']} (`--failure {t['criterion']}`).",
          f"- Target: P(the voted output fails) <= {t['delta']:g}, averaged over the {doc['inputs']['n_inputs']} "
          f"evaluation inputs ({doc['inputs']['source']}); confidence {conf}.",
          f"- Aggregation: {t['aggregation']} of R replicas; voter: {t['voter']['text']} ({t['voter']['model']}).", ""]
    sp = doc.get("spiking")
    if sp:  # the chips run a spiking network: the run settings are part of the plan
        L[-1:-1] = [f"- Spiking mode: T = {sp['ticks']} ticks of {sp['dt_s']:g} s, {sp['encoding']} input, synaptic "
                    f"delays {sp['delay_ticks_per_layer']}; each replica's output is its readout ({sp['readout']})."]
    L += ["## Faults assumed", ""]
    L += [f"- `{f}` per chip" for f in doc["fault_texts"]]
    if cc:
        L += [f"- Common cause: a fraction F = {cc['F']:g} of the permanent faults is shared by the replicas of a "
              f"deployment (same lot/wafer); floor no R crosses: {cc['floor']:.3g} (upper {cc['floor_upper']:.3g})."]
    else:
        L += ["- Replicas independent (no shared faults)."]
    L += ["", "## Replicas", "",
          f"- **R = {r['R']}** (independent-fault model: {r['R_independent']}"
          + (f"; shared-fault model: {_g(r['R_shared'], 'd')}" if cc else "") + f"; rule {r['rule']}).",
          f"- Predicted P(median fails) <= {r['tail']:.3g} at the {conf} upper limits (point {r['tail_point']:.3g}).",
          f"- Per-copy failure rate q = {sim['q']:.3g} ({sim['n_chips']} simulated chips).",
          f"- Seed stability: {st.get('share', 0):.0%} of {st.get('replicates', 0)} bootstrap replicates of the "
          f"estimate give R = {_g(st.get('most_common_R'), 'd')} (R counts {st.get('R_counts')}).",
          f"- Deployment rule: {doc['deployment_rule']}.", ""]
    L += ["## Verification", ""]
    for name in ("independent", "common_cause"):
        ver = doc["verification"].get(name)
        if not ver:
            continue
        mf = ver["median_failures"]
        L.append(f"- {name.replace('_', ' ')}: {ver['groups']} groups x {ver['R']} replicas; median failed on "
                 f"{mf['k']}/{mf['n']} = {mf['rate']:.3g} ({conf} CI {mf['lo_clustered']:.3g}-{mf['hi_clustered']:.3g}).")
    if v.get("groups_to_resolve") is not None:
        L.append(f"- To resolve delta: about {v['groups_to_resolve']} groups ({v.get('chips_to_resolve')} chips, "
                 f"{v.get('chip_inputs_to_resolve'):,} chip-inputs).")
    vtd = v.get("verify_to_delta")
    if vtd:
        L.append("- `--verify-to-delta`: " + ("ran." if vtd.get("ran") else f"not run: {vtd.get('why_not')}."))
    ep = cost["energy_proxy"]
    L += ["", "## Cost", "",
          f"- Chips: {cost['chips']} ({cost['chips_replicas']} replica chips, {per['chips_used']} per replica"
          + (f", +{cost['chips_voter']} voter chip" if cost["chips_voter"] else "") + ").",
          f"- Cores: {cost['cores']}; synapses: {cost['synapses']:,}; neurons: {cost['neurons']:,}.",
          f"- Energy proxy per inference: {ep['synaptic_ops_per_inference']:,} synaptic operations "
          f"({ep['relative_to_one_chip']:g}x one copy) + {ep['voter_comparisons_per_inference']:,} voter comparisons.", ""]
    L += ["## Dominant risks", ""] + [f"- {x}" for x in risks(doc)] + [""]
    acc = doc["acceptance"]
    L += ["## Screening and programming", "",
          f"- `acceptance/vectors.h5`: {acc['n_vectors']} vectors; {acc['rule']}.",
          f"- `programming/replica_NNN.h5`: integer levels per cell with chip/core/tile/row/column, one file per "
          f"replica (format: docs/plan-format.md).", ""]
    L += ["## How to re-verify", "",
          "- `neurosim plan --check PLAN_DIR` (hashes, R and tails recomputed, acceptance vectors and programming files "
          "against the stored mapping, the verification re-simulated with the stored seeds).",
          f"- Re-plan: `neurosim plan MODEL --profile {doc['profile']['name']} "
          + " ".join(f"--fault {f}" for f in doc["fault_texts"])
          + f" --failure {t['criterion']} --delta {t['delta']:g} --seed {doc['seed']}"
          + (f" --common-cause {cc['F']:g}" if cc else "") + (f" --voter {t['voter']['text']}" if t['voter']['kind'] != 'ideal' else "")
          + " -o NEW_DIR`.", ""]
    return "\n".join(L)


def risks(doc: dict) -> list:
    """The risks that dominate, largest first (plain sentences)."""
    out = []
    v, t, r = doc["verdict_detail"], doc["target"], doc["replicas"]
    cc = doc.get("common_cause")
    if cc:
        out.append(f"Shared faults (F = {cc['F']:g}): the median fails at {cc['floor']:.3g} or more however many "
                   "replicas; buy replicas from distinct lots/wafers.")
    if v["verdict"] == "not_confirmed":
        out.append(f"Unverified target: simulation bounds the failure rate only to {v['upper_limit']:.3g} > delta.")
    if t["voter"]["rate"] > 0:
        out.append(f"Voter faults: {t['voter']['rate']:g} per inference, independent of R.")
    st = r.get("stability") or {}
    if st and st.get("share", 1) < 0.95:
        out.append(f"R is marginal: only {st['share']:.0%} of bootstrap replicates give R = {st['most_common_R']}; "
                   "simulate more --chips.")
    sim = doc["q"]["simulation"]["per_input"]
    out.append(f"Hard inputs: the worst input fails on {sim['q_max']:.3g} of single copies (input #{sim['argmax']}).")
    out.append("Fault model: rates and modes outside the stated faults (drift, new failure mechanisms) are not covered; "
               "screen chips with the acceptance vectors.")
    return out
