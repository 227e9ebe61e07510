"""Brian2 reference: rate-coded integrate-and-fire version of a ReLU network.

The classic ANN-to-SNN conversion (Diehl et al. 2015; Rueckauer et al. 2017):
every ReLU unit becomes a non-leaky integrate-and-fire (IF) neuron with reset by
subtraction, so that its spike count over ``T`` steps approximates its ReLU
activation times ``T``. Stuck-at-0 faults are modelled the way the engine models
them (DESIGN.md "Semantics"): a dead neuron never spikes (output neurons read
0), a dead synapse is not connected. :func:`replay_engine_faults` takes the
permanent fault sites the numba engine draws for one chip and runs them here,
so the engine's faulty outputs can be checked against a real spiking simulation.

Model, per input (all inputs of a batch run at once as disconnected copies of
the network inside the same Brian2 groups, "block-diagonal" synapses)
----------------------------------------------------------------------------

Let ``rho = max_rate_hz * dt_s <= 1`` (spikes per step at full activity) and
``lam_l`` the normalisation scale of layer ``l``. All potentials are
dimensionless, threshold 1, initial potential 1/2 (half-threshold start, which
turns the count's floor into a rounding; Bu et al. 2022).

* Layer 0 (inputs): IF neurons driven by the constant current
  ``rho * x_j / lam_0`` per step (an "ON" neuron; if some inputs are negative,
  also an "OFF" neuron driven by ``rho * max(-x_j, 0) / lam_0`` whose
  synapses carry ``-W``). Deterministic, no Poisson noise.
* Hidden layer ``l`` (ReLU): IF neurons, per step
  ``v += rho * b_l[i] / lam_l`` (bias as a constant current) and on every spike
  of neuron ``j`` of layer ``l-1``: ``v += W_l[i, j] * lam_{l-1} / lam_l``;
  when ``v >= 1`` (and ``alive``): spike and ``v -= 1`` (reset by subtraction).
  The count ``N_i`` estimates ``y_l[i] = lam_l * N_i / (rho T)``.
* Output layer ``L`` (linear): an accumulator without threshold,
  ``acc += b_L[i]`` per step and ``acc += W_L[i, j] * lam_{L-1} / rho`` per
  spike; the readout is ``alive_i * acc_i / T``, the time-averaged total input,
  directly in the network's units.

Normalisation (data-based, layer-wise, Diehl et al. 2015): ``lam_0 = max |x|``
and ``lam_l = max y_l`` over the batch, computed on the network that is
simulated (dead sites included), so no neuron needs more than ``rho`` spikes
per step; the readout undoes the scaling, so outputs compare to
``net.forward(x)`` directly.

Accuracy: a neuron's count is off from ``rho T a`` by about one spike
(quantisation, ~1/T) plus at most one step of input per upstream layer
(each layer adds one step of latency); these errors propagate through the
downstream weights. :meth:`Brian2Result.error_bound` gives the resulting
worst-case bound; measured errors are typically 10-100 times smaller.

References
----------
P. U. Diehl, D. Neil, J. Binas, M. Cook, S.-C. Liu, M. Pfeiffer. "Fast-classifying,
high-accuracy spiking deep networks through weight and threshold balancing."
IJCNN 2015.
B. Rueckauer, I.-A. Lungu, Y. Hu, M. Pfeiffer, S.-C. Liu. "Conversion of
continuous-valued deep networks to efficient event-driven networks for image
classification." Frontiers in Neuroscience 11:682, 2017.
T. Bu, W. Fang, J. Ding, P. Dai, Z. Yu, T. Huang. "Optimal ANN-SNN conversion for
high-accuracy and ultra-low-latency spiking neural networks." ICLR 2022.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import _validate
from ..errors import ConfigError
from ..faults.spec import as_specs
from ..network import Network

V_INIT = 0.5
"""Initial membrane potential (threshold is 1): half-threshold start, count = round(rate * T)."""


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class Brian2Result:
    """Outcome of :func:`run_brian2`.

    Attributes
    ----------
    rates : ndarray (n_inputs, n_out)
        Estimates of the network output ``y_L`` in the network's units (the
        time-averaged accumulator readout; comparable to ``net.forward(x)``).
    spike_counts : tuple of int64 ndarrays
        Per spiking layer ``l = 0..L-1``, counts of shape ``(n_inputs, n_l)``
        over the run. Layer 0 is ON minus OFF counts when inputs are signed.
    scales : ndarray (L,)
        Normalisation scales ``lam_0 .. lam_{L-1}`` (activity ``lam_l`` fires
        ``max_rate_hz``).
    duration_steps, dt_s, max_rate_hz, codegen_target
        The settings of the run.
    runtime_s : float
        Wall-clock time of building and running the Brian2 network.
    error_bound_abs : float
        :meth:`error_bound` at the time of the run (see there).
    dead_neurons, dead_synapses : dict
        The fault sites that were simulated (``{layer: sorted int64 indices}``).
    """

    rates: np.ndarray
    spike_counts: tuple
    scales: np.ndarray
    duration_steps: int
    dt_s: float
    max_rate_hz: float
    codegen_target: str
    runtime_s: float
    error_bound_abs: float
    dead_neurons: dict = field(default_factory=dict)
    dead_synapses: dict = field(default_factory=dict)

    @property
    def outputs(self) -> np.ndarray:
        """Alias of :attr:`rates` (output estimates in the network's units)."""
        return self.rates

    @property
    def spikes_per_step(self) -> float:
        """``rho = max_rate_hz * dt_s``: spikes per step of a neuron at activity ``lam_l``."""
        return self.max_rate_hz * self.dt_s

    def layer_estimates(self) -> list:
        """Estimates of ``y_0 .. y_{L-1}`` from the spike counts: ``lam_l N / (rho T)``."""
        norm = self.spikes_per_step * self.duration_steps
        return [c * (s / norm) for c, s in zip(self.spike_counts, self.scales)]

    def error_bound(self) -> float:
        """Nominal worst-case ``max |rates - y_L|`` from spike-count quantisation.

        A neuron of layer ``l`` misses or gains at most about ``l + 1`` spikes
        (one from the quantisation of its count, one step of input per upstream
        layer of latency), i.e. ``(l + 1) lam_l / (rho T)`` in activity; the
        error reaches the output through ``|W_L| ... |W_{l+1}|``:

        .. math::

            \\epsilon = \\frac{1}{\\rho T} \\sum_{l=0}^{L-1} (l + 1)\\, \\lambda_l\\,
            \\lVert |W_L| \\cdots |W_{l+1}| \\rVert_\\infty

        It is a bound for well-behaved inputs (bounded membrane excursions),
        not a theorem; it scales as ``1/T``.
        """
        return self.error_bound_abs


# ----------------------------------------------------------------------------- validation
def _check_relu(net: Network) -> None:
    for l, a in enumerate(net.activations[:-1], start=1):
        if a != "relu":
            raise ConfigError(
                f"The Brian2 reference simulates rate-coded ReLU networks only; hidden layer {l} has "
                f"activation {a!r}. Use a network with 'relu' hidden layers (retrain or convert it)."
            )


def _site_dict(name, sites, valid, sizes):
    """Normalise ``{layer: indices or bool mask}`` into ``{layer: sorted unique int64}``."""
    out = {}
    if sites is None:
        return out
    if not isinstance(sites, dict):
        raise ConfigError(f"'{name}' must be a dict {{layer: site indices}}. Got {type(sites).__name__}.")
    for layer, idx in sites.items():
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or int(layer) not in valid:
            raise ConfigError(f"'{name}' layer keys must be in {min(valid)}..{max(valid)}. Got {layer!r}.")
        layer = int(layer)
        n = sizes[layer]
        a = np.asarray(idx)
        if a.dtype == np.bool_:
            if a.size != n:
                raise ConfigError(f"'{name}[{layer}]' as a mask must have {n} entries. Got {a.size}.")
            a = np.flatnonzero(a.ravel())
        a = a.astype(np.int64, copy=False).ravel() if a.size else np.zeros(0, np.int64)
        if a.size and (a.min() < 0 or a.max() >= n):
            raise ConfigError(f"'{name}[{layer}]' indices must be in 0..{n - 1}. Got {a.min()}..{a.max()}.")
        out[layer] = np.unique(np.concatenate([out.get(layer, np.zeros(0, np.int64)), a]))
    return out


def _check_int(name, v, lo):
    return _validate.integer(v, name, lo)


def _masks(net, dead_neurons, dead_synapses):
    alive = [np.ones(n) for n in net.sizes]
    for l, idx in dead_neurons.items():
        alive[l][idx] = 0.0
    Ws = []
    for l, W in enumerate(net.weights, start=1):
        W = W.copy()
        if l in dead_synapses:
            W.ravel()[dead_synapses[l]] = 0.0
        Ws.append(W)
    return alive, Ws


def _masked_forward(net, x, alive, Ws):
    """``[y_0 .. y_L]`` of the faulty network (stuck-at-0 masks), used for the normalisation."""
    y = x * alive[0]
    ys = [y]
    for l, (W, b) in enumerate(zip(Ws, net.biases), start=1):
        z = y @ W.T + b
        y = (z if l == net.n_layers else np.maximum(z, 0.0)) * alive[l]
        ys.append(y)
    return ys


# ----------------------------------------------------------------------------- simulation
def run_brian2(net: Network, x, dead_neurons=None, dead_synapses=None, duration_steps: int = 2000,
               dt_s: float = 1e-3, max_rate_hz: float = 500.0, codegen_target: str = "numpy") -> Brian2Result:
    """Simulate ``net`` as a rate-coded IF spiking network in Brian2 (see the module docstring).

    Parameters
    ----------
    net : Network or ChipMapping
        Hidden activations must be ``"relu"`` (the last layer is linear). A
        mapping's quantised network is simulated.
    x : array (n_inputs, n_in)
        Inputs; every input runs as its own copy of the network, all at once.
    dead_neurons : dict or None
        ``{layer: neuron indices}`` stuck at 0, layers ``0..L`` (0 = inputs,
        ``L`` = outputs, read as 0). Boolean masks are accepted too.
    dead_synapses : dict or None
        ``{layer: indices i * n_in + j}`` of ``W_layer[i, j]`` stuck at 0,
        layers ``1..L`` (the engine's site numbering). Boolean masks of
        ``W_layer``'s shape are accepted too.
    duration_steps : int
        Simulated steps ``T``; the error shrinks as ``1 / (rho T)``.
    dt_s : float
        Step in seconds (only labels time: the model is defined per step).
    max_rate_hz : float
        Rate of a neuron at the layer's maximum activity; ``max_rate_hz * dt_s``
        must be in (0, 1] (at most one spike per step).
    codegen_target : str
        ``brian2.prefs.codegen.target`` for this run: "numpy" (portable, no
        compiler) or "cython" (compiled; the first run compiles for ~1 min,
        then cached). Runtime mode only; the previous value is restored.

    Returns
    -------
    Brian2Result

    The simulation is deterministic (constant input currents, no noise), so
    there is no seed.
    """
    try:
        import brian2 as b2
    except ImportError:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "The Brian2 reference needs brian2; install it with: pip install 'neurosim-faults[spiking]'."
        ) from None
    from ..chip.mapping import ChipMapping

    if isinstance(net, ChipMapping):
        net = net.qnet  # what the chip computes, as in simulate()
    if not isinstance(net, Network):
        raise ConfigError(f"run_brian2() needs a neurosim.Network or ChipMapping. Got {type(net).__name__}.")
    _check_relu(net)
    x = net.check_inputs(x)
    if x.shape[0] == 0:
        raise ConfigError("'x' must hold at least one input row. Got 0.")
    T = _check_int("duration_steps", duration_steps, 1)
    dt_s = float(dt_s)
    if not (dt_s > 0 and np.isfinite(dt_s)):
        raise ConfigError(f"'dt_s' must be a positive number of seconds. Got {dt_s!r}.")
    max_rate_hz = float(max_rate_hz)
    rho = max_rate_hz * dt_s
    if not (0.0 < rho <= 1.0 + 1e-12):
        raise ConfigError(
            f"'max_rate_hz' * 'dt_s' must be in (0, 1] (at most one spike per step). Got "
            f"{max_rate_hz!r} Hz * {dt_s!r} s = {rho!r}; lower max_rate_hz to at most {1.0 / dt_s:g}."
        )
    rho = min(rho, 1.0)
    if codegen_target not in ("numpy", "cython"):
        raise ConfigError(
            f"'codegen_target' must be 'numpy' or 'cython' (runtime mode). Got {codegen_target!r}."
        )

    L, sizes = net.n_layers, net.sizes
    dn = _site_dict("dead_neurons", dead_neurons, range(0, L + 1), sizes)
    ds = _site_dict("dead_synapses", dead_synapses, range(1, L + 1), (0,) + tuple(W.size for W in net.weights))
    alive, Ws = _masks(net, dn, ds)
    ys = _masked_forward(net, x, alive, Ws)
    lam = np.empty(L)
    lam[0] = np.max(np.abs(ys[0]))
    for l in range(1, L):
        lam[l] = np.max(ys[l])
    lam[lam <= 0.0] = 1.0  # silent layer: any scale works
    signed = bool(np.any(ys[0] < 0.0))
    B = x.shape[0]

    t0 = time.perf_counter()
    old_target = b2.prefs.codegen.target
    b2.prefs.codegen.target = codegen_target
    try:
        dt = dt_s * b2.second
        ns = {"tau_step": dt}
        eqs_if = """
        dv/dt = I / tau_step : 1
        I : 1 (constant)
        alive : 1 (constant)
        """
        groups, mons, syns = [], [], []
        n_ch = 2 if signed else 1
        g0 = b2.NeuronGroup(B * n_ch * sizes[0], eqs_if, threshold="v >= 1 and alive > 0", reset="v -= 1",
                            method="euler", namespace=ns, dt=dt, name="ns_layer0")
        x0 = ys[0] / lam[0] * rho  # (B, n0), dead inputs already 0
        cur = np.stack([np.maximum(x0, 0.0), np.maximum(-x0, 0.0)], axis=1)[:, :n_ch]  # (B, ch, n0)
        g0.I = cur.ravel()
        g0.alive = np.tile(alive[0], B * n_ch)
        g0.v = V_INIT
        groups.append(g0)
        for l in range(1, L):
            g = b2.NeuronGroup(B * sizes[l], eqs_if, threshold="v >= 1 and alive > 0", reset="v -= 1",
                               method="euler", namespace=ns, dt=dt, name=f"ns_layer{l}")
            g.I = np.tile(rho * net.biases[l - 1] / lam[l], B)
            g.alive = np.tile(alive[l], B)
            g.v = V_INIT
            groups.append(g)
        out = b2.NeuronGroup(B * sizes[L], """
            dacc/dt = I / tau_step : 1
            I : 1 (constant)
            """, method="euler", namespace=ns, dt=dt, name="ns_readout")
        out.I = np.tile(net.biases[L - 1], B)
        out.acc = 0.0
        mons = [b2.SpikeMonitor(g, record=False, name=f"ns_count{l}") for l, g in enumerate(groups)]
        for l in range(1, L + 1):
            W = Ws[l - 1]
            n_out, n_in = W.shape
            post_i, pre_j = np.nonzero(W)
            w = W[post_i, pre_j] * (lam[l - 1] / (lam[l] if l < L else rho))
            src = groups[l - 1]
            tgt = groups[l] if l < L else out
            var = "v" if l < L else "acc"
            chans = [(0, 1.0), (1, -1.0)] if (l == 1 and signed) else [(0, 1.0)]
            pre_all, post_all, w_all = [], [], []
            n_src = n_in * (n_ch if l == 1 else 1)
            for c, sign in chans:
                copies = np.arange(B, dtype=np.int64)[:, None]
                pre_all.append((copies * n_src + c * n_in + pre_j[None]).ravel())
                post_all.append((copies * n_out + post_i[None]).ravel())
                w_all.append(np.tile(sign * w, B))
            pre = np.concatenate(pre_all)
            if pre.size == 0:
                continue
            S = b2.Synapses(src, tgt, model="w : 1 (constant)", on_pre=f"{var}_post += w", dt=dt,
                            name=f"ns_syn{l}")
            S.connect(i=pre, j=np.concatenate(post_all))
            S.w = np.concatenate(w_all)
            syns.append(S)
        bnet = b2.Network(*groups, out, *mons, *syns)
        bnet.run(T * dt, namespace={})
        counts = [np.asarray(m.count[:], dtype=np.int64) for m in mons]
        acc = np.asarray(out.acc[:], dtype=np.float64).reshape(B, sizes[L])
    finally:
        b2.prefs.codegen.target = old_target
    runtime = time.perf_counter() - t0

    c0 = counts[0].reshape(B, n_ch, sizes[0])
    spike_counts = [c0[:, 0] - c0[:, 1] if signed else c0[:, 0]]
    spike_counts += [counts[l].reshape(B, sizes[l]) for l in range(1, L)]
    rates = acc / T * alive[L]
    # nominal bound: (l + 1) spikes per neuron of layer l, propagated through |W_L| ... |W_{l+1}|
    bound, P = 0.0, np.eye(sizes[L])
    for l in range(L - 1, -1, -1):
        P = P @ np.abs(Ws[l])
        bound += (l + 1) * lam[l] * float(np.max(P.sum(axis=1))) / (rho * T)
    for a in spike_counts:
        a.setflags(write=False)
    return Brian2Result(
        rates=rates, spike_counts=tuple(spike_counts), scales=lam, duration_steps=T, dt_s=dt_s,
        max_rate_hz=max_rate_hz, codegen_target=codegen_target, runtime_s=runtime, error_bound_abs=float(bound),
        dead_neurons=dn, dead_synapses=ds,
    )


# ----------------------------------------------------------------------------- engine replay
@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Brian2 and the engine on the same chip's permanent faults (:func:`replay_engine_faults`).

    Attributes
    ----------
    brian2 : Brian2Result
        The spiking simulation with the chip's dead sites.
    engine : ndarray (n_inputs, n_out)
        The engine's faulty output for that chip (``simulate(...).faulty[chip]``).
    clean : ndarray (n_inputs, n_out)
        The engine's fault-free float output of the simulated network.
    chip, seed : int
    dead_neurons, dead_synapses : dict
        ``{layer: indices}`` replayed (core faults expanded to their neurons and cells).
    """

    brian2: Brian2Result
    engine: np.ndarray
    clean: np.ndarray
    chip: int
    seed: int
    dead_neurons: dict
    dead_synapses: dict

    def deviation(self) -> dict:
        """Agreement of Brian2 with the engine's faulty output.

        ``max_abs`` = max |brian2 - engine|; ``max_rel`` = ``max_abs`` divided
        by max |engine| (relative to the output range: element-wise relative
        errors are meaningless near 0); ``argmax_agreement`` = fraction of
        inputs whose argmax agrees (None for one output); ``bound`` = the
        nominal quantisation bound of :meth:`Brian2Result.error_bound`;
        ``fault_effect`` = max |engine - clean|.
        """
        d = np.abs(self.brian2.rates - self.engine)
        max_abs = float(d.max())
        scale = float(np.max(np.abs(self.engine)))
        agree = None
        if self.engine.shape[1] > 1:
            agree = float(np.mean(np.argmax(self.brian2.rates, axis=1) == np.argmax(self.engine, axis=1)))
        return {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else 0.0,
                "argmax_agreement": agree, "bound": self.brian2.error_bound(),
                "fault_effect": float(np.max(np.abs(self.engine - self.clean)))}


def replay_engine_faults(target, x, faults, chip: int = 0, seed: int = 0, **kw) -> ReplayResult:
    """Run chip ``chip``'s permanent faults, as the engine draws them, in Brian2.

    Parameters
    ----------
    target : Network or ChipMapping
        As for :func:`neurosim.simulate`; a mapping's quantised network is
        simulated, and its core faults are expanded to the neurons and crossbar
        cells on the dead cores.
    x : array (n_inputs, n_in)
    faults : FaultSpec, spec string, or a list of them
        Permanent faults only (transient and intermittent faults change between
        inferences and are not replayable here).
    chip : int
        Which chip instance of ``simulate(..., n_chips=chip + 1, seed=seed)``.
    seed : int
        The engine's seed (must be given: the replay needs the same draw).
    **kw
        Passed to :func:`run_brian2` (``duration_steps``, ``max_rate_hz``,
        ``codegen_target``, ...).

    Returns
    -------
    ReplayResult
    """
    from ..sim import permanent_fault_sites, simulate, simulation_network

    specs = as_specs(faults)
    valued = [s.to_text() for s in specs if not s.fault_value.is_zero]
    if valued:
        raise ConfigError(f"The Brian2 replay replays stuck-at-0 faults only; remove the value from {', '.join(valued)}.")
    bad = [s.to_text() for s in specs if s.mode != "permanent"]
    if bad:
        raise ConfigError(
            f"Only permanent faults can be replayed in Brian2 (fixed for the whole run); got {', '.join(bad)}. "
            "Drop the transient/intermittent specs or compare them statistically with simulate()."
        )
    chip = _check_int("chip", chip, 0)
    seed = _check_int("seed", seed, 0)
    net = simulation_network(target)
    sites = permanent_fault_sites(target, specs, chip=chip, seed=seed)
    dead_n = {l: [] for l in range(net.n_layers + 1)}
    dead_s = {l: [] for l in range(1, net.n_layers + 1)}
    for s, per_slot in zip(specs, sites):
        for slot, idx in per_slot.items():
            if s.site == "neuron":
                dead_n[slot].append(idx)
            elif s.site == "synapse":
                dead_s[slot].append(idx)
            else:  # core: every neuron (layers 1..L) and every cell placed on a dead core
                for l in range(1, net.n_layers + 1):
                    dead_n[l].append(np.flatnonzero(np.isin(target.neuron_core[l - 1], idx)))
                    dead_s[l].append(np.flatnonzero(np.isin(target.synapse_core(l).ravel(), idx)))
    dead_n = {l: np.unique(np.concatenate(v)).astype(np.int64) for l, v in dead_n.items() if v}
    dead_s = {l: np.unique(np.concatenate(v)).astype(np.int64) for l, v in dead_s.items() if v}
    res = run_brian2(net, x, dead_neurons=dead_n, dead_synapses=dead_s, **kw)
    sim = simulate(target, x, specs, n_chips=chip + 1, seed=seed)
    return ReplayResult(brian2=res, engine=sim.faulty[chip], clean=sim.clean, chip=chip, seed=seed,
                        dead_neurons=res.dead_neurons, dead_synapses=res.dead_synapses)
