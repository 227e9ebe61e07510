"""Native network file: HDF5 written with h5py.

Layout (format version 1)::

    /                attrs: neurosim_type="network", format_version, neurosim_version,
                            name, n_layers, sizes (JSON), source (JSON, free-form)
    /layers/000      group, attrs: type="dense", activation, index (1-based)
        weight       float64 (n_out, n_in)
        bias         float64 (n_out,)
    /layers/001 ...

Save then load is bit-exact (float64 datasets, no compression filters that change values).
"""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import CapacityError, ConfigError, FileFormatError
from ..network import Network
from .h5util import atomic_h5, damaged, header_attrs, open_for_read, read_array, read_json_attr, write_json_attr

FORMAT_VERSION = 1
KIND = "network"


def save_network(net: Network, path, source: dict | None = None, inputs=None, labels=None) -> None:
    """Write ``net`` to ``path`` (atomically; an existing file is replaced only on success).

    ``inputs`` (``(n, n_in)``) and ``labels`` (``(n,)`` ints) optionally bundle
    example data with the model (``/data/inputs``, ``/data/labels``); commands
    use them when no other inputs are given.
    """
    if not isinstance(net, Network):
        raise ConfigError(f"'net' must be a neurosim.Network. Got {type(net).__name__}.")
    with atomic_h5(path) as f:
        for k, v in header_attrs(KIND, FORMAT_VERSION).items():
            f.attrs[k] = v
        f.attrs["name"] = net.name
        f.attrs["n_layers"] = net.n_layers
        write_json_attr(f, "sizes", list(net.sizes))
        write_json_attr(f, "source", source or {})
        g = f.create_group("layers")
        for k, (W, b, a) in enumerate(zip(net.weights, net.biases, net.activations)):
            lg = g.create_group(f"{k:03d}")
            lg.attrs["type"] = "dense"
            lg.attrs["activation"] = a
            lg.attrs["index"] = k + 1
            lg.create_dataset("weight", data=W, dtype="f8")
            lg.create_dataset("bias", data=b, dtype="f8")
        if inputs is not None:
            x = net.check_inputs(inputs)
            d = f.create_group("data")
            d.create_dataset("inputs", data=x, dtype="f8")
            if labels is not None:
                lab = np.asarray(labels).astype(np.int64)
                if lab.shape != (x.shape[0],):
                    raise ConfigError(f"'labels' must have shape ({x.shape[0]},) to match inputs. Got {lab.shape}.")
                d.create_dataset("labels", data=lab)


def load_bundled_data(path):
    """Example ``(inputs, labels)`` stored in a network file, or ``(None, None)``."""
    with open_for_read(path, KIND, FORMAT_VERSION) as f, damaged(path, "network"):
        if "data" not in f:
            return None, None
        d = f["data"]
        if not isinstance(d, h5py.Group):
            raise FileFormatError(f"'{path}': '/data' must be a group holding 'inputs' (and optionally 'labels').")
        if "inputs" not in d:
            raise FileFormatError(f"'{path}': '/data' holds {sorted(d.keys())} but no 'inputs'; bundle inputs with "
                                  "save_network(..., inputs=x) or pass --inputs FILE.")
        x = read_array(d, "inputs", path, "bundled inputs")
        y = None
        if "labels" in d:
            y = read_array(d, "labels", path, "bundled labels")
            if y.shape != (x.shape[0],) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
                raise FileFormatError(f"'{path}': '/data/labels' must hold {x.shape[0]} integer class indices, one per "
                                      f"input. Got shape {y.shape}; re-save the model with integer labels.")
            y = y.astype(np.int64)
        return x, y


def load_network(path) -> Network:
    """Read a network written by :func:`save_network`; bit-exact."""
    p = Path(path)
    with open_for_read(p, KIND, FORMAT_VERSION) as f, damaged(p, "network"):
        try:
            g = f["layers"]
            keys = sorted(g.keys())
            weights, biases, acts = [], [], []
            if not isinstance(g, h5py.Group):
                raise FileFormatError(f"'{p}': '/layers' must be a group of layer groups; re-create the file with neurosim.")
            for key in keys:
                lg = g[key]
                if not isinstance(lg, h5py.Group):
                    raise FileFormatError(f"'{p}': '/layers/{key}' must be a group; re-create the file with neurosim.")
                t = lg.attrs.get("type")
                t = t.decode() if isinstance(t, bytes) else t
                if t != "dense":
                    raise FileFormatError(f"'{p}': layer {key} has unsupported type {t!r}; only 'dense' is supported.")
                a = lg.attrs["activation"]
                acts.append(a.decode() if isinstance(a, bytes) else str(a))
                weights.append(read_array(lg, "weight", p, "weight"))
                biases.append(read_array(lg, "bias", p, "bias"))
            name = f.attrs.get("name", "network")
            name = name.decode() if isinstance(name, bytes) else str(name)
            read_json_attr(f, "source", {})
        except (FileFormatError, CapacityError):
            raise
        except (KeyError, OSError, ValueError, TypeError, AttributeError) as exc:
            raise FileFormatError(f"'{p}' is damaged or incomplete ({exc}); re-create it with neurosim.") from None
    try:
        return Network.from_arrays(weights, biases, acts, name=name)
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None
