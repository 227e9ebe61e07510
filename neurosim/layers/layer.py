"""A layer = synaptic op + bias + neuron model (DESIGN.md "Network model")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .neurons import Activation, NeuronModel, make_neuron
from .ops import Op


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer: ``y = neuron(op(x) + bias)``.

    Attributes
    ----------
    op
        The synaptic op (:class:`~neurosim.layers.Dense`, ``Conv2d``,
        ``AvgPool2d``, ``SumPool2d``, ``Flatten``, ``Scale``).
    bias
        ``None`` or float64 of ``op.bias_shape`` (dense: ``(n_out,)``, conv:
        ``(c_out,)``, one per channel). Wiring ops take no bias.
    neuron
        The neuron model: an :class:`Activation` in rate mode (``"relu"``,
        ``"sigmoid"``, ``"tanh"``, ``"identity"``) or a registered spiking model.
        A string is converted with :func:`make_neuron`.
    """

    op: Op
    bias: np.ndarray | None = None
    neuron: NeuronModel | str = "identity"

    def __post_init__(self):
        if not isinstance(self.op, Op):
            raise ConfigError(f"A layer's 'op' must be a neurosim.layers op (Dense, Conv2d, ...). Got {type(self.op).__name__}.")
        object.__setattr__(self, "neuron", make_neuron(self.neuron))
        if self.bias is not None:
            b = np.array(self.bias, dtype=np.float64, copy=True)
            b.setflags(write=False)
            object.__setattr__(self, "bias", b)

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def activation(self) -> str:
        return self.neuron.kind

    @property
    def is_rate(self) -> bool:
        return isinstance(self.neuron, Activation)

    def check(self, in_shape, where: str) -> tuple:
        """Validate against ``in_shape``; return the output shape."""
        try:
            out = self.op.out_shape(in_shape)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        bs = self.op.bias_shape(in_shape)
        if self.bias is not None:
            if bs is None:
                raise ConfigError(f"{where}: a {self.op.kind} layer takes no bias; drop it (got shape {self.bias.shape}).")
            if self.bias.shape != bs:
                raise ConfigError(f"{where}: bias must have shape {bs} for the {self.op.kind} layer. Got {self.bias.shape}.")
            if not np.all(np.isfinite(self.bias)):
                raise ConfigError(f"{where}: bias has {int(np.sum(~np.isfinite(self.bias)))} non-finite values (NaN/inf).")
        self.neuron.validate(int(np.prod(out)), where)
        return tuple(int(s) for s in out)

    def with_op(self, op: Op) -> "Layer":
        return Layer(op, self.bias, self.neuron)

    def __repr__(self):
        return f"Layer({self.op.kind}, {self.neuron!r})"
