"""Spiking networks are :class:`neurosim.Network` objects whose layers carry spiking neuron models.

DESIGN.md "Semantics" (spiking): at tick ``k`` layer ``l`` receives
``I_l[k] = op_l(s_{l-1}[k - d_l]) + b_l`` (``d_l`` = the neuron's
``delay_ticks``), where ``s_0`` is the input as a constant current
(``encoding="current"``) or Bernoulli rate-coded spikes (``encoding="rate"``,
inputs in [0, 1]). Firing layers (IF, LIF, CubaLIF) emit spikes; a layer with
the linear ``identity`` neuron relays its current unchanged in the same tick
(pooling, flatten, or a converted ANN's linear output layer); a non-spiking LI
/ I layer may only be last. Readout of the last layer: spike counts / T
(firing), membrane at tick T (LI / I), or the mean current over the T ticks
(identity).
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..layers import Activation, Dense, Layer
from ..network import Network
from ..layers.spiking import SpikingNeuron

READOUTS = ("counts", "membrane", "current")


def is_spiking(net) -> bool:
    """True when some layer of ``net`` has a spiking-mode neuron model."""
    return isinstance(net, Network) and any(isinstance(la.neuron, SpikingNeuron) for la in net.layers)


def from_arrays(weights, biases, neurons, name: str = "snn") -> Network:
    """A dense spiking network: ``neurons`` is one model per layer (or one for every layer)."""
    weights = list(weights)
    if isinstance(neurons, (SpikingNeuron, Activation, str)):
        neurons = [neurons] * len(weights)
    neurons = list(neurons)
    if len(neurons) != len(weights) or len(biases) != len(weights):
        raise ConfigError(f"Give one bias and one neuron model per weight matrix ({len(weights)}). Got {len(biases)} biases, {len(neurons)} neurons.")
    if not weights:
        raise ConfigError("'weights' must hold at least one matrix. Got an empty list.")
    W0 = np.asarray(weights[0])
    if W0.ndim != 2:
        raise ConfigError(f"Weight W_1 must be 2-D (n_out, n_in). Got shape {W0.shape}.")
    layers = [Layer(Dense(np.asarray(W, dtype=np.float64)), b, n) for W, b, n in zip(weights, biases, neurons)]
    net = Network.from_layers(layers, (W0.shape[1],), name)
    check_spiking(net)
    return net


def layer_role(layer) -> str:
    """"fire" (IF/LIF/CubaLIF), "integrate" (LI/I) or "relay" (identity neuron)."""
    n = layer.neuron
    if isinstance(n, SpikingNeuron):
        return "fire" if n.fires else "integrate"
    if n.kind == "identity":
        return "relay"
    return "rate"


def check_spiking(net) -> Network:
    """Validate ``net`` for spiking mode (one line naming the layer and the fix on failure)."""
    if not isinstance(net, Network):
        raise ConfigError(f"Spiking simulation needs a neurosim.Network with spiking layers. Got {type(net).__name__}.")
    roles = [layer_role(la) for la in net.layers]
    for k, (la, r) in enumerate(zip(net.layers, roles), start=1):
        if r == "rate":
            raise ConfigError(
                f"Layer {k} has the rate activation {la.neuron.kind!r}, which spiking mode cannot run; "
                "convert the network first (neurosim.spiking.convert / neurosim convert) or give it IF/LIF neurons."
            )
        if r == "integrate" and k < net.n_layers:
            raise ConfigError(f"Layer {k} is a non-spiking {la.neuron.kind} readout but is not the last layer; only the last layer may be LI/I.")
    if "fire" not in roles:
        raise ConfigError(f"Network {net.name!r} has no firing layer (IF, LIF, CubaLIF); nothing would spike.")
    return net


#: The spiking options a sweep or a plan passes on to ``simulate``.
RUN_OPTIONS = ("ticks", "dt_s", "encoding", "delay_ticks")


def check_run_options(net, spiking) -> dict:
    """Validated spiking run options for ``net``: ``{}`` for a rate network (options on one refused).

    ``ticks`` is checked (default 100) and ``dt_s`` when given; ``encoding`` and
    ``delay_ticks`` are passed through for ``simulate`` to check. Shared by
    sweeps and plans (one place for these checks).
    """
    from ..layers.spiking import check_dt, check_ticks

    spiking = dict(spiking or {})
    if not is_spiking(net):
        if spiking:
            raise ConfigError(f"{', '.join(sorted(spiking))} apply to spiking networks; {net.name!r} is a rate network.")
        return {}
    check_spiking(net)
    unknown = sorted(set(spiking) - set(RUN_OPTIONS))
    if unknown:
        raise ConfigError(f"Unknown spiking option(s) {', '.join(unknown)}; use {', '.join(RUN_OPTIONS)}.")
    spiking["ticks"] = check_ticks(spiking.get("ticks", 100))
    if "dt_s" in spiking:
        spiking["dt_s"] = check_dt(spiking["dt_s"])
    return spiking


def readout(net) -> str:
    """Readout of the last layer: "counts", "membrane" or "current" (see the module docstring)."""
    return {"fire": "counts", "integrate": "membrane", "relay": "current"}[layer_role(net.layers[-1])]


def delay_of(layer) -> int:
    return layer.neuron.delay_ticks if isinstance(layer.neuron, SpikingNeuron) else 0


def with_delay(net, delay_ticks: int) -> Network:
    """Copy of ``net`` with every spiking layer's ``delay_ticks`` set (relays keep 0)."""
    if isinstance(delay_ticks, bool) or not isinstance(delay_ticks, (int, np.integer)) or delay_ticks < 0:
        raise ConfigError(f"'delay_ticks' must be an integer >= 0. Got {delay_ticks!r}.")
    layers = [Layer(la.op, la.bias, la.neuron.replace(delay_ticks=int(delay_ticks)))
              if isinstance(la.neuron, SpikingNeuron) else la for la in net.layers]
    return Network.from_layers(layers, net.input_shape, net.name)
