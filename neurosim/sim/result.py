"""The outcome of a rate-mode :func:`neurosim.simulate` call (re-exported by :mod:`neurosim.sim.engine`)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class SimResult:
    """Outcome of :func:`simulate`.

    Attributes
    ----------
    delta : ndarray (n_chips, n_inputs, n_out)
        ``y_faulty - y_clean``, both on the same (mapped, quantised) network.
    clean : ndarray (n_inputs, n_out)
        Fault-free outputs.
    faults : tuple of FaultSpec
    fault_counts : ndarray (n_chips, n_specs, n_layers + 1) int64
        Faults injected per chip, spec and layer slot: distinct faulty sites for
        permanent faults, weak sites for intermittent ones, (site, inference)
        events for transient ones. Slot ``l`` is neuron layer ``l`` or synapse
        matrix ``l``; core faults use slot 0.
    fault_events : ndarray, same shape
        (site, inference) pairs that were in the faulty state.
    seed : int
        The entropy every random stream derives from (re-run with it).
    labels : ndarray (n_inputs,) or None
    """

    delta: np.ndarray
    clean: np.ndarray
    faults: tuple
    fault_counts: np.ndarray
    fault_events: np.ndarray
    seed: int
    labels: np.ndarray | None = None
    config: dict = field(default_factory=dict)

    @property
    def n_chips(self) -> int:
        return self.delta.shape[0]

    @property
    def faulty(self) -> np.ndarray:
        """Faulty outputs ``clean + delta``."""
        return self.clean[None] + self.delta

    @property
    def flips(self) -> np.ndarray | None:
        """``(n_chips, n_inputs)`` bool: argmax of the faulty output differs from the clean one."""
        if self.delta.shape[2] < 2:
            return None
        return np.argmax(self.faulty, axis=2) != np.argmax(self.clean, axis=1)[None]

    def linf(self) -> np.ndarray:
        """``||Δ||_∞`` per (chip, input)."""
        return np.max(np.abs(self.delta), axis=2)
