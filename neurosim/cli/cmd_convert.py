"""``neurosim convert``: ANN -> SNN (ReLU to IF/LIF, data-based threshold balancing, reset by subtraction)."""
from __future__ import annotations

import numpy as np

from .common import add_common, add_model_inputs, check_output_path, load_inputs, print_json, table


def add_parser(sub):
    p = sub.add_parser("convert", help="convert a ReLU network into a spiking IF/LIF network")
    add_model_inputs(p, profile=False)
    p.add_argument("--ticks", type=int, default=100, help="time steps T the spiking network runs for (default 100)")
    p.add_argument("--neuron", choices=["IF", "LIF"], default="IF", help="spiking neuron model (default IF)")
    p.add_argument("--percentile", type=float, default=99.9,
                   help="activation percentile used as each layer's threshold scale (default 99.9; 100 = max)")
    p.add_argument("--dt", type=float, default=1e-3, dest="dt_s", help="step in seconds (default 1e-3)")
    p.add_argument("--tau", type=float, default=1.0, dest="tau_s", help="LIF membrane time constant, s (default 1.0)")
    add_common(p, output_help="the spiking network (.h5 native with the inputs bundled, or .nir)", seed=False)
    p.set_defaults(func=run)


def run(args):
    from ..io import load_network, save_network
    from ..spiking.convert import convert

    out = check_output_path(args.output)
    net = load_network(args.model)
    x, labels = load_inputs(args, net)
    conv = convert(net, x, ticks=args.ticks, neuron=args.neuron, percentile=args.percentile, dt_s=args.dt_s,
                   tau_s=args.tau_s)
    res = conv.simulate(x, [], seed=0)  # no faults, constant-current input: nothing random
    ann = net.forward(x)
    s = {"model": str(args.model), "network": conv.network.name, "neuron": args.neuron, "ticks": conv.ticks,
         "dt_s": conv.dt_s, "percentile": conv.percentile, "scales": conv.scales,
         "layers": list(conv.network.activations), "n_inputs": int(x.shape[0]),
         "max_abs_error": float(np.max(np.abs(res.clean - ann))), "error_bound_nominal": conv.error_bound}
    if labels is not None:
        s["accuracy"] = {"ann": float(np.mean(np.argmax(ann, 1) == labels)),
                         "snn": float(np.mean(np.argmax(res.clean, 1) == labels))}
    if out is not None:
        if str(out).endswith(".nir"):
            from ..io.nir_io import save_nir

            save_nir(conv.network, out)
        else:
            save_network(conv.network, out, source={"converted_from": _relative_to(args.model, out), "ticks": conv.ticks,
                                                    "dt_s": conv.dt_s, "neuron": args.neuron},
                         inputs=x, labels=labels)
        s["output"] = str(out)
    if args.json:
        print_json(args, s, seed=None)
        return 0
    print(f"{net.name} -> {conv.network.name}: {args.neuron} neurons, reset by subtraction, T={conv.ticks}, "
          f"dt={conv.dt_s:g} s, thresholds from the {conv.percentile:g}th activation percentile")
    rows = [(k, a, f"{lam:.4g}") for k, (a, lam) in enumerate(zip(conv.network.activations, conv.scales), start=1)]
    print(table(rows, ["layer", "neuron", "scale λ"]))
    print(f"max |SNN - ANN| on {x.shape[0]} inputs: {s['max_abs_error']:.4g} (nominal 1/T bound {conv.error_bound:.4g})")
    if "accuracy" in s:
        print(f"accuracy: ANN {100 * s['accuracy']['ann']:.2f}%, SNN {100 * s['accuracy']['snn']:.2f}%")
    if out is not None:
        print(f"spiking network written to {out} (simulate it with: neurosim simulate {out} --ticks {conv.ticks} ...)")
    return 0


def _relative_to(model, out) -> str:
    """The model's path relative to the output file's folder (so the pair can move together), else absolute."""
    import os

    try:
        return os.path.relpath(os.path.abspath(model), os.path.dirname(os.path.abspath(out)))
    except ValueError:  # another drive (Windows)
        return os.path.abspath(model)
