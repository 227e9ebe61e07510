"""neurosim: neuromorphic-hardware simulator with fault injection.

Public entry points (DESIGN.md "Contracts"): :class:`Network`,
:func:`load_network`, :func:`save_network`, :func:`load_profile`,
:func:`map_network`, :class:`FaultSpec`, :func:`simulate`, and the
:mod:`neurosim.analysis` package.
"""
__version__ = "0.1.0"

from .chip import ChipMapping, ChipProfile, list_profiles, load_profile, map_network
from .errors import CapacityError, ConfigError, FileFormatError, NeurosimError
from .faults import FaultSpec, parse_fault
from .io import load_network, save_network
from .network import Network
from .sim import SimResult, simulate
from .spiking import neurons as _spiking_neurons  # noqa: F401  (registers the IF/LIF/CubaLIF/LI/I neuron types)

__all__ = [
    "__version__", "Network", "load_network", "save_network", "load_profile", "list_profiles",
    "map_network", "ChipMapping", "ChipProfile", "FaultSpec", "parse_fault", "simulate", "SimResult",
    "NeurosimError", "ConfigError", "CapacityError", "FileFormatError",
]
