"""ANN -> SNN conversion: ReLU networks to IF (or LIF) spiking networks with data-based threshold balancing.

The classic rate conversion (Diehl et al. 2015; Rueckauer et al. 2017), in
DESIGN.md's spiking semantics (same-tick chain, constant-current input):

* every ReLU layer ``l`` becomes IF neurons with reset by subtraction and
  threshold ``theta_l = dt * r * lambda_l``, where ``lambda_l`` is the
  ``percentile``-th percentile of the layer's activations on calibration
  inputs (threshold balancing); the membrane starts at ``theta_l / 2``
  (``v_reset``, the rest state of IF), which turns the count's floor into a
  rounding (Bu et al. 2022). A neuron's rate ``N / T`` then estimates
  ``min(a_l / lambda_l, 1)``.
* the op of the next weighted layer is scaled by ``lambda_{l-1}`` (its input
  spikes stand for ``a_{l-1} / lambda_{l-1}``); biases are kept; pooling and
  flatten relay the currents unchanged (linear, same tick).
* the linear output layer relays its current: the readout is the mean over
  the T ticks of ``W_L lambda_{L-1} s_{L-1} + b_L``, in the ANN's units.

``neuron="LIF"`` gives leaky neurons with ``r = tau`` (so ``dt / tau * r =
dt`` as for IF) and the same thresholds; the leak loses charge between
spikes, so it needs a larger ``tau_s`` (or T) for the same accuracy.

Nominal quantisation error of the readout (:attr:`Conversion.error_bound`):
each hidden neuron's count is off by about one spike, ``lambda_l / T`` in
activity, reaching the output through ``|W_L| ... |W_{l+1}|``:

.. math:: \\epsilon = \\frac{1}{T} \\sum_{l=1}^{L-1} \\lambda_l \\lVert |W_L| \\cdots |W_{l+1}| \\rVert_\\infty

It holds for activations below ``lambda_l`` and a one-spike count error per
layer; it is a nominal figure, not a theorem (clipped activations above the
percentile, and the one-tick lag of each layer's rate, add to it).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..layers import Layer
from ..layers.spiking import IF, LIF, check_dt, check_ticks
from ..network import Network


@dataclass(frozen=True, eq=False)
class Conversion:
    """Result of :func:`convert`: the spiking network and how it was balanced.

    Attributes
    ----------
    network : Network
        The spiking network (IF/LIF hidden layers, linear relay readout).
    source : Network
        The ReLU network it was converted from.
    ticks, dt_s : int, float
        The T and step the conversion was made for (pass them to ``simulate``).
    scales : ndarray
        ``lambda_l`` of every layer (1 for relays and the output).
    percentile : float
    error_bound : float
        Nominal quantisation error of the readout (module docstring).
    """

    network: Network
    source: Network
    ticks: int
    dt_s: float
    scales: np.ndarray
    percentile: float
    error_bound: float

    def simulate(self, x, faults=None, **kw):
        """``simulate_spiking(self.network, x, faults, ticks=self.ticks, dt_s=self.dt_s, **kw)``."""
        from ..sim.spiking import simulate_spiking

        kw.setdefault("ticks", self.ticks)
        kw.setdefault("dt_s", self.dt_s)
        return simulate_spiking(self.network, x, faults, **kw)


def convert(net, x, ticks: int = 100, neuron: str = "IF", percentile: float = 99.9, dt_s: float = 1e-3,
            tau_s: float = 1.0, name: str | None = None) -> Conversion:
    """Convert ReLU network ``net`` into a spiking network (see the module docstring).

    Parameters
    ----------
    net : Network
        Rate network: ReLU hidden layers (dense or conv), pooling/flatten
        wiring, linear output layer.
    x : array (n, n_in)
        Calibration inputs for the threshold balancing (e.g. training data).
    ticks : int
        T the network will run for (kept with the result; the error bound is ``O(1/T)``).
    neuron : {"IF", "LIF"}
    percentile : float in (0, 100]
        Activation percentile used as the layer scale ``lambda_l`` (100 = max).
    dt_s, tau_s : float
        Step and, for LIF, the membrane time constant (``tau_s > dt_s``).
    """
    from ..chip.mapping import ChipMapping

    if isinstance(net, ChipMapping):
        net = net.qnet
    if not isinstance(net, Network):
        raise ConfigError(f"convert() needs a neurosim.Network. Got {type(net).__name__}.")
    T, dt = check_ticks(ticks), check_dt(dt_s)
    if neuron not in ("IF", "LIF"):
        raise ConfigError(f"'neuron' must be 'IF' or 'LIF'. Got {neuron!r}.")
    try:
        percentile = float(percentile)
    except (TypeError, ValueError):
        percentile = float("nan")
    if not (0.0 < percentile <= 100.0):
        raise ConfigError(f"'percentile' must be in (0, 100]. Got {percentile!r}; e.g. 99.9.")
    if not net.is_rate:
        raise ConfigError(f"Network {net.name!r} is already spiking ({', '.join(net.activations)}); convert() takes a ReLU network.")
    bad = [f"layer {k} ({a})" for k, a in enumerate(net.activations, start=1) if a not in ("relu", "identity")]
    if bad:
        raise ConfigError(f"convert() needs ReLU hidden layers (IF neurons rate-code ReLU only); got {', '.join(bad)}. Retrain with ReLU.")
    x = net.check_inputs(x)
    if x.shape[0] == 0:
        raise ConfigError("'x' (calibration inputs) must hold at least one row. Got 0.")
    ys, _ = net.forward_all(x)
    lam_in = 1.0
    layers, scales = [], []
    for k, (la, y) in enumerate(zip(net.layers, ys[1:]), start=1):
        op = la.op.with_params(weight=np.asarray(la.op.weight) * lam_in) if la.op.weighted else la.op
        if la.activation == "relu":
            if not la.op.weighted:
                raise ConfigError(f"Layer {k}: ReLU after a {la.op.kind} op is not convertible; put the ReLU on the weighted layer before it.")
            lam = float(np.percentile(y, percentile))
            lam = lam if lam > 0 else 1.0  # silent layer: any scale
            th = dt * lam
            nm = IF(v_threshold=th, v_reset=th / 2, reset="subtract") if neuron == "IF" else \
                LIF(tau_s=tau_s, r=tau_s, v_threshold=th, v_leak=0.0, v_reset=th / 2, reset="subtract")
            layers.append(Layer(op, la.bias, nm))
            scales.append(lam)
            lam_in = lam
        else:  # identity: relay (wiring keeps the scale; a weighted linear layer undoes it)
            layers.append(Layer(op, la.bias, "identity"))
            if la.op.weighted:
                lam_in = 1.0
            scales.append(lam_in)
    if net.layers[-1].activation != "identity":
        raise ConfigError("The last layer must be linear for conversion (logits).")
    snn = Network.from_layers(layers, net.input_shape, name or f"{net.name}-snn-{neuron}")
    return Conversion(network=snn, source=net, ticks=T, dt_s=dt, scales=np.array(scales), percentile=percentile,
                      error_bound=nominal_error_bound(net, scales, T))


def nominal_error_bound(source: Network, scales, ticks: int) -> float:
    """The module docstring's nominal readout error ``(1/T) Σ_l λ_l ‖|W_L| ... |W_{l+1}|‖_∞`` over ReLU layers.

    One spike per hidden neuron of ReLU layer ``l`` (``λ_l / T`` in activity),
    propagated through the absolute dense-equivalent weights of the ANN
    ``source`` above it; ``scales[l - 1] = λ_l``.
    """
    Ms = [np.abs(M) for M in source.weights]
    bound, P = 0.0, np.eye(source.n_out)
    for l in range(source.n_layers - 1, 0, -1):
        P = P @ Ms[l]
        if source.layers[l - 1].activation == "relu":
            bound += float(scales[l - 1]) * float(np.max(P.sum(axis=1))) / ticks
    return float(bound)


def quantisation_term(source: Network, snn: Network, ticks: int, dt_s: float) -> dict:
    """The nominal 1/T term of a converted ``snn`` run for ``ticks`` steps of ``dt_s`` against its ANN ``source``.

    Each firing layer's scale is read back from the spiking network: an IF
    neuron integrates ``dt r I`` per tick (LIF: ``dt / tau r I`` below
    threshold, the conversion's ``r = tau``), so it rate-codes activities up
    to ``λ_l = v_threshold / (dt r)`` (``v_threshold tau / (dt r)``), the
    largest over the layer's neurons. Returns ``{"eps_q", "scales", ...}``
    with :func:`nominal_error_bound` as ``eps_q``. Refused (one line) when
    ``snn`` is not a conversion of ``source``: other sizes, a firing layer
    that is not IF/LIF with reset by subtraction, or a ReLU layer not mapped
    onto a firing one.
    """
    from ..spiking.network import layer_role

    T, dt = check_ticks(ticks), check_dt(dt_s)
    if not isinstance(source, Network) or not source.is_rate or source.sizes != snn.sizes:
        raise ConfigError(f"The ANN must be the rate network the spiking one was converted from (same sizes {snn.sizes}). "
                          f"Got {getattr(source, 'sizes', type(source).__name__)}.")
    scales = []
    for k, (a, b) in enumerate(zip(source.layers, snn.layers), start=1):
        role = layer_role(b)
        if a.activation == "relu":
            n = b.neuron
            if role != "fire" or n.kind not in ("IF", "LIF") or n.reset != "subtract":
                raise ConfigError(f"Layer {k} of {snn.name!r} ({b.neuron.kind}) is not an IF/LIF layer with reset by "
                                  "subtraction converted from ReLU: the 1/T conversion term does not apply; plan it "
                                  "with --route simulation.")
            p = n.compile(snn.sizes[k], dt)
            per_tick = dt * p["r"] if n.kind == "IF" else p["a_mem"] * p["r"]
            scales.append(float(np.max(p["v_th"] / per_tick)))
        else:
            scales.append(1.0)
    eps_q = nominal_error_bound(source, scales, T)
    return {"eps_q": eps_q, "scales": scales, "ticks": T, "dt_s": dt,
            "formula": "eps_q = (1/T) sum_l lambda_l || |W_L| ... |W_{l+1}| ||_inf over ReLU layers (one spike per "
                       "hidden neuron; neurosim.spiking.convert), lambda_l = v_threshold / (per-tick gain dt r)",
            "note": "nominal, not a theorem: it holds for activations below lambda_l and a one-spike count error per "
                    "layer (clipped activations and the one-tick lag of each layer add to it)"}
