"""Chip profiles, quantisation, and mapping a network onto a virtual chip."""
from .mapping import ChipMapping, map_network
from .profile import ChipProfile, list_profiles, load_profile

__all__ = ["ChipMapping", "ChipProfile", "list_profiles", "load_profile", "map_network"]
