"""Build the bundled spiking examples from the digits MLP and print their accuracy vs T.

    python scripts/make_spiking_example.py          # writes examples/digits_snn_if.h5, examples/digits_snn_lif.h5

Conversion: neurosim.spiking.convert (ReLU -> IF, or LIF with tau = 0.5 s;
thresholds from the 99.9th activation percentile on the bundled inputs, reset
by subtraction). Accuracy is on the 450 bundled test inputs (the ANN's own
test split), constant-current input, clean spiking run.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import neurosim as ns
from neurosim.io import load_bundled_data
from neurosim.spiking.convert import convert

ROOT = Path(__file__).resolve().parents[1]
TICKS = (5, 10, 20, 50, 100, 200)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ticks", type=int, default=50, help="T stored with the bundled networks (default 50)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args(argv)
    src = ROOT / "examples" / "digits_mlp.h5"
    net = ns.load_network(src)
    x, y = load_bundled_data(src)
    ann = float(np.mean(np.argmax(net.forward(x), 1) == y))
    print(f"ANN (rate) accuracy: {100 * ann:.2f}%")
    print("| neuron | " + " | ".join(f"T={t}" for t in TICKS) + " |")
    print("|---|" + "---:|" * len(TICKS))
    for neuron, tau in (("IF", 1.0), ("LIF", 0.5)):
        accs = []
        for T in TICKS:
            c = convert(net, x, ticks=T, neuron=neuron, tau_s=tau)
            accs.append(float(np.mean(np.argmax(c.simulate(x, []).clean, 1) == y)))
        label = "IF" if neuron == "IF" else f"LIF (tau {tau} s)"
        print(f"| {label} | " + " | ".join(f"{100 * v:.2f}%" for v in accs) + " |")
        if not a.no_write:
            c = convert(net, x, ticks=a.ticks, neuron=neuron, tau_s=tau, name=f"digits_snn_{neuron.lower()}")
            out = ROOT / "examples" / f"digits_snn_{neuron.lower()}.h5"
            ns.save_network(c.network, out, source={"converted_from": "digits_mlp.h5", "ticks": a.ticks,
                                                    "dt_s": c.dt_s, "neuron": neuron, "percentile": c.percentile},
                            inputs=x, labels=y)
            print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
