"""Feed-forward network: a chain of layers, the model every other part works on.

Semantics (DESIGN.md): ``y_0 = x``, ``y_l = act_l(op_l(y_{l-1}) + b_l)`` for
``l = 1..L``; a rate network's last layer is linear. Layers are
:class:`neurosim.layers.Layer` objects (synaptic op + bias + neuron model).
Activations travel flat, ``(batch, n_l)``, with multi-dimensional shapes
``(c, h, w)`` flattened in C order; ``shapes`` keeps the structure.

For the analysis code every layer also has a dense equivalent: ``weights[l-1]``
is the ``(n_l, n_{l-1})`` matrix with ``op_l(y) = y @ weights[l-1].T`` and
``biases[l-1]`` the per-neuron bias, so dense-only formulas hold for every op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .layers import ACTIVATIONS, Dense, Layer, activate, activation_derivative  # noqa: F401 (re-export)


@dataclass(frozen=True, eq=False)
class Network:
    """A feed-forward network of layers.

    Attributes
    ----------
    layers
        ``(Layer_1, ..., Layer_L)``.
    input_shape
        ``(n_in,)`` or ``(c, h, w)``.
    name
        Free-form label stored with the network.
    shapes
        ``(input_shape, shape_1, ..., shape_L)``: every layer's output shape.
    """

    layers: tuple
    input_shape: tuple
    name: str = "network"
    shapes: tuple = field(default=(), repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_layers(cls, layers, input_shape, name: str = "network") -> "Network":
        """Build and validate a network from :class:`Layer` objects and the input shape."""
        layers = list(layers)
        if not layers:
            raise ConfigError("'layers' must hold at least one layer. Got an empty list.")
        try:
            shape = tuple(int(s) for s in np.atleast_1d(input_shape))
        except (TypeError, ValueError):
            raise ConfigError(f"'input_shape' must be (n_in,) or (c, h, w). Got {input_shape!r}.") from None
        if len(shape) not in (1, 3) or min(shape) < 1:
            raise ConfigError(f"'input_shape' must be (n_in,) or (c, h, w) of positive sizes. Got {shape}.")
        shapes = [shape]
        for k, layer in enumerate(layers, start=1):
            if not isinstance(layer, Layer):
                raise ConfigError(f"Layer {k} must be a neurosim.layers.Layer. Got {type(layer).__name__}.")
            where = f"layer {k} ({layer.op.kind}" + (f", W_{k}/b_{k})" if layer.op.weighted else ")")
            shapes.append(layer.check(shapes[-1], where))
        last = layers[-1]
        if last.is_rate and last.activation != "identity":
            raise ConfigError(
                f"The last layer must be linear ('identity'); got {last.activation!r}. "
                "Drop the output non-linearity (use logits)."
            )
        return cls(tuple(layers), shape, str(name), tuple(shapes))

    @classmethod
    def from_arrays(cls, weights, biases, activations, name: str = "network") -> "Network":
        """Build and validate a dense network.

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
        layers, prev = [], None
        for k, (W, b, a) in enumerate(zip(weights, biases, activations), start=1):
            W = np.asarray(W, dtype=np.float64)
            b = np.asarray(b, dtype=np.float64)
            if W.ndim != 2:
                raise ConfigError(f"Weight W_{k} must be 2-D (n_out, n_in). Got shape {W.shape}.")
            if b.shape != (W.shape[0],):
                raise ConfigError(
                    f"Bias b_{k} must have shape ({W.shape[0]},) to match W_{k} {W.shape}. Got {b.shape}."
                )
            if W.size == 0:
                raise ConfigError(f"Weight W_{k} is empty (shape {W.shape}); every layer needs a neuron.")
            if prev is not None and W.shape[1] != prev:
                raise ConfigError(
                    f"Layer shapes must chain: W_{k} takes {W.shape[1]} inputs but layer {k - 1} "
                    f"has {prev} outputs. Transpose or fix W_{k} (shape is (n_out, n_in))."
                )
            if not np.all(np.isfinite(W)):
                raise ConfigError(f"Weight W_{k} has {int(np.sum(~np.isfinite(W)))} non-finite values (NaN/inf).")
            if not np.all(np.isfinite(b)):
                raise ConfigError(f"Bias b_{k} has {int(np.sum(~np.isfinite(b)))} non-finite values (NaN/inf).")
            layers.append(Layer(Dense(W), b, a))
            prev = W.shape[0]
        return cls.from_layers(layers, (np.asarray(weights[0]).shape[1],), name)

    # ------------------------------------------------------------ properties
    @property
    def n_layers(self) -> int:
        """Number of layers L."""
        return len(self.layers)

    @property
    def sizes(self) -> tuple:
        """``(n_0, n_1, ..., n_L)``: flat widths of input, hidden and output layers."""
        return tuple(int(np.prod(s)) for s in self.shapes)

    @property
    def n_in(self) -> int:
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        return self.sizes[-1]

    @property
    def is_dense(self) -> bool:
        """True when every layer is a dense op (the original network type)."""
        return all(la.op.kind == "dense" for la in self.layers)

    @property
    def is_rate(self) -> bool:
        """True when every neuron model is a rate activation."""
        return all(la.is_rate for la in self.layers)

    @property
    def kinds(self) -> tuple:
        """Op kind of every layer."""
        return tuple(la.op.kind for la in self.layers)

    @property
    def activations(self) -> tuple:
        """Neuron model kind of every layer ("relu", ..., or a spiking model's kind)."""
        return tuple(la.neuron.kind for la in self.layers)

    @property
    def weights(self) -> tuple:
        """Dense equivalents ``(n_l, n_{l-1})`` of every layer's op (the weights themselves for dense layers)."""
        if "weights" not in self._cache:
            Ms = []
            for la, s in zip(self.layers, self.shapes[:-1]):
                M = np.asarray(la.op.dense_matrix(s), dtype=np.float64)
                if M.flags.writeable:
                    M.setflags(write=False)
                Ms.append(M)
            self._cache["weights"] = tuple(Ms)
        return self._cache["weights"]

    @property
    def biases(self) -> tuple:
        """Per-neuron biases ``(n_l,)`` (conv biases repeated over positions; zeros where a layer has none)."""
        if "biases" not in self._cache:
            bs = []
            for la, s in zip(self.layers, self.shapes[:-1]):
                b = np.array(la.op.expand_bias(la.bias, s), dtype=np.float64)
                b.setflags(write=False)
                bs.append(b)
            self._cache["biases"] = tuple(bs)
        return self._cache["biases"]

    @property
    def n_synapses(self) -> int:
        """Stored weights (synapse fault sites): a conv kernel weight counts once."""
        return int(sum(la.op.n_weights for la in self.layers))

    def neuron_sites(self, layer: int) -> int:
        """Neuron fault sites of layer ``layer`` (0 = input axons).

        Outputs of weighted layers (dense, conv2d) and of any layer with a
        non-identity neuron model are neurons; pure wiring (pooling, flatten,
        scale with a linear neuron) carries no neuron faults.
        """
        if layer == 0:
            return self.n_in
        la = self.layers[layer - 1]
        return self.sizes[layer] if (la.op.weighted or la.neuron.kind != "identity") else 0

    def synapse_sites(self, layer: int) -> int:
        """Synapse fault sites of layer ``layer`` (stored weights; 0 for wiring)."""
        return self.layers[layer - 1].op.n_weights

    def with_ops(self, ops, name: str | None = None) -> "Network":
        """Same layers with other ops (e.g. quantised weights)."""
        layers = [la.with_op(op) for la, op in zip(self.layers, ops)]
        return Network.from_layers(layers, self.input_shape, name or self.name)

    def with_weights(self, weights, name: str | None = None) -> "Network":
        """Same architecture and biases with other weights (one array per weighted layer, in the op's own shape;
        dense networks: the ``(n_out, n_in)`` matrices as before)."""
        weights = list(weights)
        ops, it = [], iter(weights)
        for la in self.layers:
            ops.append(la.op.with_params(weight=next(it)) if la.op.weighted else la.op)
        return self.with_ops(ops, name)

    # -------------------------------------------------------------- forward
    def check_inputs(self, x) -> np.ndarray:
        """Return ``x`` as float64 ``(batch, n_in)`` (from ``(batch, n_in)`` or ``(batch, *input_shape)``) or raise."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 or (x.ndim == len(self.input_shape) and x.shape == self.input_shape and x.ndim > 1):
            x = x[None]
        if x.ndim > 2 and x.shape[1:] == self.input_shape:
            x = x.reshape(x.shape[0], -1)
        if x.ndim != 2 or x.shape[1] != self.n_in:
            want = f"(batch, {self.n_in})" + ("" if len(self.input_shape) == 1 else
                                               f" or (batch, {', '.join(map(str, self.input_shape))})")
            raise ConfigError(f"Inputs must have shape {want}. Got {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ConfigError("Inputs contain NaN or inf values; clean them before simulating.")
        return x

    def forward(self, x) -> np.ndarray:
        """Outputs ``y_L`` of shape ``(batch, n_out)`` (flat) for inputs ``(batch, n_in)`` or ``(batch, c, h, w)``."""
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
        if not self.is_rate:
            raise ConfigError(
                f"Network {self.name!r} has spiking neuron models ({', '.join(sorted(set(self.activations) - set(ACTIVATIONS)))}); "
                "rate-mode forward() does not apply: simulate it in spiking mode."
            )
        ys, zs = [y], []
        for la, s, b in zip(self.layers, self.shapes[:-1], self.biases):
            z = la.op.apply(y, s)
            z += b
            zs.append(z)
            y = activate(la.activation, z)
            ys.append(y)
        return ys, zs

    def describe(self) -> list:
        """One JSON-ready dict per layer: index, op kind, shapes, neuron model, fault sites."""
        out = []
        for k, la in enumerate(self.layers, start=1):
            out.append({"layer": k, "op": la.op.kind, "in_shape": list(self.shapes[k - 1]),
                        "out_shape": list(self.shapes[k]), "neuron": la.neuron.kind,
                        "synapses": self.synapse_sites(k), "neurons": self.neuron_sites(k)})
        return out

    def __repr__(self) -> str:
        acts = ",".join(self.activations)
        if self.is_dense:
            return f"Network(name={self.name!r}, sizes={self.sizes}, activations=[{acts}])"
        ops = ",".join(self.kinds)
        return f"Network(name={self.name!r}, input_shape={self.input_shape}, ops=[{ops}], activations=[{acts}])"
