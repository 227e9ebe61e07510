"""``neurosim compare``: simulate, then compare the error distribution with the bounds."""
from __future__ import annotations

from ..errors import ConfigError
from ..io.h5util import atomic_dir, check_new_dir
from .cmd_simulate import add_fault_args, parse_faults
from .common import add_model_inputs, dump_json, load_inputs, load_target, progress_bar, table


def add_parser(sub):
    p = sub.add_parser("compare", help="simulate faults and compare the error distribution with b1..b4")
    add_model_inputs(p)
    add_fault_args(p)
    p.add_argument("--chips", type=int, default=200, help="chip instances (default 200)")
    p.add_argument("--eps", type=float, default=None, help="tail threshold ε (default: 90%% quantile of |Δ|)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--input-index", type=int, default=None, help="input shown in the histogram (default: largest spread)")
    p.add_argument("--output-index", type=int, default=None, help="output shown in the histogram")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--ann", metavar="ANN.h5", default=None,
                   help="spiking MODEL: the ANN it was converted from, whose bounds are compared (default: the "
                        "converted_from path stored by 'neurosim convert')")
    from .spiking_args import add_spiking_args

    add_spiking_args(p)
    p.add_argument("-o", "--output", metavar="DIR", required=True,
                   help="folder for compare.png and compare.json (created; must not exist or be empty)")
    p.set_defaults(func=run)


def _fmt(v, pct=False):
    if v is None:
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.3g}"


def run(args):
    from ..analysis.compare import compare, predictions_for
    from ..analysis.plots import compare_figure
    from ..io import load_network
    from ..sim import simulate

    out = check_new_dir(args.output)
    if args.eps is not None and not args.eps > 0:
        raise ConfigError(f"'--eps' must be > 0. Got {args.eps}.")
    if args.chips < 2:
        raise ConfigError(f"'--chips' must be >= 2 to estimate a distribution. Got {args.chips}.")
    net = load_network(args.model)
    x, labels = load_inputs(args, net)
    net, mapping = load_target(args, x_sample=x)
    specs = parse_faults(args, mapping.profile if mapping is not None else None)
    target_net = mapping.qnet if mapping is not None else net
    from .spiking_args import spiking_kwargs

    skw = spiking_kwargs(args, net)
    if skw:  # a spiking network: the bounds are those of the ANN it was converted from
        target_net = _source_ann(args, net)
    for idx, name, n in ((args.input_index, "--input-index", x.shape[0]), (args.output_index, "--output-index", net.n_out)):
        if idx is not None and not 0 <= idx < n:
            raise ConfigError(f"'{name}' must be in [0, {n - 1}]. Got {idx}.")
    preds = predictions_for(target_net, x, specs, mapping=mapping)
    with progress_bar(args.chips * x.shape[0], "simulate") as bar:
        res = simulate(mapping or net, x, specs, n_chips=args.chips, seed=args.seed, threads=args.threads,
                       progress=bar.update, labels=labels, **skw)
    from .cmd_simulate import summarize

    cmp = compare(res.delta, preds, eps=args.eps, confidence=args.confidence,
                  uncovered=[s for s in specs if s.site == "core"])
    data = {"model": str(args.model), "profile": mapping.profile.name if mapping else None,
            "faults": [s.to_dict() for s in specs], "seed": res.seed, "comparison": cmp.to_dict(),
            "simulation": summarize(res, args.confidence)}
    if skw:
        import numpy as np

        q = float(np.max(np.abs(res.clean - target_net.forward(x))))
        data["spiking"] = {"ticks": res.ticks, "dt_s": res.dt_s, "ann": str(args.ann),
                           "clean_quantisation_max_abs": q,
                           "note": "Δ is faulty minus clean spiking output; the ANN's bounds omit the O(1/T) rate "
                                   "quantisation of the converted net, measured here as max |clean SNN - ANN|."}
    with atomic_dir(out) as tmp:
        title = (f"{net.name} on {mapping.profile.name if mapping else 'float network'}: "
                 + ", ".join(s.to_text() for s in specs) + f" ({args.chips} chips)")
        i, o = compare_figure(res.delta, preds, tmp / "compare.png", args.input_index, args.output_index, title)
        data["figure"] = {"file": "compare.png", "input_index": int(i), "output_index": int(o)}
        (tmp / "compare.json").write_text(dump_json(data) + "\n")
    if args.json:
        print(dump_json(data))
        return 0
    e = cmp.empirical_tail
    print(f"{cmp.n_chips} chips x {cmp.n_inputs} inputs; faults: " + ", ".join(s.to_text() for s in specs))
    if not preds:
        print("no analytic prediction applies to these faults (core faults are correlated); figure shows the simulation only")
    rows = [(r.name, _fmt(r.mean_rel_error, True), _fmt(r.std_rel_error, True), _fmt(r.mean_covered, True),
             _fmt(r.bound_holds, True), _fmt(r.ks_mean), _fmt(r.ks_within_dkw, True), _fmt(r.tail_bound),
             _fmt(r.rank_loss_std), _fmt(r.corr_std)) for r in cmp.rows]
    if rows:
        print(table(rows, ["bound", "mean rel.err", "std rel.err", "CI covers mean", "|EΔ| ≤ bound",
                           "KS", f"KS ≤ DKW {cmp.dkw_band:.3f}", "P(|Δ|≥ε) bound", "rank loss", "corr(std)"]))
    print(f"empirical P(|Δ| ≥ {e['eps']:.4g}) = {e['rate']:.4g} ({100 * cmp.confidence:.0f}% Clopper-Pearson "
          f"{e['lo']:.4g}-{e['hi']:.4g}, {e['n']} samples)")
    if cmp.uncovered:
        print("not covered by any bound: " + ", ".join(cmp.uncovered))
    if skw:
        print(f"spiking network, T={res.ticks}: bounds of the ANN {args.ann}; the 1/T rate quantisation is not in them "
              f"(measured max |clean SNN - ANN| = {data['spiking']['clean_quantisation_max_abs']:.4g})")
    print(f"wrote {out / 'compare.png'} and {out / 'compare.json'}")
    return 0


def _source_ann(args, snn):
    """The ANN a converted spiking network came from (--ann, or the path 'neurosim convert' stored)."""
    import json

    from ..io import load_network

    path = args.ann
    if path is None:
        try:
            import h5py

            with h5py.File(args.model, "r") as f:
                src = f.attrs.get("source")
                src = json.loads(src) if src is not None else {}
            path = src.get("converted_from")
        except (OSError, ValueError, TypeError):
            path = None
    if path is None:
        raise ConfigError("A spiking network is compared against the bounds of its ANN: pass --ann ANN.h5 (the network it was converted from).")
    ann = load_network(path)
    if ann.sizes != snn.sizes or not ann.is_rate:
        raise ConfigError(f"--ann {path} must be the rate network the spiking one was converted from (same sizes {snn.sizes}). Got {ann.sizes}.")
    args.ann = str(path)
    return ann
