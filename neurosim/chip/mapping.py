"""Map a network onto a virtual chip: tiles, cores, quantisation, utilisation.

Placement model (see ``docs/mapping.md``):

* Layer ``l`` with ``W_l`` of shape ``(n_out, n_in)`` is cut into crossbar tiles of
  at most ``crossbar_rows`` inputs x ``crossbar_cols`` outputs; tile ``(rb, cb)``
  holds ``W_l[cb*cols:(cb+1)*cols, rb*rows:(rb+1)*rows]``.
* Partial sums of the row tiles of one column block are added at the neurons of
  that block.
* Cores are filled greedily in layer order, column block by column block: a
  column block's tiles go to the current core while it has a free crossbar,
  then its neurons while it has free neuron circuits; a full core closes and the
  next one opens. Input axons (layer 0) come from off-chip and sit on no core.
* Global core ``k`` lives on chip ``k // cores_per_chip``.

* A conv2d layer's crossbar matrix is its unrolled kernel ``(c_out, c_in*kh*kw)``
  (rows = kernel taps, columns = output channels), tiled the same way. With
  ``conv_kernels = "shared"`` (profile option, default) the kernel is stored
  once and its cells serve every output position (time-multiplexed); with
  ``"replicated"`` (TrueNorth-style) every output position gets its own copy
  of the tiles (``tile_pos``), so a cell serves one position. The neurons of a
  conv layer are its ``c_out * h_out * w_out`` outputs (channel major).
* Pooling, flatten and scale layers with a linear neuron are wiring: no
  cells, no neuron circuits, no faults (``neuron_core`` is -1 there).

Every weight lands in exactly one crossbar cell (one per position when
replicated); re-assembling the tiles gives the quantised matrix (tested).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CapacityError, ConfigError
from ..network import Network
from .profile import ChipProfile, load_profile
from .quantize import levels, quantize_block, scale_for


@dataclass(frozen=True, eq=False)
class ChipMapping:
    """A network placed on a chip profile. The engine simulates ``qnet``.

    Attributes
    ----------
    network, profile
        The float network and the profile it was mapped onto.
    qnet
        The network with quantised weights (what the chip computes).
    tile_layer, tile_r0, tile_r1, tile_c0, tile_c1, tile_core, tile_scale
        One entry per tile: weight layer (1-based), input range ``[r0, r1)``,
        output range ``[c0, c1)``, global core index, quantisation step.
    neuron_core
        ``neuron_core[l-1][i]``: global core of neuron ``i`` of layer ``l`` (1..L).
    n_cores, n_chips
        Cores and chips used.
    layers
        Per-layer report dicts (tiles, cores, utilisation, quantisation error).
    deviation
        Output deviation of ``qnet`` from ``network`` on sample inputs.
    """

    network: Network
    profile: ChipProfile
    qnet: Network
    tile_layer: np.ndarray
    tile_r0: np.ndarray
    tile_r1: np.ndarray
    tile_c0: np.ndarray
    tile_c1: np.ndarray
    tile_core: np.ndarray
    tile_scale: np.ndarray
    neuron_core: tuple
    n_cores: int
    n_chips: int
    layers: tuple
    deviation: dict
    tile_pos: np.ndarray | None = None
    conv_kernels: str = "shared"

    def __post_init__(self):
        if self.tile_pos is None:
            object.__setattr__(self, "tile_pos", np.full(self.tile_layer.size, -1, np.int64))

    @property
    def n_tiles(self) -> int:
        return int(self.tile_layer.size)

    def synapse_core(self, layer: int) -> np.ndarray:
        """Core of every crossbar cell of layer ``layer``.

        Dense: shape ``W``'s ``(n_out, n_in)``; conv with shared kernels:
        ``(c_out, c_in*kh*kw)`` (the unrolled kernel); replicated kernels:
        ``(positions, c_out, c_in*kh*kw)``. Wiring layers: an empty array.
        """
        la = self.qnet.layers[layer - 1]
        if not la.op.weighted:
            return np.empty(0, dtype=np.int64)
        M = tile_matrix(la.op)
        idx = np.flatnonzero(self.tile_layer == layer)
        rep = idx.size and self.tile_pos[idx[0]] >= 0
        out = np.empty(((self.qnet.sizes[layer] // M.shape[0],) if rep else ()) + M.shape, dtype=np.int64)
        for t in idx:
            blk = out[self.tile_pos[t]] if rep else out
            blk[self.tile_c0[t]:self.tile_c1[t], self.tile_r0[t]:self.tile_r1[t]] = self.tile_core[t]
        return out

    def core_contents(self):
        """CSR index of what each core holds (used for core faults).

        Returns ``(tile_ptr, neuron_ptr, neuron_layer, neuron_index)``: tiles of
        core ``k`` are ``tile_ptr[k]:tile_ptr[k+1]`` (tiles are sorted by core);
        neurons of core ``k`` are ``neuron_layer/neuron_index[neuron_ptr[k]:neuron_ptr[k+1]]``.
        """
        tile_ptr = np.searchsorted(self.tile_core, np.arange(self.n_cores + 1)).astype(np.int64)
        nl = np.concatenate([np.full(c.size, l + 1, np.int64) for l, c in enumerate(self.neuron_core)])
        ni = np.concatenate([np.arange(c.size, dtype=np.int64) for c in self.neuron_core])
        nc = np.concatenate(self.neuron_core)
        order = np.argsort(nc, kind="stable")
        neuron_ptr = np.searchsorted(nc[order], np.arange(self.n_cores + 1)).astype(np.int64)
        return tile_ptr, neuron_ptr, nl[order], ni[order]

    def summary(self) -> dict:
        """JSON-ready description of the mapping."""
        p = self.profile
        cells_alloc = self.n_tiles * p.crossbar_rows * p.crossbar_cols
        n_neurons = int(sum(int(np.sum(c >= 0)) for c in self.neuron_core))
        cells_used = int(np.sum((self.tile_r1 - self.tile_r0) * (self.tile_c1 - self.tile_c0)))
        net = {"name": self.network.name, "sizes": list(self.network.sizes),
               "activations": list(self.network.activations)}
        if not self.network.is_dense:
            net["input_shape"] = list(self.network.input_shape)
            net["ops"] = list(self.network.kinds)
        return {
            "network": net,
            "profile": p.name,
            "profile_path": p.path,
            "weight_bits": p.weight_bits,
            "weight_scaling": p.weight_scaling,
            "weight_scale_rule": p.weight_scale_rule,
            "conv_kernels": self.conv_kernels,
            "tiles": self.n_tiles,
            "cores_used": self.n_cores,
            "chips_used": self.n_chips,
            "cores_available": p.cores_per_chip * self.n_chips,
            "core_utilisation": self.n_cores / (p.cores_per_chip * self.n_chips),
            "crossbar_utilisation": cells_used / cells_alloc if cells_alloc else 0.0,
            "cells_used": cells_used,
            "neuron_utilisation": n_neurons / (self.n_cores * p.neurons_per_core),
            "synapses": self.network.n_synapses,
            "neurons": n_neurons,
            "layers": [dict(d) for d in self.layers],
            "deviation": dict(self.deviation),
        }


def tile_matrix(op) -> np.ndarray:
    """The matrix a layer's crossbars hold: ``W`` for dense, the unrolled kernel for conv2d."""
    return op.weight if op.kind == "dense" else op.matrix


CONV_KERNELS = ("shared", "replicated")


def map_network(net: Network, profile, max_chips: int | None = None, x_sample=None,
                conv_kernels: str | None = None) -> ChipMapping:
    """Place ``net`` on the chip described by ``profile`` (a name, path or :class:`ChipProfile`).

    Parameters
    ----------
    max_chips
        Override the profile's ``max_chips`` (allow spreading over more chips).
    x_sample
        Inputs on which to report the output deviation of the quantised network;
        default: 256 seeded uniform inputs in [0, 1].
    conv_kernels
        Override the profile's ``conv_kernels``: ``"shared"`` (each kernel stored
        once) or ``"replicated"`` (one copy per output position).

    Raises
    ------
    CapacityError
        If the network needs more cores than ``max_chips`` chips have.
    """
    if not isinstance(net, Network):
        raise ConfigError(
            f"'net' must be a neurosim.Network. Got {type(net).__name__}; convert it first "
            "(neurosim.io.from_torch(module, input_shape), neurosim.load_network(path), neurosim.io.from_sklearn(est))."
        )
    prof = load_profile(profile)
    if max_chips is None:
        max_chips = prof.max_chips
    if isinstance(max_chips, bool) or not isinstance(max_chips, (int, np.integer)) or max_chips < 1:
        raise ConfigError(f"'max_chips' must be an integer >= 1. Got {max_chips!r}.")
    mode = prof.conv_kernels if conv_kernels is None else conv_kernels
    if mode not in CONV_KERNELS:
        raise ConfigError(f"'conv_kernels' must be one of {', '.join(CONV_KERNELS)}. Got {mode!r}.")
    rows, cols = prof.crossbar_rows, prof.crossbar_cols
    # ---- placement (counts only; cheap even for huge layers)
    core, tiles_here, neurons_here = 0, 0, 0
    t_layer, t_r0, t_r1, t_c0, t_c1, t_core, t_pos = [], [], [], [], [], [], []
    neuron_core = []

    def place_neurons(ncore, ids):
        nonlocal core, tiles_here, neurons_here
        i = 0
        while i < ids.size:
            if neurons_here == prof.neurons_per_core:
                core, tiles_here, neurons_here = core + 1, 0, 0
            k = min(ids.size - i, prof.neurons_per_core - neurons_here)
            ncore[ids[i:i + k]] = core
            neurons_here += k
            i += k

    for l, la in enumerate(net.layers, start=1):
        n_l = net.sizes[l]
        ncore = np.full(n_l, -1, dtype=np.int64)
        if la.op.weighted:
            M = tile_matrix(la.op)
            m_out, m_in = M.shape
            P = n_l // m_out  # output positions (1 for dense)
            reps = P if (la.op.kind == "conv2d" and mode == "replicated") else 1
            for rep in range(reps):
                for c0 in range(0, m_out, cols):
                    c1 = min(c0 + cols, m_out)
                    for r0 in range(0, m_in, rows):
                        if tiles_here == prof.crossbars_per_core:
                            core, tiles_here, neurons_here = core + 1, 0, 0
                        t_layer.append(l); t_r0.append(r0); t_r1.append(min(r0 + rows, m_in))
                        t_c0.append(c0); t_c1.append(c1); t_core.append(core)
                        t_pos.append(rep if reps > 1 else -1)
                        tiles_here += 1
                    ch = np.arange(c0, c1, dtype=np.int64)
                    ids = ch * P + rep if reps > 1 else (ch[:, None] * P + np.arange(P)[None]).ravel()
                    place_neurons(ncore, ids)
        elif net.neuron_sites(l) > 0:
            place_neurons(ncore, np.arange(n_l, dtype=np.int64))
        neuron_core.append(ncore)
    n_cores = core + 1
    n_chips = math.ceil(n_cores / prof.cores_per_chip)
    if n_chips > max_chips:
        need = n_cores
        have = prof.cores_per_chip * max_chips
        what = f"{net.sizes}" if net.is_dense else f"{net.input_shape} -> {'/'.join(net.kinds)}"
        hint = " or conv_kernels='shared'" if mode == "replicated" and "conv2d" in net.kinds else ""
        raise CapacityError(
            f"Network {what} needs {need} cores but profile '{prof.name}' allows {have} "
            f"({max_chips} chip(s) x {prof.cores_per_chip} cores), {need - have} too many; "
            f"allow {n_chips} chips (max_chips={n_chips}, --max-chips {n_chips}){hint}, shrink the network, or use a larger profile."
        )
    t_layer = np.array(t_layer, np.int64); t_core = np.array(t_core, np.int64)
    t_r0 = np.array(t_r0, np.int64); t_r1 = np.array(t_r1, np.int64)
    t_c0 = np.array(t_c0, np.int64); t_c1 = np.array(t_c1, np.int64)
    t_pos = np.array(t_pos, np.int64)
    # ---- quantisation (replicated copies of a tile hold the same values and scale)
    bits = prof.weight_bits
    t_scale = np.ones(t_layer.size)
    ops, reports = [], []
    for l, la in enumerate(net.layers, start=1):
        idx = np.flatnonzero(t_layer == l)
        if not la.op.weighted:
            ops.append(la.op)
            cores_l = np.unique(neuron_core[l - 1][neuron_core[l - 1] >= 0])
            reports.append({
                "layer": l, "op": la.op.kind, "shape": [0, 0], "tiles": 0, "tile_grid": [0, 0],
                "cores": int(cores_l.size), "first_core": int(cores_l.min()) if cores_l.size else -1,
                "last_core": int(cores_l.max()) if cores_l.size else -1,
                "crossbar_utilisation": 0.0, "max_quant_error": 0.0, "max_quant_step": 0.0,
                "relative_quant_error": 0.0,
            })
            continue
        W = tile_matrix(la.op)
        Wq = np.empty_like(W)
        rule = prof.weight_scale_rule
        layer_scale = scale_for(W, bits, rule)
        done = {}
        for t in idx:
            key = (t_r0[t], t_c0[t])
            if key not in done:
                blk = W[t_c0[t]:t_c1[t], t_r0[t]:t_r1[t]]
                sc = scale_for(blk, bits, rule) if prof.weight_scaling == "per_tile" else layer_scale
                Wq[t_c0[t]:t_c1[t], t_r0[t]:t_r1[t]] = quantize_block(blk, bits, sc)
                done[key] = sc
            t_scale[t] = done[key]
        ops.append(la.op.with_params(weight=Wq.reshape(la.op.weight.shape)))
        err = np.abs(Wq - W)
        cores_l = np.unique(np.concatenate([t_core[idx], neuron_core[l - 1][neuron_core[l - 1] >= 0]]))
        cells = idx.size * rows * cols
        used = int(np.sum((t_r1[idx] - t_r0[idx]) * (t_c1[idx] - t_c0[idx])))
        rep = {
            "layer": l,
            "op": la.op.kind,
            "shape": [int(W.shape[0]), int(W.shape[1])],
            "tiles": int(idx.size),
            "tile_grid": [math.ceil(W.shape[0] / cols), math.ceil(W.shape[1] / rows)],
            "cores": int(cores_l.size),
            "first_core": int(cores_l.min()),
            "last_core": int(cores_l.max()),
            "crossbar_utilisation": float(used / cells),
            "max_quant_error": float(err.max()),
            "max_quant_step": float(t_scale[idx].max()) if bits else 0.0,
            "relative_quant_error": float(np.linalg.norm(Wq - W) / max(np.linalg.norm(W), 1e-300)),
        }
        if la.op.kind == "conv2d":
            rep["kernel"] = [int(s) for s in la.op.weight.shape]
            rep["positions"] = int(net.sizes[l] // W.shape[0])
            rep["conv_kernels"] = mode
        reports.append(rep)
    qnet = net.with_ops(ops, name=f"{net.name}@{prof.name}")
    # ---- deviation on sample inputs
    if x_sample is None:
        x_sample = np.random.default_rng(0).uniform(0.0, 1.0, size=(256, net.n_in))
    xs = net.check_inputs(x_sample)
    if net.is_rate:
        yf, yq = net.forward(xs), qnet.forward(xs)
        scale = max(float(np.max(np.abs(yf))), 1e-300)
        deviation = {
            "n_samples": int(xs.shape[0]),
            "max_abs": float(np.max(np.abs(yq - yf))),
            "max_rel": float(np.max(np.abs(yq - yf)) / scale),
            "argmax_agreement": float(np.mean(np.argmax(yq, 1) == np.argmax(yf, 1))) if net.n_out > 1 else None,
        }
    else:  # spiking models: the rate forward pass does not apply
        deviation = {"n_samples": 0, "max_abs": None, "max_rel": None, "argmax_agreement": None}
    return ChipMapping(
        network=net, profile=prof, qnet=qnet,
        tile_layer=t_layer, tile_r0=t_r0, tile_r1=t_r1, tile_c0=t_c0, tile_c1=t_c1,
        tile_core=t_core, tile_scale=t_scale, neuron_core=tuple(neuron_core),
        n_cores=n_cores, n_chips=n_chips, layers=tuple(reports), deviation=deviation,
        tile_pos=t_pos, conv_kernels=mode,
    )


__all__ = ["ChipMapping", "map_network", "levels", "tile_matrix", "CONV_KERNELS"]
