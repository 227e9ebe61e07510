"""Spiking reference simulations.

:mod:`neurosim.spiking.brian2_ref` runs a ReLU network as a rate-coded
integrate-and-fire network in Brian2 (optional dependency: the ``[spiking]``
extra), with the engine's stuck-at-0 faults, to check the numba engine against
a real spiking simulation. Importing this package does not import brian2.
"""
from .brian2_ref import Brian2Result, ReplayResult, replay_engine_faults, run_brian2

__all__ = ["Brian2Result", "ReplayResult", "replay_engine_faults", "run_brian2"]
