"""``neurosim bounds``: analytic predictions (b1..b4) of the output error for neuron crashes."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .common import add_common, add_model_inputs, check_output_path, dump_json, load_inputs, table, write_text_atomic


def add_parser(sub):
    p = sub.add_parser("bounds", help="continuous-limit bounds b1..b4 for neuron crashes")
    add_model_inputs(p)
    p.add_argument("--p", dest="rates", type=float, action="append", required=True, metavar="RATE",
                   help="crash probability (repeat together with --layer for several layers)")
    p.add_argument("--layer", type=int, action="append", default=None, metavar="L",
                   help="neuron layer (0 = input .. L = output); default 1; one per --p")
    add_common(p, output_help="write all predictions (per input and output) as JSON")
    p.set_defaults(func=run)


def rates_from_args(rates, layers) -> dict:
    layers = layers or [1] * len(rates)
    if len(layers) != len(rates):
        raise ConfigError(f"Give one --layer per --p: got {len(rates)} rates and {len(layers)} layers.")
    p = {}
    for r, l in zip(rates, layers):
        if l in p:
            raise ConfigError(f"Layer {l} is given twice with --layer; give each layer once.")
        p[l] = r
    return p


def run(args):
    from ..analysis import bounds
    from ..io import load_network

    out = check_output_path(args.output)
    net = load_network(args.model)
    x, _ = load_inputs(args, net)
    if args.profile:
        from ..chip import map_network

        net = map_network(net, args.profile, max_chips=args.max_chips, x_sample=x).qnet
    p = rates_from_args(args.rates, args.layer)
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
        print(dump_json(summary))
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
