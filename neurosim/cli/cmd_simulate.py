"""``neurosim simulate``: run faulty chip instances and summarise the output error."""
from __future__ import annotations

import numpy as np

from .spiking_args import add_spiking_args, spiking_kwargs
from .common import (add_chips, add_common, add_model_inputs, add_progress, check_output_path,
                     load_inputs, load_model, load_target, print_json, progress_bar, table)


def add_fault_args(p):
    p.add_argument("--fault", action="append", default=[], metavar="SPEC",
                   help="SITE:MODE:RATE[:KEY=VALUE...], e.g. synapse:transient:1e-3, "
                        "neuron:permanent:0.01:layers=0,1, core:intermittent:0.05:p_on=0.1:p_off=0.5 (repeatable)")
    p.add_argument("--faults", metavar="FILE.toml", default=None,
                   help="more fault specs as [[fault]] tables (keys site, mode, rate, layers, value, p_on/p_off or "
                        "burst/duty, group; see docs/faults.md)")


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
    add_chips(p, "simulate")
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
    add_progress(p)
    add_common(p, output_help="the full result (delta, clean, fault counts, configuration) as HDF5 (FILE.h5)",
               output_metavar="FILE.h5")
    p.set_defaults(func=run)


def flip_interval(flips, confidence) -> dict:
    """The flip rate's interval: chip-clustered, because a chip's faults are shared by all its inputs."""
    from ..analysis.cluster_stats import clustered_proportion

    c = clustered_proportion(flips, confidence)
    return {"lo": c["lo_clustered"], "hi": c["hi_clustered"], "design_effect": c["design_effect"],
            "interval": "chip-clustered Clopper-Pearson (Korn-Graubard)"}


def summarize(res, confidence=0.95) -> dict:
    """Mean and std of Δ per output, ∞-norm quantiles, flip rate with a chip-clustered interval."""
    from ..analysis.cluster_stats import clustered_proportion

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
        c = clustered_proportion(flips, confidence)
        out["flip_rate"] = {"k": c["k"], "n": c["n"], "rate": c["rate"], "confidence": confidence,
                            **flip_interval(flips, confidence)}
        if res.labels is not None:
            lab = np.asarray(res.labels)
            out["accuracy"] = {"clean": float(np.mean(np.argmax(res.clean, 1) == lab)),
                               "faulty": float(np.mean(np.argmax(res.faulty, 2) == lab[None]))}
    return out


def run(args):
    out = check_output_path(args.output)
    net, _ = load_model(args.model)
    x, labels = load_inputs(args, net)
    net, mapping = load_target(args, x_sample=x)
    specs = parse_faults(args, mapping.profile if mapping is not None else None, allow_empty=args.devices)
    spk = spiking_kwargs(args, net)
    if args.age is not None and not args.devices:
        from ..errors import ConfigError

        raise ConfigError(f"'--age' (drift time) needs device non-idealities: got --age {args.age} without "
                          "--devices; add --devices (a profile whose [device] table has drift) or drop --age.")
    dev = {"devices": True, "age": args.age} if args.devices else {}
    return _run_streamed(args, out, net, mapping, x, labels, specs, {**dev, **spk})


def _header(chips, x, mapping, seed, specs, config) -> str:
    """The summary's first lines: what ran (chips, inputs, target, seed, faults, device non-idealities)."""
    target = f"'{mapping.profile.name}' mapping" if mapping is not None else (
        f"spiking network, T={config['ticks']} ticks of {config['dt_s']:g} s" if config.get("ticks") else "float network")
    header = (f"{chips} chips x {x.shape[0]} inputs on the {target}, seed {seed}; faults: "
              + (", ".join(f.to_text() for f in specs) or "none"))
    if "devices" in config:
        d = config["devices"]
        on = [k for k in ("programming", "drift") if d[k] != "none"] + [k for k in ("read_sigma", "adc_bits", "dac_bits") if d[k]]
        header += f"\ndevice non-idealities: {', '.join(on)}; age {d['age_s']:.4g} s"
    return header


def _print_summary(s, header, out):
    """The human-readable summary of both paths (in memory and streamed): one printer, one format."""
    print(header)
    rows = [(o, f"{m:+.4g}", f"{sd:.4g}") for o, (m, sd) in enumerate(zip(s["mean_delta"], s["std_delta"]))]
    print(table(rows, ["output", "mean Δ", "std Δ"]))
    q = s["linf_quantiles"]
    print(f"||Δ||_∞ quantiles: median {q['q50']:.4g}, 90% {q['q90']:.4g}, 99% {q['q99']:.4g}, max {q['max']:.4g}")
    print("faults per chip: " + (", ".join(f"{k} {v:.4g}" for k, v in s["faults_per_chip"].items()) or "none"))
    if "flip_rate" in s:
        f = s["flip_rate"]
        print(f"classification flips: {f['k']}/{f['n']} = {100 * f['rate']:.3f}% "
              f"({100 * f['confidence']:.0f}% chip-clustered CI {100 * f['lo']:.3f}-{100 * f['hi']:.3f}%, "
              f"design effect {f['design_effect']:.3g})")
    if "accuracy" in s:
        a = s["accuracy"]
        print(f"accuracy: clean {100 * a['clean']:.2f}%, faulty {100 * a['faulty']:.2f}%")
    if out is not None:
        print(f"result written to {out}")
    return 0


def res_net(mapping, net):
    return mapping.qnet if mapping is not None else net


def _run_streamed(args, out, net, mapping, x, labels, specs, sim_kw):
    """Every mode (rate, spiking, devices): chips in chunks, Δ to ``out`` chunk by chunk, memory bounded
    (neurosim.sim.stream; each chunk is ``simulate(first_chip=...)``, so results equal one big call)."""
    import sys

    from .._resources import check_memory, streamed_simulate_bytes
    from .._validate import integer
    from ..sim.stream import run_streamed

    chips = integer(args.chips, "--chips", 1)
    sizes = res_net(mapping, net).sizes
    check_memory(streamed_simulate_bytes(sizes, x.shape[0], chips, len(specs)),
                 f"simulate --chips {chips} on {x.shape[0]} inputs", "use fewer --chips or --limit")
    if out is not None:  # at most 8 bytes per Δ value on disk
        check_output_path(out, estimate_bytes=8.0 * chips * x.shape[0] * sizes[-1])

    config = {}
    with progress_bar(chips * x.shape[0], "simulate", enabled=args.progress) as bar:
        s = run_streamed(mapping or net, x, specs, chips, seed=args.seed, threads=args.threads, out=out,
                         labels=labels, progress=bar.update, confidence=args.confidence, precision=args.precision,
                         interval=flip_interval, extra={"command": "simulate", "model": str(args.model)},
                         config_out=config, **sim_kw)
    if s["non_finite"]:
        print(f"neurosim simulate: warning: {s['non_finite']} faulty output values are not finite (inf/NaN); "
              "the statistics below include them", file=sys.stderr)
    if args.json:
        print_json(args, s, profile=mapping.profile.name if mapping is not None else None, seed=s["seed"])
        return 0
    return _print_summary(s, _header(chips, x, mapping, s["seed"], specs, config), out)
