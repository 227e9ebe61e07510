"""Brian2 reference for spiking networks: the same network, inputs and faults built in Brian2.

Every layer ``l`` becomes one ``NeuronGroup`` of ``n_inputs * n_l`` neurons
(each input runs as its own copy; synapses are block-diagonal). The neuron
update is written as explicit forward-Euler abstract code run in the
``groups`` slot (so it is exactly DESIGN.md's discretisation, not Brian2's own
integrator), with the synaptic input collected in ``I_in``:

* ``groups``: ``v`` (and ``I_syn``) updated from ``I = I_in + b``; ``I_in = 0``
* ``thresholds``: ``(v > v_threshold and alive) or saturated``
* ``synapses``: each spike of ``j`` adds ``W[i, j]`` to ``I_in`` of ``i``
* ``resets``: ``v = v_reset`` or ``v -= v_threshold``

A spike at tick ``k`` thus reaches the next layer at tick ``k + 1``: Brian2's
schedule is neurosim's ``delay_ticks=1`` (compare with that). The input
current ``W_1 x`` is a constant (per copy, with dead inputs and synapses
applied), off at tick 0 like a delayed first layer.

Faults: dead neurons (``alive = 0``: never fire; an LI/I readout neuron reads
0), saturated neurons (fire every tick), dead synapses (not connected),
valued synapses (the weight ``W_ij`` replaced by a number ``v`` or scaled by
``s``: DESIGN.md's stuck-at-v and ``scale=s``, the cell contributing
``v · s_j`` or ``s · W_ij · s_j`` for a spike ``s_j``),
threshold / leak drift (per-neuron ``v_threshold`` and ``a = dt / tau``); and
for statistical comparisons, transient dead neurons per (neuron, inference)
(``p_dead``: drawn per copy) or per (neuron, tick) (``p_dead_tick``, drawn by
``rand()`` each tick), and dropped spikes (``p_drop``: each spike of a firing
layer reaches no target with that probability). Needs the ``[spiking]`` extra.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .network import check_spiking, delay_of, layer_role
from ..layers.spiking import check_dt, check_ticks


@dataclass(frozen=True, eq=False)
class Brian2SpikingResult:
    """Outcome of :func:`run_brian2_network`.

    ``outputs`` ``(n_inputs, n_out)`` (spike counts / T, or the readout
    membrane); ``spike_counts[l]`` ``(n_inputs, n_l)`` per firing layer;
    ``spike_trains[l]`` bool ``(n_inputs, T, n_l)`` when recorded;
    ``runtime_s`` wall time of build + run; ``run_s`` the simulation loop alone
    (cpp_standalone: the compiled binary's own timer).
    """

    outputs: np.ndarray
    spike_counts: dict
    spike_trains: dict | None
    ticks: int
    dt_s: float
    codegen_target: str
    runtime_s: float
    run_s: float


def _masks(d, l, shape):
    m = (d or {}).get(l)
    return np.zeros(shape, bool) if m is None else np.asarray(m, bool).reshape(shape)


def synapse_weights(weights, dead_synapses=None, synapse_values=None, synapse_scales=None) -> list:
    """The weights Brian2 connects: ``W_l`` scaled, then replaced, then zeroed, cell by cell.

    ``synapse_scales``: ``{layer: factors of W_l's shape}`` (1 = unchanged);
    ``synapse_values``: ``{layer: values of W_l's shape}``, NaN = keep the
    cell's weight; ``dead_synapses``: ``{layer: bool mask of W_l}``. So a
    cell with a value holds it whatever its scale, and a dead cell is 0.
    """
    out = []
    for l, W in enumerate(weights, start=1):
        W = np.asarray(W, dtype=np.float64)
        for name, d in (("synapse_scales", synapse_scales), ("synapse_values", synapse_values)):
            if d and d.get(l) is not None and np.shape(d[l]) != W.shape:
                raise ConfigError(f"'{name}[{l}]' must have the shape of W_{l}, {W.shape}. Got {np.shape(d[l])}.")
        if synapse_scales and synapse_scales.get(l) is not None:
            W = W * np.asarray(synapse_scales[l], dtype=np.float64)
        if synapse_values and synapse_values.get(l) is not None:
            v = np.asarray(synapse_values[l], dtype=np.float64)
            W = np.where(np.isnan(v), W, v)
        out.append(np.where(_masks(dead_synapses, l, W.shape), 0.0, W))
    return out


def run_brian2_network(net, x, ticks: int, dt_s: float = 1e-3, dead=None, saturated=None, dead_synapses=None,
                       thr_scale=None, leak_scale=None, p_dead=None, p_dead_tick=None, p_drop=0.0,
                       synapse_values=None, synapse_scales=None,
                       record_trains: bool = False, codegen_target: str = "numpy", seed: int = 0,
                       standalone_dir=None) -> Brian2SpikingResult:
    """Simulate spiking ``net`` (dense layers; IF/LIF/CubaLIF, LI/I readout) on inputs ``x`` in Brian2.

    ``dead`` / ``saturated``: ``{layer: bool mask (n_l,) or (n_inputs, n_l)}``
    (layer 0 = inputs); ``dead_synapses``: ``{layer: bool mask of W_l}``;
    ``synapse_values`` / ``synapse_scales``: ``{layer: array of W_l's shape}``,
    the stuck-at-value weights (NaN = keep ``W_ij``) and the drift factors
    (1 = unchanged), applied as :func:`synapse_weights`;
    ``thr_scale`` / ``leak_scale``: ``{layer: factor per neuron}``;
    ``p_dead`` / ``p_dead_tick``: ``{layer: p}`` transient dead neurons per
    inference / per tick (hidden and output layers); ``p_drop``: ``{layer: p}``
    dropped spikes. ``codegen_target``: "numpy", "cython" (runtime mode) or
    "cpp_standalone" (compiled into ``standalone_dir``; ``run_s`` is the
    binary's own run time). Brian2 delivers a spike one tick later per layer:
    the result matches neurosim with ``delay_ticks=1``.
    """
    try:
        import brian2 as b2
    except ImportError:  # pragma: no cover - environment
        raise ConfigError("The Brian2 reference needs brian2; install it with: pip install 'neurosim-faults[spiking]'.") from None
    net = check_spiking(net)
    T, dt_s = check_ticks(ticks), check_dt(dt_s)
    if any(la.op.kind != "dense" for la in net.layers) or any(layer_role(la) == "relay" for la in net.layers):
        raise ConfigError("The Brian2 reference builds dense layers with spiking neurons only; drop conv/pool/identity layers.")
    if codegen_target not in ("numpy", "cython", "cpp_standalone"):
        raise ConfigError(f"'codegen_target' must be 'numpy', 'cython' or 'cpp_standalone'. Got {codegen_target!r}.")
    x = net.check_inputs(x)
    B, L, sizes = x.shape[0], net.n_layers, net.sizes
    rng = np.random.default_rng(seed)
    p_dead, p_dead_tick, p_drop = p_dead or {}, p_dead_tick or {}, p_drop or {}

    def alive_of(l):
        a = ~np.broadcast_to(_masks(dead, l, (-1,)) if dead and dead.get(l) is not None and np.ndim(dead[l]) == 1
                             else _masks(dead, l, (B, sizes[l])), (B, sizes[l]))
        a = a.copy()
        if l in p_dead:
            a &= rng.random((B, sizes[l])) >= p_dead[l]
        return a.astype(float)

    t0 = time.perf_counter()
    standalone = codegen_target == "cpp_standalone"
    old_target = b2.prefs.codegen.target
    if standalone:
        b2.set_device("cpp_standalone", directory=standalone_dir, build_on_run=False)
    else:
        b2.prefs.codegen.target = codegen_target
    try:
        dt = dt_s * b2.second
        Ws = synapse_weights(net.weights, dead_synapses, synapse_values, synapse_scales)
        x_eff = x * alive_of(0)
        groups, mons, syns, others = [], [], [], []
        for l, la in enumerate(net.layers, start=1):
            m, n, kind = la.neuron, sizes[l], la.neuron.kind
            if delay_of(la) not in (0, 1):
                raise ConfigError("The Brian2 reference has Brian2's one-tick delay per layer; use delay_ticks 0 or 1 in the network (compare with delay_ticks=1).")
            P = m.compile(n, dt_s)
            a = P["a_mem"] * (1.0 if leak_scale is None or l not in leak_scale else np.asarray(leak_scale[l]))
            th = P["v_th"] * (1.0 if thr_scale is None or l not in thr_scale else np.asarray(thr_scale[l]))
            I_expr = "(I_in + I_x * int(t > 0.5 * dt) + b)" if l == 1 else "(I_in + b)"
            lines = []
            if kind == "CubaLIF":
                lines.append(f"isyn = isyn + a_syn * (-isyn + w_in * {I_expr})")
                drive = "isyn"
            else:
                drive = I_expr
            upd = (f"v = v + a * (v_leak - v + r * {drive})" if kind in ("LIF", "CubaLIF", "LI")
                   else f"v = v + dtr * {drive}")
            if m.refractory_ticks:  # hold v (and do not fire) while ticks of the refractory period remain
                lines += ["held = int(ref > 0)", f"vnew = {upd.split(' = ', 1)[1]}",
                          "v = held * v + (1 - held) * vnew", "ref = ref - held"]
            else:
                lines.append(upd)
            if kind in ("LI", "I"):
                lines.append("v = v * alive")
            lines.append("I_in = 0")
            if l in p_dead_tick:
                lines.insert(0, f"alive = alive_base * int(rand() >= {float(p_dead_tick[l])!r})")
            eqs = """
            v : 1
            isyn : 1
            I_in : 1
            I_x : 1
            ref : 1
            held : 1
            alive : 1
            alive_base : 1
            sat : 1
            b : 1 (constant)
            a : 1 (constant)
            dtr : 1 (constant)
            r : 1 (constant)
            v_leak : 1 (constant)
            v_th : 1 (constant)
            v_reset : 1 (constant)
            a_syn : 1 (constant)
            w_in : 1 (constant)
            delivered : 1
            """
            fires = m.fires
            thr = "alive > 0 and (sat > 0 or (v > v_th and held < 0.5))" if fires else None
            reset = ("v = v - v_th" if m.reset == "subtract" else "v = v_reset") + (
                f"\nref = {m.refractory_ticks}" if m.refractory_ticks else "")
            g = b2.NeuronGroup(B * n, eqs, threshold=thr, reset=reset if fires else None, method="euler", dt=dt)
            g.run_regularly("\n".join(s for s in lines if s), when="groups", order=l)
            tile = lambda v: np.tile(np.broadcast_to(v, (n,)), B)  # noqa: E731
            g.b = tile(net.biases[l - 1])
            g.a = tile(a)
            g.dtr = tile(dt_s * P["r"])
            g.r = tile(P["r"])
            g.v_leak = tile(P["v_leak"])
            g.v_th = tile(th)
            g.v_reset = tile(P["v_reset"])
            g.a_syn = tile(P["a_syn"])
            g.w_in = tile(P["w_in"])
            g.v = tile(P["v_rest"])
            al = alive_of(l).ravel()
            g.alive = al
            g.alive_base = al
            g.sat = _masks(saturated, l, (B, n)).astype(float).ravel() if saturated and saturated.get(l) is not None and np.ndim(saturated[l]) == 2 else tile(_masks(saturated, l, (n,)).astype(float))
            g.delivered = 1.0
            if l == 1:
                g.I_x = (x_eff @ Ws[0].T).ravel()
            if fires and l in p_drop:
                g.run_regularly(f"delivered = int(rand() >= {float(p_drop[l])!r})", when="after_thresholds")
            groups.append(g)
            if fires:
                mons.append((l, b2.SpikeMonitor(g, record=record_trains)))
        for l in range(2, L + 1):
            W = Ws[l - 1]
            post_i, pre_j = np.nonzero(W)
            if post_i.size == 0:
                continue
            copies = np.arange(B)[:, None]
            S = b2.Synapses(groups[l - 2], groups[l - 1], model="w : 1 (constant)",
                            on_pre="I_in_post += w * delivered_pre", dt=dt)
            S.connect(i=(copies * sizes[l - 1] + pre_j[None]).ravel(), j=(copies * sizes[l] + post_i[None]).ravel())
            S.w = np.tile(W[post_i, pre_j], B)
            syns.append(S)
        bnet = b2.Network(*groups, *[m for _, m in mons], *syns, *others)
        t1 = time.perf_counter()
        bnet.run(T * dt, namespace={})
        if standalone:
            b2.device.build(directory=standalone_dir, compile=True, run=True, debug=False)
            run_s = float(b2.device._last_run_time)
        else:
            run_s = time.perf_counter() - t1
        counts, trains = {}, ({} if record_trains else None)
        for l, mon in mons:
            counts[l] = np.asarray(mon.count[:], dtype=np.int64).reshape(B, sizes[l])
            if record_trains:
                tr = np.zeros((B, T, sizes[l]), bool)
                ii = np.asarray(mon.i[:], dtype=np.int64)
                kk = np.rint(np.asarray(mon.t[:] / dt)).astype(np.int64)
                tr[ii // sizes[l], kk, ii % sizes[l]] = True
                trains[l] = tr
        last = net.layers[-1].neuron
        out = (np.asarray(groups[-1].v[:], dtype=np.float64).reshape(B, sizes[L]) if not last.fires
               else counts[L] / T)
    finally:
        if standalone:
            b2.device.reinit()
            b2.device.activate()
            b2.set_device("runtime")
        b2.prefs.codegen.target = old_target
    return Brian2SpikingResult(outputs=out, spike_counts=counts, spike_trains=trains, ticks=T, dt_s=dt_s,
                               codegen_target=codegen_target, runtime_s=time.perf_counter() - t0, run_s=run_s)
