"""Spiking-mode ``simulate``: T ticks of forward Euler for many (chip, input) rows at once.

Rows (chip, input) are processed in blocks of :data:`SPIKE_BLOCK`; per block
and tick, every layer runs the numba kernels of :mod:`neurosim.kernels.spiking`
(event-driven synaptic accumulation; neuron update), then its faults are applied as sparse corrections. Every
kernel treats each row on its own and every random stream is keyed by (fault
spec, layer, chip, input, tick), so a row's result is bit-identical for any
thread count and any chunking. Semantics: DESIGN.md "Semantics" (spiking).

Faults (spiking form):

* neuron ``stuck0`` (dead: its comparator never fires, so it never resets
  either; a dead LI/I readout neuron holds 0, a dead relay outputs 0),
  ``saturated`` (fires every tick), ``threshold_scale`` / ``leak_scale``
  (permanent drift of ``v_threshold`` / ``dt / tau``); layer 0 = input axons;
* synapse ``stuck0``: the cell contributes nothing; a value ``v`` (number,
  ``scale=S``, ``max``/``min`` with a stated range): the cell carries ``v``
  instead of ``W_ij``, i.e. ``(v - W_ij)·s_j`` is added to the synaptic input
  every tick (the rate engine's correction, :mod:`neurosim.sim.values`);
* router (transient): every spike emitted by a listed layer is lost with
  probability ``rate`` before it reaches the next layer (or the readout);
* modes as in rate mode, plus ``scope="tick"``: transient draws per
  (site, tick), intermittent chains over the tick sequence.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ..faults.spec import as_specs
from ..kernels import events as E
from ..kernels import spiking as SK
from ..kernels.rng import inv_rate
from ..spiking.network import check_spiking, delay_of, layer_role, readout, with_delay
from ..layers.spiking import check_dt, check_ticks
from ._threads import thread_map
from .engine import _check_int, _resolve_threads
from .plan import spec_keys
from .values import spiking_deltas, spiking_value
from .spiking_plan import _EMPTY, SpikingSimResult, _Layer, _SPlan, _concat_scaled, _draw, _router_layers, _salt_of, _shared_cells  # noqa: F401
from .spiking_faults import (CoreFaults, _synapse_faults, check_core_specs, n_sites, route, spiking_fault_sites,  # noqa: F401
                             split_target, union)

SPIKE_BLOCK = 256
ENCODINGS = ("current", "rate")
CLEAN_TRAIN_BYTES = 256 * 2**20  # clean spike trains kept for reuse by fault-free rows up to this size
_ENC_KEY_SALT = 0x51C0DE


def _make_plan(net, faults, seed, n_inputs, ticks, dt_s, encoding, mapping=None):
    specs = as_specs(faults)
    check_core_specs(specs, net, mapping)
    if seed is None:
        entropy = int(np.random.SeedSequence().entropy)
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"'seed' must be a non-negative integer or None. Got {seed!r}.")
        entropy = int(seed)
    keys = spec_keys(entropy, len(specs))
    enc_key = np.random.SeedSequence(entropy, spawn_key=(_ENC_KEY_SALT,)).generate_state(1, np.uint64)[0]
    resolved = []
    for k, s in enumerate(specs):
        layers = (_router_layers(s, net, encoding) if s.site == "router" else (0,) if s.site == "core"
                  else s.resolve_layers(net.n_layers))
        if s.site == "neuron" and not s.fault_value.is_zero:
            # saturation and drift need a firing neuron (drift: not the input axons either)
            bad = {l for l, la in enumerate(net.layers, start=1) if layer_role(la) != "fire"}
            if s.value != "saturated":
                bad.add(0)
            if s.layers is None:
                layers = tuple(v for v in layers if v not in bad)
            elif bad & set(layers):
                raise ConfigError(f"'{s.to_text()}' cannot apply to layer(s) {sorted(bad & set(layers))} (input axons have no threshold or leak; an LI/I readout does not spike); list other layers.")
        if s.site == "neuron" and s.fault_value.kind == "number":
            raise ConfigError(f"'{s.to_text()}': a spiking neuron holds no number (it fires or not); use value=zero "
                              "(dead), saturated (fires every tick), threshold_scale or leak_scale.")
        if s.site == "synapse" and spiking_value(s, net, layers) is not None and s.scope == "tick":
            raise ConfigError(f"'{s.to_text()}': synapse values with scope=tick are not simulated; drop scope=tick "
                              "(per-inference draws) or use value=zero.")
        resolved.append((k, s, keys[k], layers))
    layers = []
    for l, (la, M, b) in enumerate(zip(net.layers, net.weights, net.biases), start=1):
        role = layer_role(la)
        n = M.shape[0]
        p = la.neuron.compile(n, dt_s) if role != "relay" else None
        shared = _shared_cells(la.op, net.shapes[l - 1]) if la.op.kind == "conv2d" else None
        layers.append(_Layer(role, la.neuron.code if p is not None else -1, np.ascontiguousarray(M.T), M, b, p,
                             role != "relay" and la.neuron.reset == "subtract",
                             la.neuron.refractory_ticks if role != "relay" else 0, delay_of(la), shared))
    return _SPlan(net, tuple(layers), tuple(resolved), ticks, dt_s, enc_key, n_inputs, encoding, readout(net), mapping), entropy


class _Faults:
    """The faults of one block, drawn once: per slot lists of (spec index, kind, ptr, cells, per_tick)."""

    def __init__(self, plan, chips, inputs, events_out):
        net, T, nv = plan.net, plan.ticks, chips.size
        self.neuron = {l: [] for l in range(net.n_layers + 1)}
        self.synapse = {l: [] for l in range(1, net.n_layers + 1)}
        self.router = {}
        self.core = None  # CoreFaults of the block's rows, or None
        dead = None
        thr = {l: [] for l in range(1, net.n_layers + 1)}
        leak = {l: [] for l in range(1, net.n_layers + 1)}
        self.tick_varying = set()
        L = net.n_layers
        # first layer whose output may differ from the clean run, per row (L + 1: the row is clean)
        self.first = np.full(nv, L + 1, dtype=np.int64)
        for k, s, key, layers in plan.specs:
            if s.rate <= 0.0:
                continue
            if s.site == "router":
                sc = inv_rate(s.rate)
                for l in layers:
                    self.router.setdefault(l, []).append((k, key, _salt_of(s, l), sc))
                    np.minimum(self.first, min(l + 1, L), out=self.first)
                continue
            if s.site == "core":  # dead cores: their neurons never fire, their tiles carry no current
                ptr, cells = _draw(s, key, 0, plan.mapping.n_cores, chips, inputs, T)
                c = np.diff(ptr)
                if events_out is not None:
                    events_out.append((k, 0, c))
                self.first[c > 0] = 1
                dead = union(dead, (ptr, cells))
                continue
            for l in layers:
                n = net.neuron_sites(l) if s.site == "neuron" else net.synapse_sites(l)
                if n == 0:
                    continue
                ptr, cells = _draw(s, key, l, n, chips, inputs, T)
                c = np.diff(ptr)
                if s.scope == "tick":
                    c = c.reshape(nv, T).sum(1)
                if events_out is not None:
                    events_out.append((k, l, c))
                self.first[c > 0] = np.minimum(self.first[c > 0], max(l, 1))
                tick = s.scope == "tick"
                if tick:
                    self.tick_varying.add(("neuron" if s.site == "neuron" else "synapse", l))
                if s.site == "synapse":
                    self.synapse[l].append((ptr, cells, tick, None, (spiking_value(s, net, (l,)), key)))
                elif s.value == "threshold_scale":
                    thr[l].append((ptr, cells, s.scale))
                elif s.value == "leak_scale":
                    leak[l].append((ptr, cells, s.scale))
                else:
                    self.neuron[l].append((ptr, cells, tick, 1.0 if s.value == "saturated" else 0.0))
        for l, items in self.synapse.items():  # values or several specs: one merged list, d = w - v (sim.values)
            per_row = [it for it in items if not it[2]]
            dense = plan.layers[l - 1].shared is None  # a cell drawn by two specs is corrected once
            if dense and (len(per_row) > 1 or any(it[4][0] is not None for it in per_row)):
                ptr, cells, d = spiking_deltas([(p, c, *v) for p, c, _, _, v in per_row], l, plan.layers[l - 1].W,
                                               chips, inputs)
                self.synapse[l] = [(ptr, cells, False, d, None)] + [it for it in items if it[2]]
            elif not dense and len(per_row) > 1:  # conv: stuck-at-0 only; a stored weight drawn twice dies once
                merged = None
                for p, c, _, _, _ in per_row:
                    merged = union(merged, (p, c))
                self.synapse[l] = [merged + (False, None, None)] + [it for it in items if it[2]]
        if dead is not None and dead[1].size:
            self.core = CoreFaults(plan.mapping, *dead)
            for l in range(1, L + 1):
                self.neuron[l].append(self.core.neurons(l) + (False, 0.0))
                # valued cells on a dead core: the tile removes them; drop them from the corrections
                self.synapse[l] = [it if it[3] is None else self.core.live_only(it, l, plan.layers[l - 1].W.shape[1])
                                   for it in self.synapse[l]]
        self.thr = {l: _concat_scaled(v, nv) for l, v in thr.items()}
        self.leak = {l: _concat_scaled(v, nv) for l, v in leak.items()}
        # saturated before dead: a neuron both dead and saturated stays silent
        for l in self.neuron:
            self.neuron[l].sort(key=lambda t: -t[3])

    @staticmethod
    def at(ptr, cells, tick, T, k):
        return SK.tick_slice(ptr, cells, T, k) if tick else (ptr, cells)


def _run_block(plan: _SPlan, x, chips, inputs, events_out, want_counts, want_trains=False, clean_ref=None,
               z_layers=()):
    """All T ticks of one block -> (outputs (nv, n_out), counts or None, trains or None, currents or None).

    ``clean_ref`` (faulty pass): the clean run's outputs, counts, spike
    trains and (optionally) synaptic currents. A row computes layer ``l`` only
    if some fault of the row can reach it (``l >= first[row]``); the layer
    below its first faulty layer is fed from the clean trains, and fault-free
    rows copy the clean result. A row whose first faulty layer is ``l >= 2``
    (its input still clean: no router fault on layer ``l - 1``) takes layer
    ``l``'s current from the clean run's instead of accumulating it. Exact:
    the skipped work is bit for bit that of the clean run. ``z_layers`` (clean
    pass): layers whose currents are returned, ``{l: (nv, T, n_l)}``.
    """
    net, T = plan.net, plan.ticks
    nv, L = chips.size, net.n_layers
    rate_in = plan.encoding == "rate"
    F = _Faults(plan, chips, inputs, events_out)
    first = F.first if clean_ref is not None else np.ones(nv, dtype=np.int64)
    for l in range(L, 1, -1):  # clean trains are kept for firing layers only: relays are recomputed
        if plan.layers[l - 2].role != "fire":
            first[first == l] = l - 1
    act = [None] + [np.flatnonzero(first <= l) for l in range(1, L + 1)]
    # all rows active: plain slices instead of fancy indexing (no copies per tick)
    sel = [None] + [slice(None) if a.size == nv else a for a in act[1:]]
    feed = [None] + [np.flatnonzero(first == l + 1) for l in range(1, L)] + [None]
    sizes = net.sizes
    V = [None] + [np.tile(lay.p["v_rest"], (nv, 1)) if lay.p is not None else None for lay in plan.layers]
    ISYN = [None] + [np.zeros((nv, n)) for n in sizes[1:]]
    REF = [None] + [np.zeros((nv, n), dtype=np.int64) for n in sizes[1:]]
    # ring buffers of each source layer's output, deep enough for the next layer's delay
    depth = [lay.delay + 1 for lay in plan.layers]
    hist = [[np.zeros((nv, sizes[l])) for _ in range(depth[l])] for l in range(L)]
    S_last = np.zeros((nv, sizes[L]))
    count_layers = ([0] if rate_in else []) + [l for l in range(1, L + 1) if plan.layers[l - 1].role == "fire"]
    counts = {l: np.zeros((nv, sizes[l]), dtype=np.int64) for l in count_layers} if want_counts else None
    trains = {l: np.zeros((nv, T, sizes[l]), dtype=np.bool_) for l in count_layers} if want_trains else None
    acc = np.zeros((nv, sizes[L]))  # delivered output spikes, or summed output current (relay readout)
    drops = {}
    x_rows = np.ascontiguousarray(x[inputs])
    tick0 = any(t for (_, _, t, _) in F.neuron[0])
    S0_const = None
    all_rows = np.arange(nv, dtype=np.int64)
    if not rate_in:
        S0_const = x_rows.copy()
        for ptr, cells, tick, val in F.neuron[0]:
            if not tick:
                SK.set_neurons(S0_const, ptr, cells, val)
    cache_ok = not rate_in and not tick0 and ("synapse", 1) not in F.tick_varying
    I1_cache = None
    Z = [None] + [np.zeros((nv, n)) for n in sizes[1:]]
    blocked = [None] + [np.zeros((nv, n)) for n in sizes[1:]]
    zs = {l: np.zeros((nv, T, sizes[l])) for l in z_layers} or None
    c_z = {}
    if clean_ref is not None:
        c_trains, c_z = clean_ref[2], clean_ref[3] or {}
    # rows whose layer-l current is the clean one (first faulty layer l, clean input), and the others
    zc = [None] * (L + 1)
    for l in c_z:
        if (l - 1) not in F.router and np.any(first == l):
            zc[l] = (np.flatnonzero(first == l), np.flatnonzero(first < l))

    def route(l, S, k):
        for (kk, key, salt, sc) in F.router.get(l, ()):
            d = SK.drop_spikes(S, chips, inputs, key, salt, T, k, sc)
            drops[(kk, l)] = drops.get((kk, l), 0) + d

    for k in range(T):
        # ---- layer 0: constant current or rate-coded spikes
        S0 = hist[0][k % depth[0]]
        if rate_in:
            SK.encode_rate(x_rows, inputs, plan.enc_key, T, k, S0)
            for ptr, cells, tick, val in F.neuron[0]:
                p, c = _Faults.at(ptr, cells, tick, T, k)
                SK.set_neurons(S0, p, c, val)
            if counts is not None:
                counts[0] += S0.astype(np.int64)
            if trains is not None:
                trains[0][:, k] = S0 != 0.0
            route(0, S0, k)
        else:
            S0[:] = S0_const
            if tick0:
                for ptr, cells, tick, val in F.neuron[0]:
                    if tick:
                        p, c = SK.tick_slice(ptr, cells, T, k)
                        SK.set_neurons(S0, p, c, val)
        # ---- layers 1..L
        for l in range(1, L + 1):
            lay = plan.layers[l - 1]
            rows = act[l]
            S = S_last if l == L else hist[l][k % depth[l]]
            if rows.size:
                src_tick = k - lay.delay
                Zl = Z[l]
                if src_tick < 0:
                    Zl[rows] = lay.b
                elif l == 1 and cache_ok:
                    if I1_cache is None:
                        I1_cache = np.empty_like(Zl)
                        SK.synaptic_current(S0, lay.WT, lay.b, I1_cache, all_rows)
                        _synapse_faults(lay, I1_cache, S0, F.synapse[1], T, k, F.core, 1)
                    if rows.size == nv:
                        Zl = I1_cache  # read-only below
                    else:
                        Zl[rows] = I1_cache[rows]
                else:
                    src = hist[l - 1][src_tick % depth[l - 1]]
                    if zc[l] is None:
                        SK.synaptic_current(src, lay.WT, lay.b, Zl, rows)
                    else:
                        rc, rf = zc[l]
                        Zl[rc] = c_z[l][inputs[rc], k]
                        SK.synaptic_current(src, lay.WT, lay.b, Zl, rf)
                    _synapse_faults(lay, Zl, src, F.synapse[l], T, k, F.core, l)
                if zs is not None and l in zs:
                    zs[l][:, k] = Zl
                if lay.role == "relay":
                    S[sel[l]] = Zl[sel[l]]
                    for ptr, cells, tick, val in F.neuron[l]:
                        p, c = _Faults.at(ptr, cells, tick, T, k)
                        SK.set_neurons(S, p, c, 0.0)
                else:
                    tp, tc, ts = F.thr[l]
                    lp, lc, ls = F.leak[l]
                    P = lay.p
                    now = [(val,) + _Faults.at(ptr, cells, tick, T, k) for ptr, cells, tick, val in F.neuron[l]]
                    for val, p, c in now:
                        if val == 0.0:
                            SK.set_neurons(blocked[l], p, c, 1.0)
                    SK.neuron_step(lay.kind, V[l], ISYN[l], REF[l], Zl, S, P["a_mem"], P["r"], P["v_leak"],
                                   P["v_th"], P["v_reset"], P["a_syn"], P["w_in"], lay.subtract, lay.refractory,
                                   plan.dt_s, tp, tc, ts, lp, lc, ls, blocked[l], rows)
                    for val, p, c in now:
                        if lay.role == "integrate":
                            if val == 0.0:
                                SK.set_neurons(V[l], p, c, 0.0)
                        else:
                            SK.set_neurons(S, p, c, val)
                        if val == 0.0:
                            SK.set_neurons(blocked[l], p, c, 0.0)
            if l < L and feed[l].size:
                fr = feed[l]
                S[fr] = c_trains[l][inputs[fr], k]
            if lay.role == "fire" and rows.size:
                if counts is not None:
                    counts[l][sel[l]] += S[sel[l]].astype(np.int64)
                if trains is not None:
                    trains[l][sel[l], k] = S[sel[l]] != 0.0
            if lay.role == "fire":
                route(l, S, k)
            if l == L and lay.role != "integrate":
                acc += S
    out = V[L].copy() if plan.readout == "membrane" else acc / T
    if clean_ref is not None:
        c_out, c_counts, c_tr, _ = clean_ref
        skip = np.flatnonzero(first > L)
        out[skip] = c_out[inputs[skip]]
        for store, ref in ((counts, c_counts), (trains, c_tr)):
            if store is not None:
                for l in store:
                    if l == 0:
                        continue
                    rest = np.flatnonzero(first > l)
                    store[l][rest] = ref[l][inputs[rest]]
    if events_out is not None:
        for (kk, l), d in drops.items():
            events_out.append((kk, l, d))
    return out, counts, trains, zs


def _prepare(target, ticks, dt_s, encoding, delay_ticks):
    net = check_spiking(split_target(target)[0])
    if delay_ticks is not None:
        net = with_delay(net, delay_ticks)
    if encoding not in ENCODINGS:
        raise ConfigError(f"'encoding' (how inputs enter spiking mode) must be one of {', '.join(ENCODINGS)}. Got {encoding!r}.")
    return net, check_ticks(ticks), check_dt(dt_s)


def simulate_spiking(target, x, faults=None, n_chips: int = 1, seed=None, ticks: int = 100, dt_s=1e-3,
                     threads=None, chunk_rows=None, progress=None, labels=None, spike_counts: bool = False,
                     encoding="current", delay_ticks=None, spike_trains: bool = False,
                     first_chip: int = 0) -> SpikingSimResult:
    """Run ``n_chips`` faulty chip instances of a spiking network for ``ticks`` steps on inputs ``x``.

    Parameters as :func:`neurosim.simulate`, plus ``ticks`` (T >= 1), ``dt_s``
    (step in seconds, must be below every time constant), ``encoding``
    ("current": the input is a constant current; "rate": Bernoulli spikes with
    probability ``x`` per tick, the same trains on every chip), ``delay_ticks``
    (override every spiking layer's synaptic delay), ``spike_counts`` (also
    return per-layer spike counts), ``spike_trains`` (also return every
    spike, bool ``(n_chips, n_inputs, T, n_l)``: small runs only), ``first_chip``
    (index of the first chip: chips ``c..c+m-1`` of a larger run with the same
    seed, bit for bit; every draw is keyed by the global chip index). Outputs: spike counts / T of a firing last
    layer, membrane at tick T of an LI / I readout, or the mean current of a
    linear (identity) readout. ``delta`` is faulty minus clean, both on the
    same network and input spike trains.
    """
    net, T, dt = _prepare(target, ticks, dt_s, encoding, delay_ticks)
    mapping = split_target(target)[1]
    n_chips = _check_int("n_chips", n_chips)
    first_chip = _check_int("first_chip", first_chip, lo=0)
    if chunk_rows is not None:
        chunk_rows = _check_int("chunk_rows", chunk_rows)
    threads = _resolve_threads(threads, sum(W.size for W in net.weights) * 10)
    x = net.check_inputs(x)
    B = x.shape[0]
    if B == 0:
        raise ConfigError("'x' must hold at least one input row. Got 0.")
    if encoding == "rate" and (x.min() < 0.0 or x.max() > 1.0):
        raise ConfigError(f"Rate-coded inputs are spike probabilities per tick and must be in [0, 1]. Got range [{x.min():.3g}, {x.max():.3g}]; rescale x or use encoding='current'.")
    from .._resources import check_memory, spiking_simulate_bytes

    check_memory(spiking_simulate_bytes(net.sizes, B, n_chips, T, len(as_specs(faults or [])), spike_counts,
                                        spike_trains, threads),
                 f"spiking simulate() of {n_chips} chips x {B} inputs x {T} ticks",
                 "use fewer chips (or neurosim.sim.stream.simulate_stream, chips in chunks)"
                 + (" and drop spike_trains/spike_counts" if spike_trains or spike_counts else ""))
    plan, entropy = _make_plan(net, faults, seed, B, T, dt, encoding, mapping)
    S, L = len(plan.specs), net.n_layers
    clean_plan = _SPlan(net, plan.layers, (), T, dt, plan.enc_key, B, encoding, plan.readout)
    total = n_chips * B
    out = np.empty((total, net.n_out))
    events = np.zeros((n_chips, S, L + 1), dtype=np.int64)
    clean = np.empty((B, net.n_out))
    count_layers = ([0] if encoding == "rate" else []) + [l for l in range(1, L + 1) if plan.layers[l - 1].role == "fire"]
    sc = {l: np.zeros((total, net.sizes[l]), np.int64) for l in count_layers} if spike_counts else None
    csc = {l: np.zeros((B, net.sizes[l]), np.int64) for l in count_layers} if spike_counts else None
    st = {l: np.zeros((total, T, net.sizes[l]), np.bool_) for l in count_layers} if spike_trains else None
    cst = {l: np.zeros((B, T, net.sizes[l]), np.bool_) for l in count_layers} if spike_trains else None

    # the clean spike trains let fault-free rows and layers be copied (exact); kept if they fit in memory
    reuse = any(s.rate > 0 for _, s, _, _ in plan.specs) and (
        B * T * sum(net.sizes[l] for l in count_layers) <= CLEAN_TRAIN_BYTES)
    if reuse and cst is None:
        cst = {l: np.zeros((B, T, net.sizes[l]), np.bool_) for l in count_layers}
    if reuse and csc is None:
        csc = {}
    # and the clean currents of layers fed by a firing layer: a row whose faults start there skips its accumulation
    z_layers = tuple(l for l in range(2, L + 1) if plan.layers[l - 2].role == "fire") if reuse else ()
    if B * T * (sum(net.sizes[l] for l in count_layers) + 8 * sum(net.sizes[l] for l in z_layers)) > CLEAN_TRAIN_BYTES:
        z_layers = ()
    cz = {l: np.zeros((B, T, net.sizes[l])) for l in z_layers}
    clean_ref = None

    def rows(p, s0, s1, want_events):
        g = np.arange(s0, s1, dtype=np.int64)
        chips, inputs = g // B + (first_chip if want_events else 0), g % B
        res = []
        for b0 in range(0, s1 - s0, SPIKE_BLOCK):
            b1 = min(b0 + SPIKE_BLOCK, s1 - s0)
            ev = [] if want_events else None
            o, c, tr, z = _run_block(p, x, chips[b0:b1], inputs[b0:b1], ev, spike_counts,
                                     spike_trains or (reuse and not want_events), clean_ref if want_events else None,
                                     () if want_events else z_layers)
            res.append((s0 + b0, s0 + b1, chips[b0:b1], o, (c, tr, z), ev))
        return res

    if chunk_rows is None:
        chunk_rows = SPIKE_BLOCK * max(1, min(8, math.ceil(total / SPIKE_BLOCK / (4 * threads))))
    for res in thread_map(threads, lambda b: rows(clean_plan, b[0], b[1], False),
                          [(s, min(s + chunk_rows, B)) for s in range(0, B, chunk_rows)]):
        for s0, s1, _, o, (c, tr, z), _ in res:
            clean[s0:s1] = o
            for src, dst in ((c, csc), (tr, cst), (z, cz)):
                if src is not None:
                    for l in src:
                        dst[l][s0:s1] = src[l]
    if reuse:
        clean_ref = (clean, csc, cst, cz)
    if not any(s.rate > 0 for _, s, _, _ in plan.specs):  # no fault can fire: every chip is the clean one (exact)
        out[:] = np.tile(clean, (n_chips, 1))
        for src, dst in ((csc, sc), (cst, st)):
            if dst is not None:
                for l in dst:
                    dst[l][:] = np.tile(src[l], (n_chips,) + (1,) * (src[l].ndim - 1))
        if progress is not None:
            progress(total)
    for res in thread_map(threads, lambda b: rows(plan, b[0], b[1], True),
                          [(s, min(s + chunk_rows, total)) for s in range(0, total, chunk_rows)]
                          if any(s.rate > 0 for _, s, _, _ in plan.specs) else []):
        for s0, s1, chips, o, (c, tr, _), ev in res:
            out[s0:s1] = o
            for src, dst in ((c, sc), (tr, st)):
                if src is not None:
                    for l in src:
                        dst[l][s0:s1] = src[l]
            c0 = chips[0] - first_chip
            for kk, slot, cnt in ev:
                per_chip = np.bincount(chips - chips[0], weights=cnt)
                events[c0:c0 + per_chip.size, kk, slot] += per_chip.astype(np.int64)
            if progress is not None:
                progress(s1 - s0)
    delta = out.reshape(n_chips, B, -1) - clean[None]
    counts = events.copy()
    chips = np.arange(first_chip, first_chip + n_chips, dtype=np.int64)
    for kk, s, key, layers in plan.specs:
        if s.mode == "transient" or s.rate == 0.0:
            continue
        for slot in layers:
            counts[:, kk, slot] = E.chip_site_counts(chips // s.group, key, _salt_of(s, slot), n_sites(net, mapping, s, slot),
                                                     inv_rate(s.rate))
    config = {
        "mode": "spiking", "ticks": T, "dt_s": dt, "encoding": encoding,
        "delay_ticks": [delay_of(la) for la in net.layers], "readout": plan.readout,
        "faults": [s.to_dict() for _, s, _, _ in plan.specs],
        "n_chips": n_chips, **({"first_chip": first_chip} if first_chip else {}), "n_inputs": B, "seed": entropy, "target": "network" if mapping is None else "mapping",
        "profile": None if mapping is None else mapping.profile.name,
        "network": {"name": net.name, "sizes": list(net.sizes), "neurons": list(net.activations)},
    }
    return SpikingSimResult(
        delta=delta, clean=clean, faults=tuple(s for _, s, _, _ in plan.specs), fault_counts=counts,
        fault_events=events, seed=entropy, labels=None if labels is None else np.asarray(labels), config=config,
        ticks=T, dt_s=dt,
        spike_counts=None if sc is None else {l: v.reshape(n_chips, B, -1) for l, v in sc.items()},
        clean_spike_counts=csc if spike_counts else None,
        spike_trains=None if st is None else {l: v.reshape(n_chips, B, T, -1) for l, v in st.items()},
        clean_spike_trains=cst if spike_trains else None)
