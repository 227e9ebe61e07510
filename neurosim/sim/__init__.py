"""Simulation orchestration (the numba kernels live in neurosim.kernels)."""
from .engine import ROW_BLOCK, SimResult, permanent_fault_sites, simulate, simulation_network

__all__ = ["ROW_BLOCK", "SimResult", "permanent_fault_sites", "simulate", "simulation_network"]
