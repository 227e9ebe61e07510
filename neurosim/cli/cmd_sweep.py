"""``neurosim sweep``: a resumable grid of fault specs × rates (× profiles) into one HDF5 file."""
from __future__ import annotations

import sys

from .common import MODEL_HELP, add_chips, add_common, add_inputs, add_progress, load_inputs, load_model, print_json


def add_parser(sub):
    p = sub.add_parser(
        "sweep", help="sweep fault rates over a grid of fault specs (x profiles); resumable HDF5 output",
        description="Run the engine at every (profile, fault spec, rate) point and store summary statistics and raw "
                    "output errors in one HDF5 file. Re-running the same command resumes a killed sweep.")
    add_common(p, output_help="the sweep file to write or resume (HDF5, FILE.h5; required)", output_metavar="FILE.h5")
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--profile", action="append", default=None, metavar="P",
                   help="chip profile (name or .toml); repeat for several; none = the float network")
    p.add_argument("--max-chips", type=int, default=None, help="allow the mapping to spread over this many chips")
    p.add_argument("--fault", action="append", default=None, metavar="SPEC",
                   help="fault spec SITE:MODE[:RATE][:KEY=VALUE...] (its rate is replaced by each grid rate); repeatable")
    p.add_argument("--faults", metavar="FILE.toml", default=None, help="more fault specs as [[fault]] tables (site, mode, optional layers/params; rate ignored)")
    p.add_argument("--rates", required=True,
                   help="LO:HI:N (N log-spaced rates from LO to HI) or a comma list, e.g. 1e-4:1e-1:13")
    dev = p.add_argument_group("device noise (rate mode, a profile with a [device] table; see docs/sweeps.md)")
    dev.add_argument("--devices", action="store_true",
                     help="simulate every point with the profile's [device] non-idealities (implied by the axes below)")
    dev.add_argument("--programming-sigma", metavar="LIST", default=None,
                     help="noise axis: programming-noise sigmas replacing device.programming_sigma, e.g. 0,0.02,0.05 "
                          "(0 = no programming noise; needs programming = gaussian or lognormal)")
    dev.add_argument("--read-sigma", metavar="LIST", default=None,
                     help="noise axis: per-inference read-noise sigmas (std / w_max) replacing device.read_sigma, "
                          "e.g. 0,0.01,0.02")
    dev.add_argument("--age", metavar="LIST", default=None,
                     help="noise axis: deployment ages for conductance drift, e.g. 0,1h,30d,1y (needs drift)")
    add_chips(p, "sweep")
    add_inputs(p)
    ex = p.add_mutually_exclusive_group()
    ex.add_argument("--workers", type=int, default=None, metavar="W",
                    help="local worker processes (default: 1 = run in this process)")
    ex.add_argument("--dask", metavar="ADDRESS", default=None,
                    help="Dask scheduler address, e.g. tcp://host:8786 (gives up after 5 s)")
    ex.add_argument("--dask-local", type=int, default=None, metavar="N",
                    help="start a Dask LocalCluster with N worker processes")
    p.add_argument("--threads", type=int, default=None,
                   help="threads per simulation (default: this machine's CPUs / workers); results do not depend on it")
    p.add_argument("--raw-samples", type=int, default=None, metavar="K",
                   help="keep raw Δ for K random (chip, input) rows per point (default: all; 0 = none)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing sweep file of another configuration (only once the new sweep completes)")
    add_progress(p)
    from .spiking_args import add_spiking_args

    add_spiking_args(p)
    p.set_defaults(func=run)


def run(args):
    from .. import _validate
    from ..errors import ConfigError
    from ..sweep.executors import make_executor
    from ..sweep import build_context, load_sweep_faults, noise_points, parse_rates, run_sweep, spec_key

    if not args.output:
        raise ConfigError("'neurosim sweep' needs -o FILE.h5 (the sweep file to write or resume).")
    rates = parse_rates(args.rates)
    noise = noise_points(args.programming_sigma, args.read_sigma, args.age, devices=args.devices)
    faults = list(args.fault or [])
    if args.faults:
        faults += load_sweep_faults(args.faults)
    if not faults:
        raise ConfigError("The sweep grid is empty: give at least one --fault SPEC or --faults FILE.toml.")
    if args.threads is not None:
        _validate.integer(args.threads, "--threads", 1, "numba/BLAS threads per worker")
    executor = make_executor(workers=args.workers, dask=args.dask, dask_local=args.dask_local, threads=args.threads)
    net, saved = load_model(args.model)
    profiles = tuple(args.profile or (None,))
    if saved is not None:
        profiles = (_mapping_profile(args, saved),)
    x, labels = load_inputs(args, net)
    ctx = build_context(net, x, profiles=profiles, faults=faults, rates=rates,
                        n_chips=args.chips, seed=args.seed, raw_samples=args.raw_samples, max_chips=args.max_chips,
                        spiking=_spiking(args, net), devices=noise)
    out = run_sweep(ctx, args.output, net=net, labels=labels, executor=executor, force=args.force,
                    progress=args.progress)
    for note in out.notes:
        print(f"neurosim sweep: note: {note}", file=sys.stderr)
    g = ctx.grid
    if out.non_finite:
        print(_non_finite_warning(ctx, out.non_finite), file=sys.stderr)
    info = out.to_dict()
    info["non_finite"] = {str(k): v for k, v in out.non_finite.items()}
    info.update(grid={"profiles": [p or "float" for p in g.profiles], "faults": [spec_key(s) for s in g.specs],
                      "rates": list(g.rates), **({"devices": [dict(d) for d in g.devices]} if g.devices else {})},
                n_chips=ctx.n_chips, n_inputs=ctx.n_inputs, seed=ctx.seed)
    if args.json:
        print_json(args, info, profile=[p or "float" for p in g.profiles], seed=ctx.seed)
        return 0
    shape = f"{len(g.profiles)} profile(s) x " + (f"{g.n_noise} noise point(s) x " if g.devices else "") + \
        f"{len(g.specs)} spec(s) x {len(g.rates)} rate(s)"
    if out.n_computed == 0 and out.n_reused == out.n_points:
        print(f"{out.path}: all {out.n_points} points already complete ({shape}); nothing to do")
    else:
        print(f"{out.path}: {out.n_points} points ({shape}), {ctx.n_chips} chips x {ctx.n_inputs} inputs each; "
              f"{out.n_computed} computed, {out.n_reused} reused, {out.elapsed_s:.1f} s on {out.executor}")
    return 0



def _non_finite_warning(ctx, non_finite: dict) -> str:
    """One line: how many points have inf/NaN in Δ, and the first of them."""
    from ..sweep import noise_label, spec_key

    g = ctx.grid
    i = next(iter(non_finite))
    p, s, r = g.point(i)
    where = f"{g.profiles[p] or 'float'}, {spec_key(g.specs[s])}, rate {g.rates[r]:g}" + (
        f", {noise_label(g.devices[g.noise(i)])}" if g.devices else "")
    return (f"neurosim sweep: warning: {len(non_finite)} of {g.n_points} points have non-finite output errors "
            f"(inf/NaN: {sum(non_finite.values())} values in all; first: point {i}, {where}); their statistics "
            "are inf/NaN (summary 'non_finite' per point; the report flags them). Large fault values overflow "
            "the outputs; use smaller values.")


def _spiking(args, net):
    from .spiking_args import spiking_kwargs

    return spiking_kwargs(args, net)


def _mapping_profile(args, saved):
    """The profile of a saved mapping, as a name or path the sweep file can record and resume from."""
    from ..chip import load_profile
    from ..errors import ConfigError
    from .common import _check_profile_vs_mapping

    _check_profile_vs_mapping(args, saved)
    want = {k: v for k, v in saved.profile.to_dict().items() if k != "path"}
    for cand in (saved.profile.name, saved.profile.path):
        try:
            got = load_profile(cand)
        except Exception:  # noqa: BLE001 - not findable under this name: try the next
            continue
        if {k: v for k, v in got.to_dict().items() if k != "path"} == want:
            return cand
    raise ConfigError(f"The profile '{saved.profile.name}' of the saved mapping '{args.model}' is not findable by name "
                      "or path (or has changed); sweep the network file with --profile PATH.toml instead.")
