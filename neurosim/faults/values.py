"""Fault values: what a faulty site holds (one model for rate and spiking mode).

A fault spec says *where* and *how often* (site, mode, rate); its value says
*what the faulty part does*:

============  =================  ================================================
value         sites              meaning
============  =================  ================================================
``zero``      neuron, synapse,   output (neuron) or weight (synapse) forced to 0;
              core               ``stuck0`` is an alias. Default.
a number      neuron, synapse    stuck at that number (``value=0.5``)
``max``       synapse            the largest positive weight the cell's tile can
                                 hold: ``n * s_tile`` with ``n = 2^(b-1) - 1``
                                 levels and the tile's quantisation step
                                 (RRAM SA1 on the G+ device). On a float
                                 network there is no such weight: state a range
                                 (``range=-1,1`` gives ``max = 1``) or use a
                                 number.
``min``       synapse            ``-n * s_tile`` (SA1 on the G- device), or the
                                 low end of ``range``
``saturated`` neuron             rate mode: the layer's largest clean activation
                                 over the evaluation inputs (one number per
                                 layer, ``max_b max_i y_l[b, i]``); spiking
                                 mode: fires every tick
``bitflip``   synapse            one bit of the stored integer weight flips
                                 (two's complement over the profile's
                                 ``weight_bits``), uniformly chosen, or bit
                                 ``bit=K`` (0 = least significant); needs a
                                 mapping with integer weights
``scale=s``   synapse            multiplicative drift: the weight becomes ``s*W``
============  =================  ================================================

Text: ``synapse:permanent:0.0452:value=max``, ``neuron:transient:1e-3:value=saturated``,
``synapse:permanent:1e-4:value=bitflip:bit=7``, ``synapse:permanent:1:value=scale=0.9``
(or ``value=scale:scale=0.9``), ``synapse:permanent:0.01:value=max:range=-1,1``.
TOML: ``value = "max"``, ``value = 0.5``, ``value = "bitflip"`` with ``bit = 7``,
``value = "scale"`` with ``scale = 0.9``, ``range = [-1.0, 1.0]``.

When several specs hit the same site in the same inference, the last spec in
the list decides its value; a dead core (``core`` faults) holds nothing, so
its sites read 0 whatever other specs say.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

KINDS = ("zero", "number", "max", "min", "saturated", "bitflip", "scale", "threshold_scale", "leak_scale")
ALIASES = {"stuck0": "zero", "0": "zero"}
NAMED = ("zero", "stuck0", "max", "min", "saturated", "bitflip", "scale=S", "a number")
SITE_KINDS = {
    "neuron": ("zero", "number", "saturated", "threshold_scale", "leak_scale"),
    "synapse": ("zero", "number", "max", "min", "bitflip", "scale"),
    "core": ("zero",),
    "router": ("zero",),
}
#: Kind codes shared with the kernels (:mod:`neurosim.kernels.values`).
CODES = {k: i for i, k in enumerate(KINDS)}
#: ``[faults]`` key of a profile that ``RATE=profile`` uses, per value kind.
PROFILE_KEYS = {"zero": "stuck0", "max": "stuck_max", "min": "stuck_min", "saturated": "saturated",
                "bitflip": "bitflip"}


@dataclass(frozen=True)
class FaultValue:
    """The value a faulty site takes.

    Attributes
    ----------
    kind : one of :data:`KINDS`
    number : float or None
        The stuck value (``number``) or the factor (``scale``).
    bit : int or None
        ``bitflip`` only: the bit that flips (0 = least significant); None = uniform.
    range : (float, float) or None
        ``max``/``min`` only: the weight range stated for a float network.
    """

    kind: str = "zero"
    number: float | None = None
    bit: int | None = None
    range: tuple | None = None

    @property
    def text(self) -> str:
        """Canonical ``value=`` text (without ``bit``/``range``)."""
        if self.kind == "number":
            return repr(self.number)
        if self.kind == "scale":
            return f"scale={self.number!r}"
        return self.kind

    @property
    def is_zero(self) -> bool:
        return self.kind == "zero"

    @property
    def needs_chip(self) -> bool:
        """True if the value depends on the mapped chip (tile ranges, stored integers)."""
        return self.kind == "bitflip" or (self.kind in ("max", "min") and self.range is None)

    def text_params(self) -> str:
        """``:bit=K`` / ``:range=LO,HI`` suffix of the text form (may be empty)."""
        s = ""
        if self.bit is not None:
            s += f":bit={self.bit}"
        if self.range is not None:
            s += f":range={self.range[0]!r},{self.range[1]!r}"
        return s

    def to_dict(self) -> dict:
        d = {"value": self.text}
        if self.bit is not None:
            d["bit"] = self.bit
        if self.range is not None:
            d["range"] = list(self.range)
        return d

    @property
    def profile_key(self) -> str | None:
        """Suffix of the profile ``[faults]`` key for ``RATE=profile`` (None: no literature rate)."""
        return PROFILE_KEYS.get(self.kind)


def _num(label, name, v, fix):
    if isinstance(v, bool):
        raise ConfigError(f"The '{name}' of fault '{label}' must be a finite number. Got {v!r}; {fix}.")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"The '{name}' of fault '{label}' must be a finite number. Got {v!r}; {fix}.") from None
    if not math.isfinite(f):
        raise ConfigError(f"The '{name}' of fault '{label}' must be a finite number. Got {v!r}; {fix}.")
    return f


def parse_value(value, site: str, label: str, bit=None, range=None, scale=None) -> FaultValue:
    """Validate ``value=`` (and its ``bit``/``range``/``scale`` parameters) for ``site``.

    Raises :class:`~neurosim.errors.ConfigError` naming the parameter, the
    constraint, the value and the fix.
    """
    if isinstance(value, FaultValue):
        fv = value
    else:
        number = None
        if isinstance(value, bool):
            raise ConfigError(f"Fault 'value' of '{label}' must be one of {', '.join(NAMED)}. Got {value!r}.")
        if isinstance(value, (int, float)):
            kind, number = "number", _num(label, "value", value, "give a finite number")
        else:
            text = str(value).strip().lower()
            text = ALIASES.get(text, text)
            if text.startswith("scale="):
                if scale is not None:
                    raise ConfigError(f"Fault '{label}' gives the scale twice (value={value} and scale={scale}); give it once.")
                kind, scale = "scale", text.split("=", 1)[1]
            elif text in KINDS and text != "number":
                kind = text
            else:
                try:
                    number = float(text)
                except ValueError:
                    raise ConfigError(
                        f"Fault 'value' of '{label}' must be one of {', '.join(NAMED)}. Got {value!r}; "
                        "e.g. value=max or value=0.5."
                    ) from None
                kind = "number"
                number = _num(label, "value", number, "give a finite number")
        if kind == "number" and number == 0.0:
            kind, number = "zero", None
        if kind == "scale":
            if scale is None:
                raise ConfigError(f"Fault '{label}' has value=scale but no factor; write value=scale=0.9 (or scale=0.9).")
            number = _num(label, "scale", scale, "e.g. value=scale=0.9")
        elif scale is not None:
            raise ConfigError(f"Parameter 'scale' applies to value=scale only; remove it from '{label}' or set value=scale.")
        if bit is not None:
            if kind != "bitflip":
                raise ConfigError(f"Parameter 'bit' applies to value=bitflip only; remove it from '{label}' or set value=bitflip.")
            try:
                b = int(str(bit)) if not isinstance(bit, bool) else None
            except ValueError:
                b = None
            if b is None or b < 0:
                raise ConfigError(f"The 'bit' of fault '{label}' must be an integer >= 0 (0 = least significant bit). Got {bit!r}.")
            bit = b
        if range is not None:
            if kind not in ("max", "min"):
                raise ConfigError(f"Parameter 'range' applies to value=max/min only; remove it from '{label}'.")
            if isinstance(range, str):
                range = [t for t in range.split(",") if t.strip()]
            try:
                lo, hi = (float(t) for t in range)
            except (TypeError, ValueError):
                raise ConfigError(f"The 'range' of fault '{label}' must be two numbers LO,HI (e.g. range=-1,1). Got {range!r}.") from None
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= 0.0 <= hi and lo < hi):
                raise ConfigError(f"The 'range' of fault '{label}' must satisfy LO <= 0 <= HI, LO < HI, finite. Got {range!r}.")
            range = (lo, hi)
        fv = FaultValue(kind, number, bit, range)
    if site in SITE_KINDS and fv.kind not in SITE_KINDS[site]:
        hint = {"neuron": "neurons take zero, a number or saturated",
                "synapse": "synapses take zero, a number, max, min, bitflip or scale=S",
                "core": "a dead core holds nothing: core faults are zero only",
                "router": "router faults drop spikes: value must be zero"}[site]
        raise ConfigError(f"Fault value {fv.text!r} does not apply to site '{site}' in '{label}'; {hint}.")
    return fv


def flip_bit(q: int, bit: int, bits: int) -> int:
    """Stored integer ``q`` (two's complement over ``bits`` bits) with bit ``bit`` flipped.

    Plain-Python reference of the kernel's rule (used by tests and docs):
    ``u = q mod 2^b``; ``u ^= 2^k``; result ``u - 2^b`` if ``u >= 2^(b-1)`` else ``u``.
    """
    m = 1 << bits
    u = (int(q) % m) ^ (1 << int(bit))
    return u - m if u >= (m >> 1) else u


__all__ = ["FaultValue", "KINDS", "CODES", "SITE_KINDS", "parse_value", "flip_bit"]
