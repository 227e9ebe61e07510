"""Native network file: HDF5 written with h5py.

Layout (format version 2)::

    /                attrs: neurosim_type="network", format_version, neurosim_version,
                            name, n_layers, sizes (JSON), input_shape (JSON), source (JSON, free-form)
    /layers/000      group, attrs: type (op kind: dense, conv2d, avgpool2d, sumpool2d,
                                   flatten, scale), neuron (model kind), activation (same,
                                   kept for version-1 readers), index (1-based), and the op's
                                   integer parameters as JSON attrs (stride, padding, kernel)
        weight       float64, the op's own shape ((n_out, n_in) or (c_out, c_in, kh, kw))
        factor       float64 (scale ops)
        bias         float64 (optional: dense (n_out,), conv (c_out,))
        neuron/      one float64 dataset per neuron-model parameter (spiking models)
    /layers/001 ...
    /data/inputs, /data/labels   optional bundled example data (inputs flat (n, n_in))

Version 1 (dense layers with ``weight``, ``bias``, ``activation`` only) still
loads. Save then load is bit-exact for every op and neuron type (float64
datasets, no filters that change values).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from ..layers import OPS, Layer, make_neuron
from ..network import Network
from .h5util import atomic_h5, header_attrs, open_for_read, read_json_attr, write_json_attr

FORMAT_VERSION = 2
KIND = "network"
_ARRAY_PARAMS = ("weight", "factor")


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def save_network(net: Network, path, source: dict | None = None, inputs=None, labels=None) -> None:
    """Write ``net`` to ``path`` (atomically; an existing file is replaced only on success).

    ``inputs`` (``(n, n_in)`` or ``(n, *input_shape)``) and ``labels`` (``(n,)``
    ints) optionally bundle example data with the model (``/data/inputs``,
    ``/data/labels``); commands use them when no other inputs are given.
    """
    if not isinstance(net, Network):
        raise ConfigError(f"'net' must be a neurosim.Network. Got {type(net).__name__}.")
    x = None if inputs is None else net.check_inputs(inputs)
    with atomic_h5(path) as f:
        for k, v in header_attrs(KIND, FORMAT_VERSION).items():
            f.attrs[k] = v
        f.attrs["name"] = net.name
        f.attrs["n_layers"] = net.n_layers
        write_json_attr(f, "sizes", list(net.sizes))
        write_json_attr(f, "source", source or {})
        write_layers(f, net)
        if x is not None:
            d = f.create_group("data")
            d.create_dataset("inputs", data=x, dtype="f8")
            if labels is not None:
                lab = np.asarray(labels).astype(np.int64)
                if lab.shape != (x.shape[0],):
                    raise ConfigError(f"'labels' must have shape ({x.shape[0]},) to match inputs. Got {lab.shape}.")
                d.create_dataset("labels", data=lab)


def write_layers(f, net: Network) -> None:
    """Write ``net``'s ``input_shape`` attribute and ``layers`` group into HDF5 group ``f``."""
    write_json_attr(f, "input_shape", list(net.input_shape))
    g = f.create_group("layers")
    for k, la in enumerate(net.layers):
        lg = g.create_group(f"{k:03d}")
        lg.attrs["type"] = la.op.kind
        lg.attrs["neuron"] = la.neuron.kind
        lg.attrs["activation"] = la.neuron.kind
        lg.attrs["index"] = k + 1
        for name, v in la.op.params().items():
            if name in _ARRAY_PARAMS:
                lg.create_dataset(name, data=np.asarray(v, np.float64), dtype="f8")
            else:
                write_json_attr(lg, name, [int(a) for a in v])
        if la.bias is not None:
            lg.create_dataset("bias", data=la.bias, dtype="f8")
        if la.neuron.params:
            ng = lg.create_group("neuron")
            for name, v in la.neuron.params.items():
                ng.create_dataset(name, data=np.asarray(v, np.float64), dtype="f8")


def read_layers(f, p, name: str) -> Network:
    """Inverse of :func:`write_layers` (also reads version-1 dense groups); errors name ``p``."""
    try:
        g = f["layers"]
        layers = [_read_layer(p, key, g[key]) for key in sorted(g.keys())]
        if "input_shape" in f.attrs:
            in_shape = tuple(read_json_attr(f, "input_shape"))
        else:  # version 1: dense only
            in_shape = (int(g[sorted(g.keys())[0]]["weight"].shape[1]),)
    except FileFormatError:
        raise
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None
    except (KeyError, OSError, ValueError, IndexError, TypeError) as exc:
        raise FileFormatError(f"'{p}' is damaged or incomplete ({exc}); re-create it with neurosim.") from None
    try:
        return Network.from_layers(layers, in_shape, name=name)
    except ConfigError as exc:
        raise ConfigError(f"'{p}': {exc}") from None


def load_bundled_data(path):
    """Example ``(inputs, labels)`` stored in a native network file, or ``(None, None)`` (also for NIR/ONNX files)."""
    from .loader import sniff

    if sniff(path) != "native":
        return None, None
    with open_for_read(path, KIND, FORMAT_VERSION) as f:
        if "data" not in f:
            return None, None
        d = f["data"]
        x = np.array(d["inputs"][()], dtype=np.float64)
        y = np.array(d["labels"][()], dtype=np.int64) if "labels" in d else None
        return x, y


def _read_layer(p, key, lg):
    t = _s(lg.attrs.get("type", "dense"))
    cls = OPS.get(t)
    if cls is None:
        raise FileFormatError(
            f"'{p}': layer {key} has unsupported type {t!r}; this neurosim reads {', '.join(OPS)}. Upgrade neurosim."
        )
    kw = {}
    for name in _ARRAY_PARAMS:
        if name in lg:
            kw[name] = np.array(lg[name][()], dtype=np.float64)
    for name in ("stride", "padding", "kernel"):
        if name in lg.attrs:
            kw[name] = tuple(read_json_attr(lg, name))
    bias = np.array(lg["bias"][()], dtype=np.float64) if "bias" in lg else None
    kind = _s(lg.attrs["neuron"]) if "neuron" in lg.attrs else _s(lg.attrs["activation"])
    params = {n: np.array(ds[()], dtype=np.float64) for n, ds in lg["neuron"].items()} if "neuron" in lg else {}
    k = int(key) + 1
    try:
        op = cls(**kw)
        if bias is not None and not np.all(np.isfinite(bias)):
            raise ConfigError(f"'bias' has {int(np.sum(~np.isfinite(bias)))} non-finite values (NaN/inf); clean the model.")
        return Layer(op, bias, make_neuron(kind, params))
    except ConfigError as exc:
        raise ConfigError(f"layer {k} ({t}, W_{k}/b_{k}): {exc}") from None


def load_native(path) -> Network:
    """Read a network written by :func:`save_network` (format 1 or 2); bit-exact."""
    p = Path(path)
    with open_for_read(p, KIND, FORMAT_VERSION) as f:
        name = _s(f.attrs.get("name", "network"))
        try:
            read_json_attr(f, "source", {})
        except (ValueError, TypeError) as exc:
            raise FileFormatError(f"'{p}' is damaged or incomplete ({exc}); re-create it with neurosim.") from None
        return read_layers(f, p, name)
