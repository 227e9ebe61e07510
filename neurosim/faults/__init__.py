"""Fault models: sites x values x modes x rates."""
from .spec import MODES, SITES, FaultSpec, as_specs, check_for_chip, load_faults_toml, parse_fault, profile_rate
from .values import FaultValue, flip_bit, parse_value

__all__ = ["FaultSpec", "FaultValue", "as_specs", "check_for_chip", "flip_bit", "MODES", "SITES", "load_faults_toml",
           "parse_fault", "parse_value", "profile_rate"]
