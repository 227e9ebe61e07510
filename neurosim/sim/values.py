"""Fault values for the engine: per-spec value tables and per-layer tile tables.

The engine hands these arrays to :func:`neurosim.kernels.values.valued_synapses`
and :func:`~neurosim.kernels.values.set_neurons_recorded`; this module turns
the specs' :class:`~neurosim.faults.values.FaultValue` into numbers once per
simulation:

* ``max``/``min`` on a mapped chip: the tile's full-scale weight ``n * s_tile``
  (``n = 2^(b-1) - 1``); with a stated ``range``: its ends (a plain number).
* ``bitflip``: the stored integer ``q = rint(w / s_tile)``, bit ``k`` flipped in
  ``b``-bit two's complement, times ``s_tile``.
* ``saturated`` neurons: :func:`saturation_levels` of the clean network on the
  evaluation inputs (layer ``l``: ``max_b max_i y_l[b, i]``).
"""
from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from ..chip.mapping import ChipMapping
from ..chip.quantize import levels
from ..errors import ConfigError
from ..faults.spec import check_for_chip
from ..faults.values import CODES

_HMODE = {"permanent": 0, "transient": 1, "intermittent": 2}
_BIG = 1 << 40


@dataclass(frozen=True)
class ValueTables:
    """Everything the value kernels need, for one simulation.

    Per spec ``k``: ``kind[k]``, ``num[k]``, ``bitsel[k]``, ``hkey[k]``,
    ``hmode[k]``, ``group[k]`` (see :mod:`neurosim.kernels.values`). Per weight
    layer ``l`` (index ``l - 1``): ``fs[l-1]``, ``step[l-1]`` tile grids
    ``(n_cb, n_rb)``. ``rows``, ``cols``: tile shape; ``bits``: weight bits
    (0 = float). ``valued``: True if any spec has a non-zero value.
    """

    kind: np.ndarray
    num: np.ndarray
    bitsel: np.ndarray
    hkey: np.ndarray
    hmode: np.ndarray
    group: np.ndarray
    fs: tuple
    step: tuple
    rows: int
    cols: int
    bits: int
    valued: bool
    saturated: bool
    codes: tuple = ()
    """Per weight layer: the cell code table of :func:`neurosim.kernels.values.bitflip_deltas` (or None)."""
    tstep: tuple = ()
    """Per weight layer: quantisation step of each of its tiles (the tile index of the code table)."""
    nlev: int = 0
    """Largest integer level ``n = 2^(b-1) - 1``."""
    def layer_hkey(self, layer: int) -> np.ndarray:
        """Bit-choice keys for weight layer ``layer`` (distinct per layer)."""
        salt = np.uint64((layer * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        return self.hkey ^ salt


def value_tables(specs, keys, target) -> ValueTables:
    """Resolve the values of ``specs`` (FaultSpecs, with their stream ``keys``) for ``target``.

    Raises :class:`~neurosim.errors.ConfigError` for values the target cannot
    give (bit flips or tile ranges on float weights).
    """
    mapping = target if isinstance(target, ChipMapping) else None
    net = mapping.qnet if mapping is not None else target
    bits = mapping.profile.weight_bits if mapping is not None else None
    n = len(specs)
    kind = np.zeros(n, np.int64)
    num = np.zeros(n)
    bitsel = np.full(n, -1, np.int64)
    hmode = np.zeros(n, np.int64)
    group = np.ones(n, np.int64)
    hkey = np.array([np.uint64(k) for k in keys], dtype=np.uint64) if n else np.zeros(0, np.uint64)
    for k, s in enumerate(specs):
        check_for_chip(s, bits)
        fv = s.fault_value
        code = CODES[fv.kind]
        if fv.kind in ("max", "min") and fv.range is not None:
            code, num[k] = CODES["number"], fv.range[1] if fv.kind == "max" else fv.range[0]
        elif fv.kind in ("number", "scale"):
            num[k] = fv.number
        kind[k] = code
        if fv.bit is not None:
            bitsel[k] = fv.bit
        hmode[k] = _HMODE[s.mode]
        group[k] = s.group
    if not net.is_dense:
        for s, c in zip(specs, kind):
            if s.site == "synapse" and c != CODES["zero"]:
                raise ConfigError(
                    f"Fault '{s.to_text()}': synapse values other than zero are simulated on dense layers only; network "
                    f"{net.name!r} has conv or wiring layers ({', '.join(sorted(set(net.kinds)))}); use value=zero "
                    "there (neuron values work on every layer).")
    fs, step = [], []
    if mapping is not None and net.is_dense:
        p = mapping.profile
        nlev = levels(p.weight_bits)
        for l, W in enumerate(net.weights, start=1):
            idx = np.flatnonzero(mapping.tile_layer == l)
            n_cb, n_rb = math.ceil(W.shape[0] / p.crossbar_cols), math.ceil(W.shape[1] / p.crossbar_rows)
            sc = mapping.tile_scale[idx].reshape(n_cb, n_rb)
            fs.append(np.ascontiguousarray(sc * nlev))
            step.append(np.ascontiguousarray(sc))
        rows, cols, wbits = p.crossbar_rows, p.crossbar_cols, p.weight_bits
    else:
        for _ in net.weights:
            fs.append(np.ones((1, 1)))
            step.append(np.ones((1, 1)))
        rows = cols = _BIG
        wbits = 0
    valued = bool(np.any(kind != CODES["zero"]))
    saturated = bool(np.any(kind == CODES["saturated"]))
    codes, tstep = [None] * net.n_layers, [None] * net.n_layers
    uniform = [s for s, c, b in zip(specs, kind, bitsel) if c == CODES["bitflip"] and b < 0]
    if mapping is not None and uniform:
        need = set()
        for s in uniform:
            need.update(s.resolve_layers(net.n_layers))
        for l in sorted(need):
            codes[l - 1], tstep[l - 1] = _codes(mapping, l)
    return ValueTables(kind, num, bitsel, hkey, hmode, group, tuple(fs), tuple(step), rows, cols, max(wbits, 1),
                       valued, saturated, tuple(codes), tuple(tstep), levels(wbits) if mapping is not None else 0)


_CODES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _codes(mapping, layer):
    """:func:`_code_layer`, cached per mapping (a mapping's weights do not change)."""
    per = _CODES.setdefault(mapping, {})
    if layer not in per:
        per[layer] = _code_layer(mapping, layer)
    return per[layer]


def _code_layer(mapping, layer):
    """``(tile << b) | (q mod 2^b)`` per cell of ``W_layer`` (flat, C order; uint16 when it fits) and the tiles' steps.

    ``(None, None)`` when the weights are off their integer grid (device noise):
    the bit flips are then decoded from ``W`` (:func:`~neurosim.kernels.values.tagged_deltas`).
    """
    W = mapping.qnet.weights[layer - 1]
    bits = mapping.profile.weight_bits
    idx = np.flatnonzero(mapping.tile_layer == layer)
    if idx.size << bits > 1 << 32:
        return None, None
    T = np.empty(W.shape, np.int64)
    Sc = np.empty(W.shape)
    for local, t in enumerate(idx):
        sl = (slice(mapping.tile_c0[t], mapping.tile_c1[t]), slice(mapping.tile_r0[t], mapping.tile_r1[t]))
        T[sl] = local
        Sc[sl] = mapping.tile_scale[t]
    q = np.rint(W / Sc).astype(np.int64)
    if not np.array_equal(q * Sc, W):
        return None, None
    code = (T << bits) | (q & ((1 << bits) - 1))
    dtype = np.uint16 if idx.size << bits <= 1 << 16 else np.uint32
    return np.ascontiguousarray(code.ravel().astype(dtype)), np.ascontiguousarray(mapping.tile_scale[idx])


def saturation_levels(net, x, zcache=None, chunk: int = 4096, ycache=None) -> np.ndarray:
    """``sat[l] = max over inputs and neurons of the clean y_l`` for l = 0..L (``saturated`` neurons).

    ``ycache`` / ``zcache`` (optional): the engine's clean activations /
    pre-activations per layer (saves a pass).
    """
    from ..network import activate

    L = net.n_layers
    sat = np.full(L + 1, -np.inf)
    sat[0] = float(np.max(x))
    if ycache is not None:
        for l in range(1, L + 1):
            sat[l] = float(np.max(ycache[l - 1]))
        return sat
    if zcache is not None:
        for l in range(1, L + 1):
            sat[l] = float(np.max(activate(net.activations[l - 1], zcache[l - 1].copy())))
        return sat
    for b0 in range(0, x.shape[0], chunk):
        ys, _ = net.forward_all(x[b0:b0 + chunk])
        for l in range(1, L + 1):
            sat[l] = max(sat[l], float(np.max(ys[l])))
    return sat


def neuron_value(tables: ValueTables, k: int, layer: int, sat) -> float:
    """The value spec ``k``'s faulty neurons of ``layer`` take."""
    code = tables.kind[k]
    if code == CODES["saturated"]:
        return float(sat[layer])
    if code == CODES["number"]:
        return float(tables.num[k])
    return 0.0


def spiking_value(spec, net, layers):
    """``(kind code, number)`` of a spiking-mode synapse spec with a non-zero value, or None for ``zero``.

    Spiking networks are float networks: numbers, ``scale=S`` and stated
    ranges (``max``/``min`` with ``range=``); anything needing a chip (bit
    flips, tile full scale) is refused as in rate mode, and so are conv layers.
    """
    fv = spec.fault_value
    if fv.is_zero:
        return None
    check_for_chip(spec, None, "a spiking (float) network")
    conv = [l for l in layers if net.layers[l - 1].op.kind != "dense"]
    if conv:
        raise ConfigError(f"Fault '{spec.to_text()}': synapse values other than zero are simulated on dense layers "
                          f"only; layer(s) {conv} of {net.name!r} are not dense; use value=zero there or list other layers.")
    if fv.kind in ("max", "min"):
        return CODES["number"], float(fv.range[1] if fv.kind == "max" else fv.range[0])
    return CODES[fv.kind], float(fv.number)


def spiking_deltas(items, layer, W, chips, inputs):
    """One layer's synapse events of several specs, merged -> ``(ptr, cells, d)`` with ``d = w - v``.

    ``items``: ``[(ptr, cells, (code, number) or None, key)]`` in spec order;
    a cell drawn by several specs takes the later spec's value (the rate
    engine's tagged merge), stuck-at-0 gives ``d = w``. Apply with
    :func:`neurosim.kernels.apply.stuck_synapses`'s ``d`` (docs/theory.md #32).
    """
    from ..kernels import values as KV

    salt = np.uint64((layer * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    kind = np.array([cv[0] if cv else CODES["zero"] for _, _, cv, _ in items], np.int64)
    num = np.array([cv[1] if cv else 0.0 for _, _, cv, _ in items])
    hkey = np.array([np.uint64(k) ^ salt for _, _, _, k in items], dtype=np.uint64)
    ptr, cells = items[0][0], items[0][1]
    tags = np.zeros(cells.size, np.int64)
    for t in range(1, len(items)):
        ptr, cells, tags = KV.merge_tagged(ptr, cells, tags, items[t][0], items[t][1], t)
    n = len(items)
    unit = np.ones((1, 1))
    d = KV.tagged_deltas(W, ptr, cells, tags, 0, chips, inputs, kind, num, np.full(n, -1, np.int64), hkey,
                         np.ones(n, np.int64), np.ones(n, np.int64), unit, unit, _BIG, _BIG, 1)
    return ptr, cells, d


__all__ = ["ValueTables", "value_tables", "saturation_levels", "neuron_value", "spiking_value", "spiking_deltas"]


_NO_TAGS = np.zeros(0, dtype=np.int64)


def add_synapse_events(vt: ValueTables, syn, ptr, cells, k, first_k):
    """Fold one spec's per-row events into the layer's set: tagged merge (later spec wins) for values.

    ``syn`` is None or ``(ptr, cells, tags)`` (``tags`` None while only the
    first spec ``first_k`` contributed); returns the new triple.
    """
    from ..kernels import values as KV

    if syn is None:
        return (ptr, cells, None)
    tags = syn[2] if syn[2] is not None else np.full(syn[1].size, first_k, np.int64)
    return KV.merge_tagged(syn[0], syn[1], tags, ptr, cells, k)


_DTABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_DTABLES_LOCK = threading.Lock()
DTABLES_KEPT = 4
"""Per-cell ``d`` tables kept per weight set (least recently used dropped first)."""


def _delta_table(plan, W, l: int, k: int):
    """``D = W - V`` of spec ``k`` on weight layer ``l`` (:func:`neurosim.kernels.values.delta_table`).

    Kept per weight set (``plan.weights``, cached per network and precision),
    keyed by the value and the layer's tile tables, the last
    :data:`DTABLES_KEPT` of them, so repeated simulations build it once.
    """
    from ..kernels import values as KV

    vt = plan.values
    fs, step = vt.fs[l - 1], vt.step[l - 1]
    key = (l, int(vt.kind[k]), float(vt.num[k]), int(vt.bitsel[k]), W.dtype.str, vt.rows, vt.cols, vt.bits,
           fs.tobytes(), step.tobytes())
    with _DTABLES_LOCK:
        per = _DTABLES.setdefault(plan.weights, OrderedDict())
        D = per.get(key)
        if D is not None:
            per.move_to_end(key)
            return D
    D = KV.delta_table(W, vt.kind[k], vt.num[k], vt.bitsel[k], fs, step, vt.rows, vt.cols, vt.bits)
    with _DTABLES_LOCK:
        per[key] = D
        while len(per) > DTABLES_KEPT:
            per.popitem(last=False)
    return D


def _deltas(plan, W, l, ptr, cells, tags, first_k, n_specs, chips, inputs):
    """Per-fault ``d = w - v`` of one layer's events (rows or chip segments), or None with a per-cell table ``D``.

    Returns ``(D, d)``: one spec of a value other than a uniform bit flip reads
    ``D`` (:func:`_delta_table`; ``W`` itself for zero) in place of
    ``W``; a uniform bit flip decodes its cells from the code table; several
    specs take each cell's value from its tag.
    """
    from ..kernels import values as KV

    vt = plan.values
    hkey = vt.layer_hkey(l)
    if n_specs == 1:
        t = first_k
        if vt.kind[t] == KV.ZERO:
            return W, None
        if vt.kind[t] != KV.BITFLIP or vt.bitsel[t] >= 0:
            return _delta_table(plan, W, l, t), None
        if vt.codes[l - 1] is not None:
            return W, KV.bitflip_deltas(W, ptr, cells, vt.codes[l - 1], vt.tstep[l - 1], hkey[t], vt.hmode[t],
                                        vt.group[t], chips, inputs, vt.bits)
    return W, KV.tagged_deltas(W, ptr, cells, _NO_TAGS if tags is None else tags, first_k, chips, inputs, vt.kind,
                               vt.num, vt.bitsel, hkey, vt.hmode, vt.group, vt.fs[l - 1], vt.step[l - 1], vt.rows,
                               vt.cols, vt.bits)


def apply_row_values(plan, Zv, Yv, W, l, syn, n_syn, first_k, chips, inputs, dead):
    """Per-row synapse corrections ``(v - W_ij) y_j`` for layer ``l`` (events ``syn`` from :func:`add_synapse_events`).

    The stuck-at-0 kernels with the values' ``d`` (:func:`_deltas`); with dead
    cores (``dead``: per-row CSR) cells on them are skipped, their tiles
    already removed by the caller.
    """
    from ..kernels import apply as K

    ptr, cells, tags = syn
    D, d = _deltas(plan, W, l, ptr, cells, tags, first_k, n_syn, chips, inputs)
    if dead is None:
        K.stuck_synapses(Zv, Yv, D, ptr, cells, d)
    else:
        p = plan.mapping.profile
        K.stuck_synapses_live_cores(Zv, Yv, D, ptr, cells, dead[0], dead[1], plan.tile_grids[l - 1],
                                    p.crossbar_rows, p.crossbar_cols, d)


def segment_values(plan, W, l, seg, seg_tags, first_k, chips, cache=None):
    """``w - v`` per fault of the per-chip segments ``seg = (seg_ptr, fptr, cells)`` (shared permanent path).

    ``cache`` (a dict kept for one task) holds the last chip's values per layer:
    a block of one chip reuses them, so a chip's faults are decoded once per
    task, not once per block.
    """
    one = seg[0].size == 2 and chips.size > 0
    if one and cache is not None:
        got = cache.get(("values", l))
        if got is not None and got[0] == int(chips[0]) and got[1].size == seg[2].size:
            return got[1]
    seg_ptr, fptr, cells = seg
    seg_chips = chips[np.minimum(seg_ptr[:-1], max(chips.size - 1, 0))] if chips.size else seg_ptr[:-1] * 0
    n_specs = 1 if seg_tags is None else 2
    D, d = _deltas(plan, W, l, fptr, cells, seg_tags, first_k, n_specs, seg_chips, np.zeros_like(seg_chips))
    if d is None:
        d = D.reshape(-1)[cells]
    if one and cache is not None:
        cache[("values", l)] = (int(chips[0]), d)
    return d
