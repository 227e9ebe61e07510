"""Spiking mode: neuron models, spiking networks, the Brian2 references, ANN->SNN conversion.

* :mod:`neurosim.layers.spiking` (re-exported here): IF, LIF, CubaLIF, LI,
  Integrator as layer neuron types;
* :mod:`neurosim.spiking.network`: spiking networks (``from_arrays``,
  validation, readouts);
* :mod:`neurosim.spiking.brian2_net`: the same spiking network and faults
  built in Brian2 (reference for the numba engine);
* :mod:`neurosim.spiking.brian2_ref`: rate-coded IF replay of a ReLU network
  with the rate engine's permanent faults;
* :mod:`neurosim.spiking.convert`: ANN -> SNN conversion (``convert``).

Importing this package does not import brian2 (the ``[spiking]`` extra).
"""
from .brian2_ref import Brian2Result, ReplayResult, replay_engine_faults, run_brian2
from .convert import Conversion, convert
from .network import check_spiking, from_arrays, is_spiking, readout
from ..layers.spiking import IF, LI, LIF, CubaLIF, Integrator, SpikingNeuron

__all__ = ["Brian2Result", "ReplayResult", "replay_engine_faults", "run_brian2", "IF", "LIF", "CubaLIF", "LI",
           "Integrator", "SpikingNeuron", "from_arrays", "check_spiking", "is_spiking", "readout",
           "run_brian2_network", "convert", "Conversion"]


def run_brian2_network(*args, **kw):
    """See :func:`neurosim.spiking.brian2_net.run_brian2_network`."""
    from .brian2_net import run_brian2_network as f

    return f(*args, **kw)
