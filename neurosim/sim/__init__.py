"""Simulation orchestration (the numba kernels live in neurosim.kernels)."""
from .engine import ROW_BLOCK, SimResult, simulate

__all__ = ["ROW_BLOCK", "SimResult", "simulate"]
