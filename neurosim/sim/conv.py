"""Engine support for conv2d and wiring layers (pooling, flatten, scale) in rate mode.

The engine keeps activations flat (``(rows, c*h*w)``). For a conv2d layer the
clean part is im2col + one BLAS product over the engine's fixed-shape block:
``cols = Y[:, idx]`` is ``(ROW_BLOCK*P, K)`` and ``cols @ Wm.T`` gives
``(ROW_BLOCK*P, c_out)``; a row's result depends only on its own position in
the block, so results are bit-identical for any threads and chunking (as for
dense layers). Faults are sparse corrections by :mod:`neurosim.kernels.conv`:

* neuron faults per (channel, position): flat neuron index ``c*P + p``;
* synapse faults on the stored cells: a shared kernel weight (cell
  ``co*K + k``) serves every output position, a replicated one (mapping with
  ``conv_kernels="replicated"``, cell ``(p*c_out + co)*K + k``) one position;
* core faults: every kernel tile on a dead core (all positions it serves) and
  every conv neuron placed there.

Pooling, flatten and scale layers are wiring: computed exactly from the
(faulty) previous layer, no faults of their own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True, eq=False)
class ConvTables:
    """Per conv layer: unrolled kernel, gather table and its inverse, fault-site layout."""

    Wm: np.ndarray  # (c_out, K)
    WmT: np.ndarray  # (K, c_out) contiguous, for the product
    idx: np.ndarray  # (P, K) flat input index or -1
    idx_ext: np.ndarray  # (P, K) with -1 -> n_in (a zero column)
    inv_ptr: np.ndarray  # (n_in + 1,) uses of each input
    inv_p: np.ndarray
    inv_k: np.ndarray
    P: int
    n_in: int
    replicated: bool
    cell_core: np.ndarray | None  # core of each synapse cell (flat), mappings only

    @property
    def n_cells(self) -> int:
        return int(self.Wm.size * (self.P if self.replicated else 1))


class Wiring:
    """A pooling, flatten or scale layer: exact, fault-free, with its gather table precomputed."""

    def __init__(self, op, in_shape, dtype=np.float64):
        self.kind = op.kind
        self.n_in = int(np.prod(in_shape))
        self.idx_ext = None
        self.factor = None
        if op.kind in ("avgpool2d", "sumpool2d"):
            idx = op.index(in_shape)  # (c, P, k), no padding
            self.idx_ext = np.where(idx < 0, self.n_in, idx).astype(np.int64)
            self.factor = op._factor()
        elif op.kind == "scale":
            self.factor = np.ascontiguousarray(op._full(in_shape), dtype=dtype)

    def apply(self, Y: np.ndarray) -> np.ndarray:
        if self.kind == "flatten":
            return Y.copy()
        if self.kind == "scale":
            return Y * self.factor
        R = Y.shape[0]
        Yx = np.zeros((R, self.n_in + 1), dtype=Y.dtype)
        Yx[:, :self.n_in] = Y
        Z = Yx[:, self.idx_ext].sum(axis=3).reshape(R, -1)
        if self.factor != 1.0:
            Z *= Y.dtype.type(self.factor)
        return Z


def conv_tables(op, in_shape, mapping=None, layer: int | None = None, dtype=np.float64) -> ConvTables:
    idx = op.index(in_shape)
    n_in = int(np.prod(in_shape))
    P, K = idx.shape
    flat = idx.ravel()
    order = np.argsort(flat, kind="stable")
    valid = order[flat[order] >= 0]
    inv_ptr = np.searchsorted(flat[valid], np.arange(n_in + 1)).astype(np.int64)
    replicated = mapping is not None and mapping.conv_kernels == "replicated"
    cell_core = None
    if mapping is not None:
        cell_core = np.ascontiguousarray(mapping.synapse_core(layer).reshape(-1))
    Wm = np.ascontiguousarray(op.matrix, dtype=dtype)
    return ConvTables(Wm=Wm, WmT=np.ascontiguousarray(Wm.T), idx=idx,
                      idx_ext=np.where(idx < 0, n_in, idx).astype(np.int64),
                      inv_ptr=inv_ptr, inv_p=(valid // K).astype(np.int64), inv_k=(valid % K).astype(np.int64),
                      P=int(P), n_in=n_in, replicated=bool(replicated), cell_core=cell_core)


def layer_tables(net, mapping=None, dtype=np.float64) -> tuple:
    """One entry per layer: ``None`` (dense), :class:`ConvTables` (conv2d) or :class:`Wiring`."""
    out = []
    for l, (la, s) in enumerate(zip(net.layers, net.shapes[:-1]), start=1):
        if la.op.kind == "dense":
            out.append(None)
        elif la.op.kind == "conv2d":
            out.append(conv_tables(la.op, s, mapping, l, dtype))
        else:
            if la.neuron.kind != "identity":
                raise ConfigError(
                    f"Layer {l} ({la.op.kind}) has a {la.neuron.kind!r} neuron model; the rate engine runs "
                    "pooling/flatten/scale layers as linear wiring only."
                )
            out.append(Wiring(la.op, s, dtype))
    return tuple(out)


def conv_product(Y: np.ndarray, t: ConvTables, bias: np.ndarray) -> np.ndarray:
    """``Z = conv(Y) + b`` for all rows of ``Y`` (im2col + one GEMM); flat ``(rows, c_out*P)``."""
    R = Y.shape[0]
    Yx = np.zeros((R, t.n_in + 1), dtype=Y.dtype)
    Yx[:, :t.n_in] = Y
    cols = Yx[:, t.idx_ext].reshape(R * t.P, -1)
    Z = (cols @ t.WmT).reshape(R, t.P, -1).transpose(0, 2, 1).reshape(R, -1)
    Z += bias
    return Z


def site_count(net, tables, site: str, slot: int) -> int:
    """Fault sites of ``site`` at layer slot ``slot`` (0 for wiring layers)."""
    if site == "neuron":
        return net.neuron_sites(slot)
    t = tables[slot - 1]
    if t is None:
        return net.layers[slot - 1].op.weight.size
    if isinstance(t, ConvTables):
        return t.n_cells
    return 0  # Wiring


def check_spec_layers(net, tables, specs) -> None:
    """Refuse explicit ``layers=`` that name wiring layers (no fault sites)."""
    for _, s, _, layers in specs:
        if s.site in ("neuron", "synapse") and s.layers is not None:
            for l in layers:
                if l > 0 and site_count(net, tables, s.site, l) == 0:
                    raise ConfigError(
                        f"Fault '{s.label}' names layer {l}, a {net.layers[l - 1].op.kind} layer (wiring) with no "
                        f"{s.site} sites; use the conv/dense layer before it."
                    )
