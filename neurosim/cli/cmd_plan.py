"""``neurosim plan``: how many median-aggregated chip replicas reach P(error > eps) <= delta.

    neurosim plan MODEL --profile P --fault SPEC... --eps E --delta D [--confidence C]
                  [--chips N] [--groups G] [--common-cause F] [--seed S] [--json] -o PLAN_DIR
    neurosim plan SNN.h5 --profile P --ticks T [--dt S] [--encoding E] [--delay-ticks D]
                  [--route both|simulation] [--ann ANN.h5] ...   (spiking networks: docs/plan-format.md)
    neurosim plan --check PLAN_DIR [MODEL] [--no-rerun] [--json]
"""
from __future__ import annotations

import contextlib
import sys

from .. import _validate as V
from ..errors import ConfigError
from .cmd_simulate import add_fault_args, parse_faults
from .common import (CHIPS_DEFAULTS, MODEL_HELP, add_inputs, add_max_memory, add_progress, dump_json, load_inputs, load_model,
                     print_json, progress_bar, table)


def add_parser(sub):
    p = sub.add_parser(
        "plan", help="deployment plan: R chip replicas aggregated by a component-wise median (plan.json + plan.h5)",
        description="Estimate the per-copy failure probability q = P(||Δ||_∞ > eps) by simulation (and from the "
                    "paper's bounds), choose the smallest number R of replicas whose component-wise median fails with "
                    "probability <= delta, verify it by simulating replica groups, and write PLAN_DIR/plan.json and "
                    "PLAN_DIR/plan.h5 (format: docs/plan-format.md). '--check PLAN_DIR' validates a plan and re-runs "
                    "its verification.")
    p.add_argument("model", nargs="?", default=None,
                   help=MODEL_HELP + "; with --check: optional path of the model to compare with the plan's hash")
    p.add_argument("--check", metavar="PLAN_DIR", default=None,
                   help="validate PLAN_DIR (schema, digests, hashes, R, mapping) and re-run its verification")
    p.add_argument("--no-rerun", dest="rerun", action="store_false",
                   help="with --check: skip re-running the verification simulation")
    p.add_argument("--profile", default=None,
                   help="chip profile name (see 'neurosim profiles') or a .toml path (required unless MODEL is a saved "
                        "mapping)")
    p.add_argument("--max-chips", type=int, default=None, help="allow one replica's mapping to spread over this many chips")
    add_inputs(p)
    add_fault_args(p)
    p.add_argument("--eps", type=float, default=None,
                   help="shorthand for --failure linf:EPS: a copy fails on an input when ||y_copy - y_clean||_inf > EPS")
    p.add_argument("--failure", default=None, metavar="CRITERION",
                   help="when a copy (and the voted output) fails: linf:EPS (||Δ||_inf > EPS), flip (argmax differs "
                        "from the clean chip's), topk:K (the clean class leaves the top K), loss:EPS (loss rises by "
                        "more than EPS; needs labels). One of --failure or --eps is required")
    p.add_argument("--delta", type=float, default=None, help="target P(the voted output fails), in (0, 1) (required)")
    p.add_argument("--voter", default="ideal", metavar="VOTER",
                   help="the median voter: 'ideal' (default) or 'digital:RATE[@host|@chip]' (fails per inference with "
                        "probability RATE; @chip adds a dedicated voter chip to the cost)")
    p.add_argument("--verify-to-delta", dest="verify_to_delta", action="store_true",
                   help="if the verification cannot resolve delta, re-run it with the replica groups that would, when "
                        "that costs at most --verify-budget chip-inputs (otherwise the plan states the cost)")
    p.add_argument("--verify-budget", dest="verify_budget", type=int, default=20_000_000, metavar="N",
                   help="largest verification --verify-to-delta runs, in chips x inputs (default 2e7)")
    p.add_argument("--shared-draws", dest="shared_draws", type=int, default=40, metavar="D",
                   help="with --common-cause: shared fault draws simulated for the shared-fault model (default 40)")
    p.add_argument("--chips-per-draw", dest="chips_per_draw", type=int, default=25, metavar="M",
                   help="with --common-cause: chips simulated per shared draw (default 25)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence of every interval and of the per-input upper limits (default 0.95)")
    p.add_argument("--rule", choices=["componentwise", "copywise"], default="componentwise",
                   help="tail model that chooses R: 'componentwise' (default; exact per output and direction, union "
                        "bound over them) or 'copywise' (the median fails only if half the copies fail; looser); both "
                        "are reported")
    p.add_argument("--chips", type=int, default=CHIPS_DEFAULTS["plan"][0],
                   help=f"independent chips simulated to estimate q (default {CHIPS_DEFAULTS['plan'][0]}: "
                        f"{CHIPS_DEFAULTS['plan'][1]}); more chips tighten the upper limits and lower R towards its "
                        "point-estimate value")
    p.add_argument("--groups", type=int, default=None,
                   help="replica groups simulated by the verification (default: about 1000 chips, 20 to 200 groups)")
    p.add_argument("--common-cause", dest="common_cause", type=float, default=None, metavar="F",
                   help="a fraction F in [0, 1) of permanent faults is shared by the replicas of a deployment (same "
                        "wafer/lot): R comes from the shared-fault model and the verdict from a common-cause "
                        "verification; the marginal fault rate per site is unchanged")
    p.add_argument("--route", choices=["both", "simulation"], default="both",
                   help="routes to q: 'both' (default: simulation and the paper's bounds) or 'simulation' (skip the "
                        "bound route; needed for a spiking network that was not converted from an ANN)")
    p.add_argument("--ann", metavar="ANN.h5", default=None,
                   help="spiking MODEL: the ANN it was converted from, whose bounds (plus the 1/T quantisation term) "
                        "form the bound route (default: the path 'neurosim convert' stored in MODEL)")
    from .spiking_args import add_spiking_args

    add_spiking_args(p)
    p.add_argument("--threads", type=int, default=None, help="worker threads (results do not depend on it)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same plan")
    add_progress(p)
    p.add_argument("--json", action="store_true",
                   help="print the plan (or the check report) as one JSON object to stdout (envelope: command, "
                        "neurosim_version, model, profile, seed, result); errors too are JSON then")
    p.add_argument("-o", "--output", metavar="PLAN_DIR", default=None,
                   help="output folder: the plan folder to create (must not exist or be empty); receives plan.json and "
                        "plan.h5")
    add_max_memory(p)
    p.set_defaults(func=run, output_kind="dir")


def _validate(args):
    """Every argument check that needs no computation, before any work: one line each."""
    if args.model is None:
        raise ConfigError("A model is required: neurosim plan MODEL --profile P --fault SPEC --eps E --delta D -o PLAN_DIR "
                          "(or neurosim plan --check PLAN_DIR).")
    if args.output is None:
        raise ConfigError("'-o PLAN_DIR' is required: the folder that receives plan.json and plan.h5.")
    if not args.profile and load_model_kind(args.model) != "mapping":
        raise ConfigError("'--profile' is required: a plan is per chip profile (see 'neurosim profiles'), e.g. --profile rram.")
    if args.eps is None and args.failure is None:
        raise ConfigError("A failure criterion is required: --failure linf:EPS (or flip, topk:K, loss:EPS), e.g. "
                          "--failure linf:4.5, or --eps EPS.")
    if args.eps is not None:
        V.positive(args.eps, "--eps", "output error threshold", "--eps 4")
    from ..plan.criteria import parse_failure
    from ..plan.voter import parse_voter

    parse_failure(args.failure, args.eps) if args.failure is not None else None
    parse_voter(args.voter)
    V.integer(args.verify_budget, "--verify-budget", 1, "chip-inputs the verification may simulate")
    V.integer(args.shared_draws, "--shared-draws", 2, "shared fault draws")
    V.integer(args.chips_per_draw, "--chips-per-draw", 2, "chips per shared draw")
    V.open_unit(args.delta, "--delta", "target failure probability of the median", "--delta 1e-3")
    V.open_unit(args.confidence, "--confidence", "confidence level", "0.95")
    if args.common_cause is not None:
        V.unit_interval(args.common_cause, "--common-cause", "shared fraction of permanent faults", "0.3")
    V.integer(args.chips, "--chips", 2, "independent chips used to estimate q")
    if args.groups is not None:
        V.integer(args.groups, "--groups", 1, "replica groups simulated by the verification")
    V.seed(args.seed, "--seed")
    if args.threads is not None:
        V.integer(args.threads, "--threads", 1, "numba/BLAS threads")


def load_model_kind(path):
    from .common import model_kind

    return model_kind(path)


@contextlib.contextmanager
def _bars(enabled=None):
    opened = []

    def factory(name, total):
        bar = progress_bar(total, name, enabled=enabled)
        opened.append(bar)
        return bar.update

    try:
        yield factory
    finally:
        for b in opened:
            b.close()


def run(args):
    if args.check is not None:
        return _run_check(args)
    from ..plan import build_plan
    from ..chip import load_profile, map_network
    from ..plan.files import check_output_dir, model_info, write_plan

    _validate(args)
    out = check_output_dir(args.output)
    net, saved = load_model(args.model)
    from .spiking_args import spiking_kwargs

    skw = spiking_kwargs(args, net)
    if args.ann is not None and not skw:
        raise ConfigError(f"--ann applies to spiking networks; '{net.name}' is a rate network (its own bounds are the "
                          "plan's bound route): drop --ann.")
    ann = _plan_ann(args, net) if skw else None
    x, labels = load_inputs(args, net)
    if saved is not None:
        from .common import _check_profile_vs_mapping

        _check_profile_vs_mapping(args, saved)
        mapping, profile = saved, saved.profile
    else:
        profile = load_profile(args.profile)
        mapping = map_network(net, profile, max_chips=args.max_chips, x_sample=x)
    specs = parse_faults(args, profile)
    source = args.inputs or (args.dataset or "bundled")
    from ..plan.build import InfeasiblePlan

    try:
        with _bars(args.progress) as factory:
            plan = build_plan(mapping, x, specs, args.eps, args.delta, confidence=args.confidence, chips=args.chips,
                              groups=args.groups, common_cause=args.common_cause, seed=args.seed, labels=labels,
                              threads=args.threads, progress=factory, model_info=model_info(args.model, net),
                              input_source=str(source), rule=args.rule, failure=args.failure, voter=args.voter,
                              verify_to_delta=args.verify_to_delta, verify_budget=args.verify_budget,
                              shared_draws=args.shared_draws, chips_per_draw=args.chips_per_draw,
                              spiking=skw or None, ann=ann, route=args.route)
    except InfeasiblePlan as exc:
        print(f"neurosim plan: {exc}", file=sys.stderr)
        print("verdict: infeasible (no plan written; exit status 3)")
        return 3
    doc = write_plan(plan, out)
    if args.json:
        print_json(args, doc, profile=profile.name, seed=args.seed)
    else:
        _print_plan(doc, out)
        _print_verdict(doc)
    return int(doc["verdict_detail"]["exit_code"])


def _plan_ann(args, snn):
    """The source ANN of a spiking MODEL for the bound route (``neurosim compare``'s lookup), or None with
    ``--route simulation``; without one the bound route is refused in one line naming the fix."""
    if args.route == "simulation":
        return None
    from ..plan.spiking import NO_ANN
    from .cmd_compare import _source_ann

    try:
        return _source_ann(args, snn)
    except ConfigError:
        if args.ann is not None:
            raise
        raise ConfigError(NO_ANN.format(name=snn.name)) from None


def _print_verdict(doc):
    v = doc["verdict_detail"]
    print(f"verdict: {v['verdict']} — {v['reason']}")


def _g(v, fmt=".3g"):
    return "-" if v is None else format(v, fmt)


def _print_plan(doc, out):
    m, t, r = doc["model"], doc["target"], doc["replicas"]
    per, tot = doc["mapping"]["per_replica"], doc["mapping"]["totals"]
    sim, bnd = doc["q"]["simulation"], doc["q"]["bound"]
    conf = f"{100 * t['confidence']:g}%"
    rb = r["R_by_model"]
    print(f"plan for {m['name']} {tuple(m['sizes'])} on '{doc['profile']['name']}': per replica {per['chips_used']} chip(s), "
          f"{per['cores_used']} cores, {per['synapses']:,} synapses")
    print(f"faults: {', '.join(doc['fault_texts'])}; failure: {t['criterion']}; target P(voted output fails) <= "
          f"{t['delta']:g}; confidence {conf}; seed {doc['seed']}")
    sp = doc.get("spiking")
    if sp:
        print(f"spiking mode: T = {sp['ticks']} ticks of {sp['dt_s']:g} s, {sp['encoding']} input, synaptic delays "
              f"{sp['delay_ticks_per_layer']}, readout {sp['readout']}; the median votes on the readouts")
    pi = sim["per_input"]
    print(f"q by simulation ({sim['n_chips']} chips x {sim['n_inputs']} inputs): {sim['q']:.4g} pooled "
          f"({conf} upper {sim['q_upper']:.4g}; chip-clustered {sim['q_upper_clustered']:.4g}); per input median "
          f"{pi['q_median']:.3g}, max {pi['q_max']:.3g} (input #{pi['argmax']}); largest per output and direction "
          f"{pi['q_component_max']:.3g}")
    qa = (bnd.get("ann") or {}).get("quantisation")
    if qa:
        print(f"bound route on the source ANN {bnd['ann']['network']}: threshold eps - eps_q - m(x), eps_q = "
              f"{qa['eps_q']:.3g} (nominal 1/T term at T = {qa['ticks']}), m(x) = |clean SNN - ANN| up to "
              f"{qa['clean_max_abs']:.3g}; {qa['inputs_without_margin']} input(s) without margin")
    if not bnd["available"]:
        print(f"q by the bound route: not available ({bnd['reason']})")
    else:
        p3 = bnd["proposition3"]
        extra = (f"; Prop. 3 delta0 {p3['delta0']:.3g} added (smallest q-balance {p3['q_min']:.3g})"
                 if p3.get("applies") else "")
        if not bnd["vacuous"]:
            tail = f"R = {bnd['R']}"
        else:
            tail = (f"vacuous ({bnd['inputs_vacuous']}/{sim['n_inputs']} inputs at q >= 1/2): no R on this route"
                    + (f" (pooling its mean q would claim R = {bnd['R_pooled']})" if bnd.get("R_pooled") else ""))
        print(f"q by the bound route (first order + P5 = delta0 + Var/t^2): mean "
              f"{bnd['q_mean']:.3g}, max {bnd['q_max']:.3g} (per output up to {bnd['q_component_max']:.3g}){extra}; {tail}")
    a1 = doc["algorithm1"]
    if a1.get("available"):
        wf = ("" if a1["width_factor_median"] is None else
              f"; one copy alone would need a {a1['width_factor_median']:.3g}x wider network (median over inputs, max "
              f"{a1['width_factor_max']:.3g}) to meet delta by Chebyshev")
        print(f"Algorithm 1 certification ({a1.get('moments', 'b3').split(' (')[0]}): |E Δ| max {a1['max_abs_E_delta']:.3g}, std Δ max {a1['max_std_delta']:.3g}; "
              f"feasible (|E Δ| < eps) on {a1['feasible_inputs']}/{a1['n_inputs']} inputs{wf}")
    print(f"R = {r['R']} replicas, component-wise median: predicted P(median fails) <= {r['tail']:.3g} "
          f"(point estimate {r['tail_point']:.3g}; {r['rule']} model, {conf} simultaneous upper limits)")
    print(f"  R by model: component-wise {_g(rb['componentwise'], 'd')} (point {_g(rb['componentwise_point'], 'd')}), "
          f"copy-wise {_g(rb['copywise'], 'd')} (point {_g(rb['copywise_point'], 'd')})")
    if rb["pooled"] is not None:
        print(f"  pooled copy-wise formula T(R, {sim['q_upper']:.3g}) <= delta: R = {rb['pooled']}; per input the copy-wise "
              f"model gives {sim['copywise_point_at_R_pooled']:.3g} there (pooling ignores that inputs differ; not used)")
    else:
        print(f"  pooled formula: {sim['R_pooled_note']}")
    pp = r["paper"]
    print(f"  paper's (1/3)^(R/2) <= delta gives R = {pp['R']}; predicted failure there {pp['tail_at_R']:.3g} — it "
          "omits the binomial coefficient and is not a valid bound")
    for label, v in (("verification", doc["verification"]["independent"]),
                     ("common cause", doc["verification"]["common_cause"])):
        if not v:
            continue
        mf = v["median_failures"]
        head = (f"{label} ({v['groups']} groups x {v['R']} replicas = {v['n_chips']} chips, fresh seeds"
                + (f", shared fraction F = {v['common_cause']:g}" if v.get("common_cause") else "") + ")")
        if v.get("common_cause"):
            verdict = ("departs from the independent prediction" if not v.get("consistent")
                       else "still within the independent prediction")
        else:
            verdict = "consistent" if v.get("consistent") else "ABOVE the prediction: the plan does not hold"
        print(f"{head}: median failed on {mf['k']}/{mf['n']} = {mf['rate']:.3g} ({conf} CI "
              f"{mf['lo_clustered']:.3g}-{mf['hi_clustered']:.3g}) vs predicted <= {v['predicted_tail']:.3g} "
              f"(point {v['predicted_point']:.3g}): {verdict}")
        rows = [(c["R"], f"{c['rate']:.3g}", f"{c['lo']:.3g}-{c['hi']:.3g}", _g(c.get("predicted_point")),
                 _g(c.get("predicted_upper")), _g(c.get("copywise_point"))) for c in v["tail_curve"]]
        print(table(rows, ["r", "median fail rate", f"{conf} CI", f"{r['rule']} (point)", f"{r['rule']} (upper)",
                           "copy-wise (point)"]))
        cls = v.get("classification")
        if cls:
            mfl, cfl = cls["median_flips"], cls["per_copy_flips"]
            s = f"  classification: median argmax differs from clean on {mfl['rate']:.3%} (single copy {cfl['rate']:.3%})"
            if "accuracy" in cls:
                a = cls["accuracy"]
                s += f"; accuracy clean {a['clean']:.2%}, single copy {a['single_copy']:.2%}, median {a['median']:.2%}"
            print(s)
        if v.get("departure"):
            dp = v["departure"]
            print(f"  common cause raises the median failure rate from {dp['independent_rate']:.3g} (independent) to "
                  f"{dp['common_cause_rate']:.3g} (single-copy rate {dp['single_copy_rate']:.3g})")
    st = r.get("stability") or {}
    if st:
        print(f"seed stability: {st['share']:.0%} of {st['replicates']} bootstrap replicates of the estimate give "
              f"R = {_g(st['most_common_R'], 'd')} (counts {st['R_counts']})")
    sh = doc.get("common_cause")
    if sh:
        print(f"shared-fault model (F = {sh['F']:g}, {sh['draws']} shared draws x {sh['chips_per_draw']} chips): "
              f"R = {_g(sh['R'], 'd')}; floor {sh['floor']:.3g} (upper {sh['floor_upper']:.3g}) that no R crosses")
    print(f"deployment rule: {doc['deployment_rule']}")
    cost = doc["cost"]
    print(f"deploy: {tot['replicas']} replicas = {cost['chips']} chips"
          + (f" (incl. {cost['chips_voter']} voter chip)" if cost["chips_voter"] else "")
          + f", {tot['cores']} cores, {tot['synapses']:,} synapses; energy proxy "
          f"{cost['energy_proxy']['synaptic_ops_per_inference']:,} synaptic ops per inference; voter "
          f"{doc['target']['voter']['text']}")
    print(f"wrote {out}: plan.json, plan.h5, plan.md, acceptance/vectors.h5, programming/ ({doc['replicas']['R']} replica files)")


def _run_check(args):
    from ..plan.check import check_plan

    if args.output is not None:
        raise ConfigError("'--check' writes nothing; remove -o.")
    with _bars(args.progress) as factory:
        rep = check_plan(args.check, rerun=args.rerun, model=args.model, threads=args.threads, progress=factory)
    if args.json:
        print_json(args, rep.to_dict(), **_plan_ids(args.check))
    else:
        for c in rep.checks:
            print(f"{'ok  ' if c['ok'] else 'FAIL'}  {c['check']}: {c['detail']}")
        for w in rep.warnings:
            print(f"warn  {w}")
    if not rep.ok:
        print(f"neurosim plan: error: plan check failed: {rep.problems[0]}"
              + (f" (and {len(rep.problems) - 1} more)" if len(rep.problems) > 1 else ""), file=sys.stderr)
        return 2
    if not args.json:
        print(f"plan '{args.check}' is valid")
    return 0


def _plan_ids(plan_dir) -> dict:
    """Model, profile and seed recorded in a plan folder's plan.json (for the --check envelope)."""
    import json
    from pathlib import Path

    try:
        doc = json.loads((Path(plan_dir) / "plan.json").read_text(encoding="utf-8"))
        return {"model": doc["model"].get("path"), "profile": doc["profile"]["name"], "seed": doc["seed"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}
