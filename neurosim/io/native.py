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

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..network import Network
from .h5util import atomic_h5, header_attrs, open_for_read, read_json_attr, write_json_attr

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
    with open_for_read(path, KIND, FORMAT_VERSION) as f:
        if "data" not in f:
            return None, None
        d = f["data"]
        x = np.array(d["inputs"][()], dtype=np.float64)
        y = np.array(d["labels"][()], dtype=np.int64) if "labels" in d else None
        return x, y


def load_network(path) -> Network:
    """Read a network written by :func:`save_network`; bit-exact."""
    p = Path(path)
    with open_for_read(p, KIND, FORMAT_VERSION) as f:
        try:
            g = f["layers"]
            keys = sorted(g.keys())
            weights, biases, acts = [], [], []
            for key in keys:
                lg = g[key]
                t = lg.attrs.get("type")
                t = t.decode() if isinstance(t, bytes) else t
                if t != "dense":
                    raise FileFormatError(f"'{p}': layer {key} has unsupported type {t!r}; only 'dense' is supported.")
                a = lg.attrs["activation"]
                acts.append(a.decode() if isinstance(a, bytes) else str(a))
                weights.append(np.array(lg["weight"][()], dtype=np.float64))
                biases.append(np.array(lg["bias"][()], dtype=np.float64))
            name = f.attrs.get("name", "network")
            name = name.decode() if isinstance(name, bytes) else str(name)
            read_json_attr(f, "source", {})
        except FileFormatError:
            raise
        except (KeyError, OSError, ValueError) as exc:
            raise FileFormatError(f"'{p}' is damaged or incomplete ({exc}); re-create it with neurosim.") from None
    try:
        return Network.from_arrays(weights, biases, acts, name=name)
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None
