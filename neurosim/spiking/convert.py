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
    # nominal bound: one spike per hidden neuron, propagated through |W_L| ... |W_{l+1}| (dense equivalents)
    Ms = [np.abs(M) for M in net.weights]
    bound, P = 0.0, np.eye(net.n_out)
    for l in range(net.n_layers - 1, 0, -1):
        P = P @ Ms[l]
        if net.layers[l - 1].activation == "relu":
            bound += scales[l - 1] * float(np.max(P.sum(axis=1))) / T
    return Conversion(network=snn, source=net, ticks=T, dt_s=dt, scales=np.array(scales), percentile=percentile,
                      error_bound=float(bound))
