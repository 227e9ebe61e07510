"""ChipMapping and SimResult files (HDF5, versioned, round-trip exact).

Mapping layout (``neurosim_type="mapping"``, version 1)::

    /network         a full network group (as in the native network file)
    /qnetwork        the quantised network
    /tiles/{layer,r0,r1,c0,c1,core,scale,pos}   (pos: output position of a replicated conv tile, else -1;
                                                 absent in older files)
    /neuron_core/NNN one int64 array per layer
    attrs: profile (JSON), n_cores, n_chips, layers (JSON), deviation (JSON)

Result layout (``neurosim_type="result"``, version 1)::

    /delta (n_chips, n_inputs, n_out), /clean, /fault_counts, /fault_events, [/labels]
    attrs: seed, config (JSON), faults (JSON)
"""
from __future__ import annotations

import numpy as np

from ..chip.mapping import ChipMapping
from ..chip.profile import ChipProfile
from ..errors import FileFormatError
from ..faults.spec import FaultSpec
from ..network import Network
from .h5util import atomic_h5, header_attrs, open_for_read, read_json_attr, write_json_attr

MAPPING_VERSION = 1
RESULT_VERSION = 1
_TILE_FIELDS = ("layer", "r0", "r1", "c0", "c1", "core", "scale")


def write_network_group(g, net: Network) -> None:
    """Dense rate networks: ``W001``/``b001``... datasets (version-1 layout); others (conv, spiking): a native ``layers`` group."""
    g.attrs["name"] = net.name
    if not (net.is_dense and net.is_rate):
        from .native import write_layers

        write_layers(g, net)
        return
    write_json_attr(g, "activations", list(net.activations))
    for k, (W, b) in enumerate(zip(net.weights, net.biases)):
        g.create_dataset(f"W{k + 1:03d}", data=W, dtype="f8")
        g.create_dataset(f"b{k + 1:03d}", data=b, dtype="f8")


def read_network_group(g) -> Network:
    name = g.attrs.get("name", "network")
    name = name.decode() if isinstance(name, bytes) else str(name)
    if "layers" in g:
        from .native import read_layers

        return read_layers(g, g.file.filename, name)
    acts = read_json_attr(g, "activations")
    L = len(acts)
    Ws = [np.array(g[f"W{k:03d}"][()]) for k in range(1, L + 1)]
    bs = [np.array(g[f"b{k:03d}"][()]) for k in range(1, L + 1)]
    return Network.from_arrays(Ws, bs, acts, name=name)


def write_mapping_group(g, m: ChipMapping) -> None:
    write_network_group(g.create_group("network"), m.network)
    write_network_group(g.create_group("qnetwork"), m.qnet)
    t = g.create_group("tiles")
    for f in _TILE_FIELDS:
        t.create_dataset(f, data=getattr(m, f"tile_{f}"))
    nc = g.create_group("neuron_core")
    for l, c in enumerate(m.neuron_core, start=1):
        nc.create_dataset(f"{l:03d}", data=c)
    write_json_attr(g, "profile", m.profile.to_dict())
    g.attrs["n_cores"] = m.n_cores
    g.attrs["n_chips"] = m.n_chips
    write_json_attr(g, "layers", list(m.layers))
    write_json_attr(g, "deviation", m.deviation)
    t.create_dataset("pos", data=m.tile_pos)
    g.attrs["conv_kernels"] = m.conv_kernels


def read_mapping_group(g) -> ChipMapping:
    net = read_network_group(g["network"])
    qnet = read_network_group(g["qnetwork"])
    t = g["tiles"]
    tiles = {f"tile_{f}": np.array(t[f][()]) for f in _TILE_FIELDS}
    tiles["tile_pos"] = np.array(t["pos"][()]) if "pos" in t else None
    ck = g.attrs.get("conv_kernels", "shared")
    tiles["conv_kernels"] = ck.decode() if isinstance(ck, bytes) else str(ck)
    nc = g["neuron_core"]
    neuron_core = tuple(np.array(nc[k][()]) for k in sorted(nc.keys()))
    prof = ChipProfile(**read_json_attr(g, "profile"))
    return ChipMapping(network=net, profile=prof, qnet=qnet, neuron_core=neuron_core,
                       n_cores=int(g.attrs["n_cores"]), n_chips=int(g.attrs["n_chips"]),
                       layers=tuple(read_json_attr(g, "layers")), deviation=read_json_attr(g, "deviation"),
                       **tiles)


def save_mapping(m: ChipMapping, path) -> None:
    with atomic_h5(path) as f:
        for k, v in header_attrs("mapping", MAPPING_VERSION).items():
            f.attrs[k] = v
        write_mapping_group(f, m)


def load_mapping(path) -> ChipMapping:
    with open_for_read(path, "mapping", MAPPING_VERSION) as f:
        try:
            return read_mapping_group(f)
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"'{path}' is a damaged mapping file ({exc}); re-create it.") from None


def save_result(res, path, extra: dict | None = None) -> None:
    """Write a :class:`~neurosim.sim.SimResult` (with its full configuration)."""
    with atomic_h5(path) as f:
        for k, v in header_attrs("result", RESULT_VERSION).items():
            f.attrs[k] = v
        f.create_dataset("delta", data=res.delta, compression="gzip", shuffle=True)
        f.create_dataset("clean", data=res.clean)
        f.create_dataset("fault_counts", data=res.fault_counts)
        f.create_dataset("fault_events", data=res.fault_events)
        if res.labels is not None:
            f.create_dataset("labels", data=np.asarray(res.labels))
        f.attrs["seed"] = str(res.seed)
        write_json_attr(f, "config", res.config)
        write_json_attr(f, "faults", [s.to_dict() for s in res.faults])
        write_json_attr(f, "extra", extra or {})


def load_result(path):
    from ..sim.engine import SimResult

    with open_for_read(path, "result", RESULT_VERSION) as f:
        try:
            return SimResult(
                delta=np.array(f["delta"][()]), clean=np.array(f["clean"][()]),
                faults=tuple(FaultSpec.from_dict(d) for d in read_json_attr(f, "faults")),
                fault_counts=np.array(f["fault_counts"][()]), fault_events=np.array(f["fault_events"][()]),
                seed=int(f.attrs["seed"]), labels=np.array(f["labels"][()]) if "labels" in f else None,
                config=read_json_attr(f, "config"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"'{path}' is a damaged result file ({exc}); re-run the simulation.") from None
