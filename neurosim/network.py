"""Dense feed-forward network: the model every other part works on.

Semantics (DESIGN.md): ``y_0 = x``, ``y_l = act_l(W_l y_{l-1} + b_l)`` for
``l = 1..L``, the last layer linear. ``W_l`` has shape ``(n_out, n_in)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

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
class Network:
    """A dense feed-forward network.

    Attributes
    ----------
    weights
        ``W_1 .. W_L``, each float64 of shape ``(n_out, n_in)``.
    biases
        ``b_1 .. b_L``, each float64 of shape ``(n_out,)``.
    activations
        One name per layer; the last is always ``"identity"`` (linear output).
    name
        Free-form label stored with the network.
    """

    weights: tuple
    biases: tuple
    activations: tuple
    name: str = "network"

    # ------------------------------------------------------------------ build
    @classmethod
    def from_arrays(cls, weights, biases, activations, name: str = "network") -> "Network":
        """Build and validate a network.

        ``activations`` has one name per layer (the last must be "identity"),
        or one name per hidden layer (``L - 1`` names; "identity" is appended),
        or a single string used for every hidden layer.
        """
        weights = list(weights)
        biases = list(biases)
        L = len(weights)
        if L == 0:
            raise ConfigError("'weights' must hold at least one matrix. Got an empty list.")
        if len(biases) != L:
            raise ConfigError(
                f"'biases' must have one vector per weight matrix ({L}). Got {len(biases)}."
            )
        if isinstance(activations, str):
            activations = [activations] * (L - 1) + ["identity"]
        activations = [str(a) for a in activations]
        if len(activations) == L - 1:
            activations = activations + ["identity"]
        if len(activations) != L:
            raise ConfigError(
                f"'activations' must name {L} layers (or {L - 1} hidden layers). Got {len(activations)}."
            )
        for k, a in enumerate(activations):
            if a not in ACTIVATIONS:
                raise ConfigError(
                    f"Activation of layer {k + 1} must be one of {', '.join(ACTIVATIONS)}. Got {a!r}."
                )
        if activations[-1] != "identity":
            raise ConfigError(
                f"The last layer must be linear ('identity'); got {activations[-1]!r}. "
                "Drop the output non-linearity (use logits)."
            )
        Ws, bs = [], []
        for k, (W, b) in enumerate(zip(weights, biases), start=1):
            W = np.array(W, dtype=np.float64, copy=True)
            b = np.array(b, dtype=np.float64, copy=True)
            if W.ndim != 2:
                raise ConfigError(f"Weight W_{k} must be 2-D (n_out, n_in). Got shape {W.shape}.")
            if b.shape != (W.shape[0],):
                raise ConfigError(
                    f"Bias b_{k} must have shape ({W.shape[0]},) to match W_{k} {W.shape}. Got {b.shape}."
                )
            if W.size == 0:
                raise ConfigError(f"Weight W_{k} is empty (shape {W.shape}); every layer needs a neuron.")
            if k > 1 and W.shape[1] != Ws[-1].shape[0]:
                raise ConfigError(
                    f"Layer shapes must chain: W_{k} takes {W.shape[1]} inputs but layer {k - 1} "
                    f"has {Ws[-1].shape[0]} outputs. Transpose or fix W_{k} (shape is (n_out, n_in))."
                )
            if not np.all(np.isfinite(W)):
                raise ConfigError(f"Weight W_{k} has {int(np.sum(~np.isfinite(W)))} non-finite values (NaN/inf).")
            if not np.all(np.isfinite(b)):
                raise ConfigError(f"Bias b_{k} has {int(np.sum(~np.isfinite(b)))} non-finite values (NaN/inf).")
            W.setflags(write=False)
            b.setflags(write=False)
            Ws.append(W)
            bs.append(b)
        return cls(tuple(Ws), tuple(bs), tuple(activations), str(name))

    # ------------------------------------------------------------ properties
    @property
    def n_layers(self) -> int:
        """Number of weight layers L."""
        return len(self.weights)

    @property
    def sizes(self) -> tuple:
        """``(n_0, n_1, ..., n_L)``: widths of input, hidden and output layers."""
        return (self.weights[0].shape[1],) + tuple(W.shape[0] for W in self.weights)

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    @property
    def n_synapses(self) -> int:
        return int(sum(W.size for W in self.weights))

    def with_weights(self, weights, name: str | None = None) -> "Network":
        """Same architecture and biases with other weight matrices."""
        return Network.from_arrays(weights, self.biases, self.activations, name or self.name)

    # -------------------------------------------------------------- forward
    def check_inputs(self, x) -> np.ndarray:
        """Return ``x`` as float64 ``(batch, n_in)`` or raise a clear error."""
        raw = np.asarray(x)
        if raw.dtype.fields is not None or raw.dtype.kind not in "biuf":
            raise ConfigError(f"Inputs must be numbers (float or int) of shape (batch, {self.n_in}). Got dtype "
                              f"{raw.dtype}; convert them with numpy.asarray(x, dtype=float).")
        x = raw.astype(np.float64, copy=False)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ConfigError(
                f"Inputs must have shape (batch, {self.n_in}). Got {x.shape}."
            )
        if x.shape[0] == 0:
            raise ConfigError(f"Inputs must hold at least one row of {self.n_in} values. Got shape {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ConfigError("Inputs contain NaN or inf values; clean them before simulating.")
        return x

    def forward(self, x) -> np.ndarray:
        """Outputs ``y_L`` of shape ``(batch, n_out)`` for inputs ``(batch, n_in)``."""
        return self.forward_all(x)[0][-1]

    def forward_all(self, x):
        """All layer outputs and pre-activations.

        Returns
        -------
        ys : list of arrays
            ``[y_0, ..., y_L]``, each ``(batch, n_l)``.
        zs : list of arrays
            ``[z_1, ..., z_L]`` pre-activations, each ``(batch, n_l)``.
        """
        y = self.check_inputs(x)
        ys, zs = [y], []
        for W, b, a in zip(self.weights, self.biases, self.activations):
            z = y @ W.T + b
            zs.append(z)
            y = activate(a, z)
            ys.append(y)
        return ys, zs

    def __repr__(self) -> str:
        acts = ",".join(self.activations)
        return f"Network(name={self.name!r}, sizes={self.sizes}, activations=[{acts}])"
