"""Spiking mode on chip mappings: core faults, synapse-fault application, fault-site listing, ``simulate()``'s dispatch.

Core faults (DESIGN.md "Semantics": every neuron and synapse placed on the
core is stuck at 0) in spiking form: the core's neurons are dead (never fire,
never reset; a dead LI/I readout neuron holds 0) and every crossbar tile on
the core contributes no current, exactly as rate mode's
:func:`neurosim.kernels.apply.dead_core_tiles` removes it from the
pre-activation. Cores are drawn per (chip, inference) like any other site
(slot 0, ``mapping.n_cores`` sites); ``scope="tick"`` is not offered for
cores. Conv layers are refused (their shared-kernel cells are not tiled per
position here).
"""
from __future__ import annotations

import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..faults.spec import as_specs
from ..kernels import apply as K
from ..kernels import events as E
from ..kernels import spiking as SK
from .plan import DEFAULT_PRECISION, _core_tables


def split_target(target):
    """``(network, mapping or None)`` of a spiking simulation target."""
    if isinstance(target, ChipMapping):
        return target.qnet, target
    return target, None


def check_core_specs(specs, net, mapping):
    """Refuse core faults without a mapping, with ``scope="tick"``, or on conv layers (one line each)."""
    core = [s for s in specs if s.site == "core"]
    if not core:
        return
    if mapping is None:
        raise ConfigError("Core faults need a mapping: pass neurosim.map_network(net, profile) instead of the bare "
                          "network (--profile on the command line).")
    tick = [s.to_text() for s in core if s.scope == "tick"]
    if tick:
        raise ConfigError(f"Core faults are drawn per inference; drop scope=tick from {', '.join(tick)} "
                          "(per-tick faults exist for neurons, synapses and the router).")
    if any(la.op.kind != "dense" for la in net.layers):
        raise ConfigError("Core faults in spiking mode need dense layers only (conv kernels are not tiled per core "
                          "here); use neuron and synapse faults on this network, or simulate it in rate mode.")


class CoreFaults:
    """The dead cores of one block (CSR per row) and what they hold.

    ``neurons(l)``: per-row CSR of the layer-``l`` neurons on dead cores;
    ``remove_tiles(Z, src, l)``: subtract the current of layer ``l``'s tiles on
    dead cores; ``grid(l)``: the layer's tile -> core grid (for synapse faults
    on live cores only).
    """

    def __init__(self, mapping, ptr, cells):
        self.mapping, self.ptr, self.cells = mapping, ptr, cells
        (self.tile_ptr, self.neuron_ptr, self.neuron_layer, self.neuron_index), self.grids = _core_tables(mapping)

    def neurons(self, layer):
        nv = self.ptr.size - 1
        rows, out = [], []
        for r in range(nv):
            cores = self.cells[self.ptr[r]:self.ptr[r + 1]]
            if cores.size == 0:
                continue
            q = np.concatenate([np.arange(self.neuron_ptr[c], self.neuron_ptr[c + 1]) for c in cores])
            idx = np.sort(self.neuron_index[q[self.neuron_layer[q] == layer]])
            rows.append(np.full(idx.size, r, np.int64))
            out.append(idx)
        ptr = np.zeros(nv + 1, np.int64)
        if not out:
            return ptr, np.zeros(0, np.int64)
        rows = np.concatenate(rows)
        np.cumsum(np.bincount(rows, minlength=nv), out=ptr[1:])
        return ptr, np.ascontiguousarray(np.concatenate(out), dtype=np.int64)

    def remove_tiles(self, Z, src, W, layer):
        m = self.mapping
        K.dead_core_tiles(Z, src, W, self.ptr, self.cells, self.tile_ptr, m.tile_layer, m.tile_r0, m.tile_r1,
                          m.tile_c0, m.tile_c1, layer)

    def live_only(self, item, layer, n_in):
        """A per-row valued-synapse item ``(ptr, cells, tick, d, extra)`` without the cells on the row's dead cores."""
        ptr, cells, tick, d, extra = item
        nv = ptr.size - 1
        p = self.mapping.profile
        rows = np.repeat(np.arange(nv, dtype=np.int64), np.diff(ptr))
        i, j = cells // n_in, cells % n_in
        core = self.grids[layer - 1][i // p.crossbar_cols, j // p.crossbar_rows]
        n_cores = self.mapping.n_cores
        dead_keys = np.repeat(np.arange(nv, dtype=np.int64), np.diff(self.ptr)) * n_cores + self.cells
        keep = ~np.isin(rows * n_cores + core, dead_keys)
        new_ptr = np.zeros(nv + 1, np.int64)
        np.cumsum(np.bincount(rows[keep], minlength=nv), out=new_ptr[1:])
        return new_ptr, np.ascontiguousarray(cells[keep]), tick, np.ascontiguousarray(d[keep]), extra

    def stuck_live(self, Z, src, W, ptr, cells, layer):
        p = self.mapping.profile
        K.stuck_synapses_live_cores(Z, src, W, ptr, cells, self.ptr, self.cells, self.grids[layer - 1],
                                    p.crossbar_rows, p.crossbar_cols)


def core_fault_masks(mapping, cores):
    """Neuron and synapse masks of a set of dead cores: ``({layer: bool (n_l,)}, {layer: bool W_l.shape})``.

    What a reference simulator (Brian2) needs to replay a chip's core faults as
    dead neurons and missing synapses.
    """
    (tile_ptr, neuron_ptr, nl, ni), _ = _core_tables(mapping)
    net = mapping.qnet
    dead = {l: np.zeros(net.sizes[l], bool) for l in range(1, net.n_layers + 1)}
    syn = {l: np.zeros(W.shape, bool) for l, W in enumerate(net.weights, start=1)}
    for c in np.asarray(cores, dtype=np.int64):
        for q in range(neuron_ptr[c], neuron_ptr[c + 1]):
            dead[int(nl[q])][ni[q]] = True
        for t in range(tile_ptr[c], tile_ptr[c + 1]):
            syn[int(mapping.tile_layer[t])][mapping.tile_c0[t]:mapping.tile_c1[t], mapping.tile_r0[t]:mapping.tile_r1[t]] = True
    return dead, syn


def n_sites(net, mapping, spec, slot):
    """Sites of ``spec``'s kind in layer slot ``slot`` (cores: the mapping's core count)."""
    if spec.site == "core":
        return mapping.n_cores
    return net.neuron_sites(slot) if spec.site == "neuron" else net.synapse_sites(slot)


def union(a, b):
    """Per-row union of two CSR event lists (``None`` = empty)."""
    return b if a is None else E.union_events(a[0], a[1], b[0], b[1])


def spiking_fault_sites(target, faults, chip: int = 0, seed=None, encoding="current") -> list:
    """The sites :func:`simulate_spiking` makes faulty on chip ``chip`` for the permanent specs in ``faults``.

    One dict per spec (``{}`` for non-permanent specs): layer slot -> int64
    site indices (neurons; synapse ``i * n_in + j`` of a dense layer, or the
    stored-weight index of a conv kernel; core ids under slot 0 for core
    faults, see :func:`core_fault_masks`). Same ``seed`` as the simulation,
    so other simulators (the Brian2 reference) can replay them.
    """
    from .engine import _check_int
    from .spiking import _draw, _make_plan
    from ..spiking.network import check_spiking

    net, mapping = split_target(target)
    net = check_spiking(net)
    plan, _ = _make_plan(net, faults, seed, 1, 1, 1e-9, encoding, mapping)
    chips = np.array([_check_int("chip", chip, lo=0)], dtype=np.int64)
    out = []
    for k, s, key, layers in plan.specs:
        sites = {}
        if s.mode == "permanent":
            for slot in layers:
                sites[slot] = _draw(s, key, slot, n_sites(net, mapping, s, slot), chips, chips, 1)[1]
        out.append(sites)
    return out


def route(target, x, faults, mode, spiking_kw, precision=DEFAULT_PRECISION, devices=None, age=None, **kw):
    """``simulate()``'s dispatch: run spiking mode for spiking networks (or ``mode="spiking"``), else return None.

    In rate mode, spiking-only options (``ticks``, ``dt_s``...) and fault forms
    (router, saturated, drift, ``scope=tick``) are refused with one line. In
    spiking mode, device non-idealities (``devices``, ``age``) are refused with
    one line: the spiking engine models ideal devices only.
    """
    from ..spiking.network import is_spiking
    from .spiking import simulate_spiking

    if mode not in (None, "rate", "spiking"):
        raise ConfigError(f"'mode' must be 'rate' or 'spiking' (or None: from the network). Got {mode!r}.")
    net, _ = split_target(target)
    if mode == "spiking" or (mode is None and is_spiking(net)):
        if precision != "float64":
            raise ConfigError(f"Spiking mode runs in float64 only (spike times depend on exact thresholds). Got precision={precision!r}; drop it.")
        given = [f"{k}={v!r}" for k, v in (("devices", devices), ("age", age)) if v is not None and v is not False]
        if given:
            raise ConfigError(f"Device non-idealities ({', '.join(given)}; --devices/--age on the command line) are "
                              "modelled in rate mode only; the spiking engine runs ideal devices. Drop them, or "
                              "simulate the source rate network.")
        return simulate_spiking(target, x, faults, **kw, **spiking_kw)
    if spiking_kw:
        raise ConfigError(f"{', '.join(sorted(spiking_kw))} apply to spiking mode; this is a rate network "
                          "(convert it with neurosim.spiking.convert, or pass mode='spiking' with a spiking network).")
    bad = [s.to_text() for s in as_specs(faults) if s.spiking_only]
    if bad:
        raise ConfigError(f"Fault(s) {', '.join(bad)} exist in spiking mode only (router, saturated, drift, scope=tick); "
                          "use them on a spiking network.")
    return None


def _at(ptr, cells, tick, T, k):
    """A fault item's events at tick ``k`` (per-tick items sliced, per-row items as they are)."""
    return SK.tick_slice(ptr, cells, T, k) if tick else (ptr, cells)


def _zero_union(items, T, k):
    """The stuck-at-0 items of a layer at tick ``k``, as one per-row union when a per-tick spec joins others.

    A cell drawn by two stuck-at-0 specs (a permanent one and a per-tick one,
    or two per-tick ones) is removed once; per-row specs are already merged
    in :class:`_Faults`.
    """
    zero = [it for it in items if it[3] is None]
    if len(zero) < 2:
        return items
    merged = None
    for ptr, cells, tick, _, _ in zero:
        merged = union(merged, _at(ptr, cells, tick, T, k))
    return [it for it in items if it[3] is not None] + [merged + (False, None, None)]


def _synapse_faults(lay, Zl, src, items, T, k, core=None, l=0):
    for ptr, cells, tick, d, _ in _zero_union(items, T, k):
        p, c = _at(ptr, cells, tick, T, k)
        if d is not None:  # values: (v - w) y_j per faulty cell, d = w - v (neurosim.sim.values)
            K.stuck_synapses(Zl, src, lay.W, p, c, d)
        elif lay.shared is None:
            if core is None:
                K.stuck_synapses(Zl, src, lay.W, p, c)
            else:  # cells on a dead core are removed with their tile
                core.stuck_live(Zl, src, lay.W, p, c, l)
        else:
            SK.stuck_shared(Zl, src, lay.W, p, c, *lay.shared)
    if core is not None:
        core.remove_tiles(Zl, src, lay.W, l)
