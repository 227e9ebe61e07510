"""``neurosim simulate``: run faulty chip instances and summarise the output error."""
from __future__ import annotations

import numpy as np

from .spiking_args import add_spiking_args, spiking_kwargs
from .common import (add_common, add_model_inputs, check_output_path, dump_json, load_inputs, load_target,
                     progress_bar, table)


def add_fault_args(p):
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="SITE:MODE:RATE[:KEY=VALUE...], e.g. synapse:transient:1e-3, "
                        "neuron:permanent:0.01:layers=0,1, core:intermittent:0.05:p_on=0.1:p_off=0.5 (repeatable)")
    p.add_argument("--faults", metavar="FILE.toml", default=None, help="fault specs as [[fault]] tables")


def parse_faults(args, profile=None, allow_empty=False):
    from ..errors import ConfigError
    from ..faults import load_faults_toml, parse_fault

    specs = [parse_fault(s, profile=profile) for s in args.fault]
    if args.faults:
        specs += load_faults_toml(args.faults, profile=profile)
    if not specs and not allow_empty:
        raise ConfigError("No fault given: pass at least one --fault SITE:MODE:RATE (e.g. synapse:transient:1e-3) or --faults FILE.toml.")
    return specs


def add_parser(sub):
    p = sub.add_parser("simulate", help="simulate faulty chips and summarise the output error")
    add_model_inputs(p)
    add_fault_args(p)
    p.add_argument("--chips", type=int, default=10, help="chip instances (default 10)")
    p.add_argument("--threads", type=int, default=None, help="worker threads (results do not depend on it)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of intervals (default 0.95)")
    p.add_argument("--devices", action="store_true",
                   help="apply the profile's [device] non-idealities (programming/read noise, drift, ADC/DAC); "
                        "Δ is then against the intended chip. Faults become optional.")
    p.add_argument("--age", default=None, metavar="DURATION",
                   help="deployment age for conductance drift, e.g. 3600, 2h, 30d, 1y (needs --devices)")
    p.add_argument("--precision", choices=["float64", "float32"], default="float64",
                   help="arithmetic of the run (default float64; float32 is faster, Δ resolved to ~1e-7 of the outputs)")
    add_spiking_args(p)
    add_common(p, output_help="write the full result (delta, clean, fault counts, configuration) to FILE.h5")
    p.set_defaults(func=run)


def summarize(res, confidence=0.95) -> dict:
    """Mean and std of Δ per output, ∞-norm quantiles, flip rate with a Wilson interval."""
    from ..analysis.stats import wilson_interval

    d = res.delta.reshape(-1, res.delta.shape[2])
    out = {
        "n_chips": res.n_chips, "n_inputs": int(res.delta.shape[1]), "samples": int(d.shape[0]),
        "seed": res.seed,
        "faults": [s.to_dict() for s in res.faults],
        "mean_delta": d.mean(0), "std_delta": d.std(0, ddof=1) if d.shape[0] > 1 else np.zeros(d.shape[1]),
        "linf_quantiles": dict(zip(["q50", "q90", "q99", "max"],
                                   np.quantile(res.linf().ravel(), [0.5, 0.9, 0.99, 1.0]))),
        "faults_per_chip": {s.label + (f"#{k}" if k else ""): float(res.fault_counts[:, k].sum(1).mean())
                            for k, s in enumerate(res.faults)},
    }
    flips = res.flips
    if flips is not None:
        k, n = int(flips.sum()), int(flips.size)
        lo, hi = wilson_interval(k, n, confidence)
        out["flip_rate"] = {"k": k, "n": n, "rate": k / n, "lo": float(lo), "hi": float(hi), "confidence": confidence}
        if res.labels is not None:
            lab = np.asarray(res.labels)
            out["accuracy"] = {"clean": float(np.mean(np.argmax(res.clean, 1) == lab)),
                               "faulty": float(np.mean(np.argmax(res.faulty, 2) == lab[None]))}
    return out


def run(args):
    from ..io.mapping_io import save_result
    from ..io import load_network
    from ..sim import simulate

    out = check_output_path(args.output)
    net = load_network(args.model)
    x, labels = load_inputs(args, net)
    net, mapping = load_target(args, x_sample=x)
    specs = parse_faults(args, mapping.profile if mapping is not None else None, allow_empty=args.devices)
    with progress_bar(args.chips * x.shape[0], "simulate") as bar:
        res = simulate(mapping or net, x, specs, n_chips=args.chips, seed=args.seed, threads=args.threads,
                       progress=bar.update, labels=labels, precision=args.precision,
                       devices=True if args.devices else None, age=args.age, **spiking_kwargs(args, net))
    s = summarize(res, args.confidence)
    if out is not None:
        save_result(res, out, extra={"command": "simulate", "model": str(args.model), "summary": _plain(s)})
    if args.json:
        print(dump_json(s))
        return 0
    target = f"'{mapping.profile.name}' mapping" if mapping is not None else (
        f"spiking network, T={res.ticks} ticks of {res.dt_s:g} s" if getattr(res, "ticks", 0) else "float network")
    print(f"{res.n_chips} chips x {x.shape[0]} inputs on the {target}, seed {res.seed}; faults: "
          + (", ".join(f.to_text() for f in res.faults) or "none"))
    if "devices" in res.config:
        d = res.config["devices"]
        on = [k for k in ("programming", "drift") if d[k] != "none"] + [k for k in ("read_sigma", "adc_bits", "dac_bits") if d[k]]
        print(f"device non-idealities: {', '.join(on)}; age {d['age_s']:.4g} s")
    rows = [(o, f"{m:+.4g}", f"{sd:.4g}") for o, (m, sd) in enumerate(zip(s["mean_delta"], s["std_delta"]))]
    print(table(rows, ["output", "mean Δ", "std Δ"]))
    q = s["linf_quantiles"]
    print(f"||Δ||_∞ quantiles: median {q['q50']:.4g}, 90% {q['q90']:.4g}, 99% {q['q99']:.4g}, max {q['max']:.4g}")
    print("faults per chip: " + (", ".join(f"{k} {v:.4g}" for k, v in s["faults_per_chip"].items()) or "none"))
    if "flip_rate" in s:
        f = s["flip_rate"]
        print(f"classification flips: {f['k']}/{f['n']} = {100 * f['rate']:.3f}% "
              f"({100 * f['confidence']:.0f}% CI {100 * f['lo']:.3f}-{100 * f['hi']:.3f}%)")
    if "accuracy" in s:
        a = s["accuracy"]
        print(f"accuracy: clean {100 * a['clean']:.2f}%, faulty {100 * a['faulty']:.2f}%")
    if out is not None:
        print(f"result written to {out}")
    return 0


def _plain(s):
    import json

    return json.loads(dump_json(s))
