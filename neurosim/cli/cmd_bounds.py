"""``neurosim bounds``: analytic predictions (b1..b4) of the output error for neuron crashes."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .cmd_simulate import add_fault_args
from .common import (add_json, add_model_inputs, add_output, check_output_path, dump_json, load_inputs, load_model,
                     load_target, print_json, table, write_text_atomic)


def add_parser(sub):
    p = sub.add_parser("bounds", help="continuous-limit bounds b1..b4 for neuron crashes",
                       description="Predict mean and std of the output error Δ for neuron stuck-at-0 faults (b1..b4). "
                                   "Give the faults as --fault neuron:MODE:RATE[:layers=L] (as everywhere) or with "
                                   "the shorthand --p RATE [--layer L]. Deterministic: no --seed.")
    add_model_inputs(p)
    add_fault_args(p)
    p.add_argument("--p", dest="rates", type=float, action="append", default=None, metavar="RATE",
                   help="shorthand for --fault neuron:transient:RATE:layers=L: crash probability per neuron "
                        "(repeat together with --layer for several layers)")
    p.add_argument("--layer", type=int, action="append", default=None, metavar="L",
                   help="with --p: neuron layer (0 = input .. L = output); default 1; one per --p")
    add_json(p)
    add_output(p, "file", "all predictions (per input and output) as JSON (FILE.json)")
    p.set_defaults(func=run)


def rates_from_args(rates, layers) -> dict:
    if layers and not rates:
        raise ConfigError("'--layer' goes with '--p RATE'; or give --fault neuron:transient:RATE:layers=L.")
    layers = layers or [1] * len(rates)
    if len(layers) != len(rates):
        raise ConfigError(f"Give one --layer per --p: got {len(rates)} rates and {len(layers)} layers.")
    p = {}
    for r, l in zip(rates, layers):
        if l in p:
            raise ConfigError(f"Layer {l} is given twice with --layer; give each layer once.")
        p[l] = r
    return p


def _rates(args, net, profile=None) -> dict:
    """``{layer: p}`` from --fault/--faults (neuron faults only) and the --p/--layer shorthand."""
    from ..analysis.compare import effective_rates
    from ..faults import load_faults_toml, parse_fault

    p = rates_from_args(args.rates, args.layer) if (args.rates or args.layer) else {}
    specs = [parse_fault(t, profile=profile) for t in args.fault] + (load_faults_toml(args.faults, profile=profile) if args.faults else [])
    bad = [s.to_text() for s in specs if s.site != "neuron"]
    if bad:
        raise ConfigError(f"'--fault': the bounds cover neuron stuck-at-0 faults only. Got {', '.join(bad)}; use "
                          "'neurosim compare' for synapse and core faults.", parameter="--fault",
                          fix="give neuron faults, e.g. --fault neuron:transient:0.01:layers=1")
    if specs:
        pn, _, unc = effective_rates(specs, net.n_layers)
        if unc:
            raise ConfigError(f"'--fault': no bound covers {', '.join(map(str, unc))}; give plain neuron faults.")
        for layer, r in pn.items():
            if layer in p:
                raise ConfigError(f"Layer {layer} is given by both --p/--layer and --fault; give each layer once.")
            p[layer] = r
    if not p:
        raise ConfigError("No crash rate given: pass --fault neuron:transient:RATE[:layers=L] or --p RATE [--layer L].",
                          parameter="--fault", fix="add --fault neuron:transient:0.01:layers=1")
    return p


def run(args):
    from ..analysis import bounds

    out = check_output_path(args.output)
    net, saved = load_model(args.model)
    x, _ = load_inputs(args, net)
    mapping = None
    if saved is not None or args.profile:
        net, mapping = load_target(args, x_sample=x)
        net = mapping.qnet
    p = _rates(args, net, mapping.profile if mapping is not None else None)
    res = bounds(net, x, p)
    summary = {"p": {str(k): v for k, v in p.items()}, "n_inputs": int(x.shape[0]), "network": net.name,
               "bounds": {k: {"description": b.description,
                              "mean_avg": b.mean.mean(0),
                              "std_avg": None if b.std is None else b.std.mean(0)} for k, b in res.items()}}
    if out is not None:
        full = dict(summary)
        full["per_input"] = {k: {"mean": b.mean, "std": b.std} for k, b in res.items()}
        write_text_atomic(out, dump_json(full) + "\n")
    if args.json:
        print_json(args, summary, profile=mapping.profile.name if mapping is not None else None, seed=None)
        return 0
    print(f"{net.name} {list(net.sizes)}, crash rates {p}, averaged over {x.shape[0]} inputs")
    rows = []
    for o in range(net.n_out):
        row = [o]
        for k in ("b1", "b2", "b3", "b4"):
            b = res[k]
            m = float(np.mean(b.mean[:, o]))
            row.append(f"{m:+.4g}" if k in ("b3", "b4") else f"{m:.4g}")
            if b.std is not None:
                row.append(f"{float(np.mean(b.std[:, o])):.4g}")
        rows.append(row)
    print(table(rows, ["output", "b1 |EΔ|≤", "b2 |EΔ|≤", "b2 std≤", "b3 EΔ", "b3 std", "b4 EΔ", "b4 std"]))
    return 0
