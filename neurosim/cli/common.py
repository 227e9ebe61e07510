"""Helpers shared by the sub-commands: common options, inputs, output, progress."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .. import _validate
from ..errors import ConfigError, FileFormatError
from ..io.h5util import to_jsonable
from ..sim.progress import progress_bar  # noqa: F401  (re-exported for the commands)


# ----------------------------------------------------------------------------- common options
def add_json(p):
    p.add_argument("--json", action="store_true",
                   help="print one JSON object to stdout (envelope: command, neurosim_version, model, profile, seed, "
                        "result); errors too are JSON then")


def add_seed(p, what="same seed, same result, bit for bit"):
    p.add_argument("--seed", type=int, default=0, help=f"random seed, an integer >= 0 (default 0); {what}")


def add_output(p, kind="file", what="the result", required=False, metavar=None):
    """``-o/--output``: always says whether it is a FILE or a folder (DIR) and what goes there."""
    kind_txt = {"file": "file", "dir": "folder"}[kind]
    metavar = metavar or ("FILE" if kind == "file" else "DIR")
    p.add_argument("-o", "--output", metavar=metavar, default=None, required=required,
                   help=f"output {kind_txt}: {what}" + (" (required)" if required else ""))
    p.set_defaults(output_kind=kind)  # read by preflight(): the output guard runs before the command


def add_common(p, output_help="write the result to FILE", seed=True, output_kind="file", output_metavar=None):
    """``--json``, ``-o`` and (where the command draws random numbers) ``--seed``."""
    if seed:
        add_seed(p)
    add_json(p)
    add_output(p, output_kind, output_help, metavar=output_metavar)


def add_progress(p):
    """``--progress/--no-progress`` for every long command (default: on when stderr is a terminal)."""
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar with ETA on stderr (default: shown when stderr is a terminal)")


#: Default chip counts and why they differ (one rule: enough chips for the statistic the command reports).
CHIPS_DEFAULTS = {
    "simulate": (10, "a quick look at mean/std of Δ; raise it for tails"),
    "sweep": (10, "per grid point, times the number of grid points"),
    "compare": (200, "a per-(input, output) distribution over chips needs ~200 for its KS/DKW band"),
    "plan": (2000, "the per-copy failure q is a tail probability; its upper limit needs many chips (2000: R does not move with the seed on the bundled example)"),
}


def add_chips(p, command):
    """``--chips`` (with the command's default) and ``--max-memory`` (every command sized by chips has both)."""
    default, why = CHIPS_DEFAULTS[command]
    p.add_argument("--chips", type=int, default=default,
                   help=f"independent chip instances (default {default}: {why})")
    add_max_memory(p)


def check_simulation_memory(net, x, chips, n_specs, command, summaries=0):
    """Refuse ``--chips`` whose whole Δ (plus ``summaries`` Δ-sized temporaries) cannot fit, before any work."""
    from .._resources import check_memory, simulate_bytes
    from .._validate import integer

    chips = integer(chips, "--chips", 1)
    check_memory(simulate_bytes(net.sizes, x.shape[0], chips, n_specs, summaries=summaries),
                 f"{command} --chips {chips} on {x.shape[0]} inputs", "use fewer --chips or --limit fewer inputs")


@contextlib.contextmanager
def preflight(args):
    """Run before (and around) every command: the output-path guard and the memory limit.

    ``-o`` is checked by :func:`neurosim._paths.check_output` (exists or
    creatable, writable, a file or a folder as the command expects) before any
    work; within the command, memory estimates are held to ``--max-memory``
    (:func:`neurosim._resources.limit_memory`).
    """
    from .._resources import limit_memory

    out, kind = getattr(args, "output", None), getattr(args, "output_kind", None)
    if out is not None and kind is not None:
        check_output_path(out, directory=kind == "dir")
    with limit_memory(getattr(args, "max_memory", None)):
        yield


def add_figure_options(p):
    from ..plot import DEFAULT_DPI, FORMATS

    p.add_argument("--format", dest="fig_format", choices=FORMATS, default="png",
                   help="figure format (default png); a CSV of every plotted series is written beside each figure")
    p.add_argument("--dpi", type=int, default=DEFAULT_DPI,
                   help=f"figure resolution in dots per inch, 20..2400 (default {DEFAULT_DPI}; vector formats keep it for "
                        "embedded rasters)")


def add_model_inputs(p, profile=True, required_profile=False, multi_profile=False):
    p.add_argument("model", help=MODEL_HELP)
    if profile:
        if multi_profile:
            p.add_argument("--profile", action="append", default=None, metavar="P",
                           help="chip profile name (see 'neurosim profiles') or a .toml path; repeat for several; "
                                "none = the float network (or the profile of a saved mapping)")
        else:
            p.add_argument("--profile", required=required_profile, default=None,
                           help="chip profile name (see 'neurosim profiles') or a .toml path; without it the float "
                                "network is used (or the profile of a saved mapping given as MODEL)")
        p.add_argument("--max-chips", type=int, default=None,
                       help="allow the mapping to spread over this many chips (default: the profile's max_chips)")
    add_inputs(p)


MODEL_HELP = ("network file (neurosim HDF5, e.g. examples/digits_mlp.h5) or a saved mapping "
              "('neurosim map MODEL --profile P -o mapping.h5')")


def add_inputs(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--inputs", metavar="FILE", default=None,
                   help="inputs (n, n_in): a .npy array, or a .npz with array 'x' (or 'inputs', or its only array) and "
                        "optionally 'labels' (or 'y')")
    g.add_argument("--dataset", choices=["digits", "bundled"], default=None,
                   help="'digits': scikit-learn's 8x8 digits scaled to [0,1]; 'bundled' (default): data stored in the "
                        "model file")
    p.add_argument("--labels", metavar="FILE.npy", default=None,
                   help="integer class labels (n,) for --inputs, as .npy (overrides labels inside a .npz)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N inputs (N >= 1)")


def _read_array_file(path: Path, what: str):
    suffix = path.suffix.lower()
    if not path.is_file():
        raise FileFormatError(f"{what} file not found: '{path}'. Pass an existing .npy or .npz file.")
    if suffix not in (".npy", ".npz"):
        raise FileFormatError(f"{what} file '{path}' must be .npy or .npz (numpy.save / numpy.savez). Got '{suffix}'.")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FileFormatError(f"'{path}' is not a readable {suffix} file ({exc}); write it with numpy.save or numpy.savez.") from None
    return data


def _inputs_from_file(path: Path):
    data = _read_array_file(path, "Inputs")
    if not isinstance(data, np.lib.npyio.NpzFile):
        return data, None
    with data:
        keys = list(data.files)
        xk = next((k for k in ("x", "inputs", "X") if k in keys), keys[0] if len(keys) == 1 else None)
        if xk is None:
            raise FileFormatError(f"'{path}' holds arrays {keys}; name the inputs 'x' (and the labels 'labels').")
        lk = next((k for k in ("labels", "y") if k in keys), None)
        return data[xk], (data[lk] if lk else None)


def _check_labels(labels, n, where):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != n or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"Labels from {where} must be integers of shape ({n},), one per input. "
                          f"Got dtype {labels.dtype}, shape {labels.shape}; pass class indices.")
    return labels


def load_inputs(args, net):
    """Inputs and labels from --inputs/--labels/--dataset or the model file's bundled data."""
    labels = None
    lab_file = getattr(args, "labels", None)
    if lab_file and not args.inputs:
        raise ConfigError("'--labels' goes with '--inputs FILE'; bundled and digits data carry their own labels.")
    if args.inputs:
        x, labels = _inputs_from_file(Path(args.inputs))
        if lab_file:
            labels = _read_array_file(Path(lab_file), "Labels")
            if isinstance(labels, np.lib.npyio.NpzFile):
                raise FileFormatError(f"'--labels' takes a .npy array of class indices. Got the .npz '{lab_file}'.")
    elif args.dataset == "digits":
        from sklearn.datasets import load_digits

        x, labels = load_digits(return_X_y=True)
        x = x / 16.0
    else:
        x, labels = bundled_data(args.model)
        if x is None:
            raise ConfigError(f"Model '{args.model}' bundles no inputs; pass --inputs FILE.npy|FILE.npz or --dataset digits.")
    x = net.check_inputs(x)
    if labels is not None:
        labels = _check_labels(labels, x.shape[0], lab_file or args.inputs or args.model)
    if args.limit is not None:
        check_limit(args.limit)
        x = x[: args.limit]
        labels = None if labels is None else labels[: args.limit]
    return x, labels


def check_limit(limit):
    """``--limit N``: the number of inputs used, >= 1."""
    return _validate.integer(limit, "--limit", 1, "number of inputs used")


def bundled_data(path):
    """``(inputs, labels)`` stored in a network file or a saved mapping, or ``(None, None)``."""
    from ..io import load_bundled_data

    if model_kind(path) == "mapping":
        from ..io.mapping_io import load_mapping_data

        return load_mapping_data(path)
    return load_bundled_data(path)


def model_kind(path) -> str:
    """``"mapping"`` for a saved mapping (``neurosim map -o mapping.h5``), else ``"network"``."""
    p = Path(path)
    if p.suffix.lower() not in (".h5", ".hdf5") or not p.is_file():
        return "network"
    try:
        import h5py

        with h5py.File(p, "r") as f:
            kind = f.attrs.get("neurosim_type")
    except OSError:
        return "network"
    kind = kind.decode() if isinstance(kind, bytes) else kind
    return "mapping" if kind == "mapping" else "network"


def load_model(path):
    """``(network, saved_mapping_or_None)`` for a network file or a saved mapping."""
    from ..io import load_network

    if model_kind(path) == "mapping":
        from ..io.mapping_io import load_mapping

        m = load_mapping(path)
        return m.network, m
    return load_network(path), None


def _check_profile_vs_mapping(args, saved):
    prof = getattr(args, "profile", None)
    names = prof if isinstance(prof, list) else ([prof] if prof else [])
    for n in names:
        if n != saved.profile.name and str(n) != saved.profile.path:
            raise ConfigError(f"'{args.model}' is a saved mapping on profile '{saved.profile.name}'; '--profile {n}' "
                              "contradicts it. Drop --profile or pass the network file instead.")
    if getattr(args, "max_chips", None) is not None:
        raise ConfigError(f"'{args.model}' is a saved mapping (its chips are fixed); drop '--max-chips'.")


def load_target(args, x_sample=None):
    """The network and, if --profile is given (or MODEL is a saved mapping), its mapping."""
    from ..chip import map_network

    net, saved = load_model(args.model)
    if saved is not None:
        _check_profile_vs_mapping(args, saved)
        return net, saved
    mapping = None
    if getattr(args, "profile", None):
        mapping = map_network(net, args.profile, max_chips=args.max_chips, x_sample=x_sample)
    return net, mapping


# ----------------------------------------------------------------------------- JSON envelope and errors
def envelope(args, result, model=None, profile=None, seed=None) -> dict:
    """The one JSON shape every command prints under ``--json``."""
    from .. import __version__

    if model is None:
        model = getattr(args, "model", None)
    if profile is None:
        profile = getattr(args, "profile", None)
    if seed is None:
        seed = getattr(args, "seed", None)
    return {"command": getattr(args, "command", None), "neurosim_version": __version__,
            "model": None if model is None else str(model),
            "profile": profile if isinstance(profile, (list, type(None))) else str(profile),
            "seed": seed, "result": result}


def print_json(args, result, **kw):
    print(dump_json(envelope(args, result, **kw)))


_PARAM = re.compile(r"(?:^|[\s(])'(--?[A-Za-z][\w-]*|[A-Za-z_][\w.\[\]]*)'")
_OPT = re.compile(r"'?(--[A-Za-z][\w-]*)")
_MUST = re.compile(r"\bmust (?:be )?([^.;]+)")
_FIX = re.compile(r"(?:^|(?<=[.;:] ))((?:[Uu]se|[Pp]ass|[Gg]ive|[Ss]et|[Rr]emove|[Dd]rop|[Cc]hoose|[Cc]reate|[Cc]heck|"
                  r"[Ff]ix|[Rr]e-?run|[Rr]e-create|[Ll]ower|[Rr]aise|[Aa]dd|[Nn]ame|[Ss]ave|[Ww]rite)\b[^;]*?)\.?$")


def error_payload(message: str, parameter=None, fix=None) -> dict:
    """``{"error", "parameter", "fix"}`` for a one-line error message (parameter and fix parsed out if not given)."""
    msg = str(message).strip()
    if parameter is None:
        m = _OPT.search(msg) or _PARAM.search(msg)
        parameter = m.group(1) if m else None
    if fix is None:
        m = _FIX.search(msg)
        fix = m.group(1).strip() if m else None
    if fix is None:
        m = _MUST.search(msg)
        if m:
            fix = f"make {parameter or 'it'} {m.group(1).strip()}"
    return {"error": msg, "parameter": parameter, "fix": fix}


def add_max_memory(p):
    """``--max-memory SIZE``: the memory limit of the run (default 75% of the available RAM)."""
    p.add_argument("--max-memory", metavar="SIZE", default=None,
                   help="refuse runs whose estimated peak memory exceeds SIZE, e.g. 2G or 500M "
                        "(default: 75%% of the memory available when the run starts)")


def check_output_path(path, directory=False, estimate_bytes=0):
    """The output-path guard (:func:`neurosim._paths.check_output`), run before any work is done.

    Refuses a missing or unwritable folder, a folder where a file is expected
    (or a file where a folder is expected), and too little free disk space.
    """
    from .._paths import check_output

    return check_output(path, "dir" if directory else "file", estimate_bytes=estimate_bytes)


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
