"""``neurosim compare``: simulate, then compare the error distribution with the bounds."""
from __future__ import annotations

from ..errors import ConfigError
from ..io.h5util import atomic_dir, check_new_dir
from .cmd_simulate import add_fault_args, parse_faults
from .common import (add_chips, add_figure_options, add_json, add_model_inputs, add_output, add_progress, add_seed,
                     check_simulation_memory, dump_json, load_inputs, load_model, load_target, print_json, progress_bar, table)


def add_parser(sub):
    p = sub.add_parser("compare", help="simulate faults and compare the error distribution with b1..b4")
    add_model_inputs(p)
    add_fault_args(p)
    add_chips(p, "compare")
    p.add_argument("--eps", type=float, default=None,
                   help="tail threshold ε on |Δ| (default: half the median top-two margin of the clean outputs; "
                        "one output: a tenth of its std over inputs)")
    p.add_argument("--alpha", type=float, default=None,
                   help="Proposition 3's α (fraction of crashed weight mass, > p; default e²·p)")
    p.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples over chips, >= 10 (default 200)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence level of every interval, in (0, 1) (default 0.95)")
    p.add_argument("--threads", type=int, default=None, help="worker threads (results do not depend on it)")
    p.add_argument("--input-index", type=int, default=None, help="input shown in the histogram (default: largest spread)")
    p.add_argument("--output-index", type=int, default=None, help="output shown in the histogram")
    p.add_argument("--ann", metavar="ANN.h5", default=None,
                   help="spiking MODEL: the ANN it was converted from, whose bounds are compared (default: the "
                        "converted_from path stored by 'neurosim convert')")
    from .spiking_args import add_spiking_args

    add_spiking_args(p)
    add_figure_options(p)
    add_progress(p)
    add_seed(p)
    add_json(p)
    add_output(p, "dir", "receives compare.<format>, compare.csv and compare.json (created; must not exist or be "
                         "empty)", required=True)
    p.set_defaults(func=run)


def _fmt(v, pct=False, ci=None):
    if v is None:
        return "-"
    txt = f"{100 * v:.1f}%" if pct else f"{v:.3g}"
    if ci is not None:
        txt += f" [{100 * ci[0]:.1f}-{100 * ci[1]:.1f}]" if pct else f" [{ci[0]:.3g}-{ci[1]:.3g}]"
    return txt


def _rate(name, r):
    return (f"{name} = {r['rate']:.4g} ({100 * r['confidence']:.0f}% chip-clustered CI {r['lo_clustered']:.4g}-"
            f"{r['hi_clustered']:.4g}; design effect {r['design_effect']:.3g}, {r['clusters']} chips, {r['n']} samples)")


def run(args):
    from ..analysis.compare import compare, default_eps, effective_rates, predictions_for
    from ..analysis.tails import network_delta0
    from ..plot import check_format, compare_figure, spec_text
    from ..sim import simulate

    fmt, dpi = check_format(args.fig_format, args.dpi)
    out = check_new_dir(args.output)
    if args.eps is not None and not args.eps > 0:
        raise ConfigError(f"'--eps' must be > 0. Got {args.eps}.")
    if args.bootstrap < 10:
        raise ConfigError(f"'--bootstrap' must be >= 10 resamples. Got {args.bootstrap}.")
    if args.chips < 2:
        raise ConfigError(f"'--chips' must be >= 2 to estimate a distribution. Got {args.chips}.")
    net, _ = load_model(args.model)
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
    check_simulation_memory(target_net, x, args.chips, len(specs), "compare", summaries=3)  # before any work
    preds = predictions_for(target_net, x, specs, mapping=mapping)
    with progress_bar(args.chips * x.shape[0], "simulate", enabled=args.progress) as bar:
        res = simulate(mapping or net, x, specs, n_chips=args.chips, seed=args.seed, threads=args.threads,
                       progress=bar.update, labels=labels, **skw)
    from .cmd_simulate import summarize

    if args.eps is not None:
        eps, rule = float(args.eps), "given (--eps)"
    else:
        eps, rule = default_eps(res.clean)
    pn, ps, unc = effective_rates(specs, target_net.n_layers)
    d0, d0_layers = (None, [])
    if pn and not unc:
        if args.alpha is not None and not 0 < args.alpha < 1:
            raise ConfigError(f"'--alpha' must be in (0, 1) and above the crash rate. Got {args.alpha}.")
        d0, d0_layers = network_delta0(target_net, pn, args.alpha)
    cmp = compare(res.delta, preds, eps=eps, confidence=args.confidence, eps_rule=rule, delta0=d0,
                  flips=res.flips, n_boot=args.bootstrap, seed=args.seed,
                  uncovered=[s for s in specs if s.site == "core"])
    data = {"model": str(args.model), "profile": mapping.profile.name if mapping else None,
            "faults": [s.to_dict() for s in specs], "seed": res.seed, "comparison": cmp.to_dict(),
            "simulation": summarize(res, args.confidence), "proposition3": d0_layers}
    if skw:
        import numpy as np

        q = float(np.max(np.abs(res.clean - target_net.forward(x))))
        data["spiking"] = {"ticks": res.ticks, "dt_s": res.dt_s, "ann": str(args.ann),
                           "clean_quantisation_max_abs": q,
                           "note": "Δ is faulty minus clean spiking output; the ANN's bounds omit the O(1/T) rate "
                                   "quantisation of the converted net, measured here as max |clean SNN - ANN|."}
    with atomic_dir(out) as tmp:
        title = (f"{net.name} on {mapping.profile.name if mapping else 'float network'}: "
                 + ", ".join(spec_text(s) for s in specs) + f" ({args.chips} chips)")
        i, o = compare_figure(res.delta, preds, tmp / f"compare.{fmt}", args.input_index, args.output_index, title,
                              dpi=dpi)
        data["figure"] = {"file": f"compare.{fmt}", "csv": "compare.csv", "input_index": int(i), "output_index": int(o)}
        (tmp / "compare.json").write_text(dump_json(data) + "\n")
    if args.json:
        print_json(args, data, profile=data["profile"], seed=res.seed)
        return 0
    e = cmp.empirical_tail
    print(f"{cmp.n_chips} chips x {cmp.n_inputs} inputs; faults: " + ", ".join(s.to_text() for s in specs))
    if not preds:
        print("no analytic prediction applies to these faults (core faults are correlated); figure shows the simulation only")
    rows = [(r.name, _fmt(r.mean_rel_error, True, r.mean_rel_error_ci), _fmt(r.std_rel_error, True, r.std_rel_error_ci),
             _fmt(r.mean_covered, True, r.mean_covered_ci), _fmt(r.bound_holds, True, r.bound_holds_ci),
             _fmt(r.tail_bound), _fmt(r.rank_loss_std), _fmt(r.corr_std)) for r in cmp.rows]
    if rows:
        print(table(rows, ["bound", "mean rel.err", "std rel.err", "CI covers mean", "|EΔ| ≤ bound",
                           "P(|Δ|≥ε) ≤ δ0+Var/t²", "rank loss", "corr(std)"]))
        print(f"[brackets: {100 * cmp.confidence:.0f}% bootstrap over chips; KS vs Gaussian is in the JSON as a "
              "diagnostic only]")
    print(f"ε = {cmp.eps:.4g}: {cmp.eps_rule}")
    if cmp.delta0 is not None:
        print("Proposition 3: δ0 = " + f"{cmp.delta0:.4g} ("
              + ", ".join(f"layer {t['layer']}: q={t['q']:.3g}, α={t['alpha']:.3g}, δ0={t['delta0']:.3g}"
                          for t in d0_layers) + ")")
    print(_rate(f"empirical P(|Δ| ≥ {e['eps']:.4g})", e))
    if cmp.flip_rate is not None:
        print(_rate("classification flip rate", cmp.flip_rate))
    if cmp.uncovered:
        print("not covered by any bound: " + ", ".join(cmp.uncovered))
    if skw:
        print(f"spiking network, T={res.ticks}: bounds of the ANN {args.ann}; the 1/T rate quantisation is not in them "
              f"(measured max |clean SNN - ANN| = {data['spiking']['clean_quantisation_max_abs']:.4g})")
    print(f"wrote {out / data['figure']['file']}, {out / 'compare.csv'} and {out / 'compare.json'}")
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
        if path is not None:
            path = _stored_path(path, args.model)
    if path is None:
        raise ConfigError("A spiking network is compared against the bounds of its ANN: pass --ann ANN.h5 (the network it was converted from).")
    ann = load_network(path)
    if ann.sizes != snn.sizes or not ann.is_rate:
        raise ConfigError(f"--ann {path} must be the rate network the spiking one was converted from (same sizes {snn.sizes}). Got {ann.sizes}.")
    args.ann = str(path)
    return ann


def _stored_path(stored: str, model) -> str:
    """Resolve the ``converted_from`` path a converted file stores: relative to that file's folder (how
    'neurosim convert' writes it), then as written (older files: relative to where convert ran), then the same
    file name beside the model. Returns the first that exists, else the stored path (load_network names it)."""
    from pathlib import Path

    p, here = Path(stored), Path(model).resolve().parent
    for cand in ([p] if p.is_absolute() else [here / p, p, here / p.name]):
        if cand.is_file():
            return str(cand)
    return stored
