"""Layer model: synaptic ops and neuron models (DESIGN.md "Network model").

A :class:`~neurosim.Network` is a chain of :class:`Layer` objects, each a
synaptic op (:class:`Dense`, :class:`Conv2d`, :class:`AvgPool2d`,
:class:`SumPool2d`, :class:`Flatten`, :class:`Scale`) with an optional bias and
a neuron model (:class:`Activation` for rate mode; spiking models register
themselves with :func:`register_neuron`: :mod:`neurosim.layers.spiking` holds
IF, LIF, CubaLIF, LI and the integrator I).
"""
from .layer import Layer
from .neurons import (ACTIVATIONS, NEURON_TYPES, Activation, NeuronModel, activate, activation_derivative,
                      make_neuron, register_neuron)
from .ops import OPS, AvgPool2d, Conv2d, Dense, Flatten, Op, Scale, SumPool2d, gather, window_index
from .spiking import IF, LI, LIF, CubaLIF, Integrator, SpikingNeuron  # registers the spiking neuron types

__all__ = [
    "Layer", "Op", "Dense", "Conv2d", "AvgPool2d", "SumPool2d", "Flatten", "Scale", "OPS",
    "NeuronModel", "Activation", "NEURON_TYPES", "ACTIVATIONS", "register_neuron", "make_neuron",
    "activate", "activation_derivative", "gather", "window_index",
    "SpikingNeuron", "IF", "LIF", "CubaLIF", "LI", "Integrator",
]
