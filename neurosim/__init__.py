"""neurosim: neuromorphic-hardware simulator with fault injection.

Public entry points (DESIGN.md "Contracts"): :class:`Network`,
:func:`load_network`, :func:`save_network`, :func:`load_profile`,
:func:`map_network`, :class:`FaultSpec`, :func:`simulate`, and the
:mod:`neurosim.analysis` package.

The layer packages (``analysis``, ``plan``, ``sweep``, ``io``, ``sim``, ``chip``,
``faults``, ``spiking``, ``plot``, ``train``) load on first attribute access, so
``import neurosim as ns; ns.analysis.bounds(...)`` works without importing
``neurosim.analysis`` first and a plain ``import neurosim`` stays light (see
``docs/architecture.md``).
"""
__version__ = "0.1.0"

from .chip import ChipMapping, ChipProfile, list_profiles, load_profile, map_network
from .errors import CapacityError, ConfigError, FileFormatError, NeurosimError
from .faults import FaultSpec, parse_fault
from .io import load_network, save_network
from .network import Network
from .sim import SimResult, simulate

#: Sub-packages loaded lazily by :func:`__getattr__` (a missing one raises AttributeError).
_SUBPACKAGES = ("analysis", "plan", "sweep", "io", "sim", "chip", "faults", "spiking", "plot", "train")


def __getattr__(name):
    if name in _SUBPACKAGES:
        import importlib

        try:
            mod = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r} (no neurosim.{name} package)") from None
        globals()[name] = mod
        return mod
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))


__all__ = [
    "__version__", "Network", "load_network", "save_network", "load_profile", "list_profiles",
    "map_network", "ChipMapping", "ChipProfile", "FaultSpec", "parse_fault", "simulate", "SimResult",
    "NeurosimError", "ConfigError", "CapacityError", "FileFormatError",
]
