"""Spiking neuron models as layer neuron types (DESIGN.md "Semantics", spiking paragraph).

A :class:`SpikingNeuron` is a :class:`neurosim.layers.NeuronModel` whose
``kind`` is one of NIR's neuron nodes, with NIR's parameters (time constants in
seconds, ``*_s``). Build them with :func:`IF`, :func:`LIF`, :func:`CubaLIF`,
:func:`LI`, :func:`Integrator`. Forward Euler with the step ``dt_s`` of the
run, ``a = dt / tau``:

* ``IF``: ``v += dt * r * I``
* ``LIF``: ``v += dt / tau * (v_leak - v + r * I)``
* ``CubaLIF``: ``I_syn += dt / tau_syn * (-I_syn + w_in * I)``, then the LIF
  update with ``I_syn``
* ``LI``: the LIF update without spikes (readout: membrane at tick T)
* ``I`` (integrator): ``v += dt * r * I`` without spikes (readout)

Firing models spike when ``v > v_threshold`` and reset to ``v_reset``
(``reset="zero"``, NIR's convention) or subtract the threshold
(``reset="subtract"``, converted ANNs); ``refractory_ticks`` holds ``v`` after
a spike; ``delay_ticks`` delays the layer's input (0: the same-tick chain of
snnTorch/Norse; 1: Brian2's schedule). State starts at rest (``v = v_leak``
for leaky models, ``v_reset`` for IF, 0 for I; ``I_syn = 0``) each inference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..kernels import spiking as _K
from .neurons import NeuronModel, register_neuron

PARAMS = {
    "IF": {"v_threshold": 1.0, "r": 1.0, "v_reset": 0.0},
    "LIF": {"tau_s": 0.01, "v_threshold": 1.0, "r": 1.0, "v_leak": 0.0, "v_reset": 0.0},
    "CubaLIF": {"tau_syn_s": 0.005, "tau_mem_s": 0.01, "v_threshold": 1.0, "r": 1.0, "v_leak": 0.0,
                "v_reset": 0.0, "w_in": 1.0},
    "LI": {"tau_s": 0.01, "r": 1.0, "v_leak": 0.0},
    "I": {"r": 1.0},
}
"""Per kind: NIR parameters (per neuron or scalar) and their defaults."""
SETTINGS = {"reset_subtract": 0.0, "refractory_ticks": 0.0, "delay_ticks": 0.0}
"""Scalar settings stored beside the parameters (as floats, so the native format keeps them)."""
CODES = {"IF": _K.IF, "LIF": _K.LIF, "CubaLIF": _K.CUBA, "LI": _K.LI, "I": _K.INTEG}
TAUS = ("tau_s", "tau_mem_s", "tau_syn_s")
RESETS = ("zero", "subtract")


@dataclass(frozen=True, eq=False, repr=False)
class SpikingNeuron(NeuronModel):
    """A spiking-mode neuron model (``kind`` in IF, LIF, CubaLIF, LI, I); see the module docstring."""

    spiking = True

    def __post_init__(self):
        kind = self.kind
        if kind not in PARAMS:
            raise ConfigError(f"Spiking neuron kind must be one of {', '.join(PARAMS)}. Got {kind!r}.")
        allowed = {**PARAMS[kind], **SETTINGS}
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise ConfigError(f"{kind} neuron has unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}.")
        out = {}
        for name, default in allowed.items():
            a = np.array(self.params.get(name, default), dtype=np.float64, copy=True)
            if a.ndim > 1:
                a = a.ravel()
            if not np.all(np.isfinite(a)):
                raise ConfigError(f"{kind} parameter '{name}' must be finite. Got {self.params.get(name)!r}; give a finite number.")
            if name in TAUS and np.any(a <= 0):
                raise ConfigError(f"{kind} parameter '{name}' (time constant, seconds) must be > 0. Got {float(np.min(a))!r}; e.g. {name}=0.01.")
            if name in SETTINGS:
                if a.size != 1:
                    raise ConfigError(f"{kind} setting '{name}' must be one scalar for the layer. Got shape {a.shape}.")
                v = float(a.ravel()[0])
                if v < 0 or v != math.floor(v) or (name == "reset_subtract" and v > 1):
                    what = "0 or 1" if name == "reset_subtract" else "an integer >= 0"
                    raise ConfigError(f"{kind} setting '{name}' must be {what}. Got {v!r}.")
                a = np.array(v)
            a.setflags(write=False)
            out[name] = a
        object.__setattr__(self, "params", out)

    # ------------------------------------------------------------------ properties
    @property
    def fires(self) -> bool:
        """True for IF, LIF, CubaLIF (LI and I are non-spiking readouts)."""
        return self.kind in ("IF", "LIF", "CubaLIF")

    @property
    def code(self) -> int:
        return CODES[self.kind]

    @property
    def reset(self) -> str:
        return "subtract" if float(self.params["reset_subtract"]) else "zero"

    @property
    def refractory_ticks(self) -> int:
        return int(self.params["refractory_ticks"])

    @property
    def delay_ticks(self) -> int:
        return int(self.params["delay_ticks"])

    def value(self, name, n) -> np.ndarray:
        """Parameter ``name`` broadcast to ``n`` neurons."""
        return np.ascontiguousarray(np.broadcast_to(self.params[name], (n,)), dtype=np.float64)

    def replace(self, **kw) -> "SpikingNeuron":
        """A copy with some parameters or settings replaced (``reset=`` accepted)."""
        p = dict(self.params)
        if "reset" in kw:
            p["reset_subtract"] = _reset_code(kw.pop("reset"))
        p.update(kw)
        return SpikingNeuron(self.kind, p)

    def compile(self, n: int, dt_s: float) -> dict:
        """Per-neuron arrays for the kernels at step ``dt_s``; refuses ``dt_s >= tau``."""
        g = lambda k: self.value(k, n)  # noqa: E731
        z = np.zeros(n)
        for t in TAUS:
            if t in PARAMS[self.kind]:
                tmin = float(np.min(g(t)))
                if not dt_s < tmin:
                    raise ConfigError(f"{self.kind} '{t}' must exceed the step dt_s={dt_s!r} s (forward Euler needs dt < tau). Got {tmin!r} s; lower dt_s or raise {t}.")
        has = PARAMS[self.kind]
        tau = g("tau_mem_s") if "tau_mem_s" in has else g("tau_s") if "tau_s" in has else None
        v_leak = g("v_leak") if "v_leak" in has else z
        v_reset = g("v_reset") if "v_reset" in has else z
        rest = v_leak if self.kind in ("LIF", "CubaLIF", "LI") else v_reset
        return dict(a_mem=z.copy() if tau is None else dt_s / tau, r=g("r"), v_leak=v_leak.copy(),
                    v_th=g("v_threshold") if "v_threshold" in has else z.copy(), v_reset=v_reset.copy(),
                    a_syn=dt_s / g("tau_syn_s") if "tau_syn_s" in has else z.copy(),
                    w_in=g("w_in") if "w_in" in has else np.ones(n), v_rest=rest.copy())

    def __repr__(self):
        return f"{self.kind}(reset={self.reset})" if self.fires else self.kind


def _reset_code(reset) -> float:
    if reset not in RESETS:
        raise ConfigError(f"'reset' must be one of {', '.join(RESETS)}. Got {reset!r}.")
    return 1.0 if reset == "subtract" else 0.0


def _build(kind, reset="zero", refractory_ticks=0, delay_ticks=0, **p):
    p.update(reset_subtract=_reset_code(reset), refractory_ticks=refractory_ticks, delay_ticks=delay_ticks)
    return SpikingNeuron(kind, p)


def IF(v_threshold=1.0, r=1.0, v_reset=0.0, reset="zero", refractory_ticks=0, delay_ticks=0) -> SpikingNeuron:
    """Integrate-and-fire (NIR ``IF``): ``v += dt * r * I``, spike when ``v > v_threshold``."""
    return _build("IF", reset, refractory_ticks, delay_ticks, v_threshold=v_threshold, r=r, v_reset=v_reset)


def LIF(tau_s=0.01, v_threshold=1.0, r=1.0, v_leak=0.0, v_reset=0.0, reset="zero", refractory_ticks=0,
        delay_ticks=0) -> SpikingNeuron:
    """Leaky integrate-and-fire (NIR ``LIF``): ``v += dt / tau * (v_leak - v + r * I)``."""
    return _build("LIF", reset, refractory_ticks, delay_ticks, tau_s=tau_s, v_threshold=v_threshold, r=r,
                  v_leak=v_leak, v_reset=v_reset)


def CubaLIF(tau_syn_s=0.005, tau_mem_s=0.01, v_threshold=1.0, r=1.0, v_leak=0.0, v_reset=0.0, w_in=1.0,
            reset="zero", refractory_ticks=0, delay_ticks=0) -> SpikingNeuron:
    """Current-based LIF (NIR ``CubaLIF``): synaptic current first, then the LIF update with it."""
    return _build("CubaLIF", reset, refractory_ticks, delay_ticks, tau_syn_s=tau_syn_s, tau_mem_s=tau_mem_s,
                  v_threshold=v_threshold, r=r, v_leak=v_leak, v_reset=v_reset, w_in=w_in)


def LI(tau_s=0.01, r=1.0, v_leak=0.0, delay_ticks=0) -> SpikingNeuron:
    """Leaky integrator readout (NIR ``LI``): the LIF update, no spikes."""
    return _build("LI", "zero", 0, delay_ticks, tau_s=tau_s, r=r, v_leak=v_leak)


def Integrator(r=1.0, delay_ticks=0) -> SpikingNeuron:
    """Integrator readout (NIR ``I``): ``v += dt * r * I``, no spikes."""
    return _build("I", "zero", 0, delay_ticks, r=r)


for _k in PARAMS:
    register_neuron(_k, SpikingNeuron)


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
    """``ticks`` (T) as an int >= 1, or a one-line ConfigError."""
    if isinstance(ticks, bool) or not isinstance(ticks, (int, np.integer)) or ticks < 1:
        raise ConfigError(f"'ticks' (time steps T per inference) must be an integer >= 1. Got {ticks!r}; e.g. ticks=100.")
    return int(ticks)
