"""Orchestration of faulty inference: ``simulate()``.

Rows of work are (chip, input) pairs in chip-major order. Rows are processed in
blocks of :data:`ROW_BLOCK`: the clean dense part of every layer is one BLAS
matrix product over the block (always exactly ``ROW_BLOCK`` rows, zero-padded,
with BLAS single-threaded), then the few faults are applied as sparse
corrections by the numba kernels in :mod:`neurosim.kernels`. Because the BLAS
call always has the same shape and every random stream is keyed by (fault spec,
layer, chip, input), a row's result is bit-identical for any thread count and
any chunking of the work.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..faults.spec import as_specs
from ..kernels import apply as K
from ..kernels import events as E
from ..kernels.rng import inv_rate
from ..network import Network, activate

ROW_BLOCK = 128
CLEAN_CACHE_BYTES = 512 * 2**20  # clean pre-activations of all inputs are kept up to this size
_SITE_CODE = {"neuron": 1, "synapse": 2, "core": 3}


@dataclass(eq=False)
class SimResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    delta : ndarray (n_chips, n_inputs, n_out)
        ``y_faulty - y_clean``, both on the same (mapped, quantised) network.
    clean : ndarray (n_inputs, n_out)
        Fault-free outputs.
    faults : tuple of FaultSpec
    fault_counts : ndarray (n_chips, n_specs, n_layers + 1) int64
        Faults injected per chip, spec and layer slot: distinct faulty sites for
        permanent faults, weak sites for intermittent ones, (site, inference)
        events for transient ones. Slot ``l`` is neuron layer ``l`` or synapse
        matrix ``l``; core faults use slot 0.
    fault_events : ndarray, same shape
        (site, inference) pairs that were in the faulty state.
    seed : int
        The entropy every random stream derives from (re-run with it).
    labels : ndarray (n_inputs,) or None
    """

    delta: np.ndarray
    clean: np.ndarray
    faults: tuple
    fault_counts: np.ndarray
    fault_events: np.ndarray
    seed: int
    labels: np.ndarray | None = None
    config: dict = field(default_factory=dict)

    @property
    def n_chips(self) -> int:
        return self.delta.shape[0]

    @property
    def faulty(self) -> np.ndarray:
        """Faulty outputs ``clean + delta``."""
        return self.clean[None] + self.delta

    @property
    def flips(self) -> np.ndarray | None:
        """``(n_chips, n_inputs)`` bool: argmax of the faulty output differs from the clean one."""
        if self.delta.shape[2] < 2:
            return None
        return np.argmax(self.faulty, axis=2) != np.argmax(self.clean, axis=1)[None]

    def linf(self) -> np.ndarray:
        """``||Δ||_∞`` per (chip, input)."""
        return np.max(np.abs(self.delta), axis=2)


@dataclass(frozen=True)
class _Plan:
    net: Network
    WT: tuple
    mapping: ChipMapping | None
    core_data: tuple | None  # tile_ptr, neuron_ptr, neuron_layer, neuron_index
    tile_grids: tuple | None  # per layer (n_cb, n_rb) core grid
    specs: tuple  # (k, spec, key, layers)
    n_inputs: int


def simulation_network(target) -> Network:
    """The network the engine runs for ``target``: a mapping's quantised network, or the network itself."""
    if isinstance(target, ChipMapping):
        return target.qnet
    if isinstance(target, Network):
        return target
    raise ConfigError(f"simulate() needs a neurosim.Network or ChipMapping. Got {type(target).__name__}.")


def _check_int(name, v, lo=1):
    from .._validate import integer  # the shared checker (neurosim/_validate.py)

    return integer(v, name, lo)


def spec_keys(entropy: int, n: int) -> list:
    """One 64-bit stream key per fault spec, from ``SeedSequence(entropy).spawn``-style keys."""
    return [np.random.SeedSequence(entropy, spawn_key=(k,)).generate_state(1, np.uint64)[0] for k in range(n)]


def _make_plan(target, faults, seed, n_inputs):
    if isinstance(target, ChipMapping):
        mapping, net = target, target.qnet
    elif isinstance(target, Network):
        mapping, net = None, target
    else:
        raise ConfigError(f"simulate() needs a neurosim.Network or ChipMapping. Got {type(target).__name__}.")
    specs = as_specs(faults)
    if any(s.site == "core" for s in specs) and mapping is None:
        raise ConfigError(
            "Core faults need a mapping: pass neurosim.map_network(net, profile) instead of the bare network (--profile on the command line)."
        )
    if seed is None:
        entropy = int(np.random.SeedSequence().entropy)
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"'seed' must be a non-negative integer or None. Got {seed!r}.")
        entropy = int(seed)
    keys = spec_keys(entropy, len(specs))
    resolved = tuple((k, s, keys[k], s.resolve_layers(net.n_layers)) for k, s in enumerate(specs))
    core_data = tile_grids = None
    if mapping is not None:
        core_data = mapping.core_contents()
        grids = []
        p = mapping.profile
        for l, W in enumerate(net.weights, start=1):
            idx = np.flatnonzero(mapping.tile_layer == l)
            n_cb, n_rb = math.ceil(W.shape[0] / p.crossbar_cols), math.ceil(W.shape[1] / p.crossbar_rows)
            grids.append(np.ascontiguousarray(mapping.tile_core[idx].reshape(n_cb, n_rb)))
        tile_grids = tuple(grids)
    WT = tuple(np.ascontiguousarray(W.T) for W in net.weights)
    return _Plan(net, WT, mapping, core_data, tile_grids, resolved, n_inputs), entropy


def _salt(site: str, layer: int) -> int:
    return _SITE_CODE[site] * 4096 + layer


def _events(spec, key, site_layer, n_sites, chips, inputs):
    salt = _salt(spec.site, site_layer)
    sc = inv_rate(spec.rate)
    if spec.mode == "transient":
        return E.transient_events(chips, inputs, key, salt, n_sites, sc)
    if spec.mode == "permanent":
        return E.permanent_events(chips // spec.group, key, salt, n_sites, sc)
    return E.intermittent_events(chips, inputs, key, salt, n_sites, sc, inv_rate(spec.p_on),
                                 inv_rate(spec.p_off), spec.duty)


def _run_block(plan: _Plan, x, chips, inputs, events_out, zcache=None, zstore=None):
    """Faulty forward pass of one block (<= ROW_BLOCK rows); returns outputs (nv, n_out).

    ``zcache[l-1]`` (optional) holds the clean pre-activations ``z_l`` of every
    input. A row whose layer input is still clean, or clean except for a few
    stuck neurons, takes its pre-activations from the cache (minus the stuck
    neurons' contributions) instead of from the matrix product; only rows whose
    input differs densely from the clean one need the product. The choice is
    made per row, so results do not depend on how rows are grouped in blocks.
    ``zstore`` (optional) receives this block's pre-activations (clean pass).
    """
    net = plan.net
    nv = chips.size
    L = net.n_layers
    Y = np.zeros((ROW_BLOCK, net.n_in))
    Y[:nv] = x[inputs]
    active = [(k, s, key, layers) for (k, s, key, layers) in plan.specs if s.rate > 0.0]
    dense = np.zeros(nv, dtype=np.bool_)  # row input differs densely from the clean one

    def record(k, slot, ptr):
        if events_out is not None:
            events_out.append((k, slot, np.diff(ptr)))

    dead = None
    core_specs = [(k, s, key) for (k, s, key, _) in active if s.site == "core"]
    if core_specs:
        n_cores = plan.mapping.n_cores
        for k, s, key in core_specs:
            ptr, cells = _events(s, key, 0, n_cores, chips, inputs)
            record(k, 0, ptr)
            dead = (ptr, cells) if dead is None else E.union_events(dead[0], dead[1], ptr, cells)
        if dead[1].size == 0:
            dead = None
        else:
            dense |= np.diff(dead[0]) > 0

    def neuron_faults(Yv, layer):
        """Zero stuck neurons; return [(ptr, cells, old values)] and the rows hit."""
        stuck, hit = [], np.zeros(nv, dtype=np.bool_)
        for k, s, key, layers in active:
            if s.site == "neuron" and layer in layers:
                ptr, cells = _events(s, key, layer, Yv.shape[1], chips, inputs)
                record(k, layer, ptr)
                stuck.append((ptr, cells, K.stuck_neurons_recorded(Yv, ptr, cells)))
                hit |= np.diff(ptr) > 0
        if dead is not None and layer > 0:
            tp, npt, nl, ni = plan.core_data
            K.dead_core_neurons(Yv, dead[0], dead[1], npt, nl, ni, layer)
        return stuck, hit

    stuck, hit = neuron_faults(Y[:nv], 0)
    for l in range(1, L + 1):
        W = net.weights[l - 1]
        if zcache is None or dense.any():
            Z = Y @ plan.WT[l - 1]
            Z += net.biases[l - 1]
        else:
            Z = np.zeros((ROW_BLOCK, W.shape[0]))
        Zv, Yv = Z[:nv], Y[:nv]
        if zcache is not None:
            light = np.flatnonzero(~dense)
            if light.size:
                Zv[light] = zcache[l - 1][inputs[light]]
                for ptr, cells, old in stuck:
                    K.remove_inputs(Zv, plan.WT[l - 1], ptr, cells, old, light)
        if zstore is not None:
            zstore[l - 1][:] = Zv
        dense |= hit
        syn = None
        for k, s, key, layers in active:
            if s.site == "synapse" and l in layers:
                ptr, cells = _events(s, key, l, W.size, chips, inputs)
                record(k, l, ptr)
                dense |= np.diff(ptr) > 0
                syn = (ptr, cells) if syn is None else E.union_events(syn[0], syn[1], ptr, cells)
        if dead is not None:
            tp, npt, nl, ni = plan.core_data
            m = plan.mapping
            K.dead_core_tiles(Zv, Yv, W, dead[0], dead[1], tp, m.tile_layer, m.tile_r0, m.tile_r1,
                              m.tile_c0, m.tile_c1, l)
            if syn is not None:
                p = m.profile
                K.stuck_synapses_live_cores(Zv, Yv, W, syn[0], syn[1], dead[0], dead[1],
                                            plan.tile_grids[l - 1], p.crossbar_rows, p.crossbar_cols)
        elif syn is not None:
            K.stuck_synapses(Zv, Yv, W, syn[0], syn[1])
        Y = activate(net.activations[l - 1], Z, out=Z)
        stuck, hit = neuron_faults(Y[:nv], l)
    return Y[:nv]


def _run_rows(plan, x, start, stop, want_events, zcache=None, zstore=None):
    """Rows ``start..stop`` (global, chip-major) -> outputs and per-row event records."""
    B = plan.n_inputs
    g = np.arange(start, stop, dtype=np.int64)
    chips_all, inputs_all = g // B, g % B
    out = np.empty((stop - start, plan.net.n_out))
    records = []
    for b0 in range(0, stop - start, ROW_BLOCK):
        b1 = min(b0 + ROW_BLOCK, stop - start)
        ev = [] if want_events else None
        zs = None if zstore is None else [z[start + b0:start + b1] for z in zstore]
        out[b0:b1] = _run_block(plan, x, chips_all[b0:b1], inputs_all[b0:b1], ev, zcache, zs)
        if want_events:
            records.append((chips_all[b0:b1], ev))
    return out, records


SMALL_NET_SYNAPSES = 100_000  # below this, per-block work is too small for threads to pay off


def _resolve_threads(threads, n_synapses: int):
    """Default: one thread for small networks (GIL hand-offs dominate), else the CPUs (at most 8)."""
    if threads is None:
        return 1 if n_synapses < SMALL_NET_SYNAPSES else max(1, min(os.cpu_count() or 1, 8))
    return _check_int("threads", threads)


def permanent_fault_sites(target, faults, chip: int = 0, seed=None) -> list:
    """The sites the engine makes faulty on chip ``chip`` for the permanent specs among ``faults``.

    Returns one dict per spec (``{}`` for non-permanent specs) mapping a layer
    slot to an int64 array of faulty site indices: neuron indices for neuron
    specs, ``i * n_in + j`` for synapse ``W_l[i, j]``, core ids (slot 0) for
    core specs. Same ``seed`` as :func:`simulate` gives exactly its faults, so
    other simulators (e.g. the Brian2 reference) can replay them.
    """
    net = simulation_network(target)
    plan, _ = _make_plan(target, faults, seed, 1)
    chips = np.array([_check_int("chip", chip, lo=0)], dtype=np.int64)
    out = []
    for k, s, key, layers in plan.specs:
        sites = {}
        if s.mode == "permanent":
            slots = [0] if s.site == "core" else list(layers)
            for slot in slots:
                n = (plan.mapping.n_cores if s.site == "core" else
                     net.sizes[slot] if s.site == "neuron" else net.weights[slot - 1].size)
                _, cells = _events(s, key, slot, n, chips, chips)
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
             progress=None, labels=None) -> SimResult:
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

    Returns
    -------
    SimResult
    """
    n_chips = _check_int("n_chips", n_chips)
    if chunk_rows is not None:
        chunk_rows = _check_int("chunk_rows", chunk_rows)
    net0 = simulation_network(target)
    threads = _resolve_threads(threads, net0.n_synapses)
    x = net0.check_inputs(x)
    B = x.shape[0]
    if B == 0:
        raise ConfigError("'x' must hold at least one input row. Got 0.")
    plan, entropy = _make_plan(target, faults, seed, B)
    S, L = len(plan.specs), plan.net.n_layers
    clean_plan = _Plan(plan.net, plan.WT, None, None, None, (), B)
    total = n_chips * B
    delta = np.empty((n_chips, B, plan.net.n_out))
    flat = delta.reshape(total, -1)
    events = np.zeros((n_chips, S, L + 1), dtype=np.int64)
    cache_bytes = B * sum(plan.net.sizes[1:]) * 8
    zcache = [np.empty((B, n)) for n in plan.net.sizes[1:]] if cache_bytes <= CLEAN_CACHE_BYTES else None
    clean = np.empty((B, plan.net.n_out))

    def clean_task(b):
        clean[b[0]:b[1]] = _run_rows(clean_plan, x, b[0], b[1], False, zstore=zcache)[0]

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=threads) as ex:
        list(ex.map(clean_task, _ranges(B, chunk_rows, threads)))

        def task(b):
            out, recs = _run_rows(plan, x, b[0], b[1], True, zcache=zcache)
            return b, out, recs

        def consume(item):
            (s0, s1), out, recs = item
            flat[s0:s1] = out
            for chips, ev in recs:
                c0 = chips[0]
                for k, slot, counts in ev:
                    per_chip = np.bincount(chips - c0, weights=counts)
                    events[c0:c0 + per_chip.size, k, slot] += per_chip.astype(np.int64)
            if progress is not None:
                progress(s1 - s0)

        for item in ex.map(task, _ranges(total, chunk_rows, threads)):
            consume(item)
    delta -= clean[None]
    counts = events.copy()
    chips = np.arange(n_chips, dtype=np.int64)
    for k, s, key, layers in plan.specs:
        if s.mode == "transient" or s.rate == 0.0:
            continue
        slots = [0] if s.site == "core" else list(layers)
        for slot in slots:
            n_sites = (plan.mapping.n_cores if s.site == "core" else
                       plan.net.sizes[slot] if s.site == "neuron" else plan.net.weights[slot - 1].size)
            counts[:, k, slot] = E.chip_site_counts(chips // s.group, key, _salt(s.site, slot), n_sites,
                                                    inv_rate(s.rate))
    config = {
        "faults": [s.to_dict() for _, s, _, _ in plan.specs],
        "n_chips": n_chips, "n_inputs": B, "seed": entropy,
        "target": "mapping" if plan.mapping is not None else "network",
        "profile": plan.mapping.profile.name if plan.mapping is not None else None,
        "network": {"name": plan.net.name, "sizes": list(plan.net.sizes)},
    }
    return SimResult(delta=delta, clean=clean, faults=tuple(s for _, s, _, _ in plan.specs),
                     fault_counts=counts, fault_events=events, seed=entropy,
                     labels=None if labels is None else np.asarray(labels), config=config)
