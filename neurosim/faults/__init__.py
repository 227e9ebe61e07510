"""Fault models: sites x values x modes x rates."""
from .spec import MODES, SITES, FaultSpec, as_specs, load_faults_toml, parse_fault

__all__ = ["FaultSpec", "as_specs", "MODES", "SITES", "load_faults_toml", "parse_fault"]
