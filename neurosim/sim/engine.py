"""Orchestration of faulty inference: ``simulate()``.

Rows of work are (chip, input) pairs in chip-major order. A clean pass over
the inputs fills the clean caches (with one chip it runs block by block inside
the faulty pass instead: :func:`_run_rows`); the faulty pass processes rows in
blocks (:mod:`neurosim.sim.blocks`): the dense part of a layer is one BLAS
product per window of ``ROW_BLOCK`` rows (zero-padded, BLAS single-threaded,
input ``i`` at row ``i % ROW_BLOCK``), skipped for rows that can reuse the
clean caches; the few faults are applied as sparse corrections by the numba
kernels in :mod:`neurosim.kernels`. Because every product has the same shape
and every row the same position, and every random stream is keyed by (fault
spec, layer, chip, input), a row's result is bit-identical for any thread
count and any chunking of the work. The per-call plan lives in
:mod:`neurosim.sim.plan`; docs/engine.md describes the fast paths.
"""
from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

from ..errors import ConfigError
from ..kernels import activations as A
from ..kernels import apply as K
from ..kernels import conv as KC
from ..kernels import events as E
from ..kernels import values as KV
from ..kernels.rng import inv_rate
from . import conv as CV
from .blocks import ROW_BLOCK, _activate, _blocks, _clean_rows, _clean_window, _dense_clean, _padded
from .blocks import _product, _span_windows, _spans, _window_input
from ._threads import single_threaded_blas, thread_map
from .result import SimResult
from .plan import DEFAULT_PRECISION, Plan, chip_events, events as _events, make_plan, salt as _salt
from .plan import simulation_network, spec_keys  # noqa: F401  (public spellings kept here)
from . import values as VT
from .values import neuron_value, saturation_levels

CLEAN_CACHE_BYTES = 512 * 2**20  # clean pre-activations and activations of all inputs are kept up to this size
MASK_FRACTION = 1 / 16  # a chip with at least this fraction of a matrix's synapses stuck uses a masked copy


def _check_int(name, v, lo=1):
    from .._validate import integer  # the shared checker (neurosim/_validate.py)

    return integer(v, name, lo)


def _shared_synapse_specs(active, l, conv=False):
    """The synapse specs of layer ``l`` if they can be applied once per chip (all permanent, one group), else None.

    Conv layers always take the per-row path (their cells are kernel weights, see :mod:`neurosim.kernels.conv`).
    """
    if conv:
        return None
    syn = [(k, s, key) for (k, s, key, layers) in active if s.site == "synapse" and l in layers]
    if not syn or any(s.site == "core" for (_, s, _, _) in active):
        return None
    if all(s.mode == "permanent" for _, s, _ in syn) and len({s.group for _, s, _ in syn}) == 1:
        return syn
    return None


def _run_block(plan: Plan, x, chips, inputs, events_out, zcache=None, zstore=None, masked=None,
               ycache=None, ystore=None, cache_row0=0):
    """Faulty forward pass of one block; returns outputs (nv, n_out).

    The rows are consecutive inputs of one chip inside one aligned window of
    :data:`ROW_BLOCK` inputs; input ``i`` always sits at row ``i % ROW_BLOCK``
    of the fixed-shape BLAS product (see :func:`_blocks`).

    ``zcache[l-1]`` (optional) holds the clean pre-activations ``z_l`` of every
    input (input ``i`` at row ``i - cache_row0``: the block's own window in the
    fused one-chip pass, see :func:`_run_rows`). A row whose layer input is still clean, or clean except for a few
    stuck neurons, takes its pre-activations from the cache (minus the stuck
    neurons' contributions: a rank-k correction) instead of from the matrix
    product; only rows whose input differs densely from the clean one need the
    product. The choice is made per row, so results do not depend on how rows
    are grouped in blocks. ``ycache[l-1]`` (optional, with ``zcache``) holds the
    clean activations ``y_l``: a row whose ``z_l`` is exactly the clean one
    (no fault so far, none in this matrix) takes ``y_l`` from it and skips the
    activation, so the faulty pass of a row with a few stuck neurons costs the
    rank-k correction, the activations of the layers after it and the products
    of the layers after those. ``zstore``/``ystore`` (optional) receive this
    block's pre-activations and activations (clean pass). ``masked`` (a dict,
    per task) keeps the last masked weight copy per layer for chips with dense
    permanent synapse faults.
    """
    net, Wt = plan.net, plan.weights
    nv = chips.size
    L = net.n_layers
    p0 = int(inputs[0]) % ROW_BLOCK
    rows = slice(p0, p0 + nv)
    active = [(k, s, key, layers) for (k, s, key, layers) in plan.specs if s.rate > 0.0]
    i0 = int(inputs[0])  # the rows hold consecutive inputs (see _blocks)
    span = _padded(p0 + nv)  # rows of the block's windows
    if plan.hooks is None and not any(s.site == "core" or (s.site == "neuron" and 0 in layers)
                                      for (_, s, _, layers) in active):
        Y = _window_input(x, i0, i0 + nv, plan.n_inputs)  # nothing writes the inputs: a view of x
    else:
        Y = np.zeros((span, net.n_in), dtype=plan.dtype)
        Y[rows] = x[i0:i0 + nv]
    dense = np.zeros(nv, dtype=np.bool_)  # row input differs densely from the clean one

    def record(k, slot, counts):
        if events_out is not None:
            events_out.append((k, slot, counts))

    dead = None
    core_specs = [(k, s, key) for (k, s, key, _) in active if s.site == "core"]
    if core_specs:
        n_cores = plan.mapping.n_cores
        for k, s, key in core_specs:
            ptr, cells = _events(s, key, 0, n_cores, chips, inputs)
            record(k, 0, np.diff(ptr))
            dead = (ptr, cells) if dead is None else E.union_events(dead[0], dead[1], ptr, cells)
        if dead[1].size == 0:
            dead = None
        else:
            dense |= np.diff(dead[0]) > 0

    def neuron_faults(Yv, layer):
        """Zero stuck neurons; return [(ptr, cells, old values)] and the rows hit."""
        stuck, hit = [], np.zeros(nv, dtype=np.bool_)
        if layer > 0 and plan.tables and isinstance(plan.tables[layer - 1], CV.Wiring):
            return stuck, hit  # pooling/flatten/scale: no neurons of their own
        for k, s, key, layers in active:
            if s.site == "neuron" and layer in layers:
                ptr, cells = _events(s, key, layer, Yv.shape[1], chips, inputs)
                record(k, layer, np.diff(ptr))
                if cells.size:
                    v = neuron_value(plan.values, k, layer, plan.sat)
                    stuck.append((ptr, cells, KV.set_neurons_recorded(Yv, ptr, cells, v)))
                    hit |= np.diff(ptr) > 0
        if dead is not None and layer > 0:
            tp, npt, nl, ni = plan.core_data
            K.dead_core_neurons(Yv, dead[0], dead[1], npt, nl, ni, layer)
        return stuck, hit

    stuck, hit = neuron_faults(Y[rows], 0)
    for l in range(1, L + 1):
        W, b = Wt.W[l - 1], Wt.b[l - 1]
        t = plan.tables[l - 1] if plan.tables else None
        if isinstance(t, CV.Wiring):  # exact from the (faulty) previous layer, no faults of its own
            Z = t.apply(Y)
            if zstore is not None:
                zstore[l - 1][:] = Z[rows]
            if ystore is not None:
                ystore[l - 1][:] = Z[rows]
            dense |= hit
            Y = Z
            stuck, hit = [], np.zeros(nv, dtype=np.bool_)
            continue
        conv = t is not None
        n_syn = t.n_cells if conv else W.size
        if plan.hooks is not None:
            plan.hooks.layer_input(l, Y[rows])
        shared = _shared_synapse_specs(active, l, conv)
        seg = None
        vt = plan.values
        if shared is not None:  # permanent synapse faults: one fault list per chip segment
            seg_tags, k0 = None, shared[0][0]
            for k, s, key in shared:
                sp, fp, cells = chip_events(s, key, l, W.size, chips)
                record(k, l, np.repeat(np.diff(fp), np.diff(sp)))
                if seg is not None and vt.valued:  # tagged merge: the later spec decides a cell's value
                    fpm, cm, seg_tags = VT.add_synapse_events(vt, (seg[1], seg[2], seg_tags), fp, cells, k, k0)
                    seg = (sp, fpm, cm)
                else:
                    seg = (sp, fp, cells) if seg is None else (sp, *E.union_events(seg[1], seg[2], fp, cells))
            per_seg = np.diff(seg[1])
            seg_d = VT.segment_values(plan, W, l, seg, seg_tags, k0, chips, masked) if vt.valued and not conv else None
        if zcache is None or dense.any():
            if conv:  # im2col + one GEMM over the fixed-shape block
                Z = CV.conv_product(Y, t, b)
            else:
                Z = _product(Y, W)
                Z += b
        else:
            Z = np.zeros((span, net.sizes[l]), dtype=plan.dtype)
        Zv, Yv = Z[rows], Y[rows]
        was_light = ~dense
        if zcache is not None:
            light = np.flatnonzero(was_light)
            zc = zcache[l - 1][i0 - cache_row0:i0 - cache_row0 + nv]  # the block's clean rows
            if light.size == nv:
                Zv[:] = zc
            elif light.size:
                Zv[light] = zc[light]
            if light.size:
                for ptr, cells, old in stuck:
                    if conv:
                        KC.conv_remove_inputs(Zv, t.Wm, t.P, t.inv_ptr, t.inv_p, t.inv_k, ptr, cells, old, light)
                    else:
                        K.remove_inputs(Zv, Wt.WT(l - 1), ptr, cells, old, light)
        if zstore is not None:
            zstore[l - 1][:] = Zv
        dense |= hit
        if seg is not None:  # layer l's own synapse faults: its input stays clean, its output does not
            dense |= np.repeat(per_seg > 0, np.diff(seg[0]))
            skip = per_seg >= MASK_FRACTION * W.size
            for q in np.flatnonzero(skip):  # dense fault set: product with the chip's masked weights
                r0, r1 = seg[0][q], seg[0][q + 1]
                ck = int(chips[r0])
                if masked.get(l, (None,))[0] != ck:
                    Wm = W.copy()
                    e0, e1 = seg[1][q], seg[1][q + 1]
                    Wm.reshape(-1)[seg[2][e0:e1]] = 0.0 if seg_d is None else W.reshape(-1)[seg[2][e0:e1]] - seg_d[e0:e1]
                    masked[l] = (ck, Wm)
                Zm = _product(Y, masked[l][1])
                Zm += b
                Zv[r0:r1] = Zm[rows][r0:r1]
            K.stuck_synapses_shared(Zv, Yv, W, seg[0], seg[1], seg[2], skip, seg_d)  # seg_d None: stuck-at-0
        else:
            syn = None
            n_vs = k_syn = 0  # synapse specs folded so far, the first one's index
            for k, s, key, layers in active:
                if s.site == "synapse" and l in layers:
                    ptr, cells = _events(s, key, l, n_syn, chips, inputs)
                    record(k, l, np.diff(ptr))
                    dense |= np.diff(ptr) > 0
                    n_vs += 1
                    k_syn = k if n_vs == 1 else k_syn
                    if vt.valued:  # tagged merge: the later spec decides a cell's value
                        syn = VT.add_synapse_events(vt, syn, ptr, cells, k, k_syn)
                    else:
                        syn = (ptr, cells) if syn is None else E.union_events(syn[0], syn[1], ptr, cells)
            if dead is not None:
                tp, npt, nl, ni = plan.core_data
                m = plan.mapping
                if conv:  # kernel tiles on dead cores, for every position they serve
                    KC.conv_dead_core_tiles(Zv, Yv, t.Wm, t.idx, dead[0], dead[1], tp, m.tile_layer, m.tile_r0,
                                            m.tile_r1, m.tile_c0, m.tile_c1, m.tile_pos, l)
                    if syn is not None:
                        KC.conv_stuck_synapses_live_cores(Zv, Yv, t.Wm, t.idx, syn[0], syn[1], dead[0], dead[1],
                                                          t.cell_core, t.replicated)
                else:
                    K.dead_core_tiles(Zv, Yv, W, dead[0], dead[1], tp, m.tile_layer, m.tile_r0, m.tile_r1,
                                      m.tile_c0, m.tile_c1, l)
                    if syn is not None and vt.valued:
                        VT.apply_row_values(plan, Zv, Yv, W, l, syn, n_vs, k_syn, chips, inputs, dead)
                    elif syn is not None:
                        p = m.profile
                        K.stuck_synapses_live_cores(Zv, Yv, W, syn[0], syn[1], dead[0], dead[1],
                                                    plan.tile_grids[l - 1], p.crossbar_rows, p.crossbar_cols)
            elif syn is not None:
                if conv:
                    stuck_fn = KC.conv_stuck_synapses_replicated if t.replicated else KC.conv_stuck_synapses
                    stuck_fn(Zv, Yv, t.Wm, t.idx, syn[0], syn[1])
                elif vt.valued:
                    VT.apply_row_values(plan, Zv, Yv, W, l, syn, n_vs, k_syn, chips, inputs, None)
                else:
                    K.stuck_synapses(Zv, Yv, W, syn[0], syn[1])
        if plan.hooks is not None:
            plan.hooks.layer_output(l, Zv, Yv, chips, inputs)
        pristine = was_light & ~dense if ycache is not None else None  # z_l exactly clean
        if pristine is not None and pristine.any():
            yc = ycache[l - 1][i0 - cache_row0:i0 - cache_row0 + nv]
            if net.activations[l - 1] == "sigmoid" and Zv.dtype == np.float64:
                A.sigmoid_or_copy_rows(Zv, yc, pristine)  # one pass, no gather/scatter of the rows
            else:
                fresh = np.flatnonzero(~pristine)
                if fresh.size:
                    Zf = Zv[fresh]
                    _activate(net.activations[l - 1], Zf)
                    Zv[fresh] = Zf
                Zv[pristine] = yc[pristine]
        else:
            _activate(net.activations[l - 1], Zv)
        if ystore is not None:
            ystore[l - 1][:] = Zv
        Y = Z
        stuck, hit = neuron_faults(Y[rows], l)
    return Y[rows]


def _run_rows(plan, x, start, stop, want_events, zcache=None, zstore=None, ycache=None, ystore=None, clean=None):
    """Rows ``start..stop`` (global, chip-major) -> outputs and per-row event records.

    ``zstore``/``ystore`` (clean pass): the clean caches, ``zcache``/``ycache``
    (faulty pass): the same, read (see :func:`_run_block`). ``clean`` (fused
    pass, one chip, dense layers): each block first runs its own clean window
    (:func:`_clean_window`) into the task's scratch caches and writes its clean
    outputs to ``clean``; the faulty block then reads those caches. Same
    products on the same rows as the separate clean pass, so the same bits,
    without the clean caches of all inputs (their memory traffic and page faults).
    """
    if not plan.specs and zcache is None and _dense_clean(plan):
        return _clean_rows(plan, x, start, stop, zstore, ystore)
    B = plan.n_inputs
    g = np.arange(start, stop, dtype=np.int64)
    chips_all, inputs_all = g // B, g % B
    out = np.empty((stop - start, plan.net.n_out), dtype=plan.dtype)
    records = []
    masked = {}
    row0 = 0
    if clean is not None:
        cp = plan.clean()
        zb, yb = ([np.empty((_span_windows(plan, stop - start) * ROW_BLOCK, n), dtype=plan.dtype)
                   for n in plan.net.sizes[1:]] for _ in "zy")
    spans = _spans(start, stop, B, _span_windows(plan, stop - start)) if _dense_clean(plan) else _blocks(start, stop, B)
    for b0, b1 in spans:
        if clean is not None:
            i0, i1 = int(inputs_all[b0]), int(inputs_all[b1 - 1]) + 1
            row0 = i0 - i0 % ROW_BLOCK
            Y0 = _window_input(x, i0, i1, B)
            zcache, ycache = [z[:Y0.shape[0]] for z in zb], [y[:Y0.shape[0]] for y in yb]
            clean[i0:i1] = _clean_window(cp, Y0, zcache, ycache)[i0 - row0:i1 - row0]
        ev = [] if want_events else None
        zs = None if zstore is None else [z[start + b0:start + b1] for z in zstore]
        ys = None if ystore is None else [y[start + b0:start + b1] for y in ystore]
        out[b0:b1] = _run_block(plan, x, chips_all[b0:b1], inputs_all[b0:b1], ev, zcache, zs, masked, ycache, ys, row0)
        if want_events:
            records.append((chips_all[b0:b1], ev))
    return out, records


def _check_finite_clean(clean):
    """Refuse a network whose fault-free outputs overflow (e.g. weights of 1e300): every Δ would be NaN."""
    bad = ~np.isfinite(clean)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ConfigError(
            f"The network's fault-free outputs are not finite (inf or NaN) on {rows.size} of {clean.shape[0]} inputs "
            f"(first: input {rows[0]}); its weights or inputs overflow float64 — rescale them (Δ would be NaN)."
        )


SMALL_NET_SYNAPSES = 100_000  # below this, per-block work is too small for threads to pay off


def _work_synapses(net) -> int:
    """Multiply-adds per inference (a conv kernel weight counts once per position it serves)."""
    return int(sum(la.op.n_weights * (net.sizes[l] // la.op.weight.shape[0] if la.op.kind == "conv2d" else 1)
                   for l, la in enumerate(net.layers, start=1)))


def _resolve_threads(threads, n_synapses: int):
    """Default: one thread for small networks (GIL hand-offs dominate), else the CPUs (at most 8)."""
    if threads is None:
        return 1 if n_synapses < SMALL_NET_SYNAPSES else max(1, min(os.cpu_count() or 1, 8))
    return _check_int("threads", threads)


def permanent_fault_sites(target, faults, chip: int = 0, seed=None) -> list:
    """The sites the engine makes faulty on chip ``chip`` for the permanent specs among ``faults``.

    Returns one dict per spec (``{}`` for non-permanent specs) mapping a layer
    slot to an int64 array of faulty site indices: neuron indices for neuron
    specs, ``i * n_in + j`` for synapse ``W_l[i, j]`` (conv layers: kernel cell
    ``co*K + k``, or ``(p*c_out + co)*K + k`` for replicated kernels; see
    :mod:`neurosim.kernels.conv`), core ids (slot 0) for
    core specs. Same ``seed`` as :func:`simulate` gives exactly its faults, so
    other simulators (e.g. the Brian2 reference) can replay them.
    """
    plan, _ = make_plan(target, faults, seed, 1)
    chips = np.array([_check_int("chip", chip, lo=0)], dtype=np.int64)
    out = []
    for k, s, key, layers in plan.specs:
        sites = {}
        if s.mode == "permanent":
            slots = [0] if s.site == "core" else list(layers)
            for slot in slots:
                if plan.n_sites(s, slot) == 0:
                    continue
                _, cells = _events(s, key, slot, plan.n_sites(s, slot), chips, chips)
                sites[slot] = cells
        out.append(sites)
    return out


def _ranges(total: int, chunk_rows: int | None, threads: int):
    """Split ``range(total)`` into tasks; by default about 4 per thread, 1-32 blocks each."""
    if chunk_rows is None:
        blocks = math.ceil(total / ROW_BLOCK)
        chunk_rows = ROW_BLOCK * min(32, max(1, math.ceil(blocks / (4 * threads))))
    return [(s, min(s + chunk_rows, total)) for s in range(0, total, chunk_rows)]


def simulate(target, x, faults, n_chips: int = 1, seed=None, threads=None, chunk_rows: int | None = None,
             progress=None, labels=None, precision: str = DEFAULT_PRECISION, first_chip: int = 0, devices=None,
             age=None, _hooks=None, mode=None, **spiking) -> SimResult:
    """Run ``n_chips`` faulty chip instances on inputs ``x``.

    Parameters
    ----------
    target : Network or ChipMapping
        A bare network (float weights; neuron and synapse faults) or a mapping
        from :func:`neurosim.map_network` (quantised weights; core faults too).
    x : array (n_inputs, n_in)
        Inputs, presented to every chip in this order (intermittent faults
        evolve along it).
    faults : FaultSpec, spec string, or a list of them
    n_chips : int
        Independent chip instances (own permanent/intermittent draws).
    seed : int or None
        Same seed, same result bit for bit (for any ``threads`` and ``chunk_rows``).
    threads : int or None
        Worker threads (default: CPU count, at most 8; 1 for networks under
        100,000 synapses, where threads do not pay off). Never changes results.
    chunk_rows : int or None
        Rows (chip, input pairs) per task (default: about 4 tasks per thread);
        does not change results.
    progress : callable or None
        Called with the number of rows finished after each task.
    labels : array (n_inputs,) or None
        Class labels, kept in the result.
    precision : {"float64", "float32"}
        Arithmetic of the whole run (weights, activations, Δ). Default
        ``"float64"``: Δ of rare faults is a small difference of two large
        outputs, which float32 resolves only to ~1e-7 of the output scale.
        The fault draws do not depend on it.
    first_chip : int
        Index of the first chip instance: ``simulate(..., n_chips=m, first_chip=c)``
        gives exactly chips ``c..c+m-1`` of a larger run with the same seed
        (streamed runs simulate chunks of chips this way, see :mod:`neurosim.sim.stream`).
    devices : None, True, dict or DeviceModel
        Device non-idealities (:mod:`neurosim.chip.devices`): None = ideal
        devices (default); True = the mapping's profile ``[device]`` table.
        Δ is then measured against the intended chip (ideal devices, with
        ADC/DAC); see :mod:`neurosim.sim.devices`.
    age : seconds or a duration like "1y"
        Deployment age for conductance drift (needs ``devices`` with drift).
    mode, **spiking : None, "rate" or "spiking"; spiking options
        Networks with spiking neurons (or ``mode="spiking"``) run in spiking
        mode, :func:`neurosim.sim.spiking.simulate_spiking` (``ticks``,
        ``dt_s``, ``encoding``, ``delay_ticks``, ``spike_counts``, ``spike_trains``).

    Returns
    -------
    SimResult
        ``delta`` and ``clean`` in the chosen precision.
    """
    from .spiking import route  # spiking networks (mode="spiking", ticks=, dt_s=...): neurosim.sim.spiking
    routed = route(target, x, faults, mode, spiking, n_chips=n_chips, seed=seed, threads=threads,
                   chunk_rows=chunk_rows, progress=progress, labels=labels, precision=precision,
                   devices=devices, age=age, **({"first_chip": first_chip} if first_chip else {}))
    if routed is not None:
        return routed
    n_chips = _check_int("n_chips", n_chips)
    first_chip = _check_int("first_chip", first_chip, lo=0)
    from .devices import route_devices  # devices=/age=: chip by chip with device effects (None: ideal devices)
    routed = route_devices(simulate, target, x, faults, n_chips, seed, devices, age, threads=threads,
                           chunk_rows=chunk_rows, progress=progress, labels=labels, precision=precision,
                           first_chip=first_chip)
    if routed is not None:
        return routed
    if chunk_rows is not None:
        chunk_rows = _check_int("chunk_rows", chunk_rows)
    net0 = simulation_network(target)
    threads = _resolve_threads(threads, _work_synapses(net0))
    x = net0.check_inputs(x)
    B = x.shape[0]
    if B == 0:
        raise ConfigError("'x' must hold at least one input row. Got 0.")
    plan, entropy = make_plan(target, faults, seed, B, precision)
    if _hooks is not None:
        plan = dataclasses.replace(plan, hooks=_hooks)
    dt = plan.dtype
    if n_chips > 1 or x.dtype != dt:  # padded to whole windows (_window_input): a cast copies anyway, and with
        xp = np.empty((_padded(B), x.shape[1]), dtype=dt)  # many chips it saves a copy of the inputs per chip
        xp[:B] = x
        xp[B:] = 0.0
        x = xp
    else:
        x = np.ascontiguousarray(x)
    x_inputs = x[:B]
    S, L = len(plan.specs), plan.net.n_layers
    clean_plan = plan.clean()
    if _hooks is not None:
        clean_plan = dataclasses.replace(clean_plan, hooks=_hooks.without_noise())
    total = n_chips * B
    from .._resources import check_memory, simulate_bytes

    check_memory(simulate_bytes(plan.net.sizes, B, n_chips, S), f"simulate() of {n_chips} chips x {B} inputs",
                 "use fewer chips, or neurosim.sim.stream.simulate_stream to process the chips in chunks")
    r0 = first_chip * B  # global index of this call's first row
    any_fault = any(s.rate > 0.0 for _, s, _, _ in plan.specs) or (_hooks is not None and _hooks.noise)
    events = np.zeros((n_chips, S, L + 1), dtype=np.int64)
    cache_bytes = 2 * B * sum(plan.net.sizes[1:]) * dt.itemsize
    fused = n_chips == 1 and any_fault and not plan.values.saturated and _hooks is None and _dense_clean(clean_plan)
    use_cache = (any_fault or plan.values.saturated) and cache_bytes <= CLEAN_CACHE_BYTES and not fused
    zcache = [np.empty((_padded(B), n), dtype=dt) for n in plan.net.sizes[1:]] if use_cache else None
    ycache = [np.empty((_padded(B), n), dtype=dt) for n in plan.net.sizes[1:]] if use_cache else None
    clean = np.empty((B, plan.net.n_out), dtype=dt)

    def clean_task(b):
        clean[b[0]:b[1]] = _run_rows(clean_plan, x, b[0], b[1], False, zstore=zcache, ystore=ycache)[0]

    with single_threaded_blas():
        if not fused:
            list(thread_map(threads, clean_task, _ranges(B, None, threads)))  # whole windows (any chunking: same bits)
            _check_finite_clean(clean)
        if use_cache:  # the inputs' rows (the padding rows of the last window stay out of sight)
            zcache, ycache = [z[:B] for z in zcache], [y[:B] for y in ycache]
        if plan.values.saturated:
            plan = dataclasses.replace(plan, sat=saturation_levels(plan.net, x_inputs, zcache, ycache=ycache))
        light_z = (zcache, ycache) if _hooks is None else (None, None)  # devices: no light path
        if not any_fault:  # every row is the clean one: Δ = 0 exactly, no faulty pass
            delta = np.zeros((n_chips, B, plan.net.n_out), dtype=dt)
            if progress is not None:
                progress(total)
        else:
            delta = np.empty((n_chips, B, plan.net.n_out), dtype=dt)
            flat = delta.reshape(total, -1)

            def task(b):
                out, recs = _run_rows(plan, x, b[0], b[1], True, zcache=light_z[0], ycache=light_z[1],
                                      clean=clean if fused else None)
                return b, out, recs

            def consume(item):
                (s0, s1), out, recs = item
                flat[s0 - r0:s1 - r0] = out
                for chips, ev in recs:
                    c0 = chips[0] - first_chip
                    for k, slot, counts in ev:
                        per_chip = np.bincount(chips - chips[0], weights=counts)
                        events[c0:c0 + per_chip.size, k, slot] += per_chip.astype(np.int64)
                if progress is not None:
                    progress(s1 - s0)

            for item in thread_map(threads, task, [(a + r0, b + r0) for a, b in _ranges(total, chunk_rows, threads)]):
                consume(item)
            if fused:
                _check_finite_clean(clean)
            delta -= clean[None]
    counts = events.copy()
    chips = np.arange(first_chip, first_chip + n_chips, dtype=np.int64)
    for k, s, key, layers in plan.specs:
        if s.mode == "transient" or s.rate == 0.0:
            continue
        for slot in ([0] if s.site == "core" else list(layers)):
            if plan.n_sites(s, slot) == 0:
                continue  # wiring layers
            counts[:, k, slot] = E.chip_site_counts(chips // s.group, key, _salt(s.site, slot),
                                                    plan.n_sites(s, slot), inv_rate(s.rate))
    config = {
        "faults": [s.to_dict() for _, s, _, _ in plan.specs],
        "n_chips": n_chips, "n_inputs": B, "seed": entropy, "precision": dt.name,
        **({"first_chip": first_chip} if first_chip else {}),
        "target": "mapping" if plan.mapping is not None else "network",
        "profile": plan.mapping.profile.name if plan.mapping is not None else None,
        "network": {"name": plan.net.name, "sizes": list(plan.net.sizes)},
    }
    return SimResult(delta=delta, clean=clean, faults=tuple(s for _, s, _, _ in plan.specs),
                     fault_counts=counts, fault_events=events, seed=entropy,
                     labels=None if labels is None else np.asarray(labels), config=config)
