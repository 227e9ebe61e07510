"""Device non-idealities of crossbar chips, and SRAM soft errors.

These are properties of the devices, not faults: every cell is a little off.
A profile's ``[device]`` table turns them on (all off by default)::

    [device]
    g_max_us = 25.0              # conductance of the full-scale weight (uS)
    programming = "pcm"          # none | gaussian | lognormal | pcm
    programming_sigma = 0.03     # gaussian: std / g_max; lognormal: std of ln g
    drift = "pcm"                # none | constant | pcm
    drift_nu = 0.05              # constant: drift exponent (drift_nu_std: its spread)
    drift_t0_s = 20.0            # time of the first read after programming
    read_sigma = 0.02            # per-inference read noise, std / w_max (Gaussian)
    adc_bits = 8                 # column read-out precision (0 = ideal)
    dac_bits = 8                 # input drive precision (0 = ideal)

Weights to conductances (aihwkit's single-pair converter): a weight ``w`` of a
cell whose full-scale weight is ``w_max`` (the tile's ``n * s_tile`` on a
quantised chip, the layer's ``max |W|`` otherwise) is the difference of two
devices, ``g+ = max(w, 0) / w_max * g_max`` and ``g- = max(-w, 0) / w_max * g_max``,
and reads back as ``w = (g+ - g-) / g_max * w_max``.

* Programming noise (once per chip, per device): ``gaussian``
  ``g = g_T + N(0, (sigma g_max)^2)``; ``lognormal`` ``g = g_T exp(sigma N(0,1))``;
  ``pcm`` (aihwkit ``PCMLikeNoiseModel``, Nandakumar et al., ICECS 2019):
  ``g = g_T + sigma_prog N(0,1)``,
  ``sigma_prog = (0.26348 + 1.9650 x - 1.1731 x^2) * g_max / 25 uS``, ``x = g_T / g_max``;
  conductances are clipped at 0.
* Drift to deployment age ``t`` (``simulate --age 1y``):
  ``g(t) = g_prog * ((t + t0) / t0)^(-nu)`` (aihwkit's form of
  ``g(t) = g0 (t/t0)^-nu``, time counted from the end of programming).
  ``pcm``: ``nu = |mu + sd N(0,1)|`` with ``mu = clip(-0.0155 ln x + 0.0244, 0.049, 0.1)``,
  ``sd = clip(-0.0125 ln x - 0.0059, 0.008, 0.045)``, plus the accumulated
  1/f noise ``|g(t)| Q_s sqrt(ln((t + t_read) / (2 t_read))) N(0,1)``,
  ``Q_s = min(0.0088 / max(x, 1e-3)^0.65, 0.2)``, ``t_read = 250 ns``
  (aihwkit ``PCMLikeNoiseModel``; Joshi et al., Nat. Commun. 11, 2473, 2020).
  ``constant``: ``nu ~ N(drift_nu, drift_nu_std)`` per device, no 1/f term.
  ``drift_compensation = true`` rescales each layer by
  ``sum_i |sum_j W0_ij| / sum_i |sum_j W(t)_ij|`` (aihwkit ``GlobalDriftCompensation``:
  the all-ones read-out ratio).
* Read noise (per inference, per cell): ``W_ij + N(0, (read_sigma w_max)^2)``
  (aihwkit ``w_noise``, additive constant). The engine draws it as the column
  sum, exact in distribution: ``z_i += sqrt(sum_j s_ij^2 y_j^2) N(0,1)``.
* ADC/DAC: the inputs of each crossbar layer are quantised to ``dac_bits``
  and its column outputs to ``adc_bits``, uniformly over the layer's clean range
  (``max |y_{l-1}|`` resp. ``max |z_l|`` over the evaluation inputs), with
  saturation at the range ends.

SRAM soft errors (digital chips keep weights in SRAM): with ``F`` upsets per
10^9 device-hours per Mbit (FIT/Mbit, 1 Mbit = 2^20 bits) a bit is hit at rate
``lam = F 1e-9 / 2^20`` per hour; by mission time ``T`` (hours since the weights
were last written) it reads flipped iff it was hit an odd number of times:
``p_bit = (1 - exp(-2 lam T)) / 2`` (Poisson process, project's own
derivation). A ``b``-bit weight has some bit flipped with probability
``1 - (1 - p_bit)^b``: this is ``rate=profile`` for ``value=bitflip`` (the
engine flips one bit per faulty weight; two flipped bits in one weight have
probability ``O((b p_bit)^2)`` and are neglected).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

PROGRAMMING = ("none", "gaussian", "lognormal", "pcm")
DRIFT = ("none", "constant", "pcm")
PCM_PROG_COEFF = (0.26348, 1.9650, -1.1731)  # uS at g_max = 25 uS (aihwkit PCMLikeNoiseModel)
T_READ_S = 250e-9
BITS_PER_MBIT = 2 ** 20
SECONDS = {"s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "y": 365.25 * 86400.0}


@dataclass(frozen=True)
class DeviceModel:
    """Validated ``[device]`` table of a profile (see module docstring)."""

    g_max_us: float = 25.0
    programming: str = "none"
    programming_sigma: float = 0.0
    drift: str = "none"
    drift_nu: float = 0.0
    drift_nu_std: float = 0.0
    drift_t0_s: float = 20.0
    drift_compensation: bool = False
    read_sigma: float = 0.0
    adc_bits: int = 0
    dac_bits: int = 0

    @property
    def per_chip(self) -> bool:
        """True if every chip instance gets its own weights (programming noise or drift)."""
        return self.programming != "none" or self.drift != "none"

    @property
    def any(self) -> bool:
        return self.per_chip or self.read_sigma > 0 or self.adc_bits > 0 or self.dac_bits > 0


_NUM = {"g_max_us": (1e-9, 1e9), "programming_sigma": (0.0, 10.0), "drift_nu": (0.0, 10.0),
        "drift_nu_std": (0.0, 10.0), "drift_t0_s": (1e-12, 1e12), "read_sigma": (0.0, 10.0)}


def device_model(table, where: str = "<dict>") -> DeviceModel:
    """Validate a ``[device]`` table (a dict) into a :class:`DeviceModel`."""
    if isinstance(table, DeviceModel):
        return table
    table = dict(table or {})
    kw = {}
    for key, v in table.items():
        if key in _NUM:
            lo, hi = _NUM[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
                raise ConfigError(f"Profile {where}: 'device.{key}' must be a number in [{lo:g}, {hi:g}]. Got {v!r}.")
            kw[key] = float(v)
        elif key in ("adc_bits", "dac_bits"):
            if isinstance(v, bool) or not isinstance(v, int) or not (v == 0 or 2 <= v <= 24):
                raise ConfigError(f"Profile {where}: 'device.{key}' must be 0 (ideal) or an integer in [2, 24]. Got {v!r}.")
            kw[key] = v
        elif key == "programming":
            if v not in PROGRAMMING:
                raise ConfigError(f"Profile {where}: 'device.programming' must be one of {', '.join(PROGRAMMING)}. Got {v!r}.")
            kw[key] = v
        elif key == "drift":
            if v not in DRIFT:
                raise ConfigError(f"Profile {where}: 'device.drift' must be one of {', '.join(DRIFT)}. Got {v!r}.")
            kw[key] = v
        elif key == "drift_compensation":
            if not isinstance(v, bool):
                raise ConfigError(f"Profile {where}: 'device.drift_compensation' must be true or false. Got {v!r}.")
            kw[key] = v
        else:
            allowed = sorted(set(_NUM) | {"adc_bits", "dac_bits", "programming", "drift", "drift_compensation"})
            raise ConfigError(f"Profile {where}: unknown key 'device.{key}'; allowed: {', '.join(allowed)}.")
    m = DeviceModel(**kw)
    if m.programming in ("gaussian", "lognormal") and m.programming_sigma == 0.0:
        raise ConfigError(f"Profile {where}: device.programming = {m.programming!r} needs device.programming_sigma > 0.")
    if m.drift == "constant" and m.drift_nu == 0.0:
        raise ConfigError(f"Profile {where}: device.drift = 'constant' needs device.drift_nu > 0.")
    return m


def parse_age(text) -> float:
    """Deployment age in seconds from ``3600``, ``90s``, ``10min``, ``2h``, ``30d`` or ``1y`` (365.25 days)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        sec = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(s|min|h|d|y)?\s*", str(text))
        try:
            sec = float(m.group(1)) * SECONDS[m.group(2) or "s"] if m else float("nan")
        except ValueError:
            sec = float("nan")
    if not (math.isfinite(sec) and sec >= 0):
        raise ConfigError(f"'age' (time since programming) must be a duration >= 0 like 3600, 2h, 30d or 1y. Got {text!r}.")
    return sec


# ----------------------------------------------------------------------------- soft errors
def bit_upset_rate(fit_per_mbit: float) -> float:
    """Upsets per bit per hour: ``F * 1e-9 / 2^20``."""
    return float(fit_per_mbit) * 1e-9 / BITS_PER_MBIT


def bitflip_probability(fit_per_mbit: float, mission_hours: float) -> float:
    """Probability that a bit reads flipped after ``mission_hours``: ``(1 - exp(-2 lam T)) / 2``."""
    return -math.expm1(-2.0 * bit_upset_rate(fit_per_mbit) * float(mission_hours)) / 2.0


def soft_error_weight_rate(fit_per_mbit: float, mission_hours: float, bits: int) -> float:
    """Probability that a ``bits``-bit weight has a flipped bit: ``1 - (1 - p_bit)^b``."""
    p = bitflip_probability(fit_per_mbit, mission_hours)
    return -math.expm1(bits * math.log1p(-p))


def expected_upsets(fit_per_mbit: float, mission_hours: float, n_bits: int) -> float:
    """Expected upsets in ``n_bits`` bits over the mission: ``lam T n_bits``."""
    return bit_upset_rate(fit_per_mbit) * float(mission_hours) * n_bits


# ----------------------------------------------------------------------------- crossbar devices
def full_scale(target) -> list:
    """Per-cell full-scale weight ``w_max`` of every layer (arrays of ``W_l``'s shape)."""
    from .mapping import ChipMapping
    from .quantize import levels

    if isinstance(target, ChipMapping):
        net, m = target.qnet, target
        n = levels(m.profile.weight_bits)
        out = []
        for l, W in enumerate(net.weights, start=1):
            S = np.empty(W.shape)
            for t in np.flatnonzero(m.tile_layer == l):
                fs = n * m.tile_scale[t] if n else float(np.max(np.abs(
                    W[m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]])))
                S[m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]] = fs if fs > 0 else 1.0
            out.append(S)
        return out
    return [np.full(W.shape, float(np.max(np.abs(W))) or 1.0) for W in target.weights]


def _rng(entropy: int, chip: int, layer: int, what: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(0xD5, what, chip, layer))))


def _program(g_t, model: DeviceModel, rng):
    if model.programming == "none":
        return g_t.copy()
    z = rng.standard_normal(g_t.shape)
    if model.programming == "gaussian":
        g = g_t + model.programming_sigma * model.g_max_us * z
    elif model.programming == "lognormal":
        g = g_t * np.exp(model.programming_sigma * z)
    else:
        x = g_t / model.g_max_us
        c0, c1, c2 = PCM_PROG_COEFF
        sig = np.maximum(c0 + c1 * x + c2 * x * x, 0.0) * model.g_max_us / 25.0
        g = g_t + sig * z
    return np.maximum(g, 0.0)


def _drift(g_prog, g_t, model: DeviceModel, age_s: float, rng):
    if model.drift == "none":
        return g_prog
    t0 = model.drift_t0_s
    t = age_s + t0
    if model.drift == "constant":
        nu = np.abs(model.drift_nu + model.drift_nu_std * rng.standard_normal(g_prog.shape))
        return g_prog * (t / t0) ** (-nu)
    x = np.maximum(np.abs(g_t / model.g_max_us), 1e-7)
    mu = np.clip(-0.0155 * np.log(x) + 0.0244, 0.049, 0.1)
    sd = np.clip(-0.0125 * np.log(x) - 0.0059, 0.008, 0.045)
    nu = np.abs(mu + sd * rng.standard_normal(g_prog.shape))
    g = g_prog * (t / t0) ** (-nu) if t > t0 else g_prog.copy()
    xp = np.maximum(np.abs(g_prog) / model.g_max_us, 1e-3)
    qs = np.minimum(0.0088 / xp ** 0.65, 0.2)
    g = g + np.abs(g) * qs * math.sqrt(math.log((t + T_READ_S) / (2 * T_READ_S))) * rng.standard_normal(g.shape)
    return np.maximum(g, 0.0)


def chip_weights(weights, wmax, model: DeviceModel, entropy: int, chip: int, age_s: float = 0.0) -> list:
    """The weights chip instance ``chip`` holds at age ``age_s``: programming noise, then drift.

    ``weights`` are the mapped (intended) weights, ``wmax`` their per-cell full
    scale (:func:`full_scale`). Each (chip, layer) draws from its own
    ``SeedSequence(entropy, spawn_key=...)`` stream: same inputs, same weights.
    """
    out = []
    gm = model.g_max_us
    for l, (W, S) in enumerate(zip(weights, wmax), start=1):
        rng = _rng(entropy, chip, l, 1)
        gp_t = np.maximum(W, 0.0) / S * gm
        gn_t = np.maximum(-W, 0.0) / S * gm
        gp = _drift(_program(gp_t, model, rng), gp_t, model, age_s, rng)
        gn = _drift(_program(gn_t, model, rng), gn_t, model, age_s, rng)
        Wc = (gp - gn) / gm * S
        if model.drift_compensation and model.drift != "none":
            den = float(np.sum(np.abs(Wc.sum(axis=1))))
            if den > 0:
                Wc *= float(np.sum(np.abs(W.sum(axis=1)))) / den
        out.append(Wc)
    return out


def read_noise_std(wmax, model: DeviceModel) -> list:
    """Per-cell std of the per-inference read noise in weight units (``read_sigma * w_max``)."""
    return [model.read_sigma * S for S in wmax]


def uniform_quantize(a, bits: int, lo: float, hi: float, out=None):
    """``a`` quantised to ``2^bits - 1`` uniform steps over ``[lo, hi]`` with saturation (ADC/DAC)."""
    if out is None:
        out = np.empty_like(a)
    if hi <= lo:
        out[...] = np.clip(a, lo, hi)
        return out
    step = (hi - lo) / ((1 << bits) - 1)
    np.clip(a, lo, hi, out=out)
    out -= lo
    out /= step
    np.rint(out, out=out)
    out *= step
    out += lo
    return out


__all__ = ["DeviceModel", "device_model", "parse_age", "bit_upset_rate", "bitflip_probability",
           "soft_error_weight_rate", "expected_upsets", "full_scale", "chip_weights", "read_noise_std",
           "uniform_quantize"]
