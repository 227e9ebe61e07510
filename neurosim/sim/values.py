"""Fault values for the engine: per-spec value tables and per-layer tile tables.

The engine hands these arrays to :func:`neurosim.kernels.apply.value_synapses`
(one spec's value, via :func:`apply_row_values`), :func:`neurosim.kernels.values.tagged_deltas`
(several specs, chip segments) and :func:`~neurosim.kernels.values.set_neurons_recorded`;
this module turns the specs' :class:`~neurosim.faults.values.FaultValue` into
numbers once per simulation:

* ``max``/``min`` on a mapped chip: the tile's full-scale weight ``n * s_tile``
  (``n = 2^(b-1) - 1``); with a stated ``range``: its ends (a plain number).
* ``bitflip``: the stored integer ``q = rint(w / s_tile)``, bit ``k`` flipped in
  ``b``-bit two's complement, times ``s_tile``; the correction is
  ``w - v = (q - q') * s_tile``.
* per layer: the stored integers (:func:`_qtable`, cached per mapping) and
  the tile tables of :func:`_tile_args`.
* ``saturated`` neurons: :func:`saturation_levels` of the clean network on the
  evaluation inputs (layer ``l``: ``max_b max_i y_l[b, i]``).
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

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
    qtab: tuple = ()
    """Per weight layer: the stored integer of each cell (flat, smallest signed dtype), or None (no ``max``,
    ``min`` or ``bitflip`` spec there, or weights off their integer grid: values then decoded from ``W``)."""
    tiles: tuple = ()
    """Per weight layer: ``(cbt, rbj, tfs, T)`` of :mod:`neurosim.kernels.apply` (tile of cell ``(i, j)`` is
    ``cbt[i] + rbj[j]``; ``tfs`` full scale per tile; ``T`` the bit-flip corrections ``+-2^k s``)."""
    nlev: int = 0
    """Largest integer level ``n = 2^(b-1) - 1``."""
    cache: dict = field(default_factory=dict, compare=False, repr=False)
    """``max``/``min`` correction tables per (layer, kind, dtype), built on first use (:func:`value_args`)."""

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
    qtab = [None] * net.n_layers
    uniform = [s for s, c in zip(specs, kind) if c in (CODES["max"], CODES["min"], CODES["bitflip"])]
    if mapping is not None and uniform:
        need = set()
        for s in uniform:
            need.update(s.resolve_layers(net.n_layers))
        for l in sorted(need):
            qtab[l - 1] = _qtable(mapping, l)
    tiles = tuple(_tile_args(W.shape, f, st, rows, cols, max(wbits, 1)) for W, f, st in zip(net.weights, fs, step)) \
        if net.is_dense else ()
    return ValueTables(kind, num, bitsel, hkey, hmode, group, tuple(fs), tuple(step), rows, cols, max(wbits, 1),
                       valued, saturated, tuple(qtab), tiles, levels(wbits) if mapping is not None else 0)


def _tile_args(shape, fs, step, rows, cols, bits):
    """``(cbt, rbj, tfs, T)`` of one weight layer (see :class:`ValueTables`); tile ``t = cb * n_rb + rb``."""
    n_out, n_in = shape
    n_rb = fs.shape[1]
    cbt = np.ascontiguousarray((np.arange(n_out) // cols) * n_rb, dtype=np.int64)
    rbj = np.ascontiguousarray(np.arange(n_in) // rows, dtype=np.int64)
    wk = np.array([2.0 ** k for k in range(bits - 1)] + [-(2.0 ** (bits - 1))])  # weight of bit k (two's compl.)
    s = step.ravel()[:, None] * wk[None, :]  # d = q - q' = +w_k if bit k is set, else -w_k (times s, exact)
    T = np.ascontiguousarray(np.stack([-s, s], axis=-1).ravel())
    return cbt, rbj, np.ascontiguousarray(fs.ravel()), T


_QTABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _qtable(mapping, layer):
    """:func:`_qtable_layer`, cached per mapping (a mapping's weights do not change)."""
    per = _QTABLES.setdefault(mapping, {})
    if layer not in per:
        per[layer] = _qtable_layer(mapping, layer)
    return per[layer]


def _qtable_layer(mapping, layer):
    """The stored integer ``q = rint(w / s_tile)`` of every cell of ``W_layer`` (flat, C order; int8 on 8-bit chips).

    None when the weights are off their integer grid (device noise): bit flips
    are then decoded from ``W`` (:func:`~neurosim.kernels.values.tagged_deltas`).
    """
    W = mapping.qnet.weights[layer - 1]
    bits = mapping.profile.weight_bits
    Sc = np.empty(W.shape)
    for t in np.flatnonzero(mapping.tile_layer == layer):
        Sc[mapping.tile_c0[t]:mapping.tile_c1[t], mapping.tile_r0[t]:mapping.tile_r1[t]] = mapping.tile_scale[t]
    q = np.rint(W / Sc)
    if not np.array_equal(q * Sc, W):
        return None
    dtype = next(d for d in (np.int8, np.int16, np.int32, np.int64) if np.iinfo(d).bits >= bits)
    return np.ascontiguousarray(q.ravel().astype(dtype))


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


_NO_INT8 = np.zeros(0, dtype=np.int8)
_NO_F64 = np.zeros(0)
_NO_PTR = np.zeros(1, dtype=np.int64)
_NO_GRID = np.zeros((1, 1), dtype=np.int64)


def value_args(vt: ValueTables, l: int, k: int, chips, inputs, dtype=np.float64) -> tuple:
    """``va`` of :func:`neurosim.kernels.apply.value_synapses` for spec ``k`` on weight layer ``l``.

    ``T``: the bit-flip table for ``bitflip``; for ``max``/``min`` the
    correction of every possible stored integer ``q`` of each tile,
    ``T[(t << b) + (q mod 2^b)] = float64(dtype(q * s_t)) - (+-n * s_t)`` (the
    value ``w - v`` takes with ``w = W[i, j]``: ``W`` holds ``q * s_t`` rounded
    to the working precision ``dtype``), built once per (layer, kind, dtype).
    """
    q = vt.qtab[l - 1] if vt.qtab and vt.qtab[l - 1] is not None else _NO_INT8
    cbt, rbj, tfs, T = vt.tiles[l - 1]
    kind = int(vt.kind[k])
    if kind in (CODES["max"], CODES["min"]):
        key = (l, kind, np.dtype(dtype).str)
        T = vt.cache.get(key)
        if T is None:
            b = vt.bits
            u = np.arange(1 << b, dtype=np.int64)
            qs = np.where(u >= 1 << (b - 1), u - (1 << b), u)  # two's complement value of each code
            step = vt.step[l - 1].ravel()
            w = (qs[None, :] * step[:, None]).astype(dtype).astype(np.float64)
            v = tfs[:, None] if kind == CODES["max"] else -tfs[:, None]
            T = np.ascontiguousarray((w - v).ravel())
            vt.cache[key] = T
    elif kind != CODES["bitflip"]:
        T = _NO_F64
    return (float(vt.num[k]), np.int64(vt.bitsel[k]), np.uint64(vt.layer_hkey(l)[k]), np.int64(vt.hmode[k]),
            np.int64(vt.group[k]), chips, inputs, q, cbt, rbj, T, np.int64(vt.bits))


def tagged(vt: ValueTables, W, l, ptr, cells, tags, first_k, chips, inputs):
    """``d = w - v`` per event, each by its tag's spec (:func:`neurosim.kernels.values.tagged_deltas`)."""
    from ..kernels import values as KV

    return KV.tagged_deltas(W, ptr, cells, _NO_TAGS if tags is None else tags, first_k, chips, inputs, vt.kind,
                            vt.num, vt.bitsel, vt.layer_hkey(l), vt.hmode, vt.group, vt.fs[l - 1], vt.step[l - 1],
                            vt.rows, vt.cols, vt.bits)


def apply_row_values(plan, Zv, Yv, W, l, syn, n_syn, first_k, chips, inputs, dead):
    """Per-row synapse corrections ``(v - W_ij) y_j`` for layer ``l`` (events ``syn`` from :func:`add_synapse_events`).

    One spec: the value's own compiled loop (:func:`neurosim.kernels.apply.value_synapses`;
    zero is the stuck-at-0 kernel); several: per-fault ``d`` from the tags.
    With dead cores (``dead``: per-row CSR) cells on them are skipped, their
    tiles already removed by the caller.
    """
    from ..kernels import apply as K

    vt = plan.values
    ptr, cells, tags = syn
    if dead is None:
        dptr, dcells, grid, rows, cols = _NO_PTR, _NO_PTR[:0], _NO_GRID, 1, 1
    else:
        p = plan.mapping.profile
        dptr, dcells, grid, rows, cols = dead[0], dead[1], plan.tile_grids[l - 1], p.crossbar_rows, p.crossbar_cols
    kind = int(vt.kind[first_k])
    if n_syn == 1 and kind == K.ZERO:
        K.stuck_synapses_live_cores(Zv, Yv, W, ptr, cells, dptr, dcells, grid, rows, cols)
    elif n_syn == 1 and (kind in (K.NUMBER, K.SCALE) or vt.qtab[l - 1] is not None):
        K.value_synapses(Zv, Yv, W, ptr, cells, dptr, dcells, grid, rows, cols, kind,
                         value_args(vt, l, first_k, chips, inputs, W.dtype))
    else:
        d = tagged(vt, W, l, ptr, cells, tags, first_k, chips, inputs)
        K.stuck_synapses_live_cores(Zv, Yv, W, ptr, cells, dptr, dcells, grid, rows, cols, d)


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
    vt = plan.values
    if seg_tags is None and vt.kind[first_k] == CODES["zero"]:
        d = W.reshape(-1)[cells]
    else:
        seg_chips = chips[np.minimum(seg_ptr[:-1], max(chips.size - 1, 0))] if chips.size else seg_ptr[:-1] * 0
        d = tagged(vt, W, l, fptr, cells, seg_tags, first_k, seg_chips, np.zeros_like(seg_chips))
    if one and cache is not None:
        cache[("values", l)] = (int(chips[0]), d)
    return d
