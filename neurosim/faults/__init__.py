"""Fault models: sites x values x modes x rates."""
from .spec import MODES, SITES, FaultSpec, load_faults_toml, parse_fault

__all__ = ["FaultSpec", "MODES", "SITES", "load_faults_toml", "parse_fault"]
