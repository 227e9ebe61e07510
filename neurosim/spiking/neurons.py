"""Spiking neuron models (DESIGN.md "Semantics", spiking paragraph), with NIR's parameters.

Each model is a frozen dataclass whose parameters are scalars or one value per
neuron; time constants are in seconds (``*_s``), the step ``dt_s`` is given
when the model is compiled for a layer. Forward Euler, ``a = dt / tau``:

* :class:`IF` (NIR ``IF``): ``v += dt * r * I``
* :class:`LIF` (NIR ``LIF``): ``v += dt / tau * (v_leak - v + r * I)``
* :class:`CubaLIF` (NIR ``CubaLIF``): ``I_syn += dt / tau_syn * (-I_syn + w_in * I)``,
  then the LIF update with ``I_syn``
* :class:`LI` (NIR ``LI``): the LIF update, no spikes (readout membrane)
* :class:`Integrator` (NIR ``I``): ``v += dt * r * I``, no spikes (readout)

Spiking models fire when ``v > v_threshold`` and reset to ``v_reset``
(``reset="zero"``, NIR's convention) or subtract the threshold
(``reset="subtract"``, as converted ANNs need); ``refractory_ticks`` holds the
membrane after a spike. State starts at rest (``v = v_leak`` for leaky models,
``v = v_reset`` for IF, ``I_syn = 0``) before each inference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..errors import ConfigError
from ..kernels import spiking as _K

RESETS = ("zero", "subtract")


def _param(model, name, v, n, positive=False):
    a = np.asarray(v, dtype=np.float64)
    if a.ndim > 1 or (a.ndim == 1 and a.size not in (1, n)):
        raise ConfigError(f"{model} parameter '{name}' must be a scalar or have one value per neuron ({n}). Got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{model} parameter '{name}' must be finite. Got {v!r}; give a finite number.")
    if positive and np.any(a <= 0):
        raise ConfigError(f"{model} parameter '{name}' must be > 0. Got {float(np.min(a))!r}; give a positive value.")
    return np.ascontiguousarray(np.broadcast_to(a, (n,)), dtype=np.float64)


@dataclass(frozen=True)
class _Spiking:
    def _common(self, n):
        if self.reset not in RESETS:
            raise ConfigError(f"{type(self).__name__} 'reset' must be one of {', '.join(RESETS)}. Got {self.reset!r}.")
        rt = self.refractory_ticks
        if isinstance(rt, bool) or not isinstance(rt, (int, np.integer)) or rt < 0:
            raise ConfigError(f"{type(self).__name__} 'refractory_ticks' must be an integer >= 0. Got {rt!r}.")

    def to_dict(self) -> dict:
        out = {"model": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    @property
    def spiking(self) -> bool:
        return self.code in (_K.IF, _K.LIF, _K.CUBA)


def _check_tau(model, name, tau, dt_s):
    t = float(np.min(tau))
    if not dt_s < t:
        raise ConfigError(f"{model} '{name}' must exceed the step dt_s={dt_s!r} s (forward Euler needs dt < tau). Got {t!r} s; lower dt_s or raise {name}.")


@dataclass(frozen=True)
class IF(_Spiking):
    """Integrate-and-fire: ``v += dt * r * I``; spike when ``v > v_threshold``."""

    v_threshold: object = 1.0
    r: object = 1.0
    v_reset: object = 0.0
    reset: str = "zero"
    refractory_ticks: int = 0
    kind = "IF"
    code = _K.IF

    def compile(self, n, dt_s):
        self._common(n)
        m = "IF"
        z = np.zeros(n)
        return dict(a_mem=z, r=_param(m, "r", self.r, n), v_leak=z.copy(),
                    v_th=_param(m, "v_threshold", self.v_threshold, n), v_reset=_param(m, "v_reset", self.v_reset, n),
                    a_syn=z.copy(), w_in=np.ones(n), v_rest=_param(m, "v_reset", self.v_reset, n))


@dataclass(frozen=True)
class LIF(_Spiking):
    """Leaky integrate-and-fire: ``v += dt / tau * (v_leak - v + r * I)``."""

    tau_s: object = 0.01
    v_threshold: object = 1.0
    r: object = 1.0
    v_leak: object = 0.0
    v_reset: object = 0.0
    reset: str = "zero"
    refractory_ticks: int = 0
    kind = "LIF"
    code = _K.LIF

    def compile(self, n, dt_s):
        self._common(n)
        m = "LIF"
        tau = _param(m, "tau_s", self.tau_s, n, positive=True)
        _check_tau(m, "tau_s", tau, dt_s)
        vl = _param(m, "v_leak", self.v_leak, n)
        return dict(a_mem=dt_s / tau, r=_param(m, "r", self.r, n), v_leak=vl,
                    v_th=_param(m, "v_threshold", self.v_threshold, n), v_reset=_param(m, "v_reset", self.v_reset, n),
                    a_syn=np.zeros(n), w_in=np.ones(n), v_rest=vl.copy())


@dataclass(frozen=True)
class CubaLIF(_Spiking):
    """Current-based LIF: ``I_syn += dt / tau_syn * (-I_syn + w_in * I)``, then LIF with ``I_syn``."""

    tau_syn_s: object = 0.005
    tau_mem_s: object = 0.01
    v_threshold: object = 1.0
    r: object = 1.0
    v_leak: object = 0.0
    v_reset: object = 0.0
    w_in: object = 1.0
    reset: str = "zero"
    refractory_ticks: int = 0
    kind = "CubaLIF"
    code = _K.CUBA

    def compile(self, n, dt_s):
        self._common(n)
        m = "CubaLIF"
        tm = _param(m, "tau_mem_s", self.tau_mem_s, n, positive=True)
        ts = _param(m, "tau_syn_s", self.tau_syn_s, n, positive=True)
        _check_tau(m, "tau_mem_s", tm, dt_s)
        _check_tau(m, "tau_syn_s", ts, dt_s)
        vl = _param(m, "v_leak", self.v_leak, n)
        return dict(a_mem=dt_s / tm, r=_param(m, "r", self.r, n), v_leak=vl,
                    v_th=_param(m, "v_threshold", self.v_threshold, n), v_reset=_param(m, "v_reset", self.v_reset, n),
                    a_syn=dt_s / ts, w_in=_param(m, "w_in", self.w_in, n), v_rest=vl.copy())


@dataclass(frozen=True)
class LI:
    """Leaky integrator readout: ``v += dt / tau * (v_leak - v + r * I)``, no spikes."""

    tau_s: object = 0.01
    r: object = 1.0
    v_leak: object = 0.0
    kind = "LI"
    code = _K.LI
    spiking = False
    reset = "zero"
    refractory_ticks = 0
    to_dict = _Spiking.to_dict

    def compile(self, n, dt_s):
        m = "LI"
        tau = _param(m, "tau_s", self.tau_s, n, positive=True)
        _check_tau(m, "tau_s", tau, dt_s)
        vl = _param(m, "v_leak", self.v_leak, n)
        z = np.zeros(n)
        return dict(a_mem=dt_s / tau, r=_param(m, "r", self.r, n), v_leak=vl, v_th=z, v_reset=z.copy(),
                    a_syn=z.copy(), w_in=np.ones(n), v_rest=vl.copy())


@dataclass(frozen=True)
class Integrator:
    """Integrator readout (NIR ``I``): ``v += dt * r * I``, no spikes."""

    r: object = 1.0
    kind = "I"
    code = _K.INTEG
    spiking = False
    reset = "zero"
    refractory_ticks = 0
    to_dict = _Spiking.to_dict

    def compile(self, n, dt_s):
        z = np.zeros(n)
        return dict(a_mem=z, r=_param("I", "r", self.r, n), v_leak=z.copy(), v_th=z.copy(), v_reset=z.copy(),
                    a_syn=z.copy(), w_in=np.ones(n), v_rest=z.copy())


MODELS = {"IF": IF, "LIF": LIF, "CubaLIF": CubaLIF, "LI": LI, "I": Integrator}


def neuron_from_dict(d: dict):
    """Inverse of ``model.to_dict()``."""
    d = dict(d)
    kind = d.pop("model", None)
    if kind not in MODELS:
        raise ConfigError(f"Spiking neuron 'model' must be one of {', '.join(MODELS)}. Got {kind!r}.")
    return MODELS[kind](**d)


def check_dt(dt_s) -> float:
    """``dt_s`` as a positive finite float, or a one-line ConfigError."""
    try:
        dt = float(dt_s)
    except (TypeError, ValueError):
        dt = math.nan
    if not (dt > 0 and math.isfinite(dt)):
        raise ConfigError(f"'dt_s' (simulation step, seconds) must be a positive finite number. Got {dt_s!r}; e.g. dt_s=1e-3.")
    return dt


def check_ticks(ticks) -> int:
    if isinstance(ticks, bool) or not isinstance(ticks, (int, np.integer)) or ticks < 1:
        raise ConfigError(f"'ticks' (time steps T per inference) must be an integer >= 1. Got {ticks!r}; e.g. ticks=100.")
    return int(ticks)
