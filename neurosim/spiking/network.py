"""A spiking network: a chain of layers, each a synaptic op (dense ``W``, bias ``b``) + a spiking neuron model.

DESIGN.md "Semantics" (spiking): at tick ``k`` layer ``l`` receives
``I_l[k] = W_l s_{l-1}[k - d_l] + b_l`` (``d_l = delay_ticks``, 0 by default:
the same-tick chain snnTorch and Norse use; 1 reproduces Brian2's schedule and
Loihi-style pipelines), where ``s_0`` is the input as a constant current
(``encoding="current"``) or Bernoulli rate-coded spikes (``encoding="rate"``,
inputs in [0, 1]). Hidden layers must spike (IF, LIF, CubaLIF); the last layer
is spiking (readout: spike counts / T) or a non-spiking LI / integrator
(readout: its membrane at tick T).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .neurons import MODELS, check_dt

ENCODINGS = ("current", "rate")


@dataclass(frozen=True, eq=False)
class SpikingLayer:
    """One layer: ``weight`` ``(n_out, n_in)``, ``bias`` ``(n_out,)``, ``neuron`` model, ``delay_ticks``."""

    weight: np.ndarray
    bias: np.ndarray
    neuron: object
    delay_ticks: int = 0


@dataclass(frozen=True, eq=False)
class SpikingNetwork:
    """A validated chain of :class:`SpikingLayer` with a default step ``dt_s`` (seconds).

    Attributes mirror :class:`neurosim.Network` where they make sense
    (``weights``, ``biases``, ``sizes``, ``n_layers``...), so mapping and
    fault-site numbering work the same way.
    """

    layers: tuple
    dt_s: float = 1e-3
    encoding: str = "current"
    name: str = "snn"

    @classmethod
    def from_layers(cls, layers, dt_s=1e-3, encoding="current", name="snn") -> "SpikingNetwork":
        layers = list(layers)
        if not layers:
            raise ConfigError("A spiking network needs at least one layer. Got none.")
        dt = check_dt(dt_s)
        if encoding not in ENCODINGS:
            raise ConfigError(f"'encoding' must be one of {', '.join(ENCODINGS)}. Got {encoding!r}.")
        out = []
        for k, lay in enumerate(layers, start=1):
            if not isinstance(lay, SpikingLayer):
                lay = SpikingLayer(*lay)
            W = np.array(lay.weight, dtype=np.float64, copy=True)
            b = np.zeros(W.shape[0]) if lay.bias is None else np.array(lay.bias, dtype=np.float64, copy=True)
            if W.ndim != 2 or W.size == 0:
                raise ConfigError(f"Weight W_{k} must be a non-empty 2-D (n_out, n_in) array. Got shape {W.shape}.")
            if b.shape != (W.shape[0],):
                raise ConfigError(f"Bias b_{k} must have shape ({W.shape[0]},) to match W_{k} {W.shape}. Got {b.shape}.")
            if k > 1 and W.shape[1] != out[-1].weight.shape[0]:
                raise ConfigError(f"Layer shapes must chain: W_{k} takes {W.shape[1]} inputs but layer {k - 1} has {out[-1].weight.shape[0]} outputs.")
            if not (np.all(np.isfinite(W)) and np.all(np.isfinite(b))):
                raise ConfigError(f"Layer {k} has non-finite weights or biases (NaN/inf); clean the model.")
            nm = lay.neuron
            if type(nm).__name__ not in {m.__name__ for m in MODELS.values()}:
                raise ConfigError(f"Layer {k} neuron must be one of IF, LIF, CubaLIF, LI, Integrator. Got {type(nm).__name__}.")
            if not nm.spiking and k < len(layers):
                raise ConfigError(f"Layer {k} is a non-spiking {nm.kind} readout but is not the last layer; only the last layer may be LI/I.")
            d = lay.delay_ticks
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
                raise ConfigError(f"Layer {k} 'delay_ticks' must be an integer >= 0. Got {d!r}.")
            nm.compile(W.shape[0], dt)  # validates parameters (tau > 0, dt < tau, finite)
            W.setflags(write=False)
            b.setflags(write=False)
            out.append(SpikingLayer(W, b, nm, int(d)))
        return cls(tuple(out), dt, encoding, str(name))

    # -------------------------------------------------------------- like Network
    @property
    def weights(self) -> tuple:
        return tuple(l.weight for l in self.layers)

    @property
    def biases(self) -> tuple:
        return tuple(l.bias for l in self.layers)

    @property
    def neurons(self) -> tuple:
        return tuple(l.neuron for l in self.layers)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def sizes(self) -> tuple:
        return (self.layers[0].weight.shape[1],) + tuple(l.weight.shape[0] for l in self.layers)

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    @property
    def n_synapses(self) -> int:
        return int(sum(l.weight.size for l in self.layers))

    @property
    def readout(self) -> str:
        """"counts" (spike counts / T of a spiking last layer) or "membrane" (LI / I last layer)."""
        return "counts" if self.layers[-1].neuron.spiking else "membrane"

    def replace(self, **kw) -> "SpikingNetwork":
        """A copy with ``dt_s``, ``encoding``, ``name`` or ``delay_ticks`` (every layer) replaced."""
        d = kw.pop("delay_ticks", None)
        layers = [SpikingLayer(l.weight, l.bias, l.neuron, l.delay_ticks if d is None else d) for l in self.layers]
        args = dict(dt_s=self.dt_s, encoding=self.encoding, name=self.name)
        args.update(kw)
        return SpikingNetwork.from_layers(layers, **args)

    def with_weights(self, weights, name=None) -> "SpikingNetwork":
        layers = [SpikingLayer(W, l.bias, l.neuron, l.delay_ticks) for W, l in zip(weights, self.layers)]
        return SpikingNetwork.from_layers(layers, self.dt_s, self.encoding, name or self.name)

    def check_inputs(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ConfigError(f"Inputs must have shape (batch, {self.n_in}). Got {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ConfigError("Inputs contain NaN or inf values; clean them before simulating.")
        return x

    def __repr__(self) -> str:
        kinds = ",".join(l.neuron.kind for l in self.layers)
        return f"SpikingNetwork(name={self.name!r}, sizes={self.sizes}, neurons=[{kinds}], dt_s={self.dt_s})"
