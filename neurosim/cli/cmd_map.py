"""``neurosim map``: place a network on a chip profile and report the mapping."""
from __future__ import annotations

import numpy as np

from .common import (add_common, check_limit, check_output_path, dump_json, load_inputs, load_target, table,
                     write_text_atomic)


def add_parser(sub):
    p = sub.add_parser("map", help="map a network onto a chip profile (tiles, cores, utilisation, quantisation)")
    add_common(p, output_help="write the mapping report as JSON (.json) or the mapping as HDF5 (.h5)")
    p.add_argument("model", help="network file (neurosim HDF5)")
    p.add_argument("--profile", required=True, help="profile name or .toml path")
    p.add_argument("--max-chips", type=int, default=None, help="allow spreading over this many chips")
    p.add_argument("--inputs", default=None, help="inputs .npy for the output-deviation report")
    p.add_argument("--dataset", choices=["digits", "bundled"], default=None)
    p.add_argument("--limit", type=int, default=None)
    p.set_defaults(func=run)


def run(args):
    from ..io import load_network

    out = check_output_path(args.output)
    net = load_network(args.model)
    if args.inputs or args.dataset:
        x, labels = load_inputs(args, net)
    else:
        from ..io import load_bundled_data

        x, labels = load_bundled_data(args.model)
        if x is not None:  # bundled data: apply --limit through the common loader
            x, labels = load_inputs(args, net)
        elif args.limit is not None:
            check_limit(args.limit)
    _, m = load_target(args, x_sample=x)
    s = m.summary()
    if x is not None and labels is not None:
        s["accuracy"] = {"float": float(np.mean(np.argmax(net.forward(x), 1) == labels)),
                         "mapped": float(np.mean(np.argmax(m.qnet.forward(x), 1) == labels)),
                         "n": int(x.shape[0])}
    if out is not None:
        if out.suffix.lower() in (".h5", ".hdf5"):
            from ..io.mapping_io import save_mapping

            save_mapping(m, out)
        else:
            write_text_atomic(out, dump_json(s) + "\n")
    if args.json:
        print(dump_json(s))
        return 0
    print(f"{net.name} {list(net.sizes)} on '{m.profile.name}': {s['tiles']} tiles on {s['cores_used']} "
          f"of {s['cores_available']} cores ({s['chips_used']} chip(s)), "
          + ("float weights" if not m.profile.weight_bits else f"weights {m.profile.weight_bits}-bit {m.profile.weight_scaling}"))
    rows = [(l["layer"], f"{l['shape'][0]}x{l['shape'][1]}", l["tiles"], f"{l['tile_grid'][0]}x{l['tile_grid'][1]}",
             l["cores"], f"{l['first_core']}-{l['last_core']}", f"{100 * l['crossbar_utilisation']:.1f}%",
             f"{l['max_quant_error']:.3g}", f"{l['max_quant_step']:.3g}") for l in s["layers"]]
    print(table(rows, ["layer", "W", "tiles", "grid", "cores", "core ids", "xbar util", "max |Wq-W|", "step"]))
    d = s["deviation"]
    print(f"core utilisation {100 * s['core_utilisation']:.2f}%, crossbar {100 * s['crossbar_utilisation']:.1f}%, "
          f"neurons {100 * s['neuron_utilisation']:.1f}%")
    agree = "" if d["argmax_agreement"] is None else f", argmax agreement {100 * d['argmax_agreement']:.1f}%"
    print(f"output deviation on {d['n_samples']} inputs: max |y_q - y| = {d['max_abs']:.4g} "
          f"({100 * d['max_rel']:.2f}% of max |y|){agree}")
    if "accuracy" in s:
        a = s["accuracy"]
        print(f"accuracy: float {100 * a['float']:.2f}%, mapped {100 * a['mapped']:.2f}% on {a['n']} labelled inputs")
    return 0
