"""Helpers shared by the sub-commands: common options, inputs, output, progress."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .. import _validate
from ..errors import ConfigError, FileFormatError
from ..io.h5util import to_jsonable
from ..sim.progress import progress_bar  # noqa: F401  (re-exported for the commands)


def add_common(p, output_help="write the result to FILE"):
    """``--seed``, ``--json``, ``-o``: every command takes them."""
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same result")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON to stdout")
    p.add_argument("-o", "--output", metavar="FILE", default=None, help=output_help)


def add_model_inputs(p, profile=True, required_profile=False):
    p.add_argument("model", help="network file (neurosim HDF5, e.g. examples/digits_mlp.h5)")
    if profile:
        p.add_argument("--profile", required=required_profile, default=None,
                       help="chip profile name (see 'neurosim profiles') or a .toml path; "
                            "without it the float network is simulated")
        p.add_argument("--max-chips", type=int, default=None, help="allow the mapping to spread over this many chips")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--inputs", metavar="FILE.npy", default=None, help="inputs (n, n_in) as .npy")
    g.add_argument("--dataset", choices=["digits", "bundled"], default=None,
                   help="'digits': scikit-learn's 8x8 digits scaled to [0,1]; 'bundled' (default): data stored in the model file")
    p.add_argument("--limit", type=int, default=None, help="use only the first N inputs")


def load_inputs(args, net):
    """Inputs and labels from --inputs/--dataset or the model file's bundled data."""
    from ..io import load_bundled_data

    labels = None
    if args.inputs:
        path = Path(args.inputs)
        if not path.is_file():
            raise FileFormatError(f"Inputs file not found: '{path}'. Pass an existing .npy file to --inputs.")
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FileFormatError(f"'{path}' is not a readable .npy array ({exc}); save inputs with numpy.save.") from None
    elif args.dataset == "digits":
        from sklearn.datasets import load_digits

        x, labels = load_digits(return_X_y=True)
        x = x / 16.0
    else:
        x, labels = load_bundled_data(args.model)
        if x is None:
            raise ConfigError(f"Model '{args.model}' bundles no inputs; pass --inputs FILE.npy or --dataset digits.")
    x = net.check_inputs(x)
    if args.limit is not None:
        check_limit(args.limit)
        x = x[: args.limit]
        labels = None if labels is None else labels[: args.limit]
    return x, labels


def check_limit(limit):
    """``--limit N``: the number of inputs used, >= 1."""
    return _validate.integer(limit, "--limit", 1, "number of inputs used")


def load_target(args, x_sample=None):
    """The network and, if --profile is given, its mapping."""
    from ..chip import map_network
    from ..io import load_network

    net = load_network(args.model)
    mapping = None
    if getattr(args, "profile", None):
        mapping = map_network(net, args.profile, max_chips=args.max_chips, x_sample=x_sample)
    return net, mapping


def check_output_path(path, directory=False):
    """Refuse an output whose folder does not exist, before any work is done."""
    if path is None:
        return None
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Output folder '{parent}' does not exist; create it or choose another -o path.")
    if not directory and p.is_dir():
        raise ConfigError(f"Output '{p}' is a directory; give a file name to -o.")
    return p


def write_text_atomic(path, text: str):
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def dump_json(obj) -> str:
    return json.dumps(to_jsonable(obj), indent=2, sort_keys=False)


def table(rows, headers) -> str:
    """Plain fixed-width text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
