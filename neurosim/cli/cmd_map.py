"""``neurosim map``: place a network on a chip profile and report the mapping."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .common import (add_json, add_model_inputs, add_output, bundled_data, check_limit, check_output_path, dump_json,
                     load_inputs, load_model, load_target, print_json, table, write_text_atomic)


def add_parser(sub):
    p = sub.add_parser("map", help="map a network onto a chip profile (tiles, cores, utilisation, quantisation)")
    add_model_inputs(p)
    add_json(p)
    add_output(p, "file", "the mapping report as JSON (FILE.json) or the mapping itself as HDF5 (FILE.h5), which "
                          "every command accepts in place of MODEL")
    p.set_defaults(func=run)


def run(args):
    out = check_output_path(args.output)
    net, saved = load_model(args.model)
    if saved is None and not args.profile:
        raise ConfigError("'--profile' is required to map a network: e.g. --profile rram (see 'neurosim profiles').",
                          parameter="--profile", fix="add --profile NAME, e.g. --profile rram")
    if args.inputs or args.dataset:
        x, labels = load_inputs(args, net)
    else:
        x, labels = bundled_data(args.model)
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

            save_mapping(m, out, data=(x, labels))
        else:
            write_text_atomic(out, dump_json(s) + "\n")
    if args.json:
        print_json(args, s, profile=m.profile.name, seed=None)
        return 0
    what = list(net.sizes) if net.is_dense else f"{list(net.input_shape)} {'/'.join(net.kinds)}"
    print(f"{net.name} {what} on '{m.profile.name}': {s['tiles']} tiles on {s['cores_used']} "
          f"of {s['cores_available']} cores ({s['chips_used']} chip(s)), "
          + ("float weights" if not m.profile.weight_bits else f"weights {m.profile.weight_bits}-bit {m.profile.weight_scaling}"))
    def wdesc(l):
        op = l.get("op", "dense")
        if l["tiles"] == 0:
            return op
        w = f"{l['shape'][0]}x{l['shape'][1]}"
        return w if op == "dense" else f"{w} {op} x{l['positions']} {l['conv_kernels']}"

    rows = [(l["layer"], wdesc(l), l["tiles"], f"{l['tile_grid'][0]}x{l['tile_grid'][1]}" if l["tiles"] else "-",
             l["cores"], f"{l['first_core']}-{l['last_core']}" if l["cores"] else "-",
             f"{100 * l['crossbar_utilisation']:.1f}%" if l["tiles"] else "-",
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
