"""``neurosim plan``: how many median-aggregated chip replicas reach P(error > eps) <= delta.

    neurosim plan MODEL --profile P --fault SPEC... --eps E --delta D [--confidence C]
                  [--chips N] [--groups G] [--common-cause F] [--seed S] [--json] -o PLAN_DIR
    neurosim plan --check PLAN_DIR [MODEL] [--no-rerun] [--json]
"""
from __future__ import annotations

import contextlib
import sys

from .. import _validate as V
from ..errors import ConfigError
from .cmd_simulate import add_fault_args, parse_faults
from .common import dump_json, load_inputs, progress_bar, table


def add_parser(sub):
    p = sub.add_parser(
        "plan", help="deployment plan: R chip replicas aggregated by a component-wise median (plan.json + plan.h5)",
        description="Estimate the per-copy failure probability q = P(||Δ||_∞ > eps) by simulation (and from the "
                    "paper's bounds), choose the smallest number R of replicas whose component-wise median fails with "
                    "probability <= delta, verify it by simulating replica groups, and write PLAN_DIR/plan.json and "
                    "PLAN_DIR/plan.h5 (format: docs/plan-format.md). '--check PLAN_DIR' validates a plan and re-runs "
                    "its verification.")
    p.add_argument("model", nargs="?", default=None,
                   help="network file (neurosim HDF5, e.g. examples/digits_mlp.h5); with --check: optional path of the "
                        "model to compare with the plan's hash")
    p.add_argument("--check", metavar="PLAN_DIR", default=None,
                   help="validate PLAN_DIR (schema, digests, hashes, R, mapping) and re-run its verification")
    p.add_argument("--no-rerun", dest="rerun", action="store_false",
                   help="with --check: skip re-running the verification simulation")
    p.add_argument("--profile", default=None, help="chip profile name (see 'neurosim profiles') or a .toml path (required)")
    p.add_argument("--max-chips", type=int, default=None, help="allow one replica's mapping to spread over this many chips")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--inputs", metavar="FILE.npy", default=None, help="evaluation inputs (n, n_in) as .npy")
    g.add_argument("--dataset", choices=["digits", "bundled"], default=None,
                   help="'digits': scikit-learn's 8x8 digits scaled to [0,1]; 'bundled' (default): data stored in the model file")
    p.add_argument("--limit", type=int, default=None, help="use only the first N inputs")
    add_fault_args(p)
    p.add_argument("--eps", type=float, default=None,
                   help="a copy fails on an input when ||y_copy - y_clean||_inf > EPS (output units; required)")
    p.add_argument("--delta", type=float, default=None, help="target P(median of R copies fails), in (0, 1) (required)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence of every interval and of the per-input upper limits (default 0.95)")
    p.add_argument("--rule", choices=["componentwise", "copywise"], default="componentwise",
                   help="tail model that chooses R: 'componentwise' (default; exact per output and direction, union "
                        "bound over them) or 'copywise' (the median fails only if half the copies fail; looser); both "
                        "are reported")
    p.add_argument("--chips", type=int, default=1000,
                   help="independent chips simulated to estimate q (default 1000); more chips tighten the upper limits "
                        "and lower R towards its point-estimate value")
    p.add_argument("--groups", type=int, default=None,
                   help="replica groups simulated by the verification (default: about 1000 chips, 20 to 200 groups)")
    p.add_argument("--common-cause", dest="common_cause", type=float, default=None, metavar="F",
                   help="also verify with a fraction F in [0, 1) of permanent faults shared by the replicas of a group "
                        "(same wafer/lot); the marginal fault rate per site is unchanged")
    p.add_argument("--threads", type=int, default=None, help="worker threads (results do not depend on it)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same plan")
    p.add_argument("--json", action="store_true", help="print the plan (or the check report) as JSON to stdout")
    p.add_argument("-o", "--output", metavar="PLAN_DIR", default=None,
                   help="plan folder to create (must not exist or be empty); receives plan.json and plan.h5")
    p.set_defaults(func=run)


def _validate(args):
    """Every argument check that needs no computation, before any work: one line each."""
    if args.model is None:
        raise ConfigError("A model is required: neurosim plan MODEL --profile P --fault SPEC --eps E --delta D -o PLAN_DIR "
                          "(or neurosim plan --check PLAN_DIR).")
    if args.output is None:
        raise ConfigError("'-o PLAN_DIR' is required: the folder that receives plan.json and plan.h5.")
    if not args.profile:
        raise ConfigError("'--profile' is required: a plan is per chip profile (see 'neurosim profiles'), e.g. --profile rram.")
    V.positive(args.eps, "--eps", "output error threshold", "--eps 4")
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


@contextlib.contextmanager
def _bars():
    opened = []

    def factory(name, total):
        bar = progress_bar(total, name)
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
    from ..io import load_network
    from ..plan.files import check_output_dir, model_info, write_plan

    _validate(args)
    out = check_output_dir(args.output)
    profile = load_profile(args.profile)
    net = load_network(args.model)
    x, labels = load_inputs(args, net)
    mapping = map_network(net, profile, max_chips=args.max_chips, x_sample=x)
    specs = parse_faults(args, profile)
    source = args.inputs or (args.dataset or "bundled")
    with _bars() as factory:
        plan = build_plan(mapping, x, specs, args.eps, args.delta, confidence=args.confidence, chips=args.chips,
                          groups=args.groups, common_cause=args.common_cause, seed=args.seed, labels=labels,
                          threads=args.threads, progress=factory, model_info=model_info(args.model, net),
                          input_source=str(source), rule=args.rule)
    doc = write_plan(plan, out)
    if args.json:
        print(dump_json(doc))
    else:
        _print_plan(doc, out)
    ver = doc["verification"]["independent"]
    if not ver.get("consistent", True):
        mf = ver["median_failures"]
        print(f"neurosim plan: warning: the verification measured a median failure rate {mf['rate']:.3g} (lower limit "
              f"{mf['lo_clustered']:.3g}) above the predicted {ver['predicted_tail']:.3g}; the plan in '{out}' does not "
              "hold as computed (exit status 1)", file=sys.stderr)
        return 1
    return 0


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
    print(f"faults: {', '.join(doc['fault_texts'])}; a copy fails when ||Δ||_∞ > {t['eps']:g}; target P(median fails) <= "
          f"{t['delta']:g}; confidence {conf}; seed {doc['seed']}")
    pi = sim["per_input"]
    print(f"q by simulation ({sim['n_chips']} chips x {sim['n_inputs']} inputs): {sim['q']:.4g} pooled "
          f"({conf} upper {sim['q_upper']:.4g}; chip-clustered {sim['q_upper_clustered']:.4g}); per input median "
          f"{pi['q_median']:.3g}, max {pi['q_max']:.3g} (input #{pi['argmax']}); largest per output and direction "
          f"{pi['q_component_max']:.3g}")
    if not bnd["available"]:
        print(f"q by the bound route: not available ({bnd['reason']})")
    else:
        p3 = bnd["proposition3"]
        extra = (f"; Prop. 3 delta0 mean {p3['delta0_mean']:.3g} (layer {p3['layer']}, q-balanced {p3['q_balanced_min']:.3g})"
                 if p3.get("applies") else "")
        if not bnd["vacuous"]:
            tail = f"R = {bnd['R']}"
        else:
            tail = (f"vacuous ({bnd['inputs_vacuous']}/{sim['n_inputs']} inputs at q >= 1/2): no R on this route"
                    + (f" (pooling its mean q would claim R = {bnd['R_pooled']})" if bnd.get("R_pooled") else ""))
        print(f"q by the bound route (first order + Chebyshev P5{', P3' if p3.get('applies') else ''}): mean "
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
    print(f"deploy: {tot['replicas']} replicas = {tot['chips']} chips, {tot['cores']} cores, {tot['synapses']:,} synapses")
    print(f"wrote {out / 'plan.json'} and {out / 'plan.h5'}")


def _run_check(args):
    from ..plan.check import check_plan

    if args.output is not None:
        raise ConfigError("'--check' writes nothing; remove -o.")
    with _bars() as factory:
        rep = check_plan(args.check, rerun=args.rerun, model=args.model, threads=args.threads, progress=factory)
    if args.json:
        print(dump_json(rep.to_dict()))
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
