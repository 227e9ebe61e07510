"""``neurosim report``: figures (png, pdf or svg, each with a CSV) and a Markdown summary of a sweep file."""
from __future__ import annotations

import argparse

from .common import add_figure_options, add_json, add_output, print_json


def add_parser(sub):
    p = sub.add_parser("report", help="plot a sweep file (error and flip rate vs fault rate, bounds) into a folder",
                       description="Write figures and summary.md for a sweep file written by 'neurosim sweep' "
                                   "(complete or partial).")
    add_json(p)
    add_output(p, "dir", "receives the figures, a CSV beside each, and summary.md (created if missing; required)")
    p.add_argument("sweep", help="sweep file (HDF5) written by 'neurosim sweep'")
    add_figure_options(p)
    p.add_argument("--bounds", action=argparse.BooleanOptionalAction, default=True,
                   help="overlay the b3/b4 first-order bounds for neuron faults (default: on)")
    p.set_defaults(func=run)


def run(args):
    from ..plot import make_report
    from ..errors import ConfigError

    if not args.output:
        raise ConfigError("'neurosim report' needs -o DIR (the folder for the figures and summary.md).")
    from ..sweep.store import verify_sweep

    verify_sweep(args.sweep)  # every dataset, raw Δ point by point, against its stored sha256
    info = make_report(args.sweep, args.output, bounds=args.bounds, fmt=args.fig_format, dpi=args.dpi)
    if args.json:
        print_json(args, info, model=None, profile=None, seed=None)
        return 0
    state = "" if info["status"] == "complete" else f" (partial sweep: {info['n_complete']}/{info['n_points']} points)"
    print(f"{info['summary']}: {len(info['figures'])} figures{state}")
    if info["non_finite_points"]:
        import sys

        print(f"neurosim report: warning: {len(info['non_finite_points'])} points have non-finite output errors "
              "(inf/NaN); flagged in summary.md (column 'non-finite Δ') and left out of the figures.", file=sys.stderr)
    for f in info["figures"]:
        print(f"  {f}")
    return 0
