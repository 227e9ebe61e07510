"""Neuron models: the non-linear part of a layer (DESIGN.md "Network model").

A layer's neuron model is a :class:`NeuronModel`: a ``kind`` string and a
dict of parameter arrays (scalars or one value per neuron). Rate mode uses
:class:`Activation` (``relu``, ``sigmoid``, ``tanh``, ``identity``).

**Slot for spiking models.** Spiking neuron types (IF, LIF, CubaLIF, LI, I,
with NIR's parameter names: ``tau_mem_s``, ``r``, ``v_leak``, ``v_threshold``,
``v_reset``, ``tau_syn_s``, ``w_in``, ...) are further subclasses of
:class:`NeuronModel` registered with :func:`register_neuron`; they set
``spiking = True``. Nothing else needs to change: the native format stores
``kind`` plus every entry of ``params`` (round-trip bit-exact), the NIR reader
builds them from NIR nodes through :data:`NEURON_TYPES`, and the rate engine
refuses spiking layers (spiking mode simulates them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

ACTIVATIONS = ("relu", "sigmoid", "tanh", "identity")


def activate(name: str, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Apply activation ``name`` element-wise (``sigmoid`` is the logistic 1/(1+e^-z))."""
    if name == "relu":
        return np.maximum(z, 0.0, out=out)
    if name == "sigmoid":
        # numerically stable logistic: 0.5 * (1 + tanh(z / 2))
        r = np.multiply(z, 0.5, out=out)
        np.tanh(r, out=r)
        r += 1.0
        r *= 0.5
        return r
    if name == "tanh":
        return np.tanh(z, out=out)
    if name == "identity":
        if out is None:
            return z.copy()
        out[...] = z
        return out
    raise ConfigError(f"Unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}.")


def activation_derivative(name: str, z: np.ndarray) -> np.ndarray:
    """Derivative of activation ``name`` at pre-activation ``z`` (relu'(0) = 0)."""
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "sigmoid":
        s = activate("sigmoid", z)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "identity":
        return np.ones_like(z)
    raise ConfigError(f"Unknown activation {name!r}; use one of {', '.join(ACTIVATIONS)}.")


@dataclass(frozen=True, eq=False)
class NeuronModel:
    """Base class: ``kind`` names the model, ``params`` maps names to float arrays."""

    kind: str
    params: dict = field(default_factory=dict)
    spiking = False

    def validate(self, n_out: int, where: str) -> None:
        """Check parameter shapes against the layer width (scalars broadcast)."""
        for k, v in self.params.items():
            a = np.asarray(v)
            if a.size not in (1, n_out):
                raise ConfigError(
                    f"{where}: neuron parameter {k!r} of {self.kind!r} must be a scalar or have {n_out} values. Got shape {a.shape}."
                )
            if not np.all(np.isfinite(a)):
                raise ConfigError(f"{where}: neuron parameter {k!r} of {self.kind!r} has non-finite values.")

    def __repr__(self):
        return self.kind if not self.params else f"{self.kind}({', '.join(self.params)})"


@dataclass(frozen=True, eq=False, repr=False)
class Activation(NeuronModel):
    """Rate-mode activation ``y = act(z)``; no parameters."""

    def __post_init__(self):
        if self.kind not in ACTIVATIONS:
            raise ConfigError(f"Activation must be one of {', '.join(ACTIVATIONS)}. Got {self.kind!r}.")
        if self.params:
            raise ConfigError(f"Activation {self.kind!r} takes no parameters. Got {sorted(self.params)}.")

    def __call__(self, z, out=None):
        return activate(self.kind, z, out=out)

    def derivative(self, z):
        return activation_derivative(self.kind, z)


NEURON_TYPES: dict = {a: Activation for a in ACTIVATIONS}


def register_neuron(kind: str, cls) -> None:
    """Register a neuron model class for ``kind`` (used by the spiking models)."""
    NEURON_TYPES[str(kind)] = cls


def make_neuron(spec, params: dict | None = None) -> NeuronModel:
    """A neuron model from a :class:`NeuronModel`, or a kind string plus parameters."""
    if isinstance(spec, NeuronModel):
        return spec
    kind = str(spec)
    cls = NEURON_TYPES.get(kind)
    if cls is None:
        raise ConfigError(
            f"Unknown neuron model {kind!r}; known: {', '.join(sorted(NEURON_TYPES))}."
        )
    return cls(kind, dict(params or {}))
