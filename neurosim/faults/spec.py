"""Fault specifications: what fails (site), how (value, mode) and how often (rate).

Text syntax (command line, ``--fault``)::

    SITE:MODE:RATE[:KEY=VALUE]...

    synapse:transient:1e-3
    neuron:permanent:0.01:layers=0,1
    core:intermittent:0.05:p_on=0.1:p_off=0.5
    synapse:intermittent:0.02:burst=4:duty=0.25
    synapse:permanent:profile          # the profile's literature rate (faults.synapse_stuck0)
    synapse:permanent:0.01:group=5     # chips 0-4, 5-9, ... share their faults (common cause)
    synapse:permanent:profile:value=max        # RRAM SA1 on G+ (profile key faults.synapse_stuck_max)
    neuron:transient:1e-3:value=saturated
    synapse:permanent:1e-4:value=bitflip:bit=7

TOML form (``--faults FILE.toml``)::

    [[fault]]
    site = "synapse"
    mode = "transient"
    rate = 1e-3
    layers = [1, 2]

Sites: ``neuron`` (layer 0 = input axons, ``l`` = output of layer ``l``, up to
the output layer L), ``synapse`` (the crossbar cell of ``W_l[i, j]``, layers
1..L), ``core`` (every neuron and synapse the mapping puts on a core; needs a
:class:`~neurosim.chip.ChipMapping`; no ``layers``).

Values (``value=``, see :mod:`neurosim.faults.values`): ``zero`` (default,
alias ``stuck0``), a number, ``max``/``min``, ``saturated``, ``bitflip``
(``bit=K``), ``scale=S``. ``RATE=profile`` takes the profile's literature rate
for the value: ``faults.<site>_stuck0`` for zero, ``<site>_stuck_max`` /
``<site>_stuck_min`` for max/min, ``<site>_bitflip`` for bit flips (SRAM
profiles derive it from their soft-error rate), ``<site>_saturated``.

Modes: ``permanent`` (drawn once per chip instance), ``transient`` (drawn
independently for every (site, inference)), ``intermittent`` (a site is weak
with probability ``rate`` per chip; a weak site follows a two-state Markov chain
over the chip's sequence of inferences: healthy->faulty with ``p_on``,
faulty->healthy with ``p_off``, started in its stationary law
``P(faulty) = p_on / (p_on + p_off)``). Equivalently ``burst`` (mean faulty
burst length, ``1/p_off``) and ``duty`` (stationary faulty fraction).
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FileFormatError
from .values import FaultValue, parse_value

SITES = ("neuron", "synapse", "core", "router")
MODES = ("permanent", "transient", "intermittent")
VALUES = ("zero", "stuck0", "max", "min", "saturated", "bitflip", "scale=S", "a number",
          "threshold_scale", "leak_scale")
_VALUE_PARAMS = ("bit", "range")
SPIKING_VALUES = ("threshold_scale", "leak_scale")  # spiking-mode only (saturated works in both modes)
SCOPES = ("inference", "tick")


def _whole(v):
    """An integer from an int, an integral float (2.0) or a digit string ("5"); None for anything else (2.9, "12a", True)."""
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return int(v) if math.isfinite(v) and v == int(v) else None
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    return None


def _layer_tuple(label: str, layers) -> tuple:
    """``layers`` as a sorted tuple of ints: an int or a list of whole numbers (a string such as "12" is refused)."""
    if isinstance(layers, (str, bytes)):
        raise ConfigError(f"The 'layers' of fault '{label}' must be an integer or a list of integers, e.g. [1, 2]. "
                          f"Got the string {layers!r}; write layers = [1, 2] (TOML) or layers=1,2 (text).")
    if _whole(layers) is not None and not isinstance(layers, str):
        return (_whole(layers),)
    try:
        items = list(layers)
    except TypeError:
        raise ConfigError(f"The 'layers' of fault '{label}' must be integers. Got {layers!r}.") from None
    vals = [_whole(v) if not isinstance(v, str) else None for v in items]
    bad = [items[k] for k, v in enumerate(vals) if v is None]
    if bad:
        raise ConfigError(f"The 'layers' of fault '{label}' must be whole numbers, e.g. [1, 2]. Got {bad[0]!r} "
                          f"in {items!r}.")
    return tuple(sorted(set(vals)))


@dataclass(frozen=True)
class FaultSpec:
    """One kind of fault.

    Parameters
    ----------
    site : {"neuron", "synapse", "core"}
    mode : {"permanent", "transient", "intermittent"}
    rate : float in [0, 1]
        Per-site probability (per chip for permanent/intermittent, per
        inference for transient).
    layers : tuple of int or None
        Neuron layers 0..L or synapse matrices 1..L; None = every layer where
        the site exists. Must be None for core faults.
    value : str, float or FaultValue
        What a faulty site holds (:mod:`neurosim.faults.values`): ``"zero"``
        (default; ``"stuck0"`` is an alias), a number, ``"max"``, ``"min"``,
        ``"saturated"``, ``"bitflip"``, ``"scale=S"``. Stored as its canonical
        text; :attr:`fault_value` has the parsed form.
    bit : int, optional
        ``value="bitflip"``: the bit that flips (0 = least significant); default uniform.
    range : (lo, hi), optional
        ``value="max"``/``"min"`` on a float network: the weight range.
    scale : float, optional
        ``value="scale"``: the factor (same as ``value="scale=S"``).
    p_on, p_off : float in (0, 1]
        Intermittent transition probabilities per inference (or give
        ``burst`` >= 1 and ``duty`` in (0, 1)).
    group : int >= 1
        Permanent faults only: consecutive groups of ``group`` chip instances
        share one draw (common-cause faults, e.g. chips of one wafer or lot).
    scope : {"inference", "tick"}
        Spiking mode: transient faults drawn per (site, inference) (default) or
        per (site, tick); intermittent chains run over inferences or ticks.
    scale : float or None
        Spiking mode, ``value="threshold_scale"`` / ``"leak_scale"`` (permanent
        drift of single neurons): the factor on ``v_threshold`` / ``dt / tau``.

    Spiking-only forms (refused in rate mode): ``value="saturated"`` (the
    neuron fires every tick), the two drift values, ``site="router"``
    (transient: each spike leaving a core is lost with probability ``rate``;
    ``layers`` are the emitting layers, 0 = rate-coded input spikes), and
    ``scope="tick"``.
    """

    site: str
    mode: str
    rate: float
    layers: tuple | None = None
    value: str = "zero"
    fault_value: FaultValue = FaultValue()
    p_on: float | None = None
    p_off: float | None = None
    group: int = 1
    scope: str = "inference"
    scale: float | None = None

    def __init__(self, site, mode, rate, layers=None, value="zero", group=1, scope="inference", scale=None,
                 **params):
        if site not in SITES:
            raise ConfigError(f"Fault 'site' must be one of {', '.join(SITES)}. Got {site!r}.")
        if mode not in MODES:
            raise ConfigError(f"Fault 'mode' of '{site}' must be one of {', '.join(MODES)}. Got {mode!r}.")
        vparams = {k: params.pop(k) for k in _VALUE_PARAMS if k in params}
        drift = str(value) in SPIKING_VALUES
        if scale is not None and not drift:  # value=scale's factor (threshold/leak drift keep theirs)
            vparams["scale"], scale = scale, None
        fv = parse_value(value, site, f"{site}:{value}:{mode}", **vparams)
        label = f"{site}:{fv.text}:{mode}"
        if isinstance(rate, (bool, np.bool_)):
            raise ConfigError(f"The 'rate' of fault '{label}' must be a number in [0, 1]. Got {rate!r}.")
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ConfigError(f"The 'rate' of fault '{label}' must be a number in [0, 1]. Got {rate!r}.") from None
        if not (0.0 <= rate <= 1.0):
            raise ConfigError(f"The 'rate' of fault '{label}' must be in [0, 1]. Got {rate!r}.")
        if layers is not None:
            layers = _layer_tuple(label, layers)
            if site == "core":
                raise ConfigError(f"Fault '{label}' takes no 'layers' (a core holds parts of several layers). Got {layers!r}; remove it.")
            lo = 0 if site in ("neuron", "router") else 1
            if not layers or min(layers) < lo:
                raise ConfigError(f"The 'layers' of fault '{label}' must be integers >= {lo}. Got {list(layers)!r}.")
        p_on, p_off = _markov_params(label, mode, params)
        group_in, group = group, _whole(group)
        if group is None or group < 1:
            raise ConfigError(f"The 'group' of fault '{label}' must be an integer >= 1. Got {group_in!r}.")
        if group > 1 and mode != "permanent":
            raise ConfigError(f"'group' (chips sharing one fault draw) applies to permanent faults only; remove it from '{label}'.")
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "value", fv.text)
        object.__setattr__(self, "fault_value", fv)
        object.__setattr__(self, "p_on", p_on)
        object.__setattr__(self, "p_off", p_off)
        object.__setattr__(self, "group", group)
        scope, scale = _spiking_params(label, site, mode, "stuck0" if fv.is_zero else fv.text, scope, scale)
        object.__setattr__(self, "scope", scope)
        object.__setattr__(self, "scale", scale)

    @property
    def spiking_only(self) -> bool:
        """True for forms that exist only in spiking mode (router, saturated, drift, scope=tick)."""
        return self.site == "router" or self.value in SPIKING_VALUES or self.scope == "tick"

    @property
    def label(self) -> str:
        return f"{self.site}:{'stuck0' if self.fault_value.is_zero else self.value}:{self.mode}"

    @property
    def duty(self) -> float | None:
        """Stationary probability that a weak site is faulty (intermittent only)."""
        if self.mode != "intermittent":
            return None
        return self.p_on / (self.p_on + self.p_off)

    def resolve_layers(self, n_layers: int) -> tuple:
        """Layers this spec hits in a network with ``n_layers`` weight layers."""
        if self.site == "core":
            return ()
        lo = 0 if self.site == "neuron" else 1
        if self.layers is None:
            return tuple(range(lo, n_layers + 1))
        bad = [v for v in self.layers if v > n_layers]
        if bad:
            what = "neuron layers 0..{}".format(n_layers) if self.site == "neuron" else f"synapse layers 1..{n_layers}"
            raise ConfigError(
                f"The 'layers' of fault '{self.label}' must be within {what} for this network. Got {list(self.layers)}."
            )
        return self.layers

    def to_text(self) -> str:
        s = f"{self.site}:{self.mode}:{self.rate!r}"
        if self.layers is not None:
            s += ":layers=" + ",".join(str(v) for v in self.layers)
        if not self.fault_value.is_zero:
            s += f":value={self.value}" + self.fault_value.text_params()
        if self.mode == "intermittent":
            s += f":p_on={self.p_on!r}:p_off={self.p_off!r}"
        if self.group > 1:
            s += f":group={self.group}"
        if self.scale is not None:
            s += f":scale={self.scale!r}"
        if self.scope != "inference":
            s += f":scope={self.scope}"
        return s

    def to_dict(self) -> dict:
        d = {"site": self.site, "mode": self.mode, "rate": self.rate,
             "layers": list(self.layers) if self.layers is not None else None}
        d.update(self.fault_value.to_dict())
        if self.mode == "intermittent":
            d.update(p_on=self.p_on, p_off=self.p_off)
        if self.group > 1:
            d["group"] = self.group
        if self.scope != "inference":
            d["scope"] = self.scope
        if self.scale is not None:
            d["scale"] = self.scale
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FaultSpec":
        d = dict(d)
        missing = [k for k in ("site", "mode", "rate") if k not in d]
        if missing:
            raise ConfigError(f"Fault entry {d!r} is missing {', '.join(missing)}; give site, mode and rate.")
        return cls(d.pop("site"), d.pop("mode"), d.pop("rate"), layers=d.pop("layers", None),
                   value=d.pop("value", "zero"), group=d.pop("group", 1), scope=d.pop("scope", "inference"),
                   scale=d.pop("scale", None), **d)

    def with_rate(self, rate: float) -> "FaultSpec":
        """The same fault (site, value, mode, layers, parameters) at another rate."""
        return FaultSpec.from_dict({**self.to_dict(), "rate": rate})


def _spiking_params(label, site, mode, value, scope, scale):
    """Validate the spiking-mode fields (value forms, scope, scale); return ``(scope, scale)``."""
    if scope not in SCOPES:
        raise ConfigError(f"The 'scope' of fault '{label}' must be one of {', '.join(SCOPES)}. Got {scope!r}.")
    if scope == "tick" and mode == "permanent":
        raise ConfigError(f"scope=tick applies to transient and intermittent faults; remove it from '{label}'.")
    if value in SPIKING_VALUES and site != "neuron":
        raise ConfigError(f"Fault value {value!r} applies to neurons only; use site 'neuron' instead of {site!r}.")
    if site == "router" and (mode != "transient" or value != "stuck0"):
        raise ConfigError(f"Router faults drop each spike with probability 'rate': use 'router:transient:RATE' (got '{label}').")
    drift = value in ("threshold_scale", "leak_scale")
    if drift:
        if mode != "permanent":
            raise ConfigError(f"Drift value {value!r} is a permanent fault; use mode 'permanent' in '{label}'.")
        try:
            scale = float(scale)
        except (TypeError, ValueError):
            raise ConfigError(f"Fault '{label}' needs 'scale' (a positive factor, e.g. scale=0.8). Got {scale!r}.") from None
        if not (scale > 0 and math.isfinite(scale)):
            raise ConfigError(f"The 'scale' of fault '{label}' must be a positive finite number. Got {scale!r}.")
    elif scale is not None:
        raise ConfigError(f"'scale' applies to value=threshold_scale or leak_scale only; remove it from '{label}'.")
    return scope, scale


def _markov_params(label, mode, params):
    params = dict(params)
    allowed = {"p_on", "p_off", "burst", "duty"}
    unknown = set(params) - allowed
    if unknown:
        raise ConfigError(f"Fault '{label}' has unknown parameter(s) {', '.join(sorted(unknown))}; allowed: layers, value, bit, range, scale, group, {', '.join(sorted(allowed))}.")
    if mode != "intermittent":
        if params:
            raise ConfigError(f"Parameters {', '.join(sorted(params))} apply to intermittent faults only; remove them from '{label}'.")
        return None, None
    for k, v in params.items():
        try:
            params[k] = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"Intermittent parameter '{k}' of '{label}' must be a number. Got {v!r}.") from None
    if "p_on" in params or "p_off" in params:
        if not ("p_on" in params and "p_off" in params) or "burst" in params or "duty" in params:
            raise ConfigError(f"Intermittent fault '{label}' needs both p_on and p_off (or both burst and duty, not a mix). Got {sorted(params)}.")
        p_on, p_off = params["p_on"], params["p_off"]
    elif "burst" in params and "duty" in params:
        burst, duty = params["burst"], params["duty"]
        if not (burst >= 1.0 and math.isfinite(burst)):
            raise ConfigError(f"Intermittent 'burst' (mean faulty burst length, in inferences) of '{label}' must be >= 1. Got {burst!r}.")
        if not (0.0 < duty < 1.0):
            raise ConfigError(f"Intermittent 'duty' (stationary faulty fraction) of '{label}' must be in (0, 1). Got {duty!r}.")
        p_off = 1.0 / burst
        p_on = duty * p_off / (1.0 - duty)
        if p_on > 1.0:
            raise ConfigError(
                f"Intermittent fault '{label}': burst={burst} with duty={duty} needs p_on={p_on:.3g} > 1; lower duty or raise burst (duty <= burst/(burst+1))."
            )
    else:
        raise ConfigError(f"Intermittent fault '{label}' needs p_on and p_off (or burst and duty); e.g. '{label.split(':')[0]}:intermittent:0.01:p_on=0.1:p_off=0.5'.")
    for k, v in (("p_on", p_on), ("p_off", p_off)):
        if not (0.0 < v <= 1.0):
            raise ConfigError(f"Intermittent '{k}' of '{label}' must be in (0, 1]. Got {v!r}.")
    return p_on, p_off


def as_specs(faults) -> list:
    """Normalise ``faults`` (None, a FaultSpec, a spec string, or a list of them) to a list of FaultSpecs."""
    if faults is None:
        return []
    if isinstance(faults, (FaultSpec, str)):
        faults = [faults]
    out = []
    for f in faults:
        f = parse_fault(f) if isinstance(f, str) else f
        if not isinstance(f, FaultSpec):
            raise ConfigError(f"'faults' must be FaultSpec objects or spec strings. Got {type(f).__name__}.")
        out.append(f)
    return out


def profile_rate(profile, spec_or_site, value=None) -> float:
    """The literature rate a profile gives for a (site, value): ``faults.<site>_<key>``.

    Keys per value: zero ``stuck0``, max ``stuck_max``, min ``stuck_min``,
    bitflip ``bitflip`` (SRAM profiles derive it from ``[soft_errors]``, see
    :meth:`neurosim.chip.ChipProfile.literature_rate`), saturated ``saturated``.
    """
    if isinstance(spec_or_site, FaultSpec):
        site, fv = spec_or_site.site, spec_or_site.fault_value
    else:
        site, fv = spec_or_site, value if isinstance(value, FaultValue) else parse_value(value or "zero", spec_or_site, spec_or_site)
    suffix = fv.profile_key
    what = f"{site}:...:value={fv.text}"
    if suffix is None:
        raise ConfigError(f"RATE=profile has no literature rate for value={fv.text} ({what}); give the rate as a number.")
    key = f"{site}_{suffix}"
    getter = getattr(profile, "literature_rate", None)
    rate = getter(key) if getter is not None else profile.fault_rates.get(key)
    if rate is None:
        have = ", ".join(sorted(profile.fault_rates)) or "none"
        raise ConfigError(f"Profile '{profile.name}' has no literature rate 'faults.{key}' for {what} (it has: {have}); give the rate as a number.")
    return float(rate)


def check_for_chip(spec: FaultSpec, weight_bits: int | None, where: str = "") -> None:
    """Refuse values the target cannot give: ``weight_bits`` None = a bare float network, 0 = a float chip."""
    fv = spec.fault_value
    on = where or ("a float network" if weight_bits is None else "this chip")
    if fv.kind == "bitflip":
        if not weight_bits:
            raise ConfigError(
                f"Fault '{spec.to_text()}' flips a bit of the stored integer weight, but {on} stores float weights "
                f"({'no mapping' if weight_bits is None else 'weight_bits = 0'}); map onto a profile with integer weights "
                "(e.g. --profile loihi) or use value=scale=S / a number."
            )
        if fv.bit is not None and fv.bit >= weight_bits:
            raise ConfigError(f"The 'bit' of fault '{spec.to_text()}' must be in 0..{weight_bits - 1} ({weight_bits}-bit weights). Got {fv.bit}.")
    if fv.kind in ("max", "min") and fv.range is None and not weight_bits:
        raise ConfigError(
            f"Fault '{spec.to_text()}' uses value={fv.kind}, the tile's largest {'positive' if fv.kind == 'max' else 'negative'} "
            f"weight, but {on} has float weights with no such limit; state the range (value={fv.kind}:range=-1,1), "
            "give a number (value=1.5), or map onto a quantised profile."
        )


def parse_fault(text: str, profile=None) -> FaultSpec:
    """Parse ``SITE:MODE:RATE[:KEY=VALUE]...`` (see module docstring).

    With ``profile``, ``RATE=profile`` takes the profile's rate for the
    spec's value and values the chip cannot give (bit flips on float weights)
    are refused here.
    """
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) < 3:
        raise ConfigError(f"Fault spec {text!r} must look like SITE:MODE:RATE[:KEY=VALUE...], e.g. 'synapse:transient:1e-3'.")
    site, mode, rate = parts[:3]
    from_profile = rate == "profile"
    if from_profile and profile is None:
        raise ConfigError(f"Fault spec {text!r} uses rate=profile but no profile was given; pass --profile or a number.")
    kw = {}
    for item in parts[3:]:
        if "=" not in item:
            if item.lower() in ("bitflip", "saturated", "max", "min", "zero", "stuck0") and "value" not in kw:
                raise ConfigError(f"Fault spec {text!r}: parameter {item!r} must be KEY=VALUE; write value={item}.")
            raise ConfigError(f"Fault spec {text!r}: parameter {item!r} must be KEY=VALUE (e.g. layers=0,1, value=max or p_on=0.1).")
        k, v = (s.strip() for s in item.split("=", 1))
        if k in kw:
            raise ConfigError(f"Fault spec {text!r} gives '{k}' twice; give it once.")
        if k in ("group", "value", "scope", "scale"):
            kw[k] = v
        elif k == "layers":
            try:
                kw["layers"] = tuple(int(t) for t in v.split(",") if t.strip())
            except ValueError:
                raise ConfigError(f"Fault spec {text!r}: 'layers' must be comma-separated integers. Got {v!r}.") from None
        else:
            if k in kw:
                raise ConfigError(f"Fault spec {text!r} gives '{k}' twice; give it once.")
            kw[k] = v
    spec = FaultSpec(site, mode, 0.0 if from_profile else rate, **kw)
    if profile is not None:
        check_for_chip(spec, profile.weight_bits, f"profile '{profile.name}'")
    if from_profile:
        spec = spec.with_rate(profile_rate(profile, spec))
    return spec


def load_faults_toml(path, ignore_rate: bool = False, profile=None) -> list:
    """Read ``[[fault]]`` tables from a TOML file into FaultSpecs.

    With ``ignore_rate`` (sweeps, whose grid supplies the rates) ``rate`` is
    optional and replaced by 0. ``rate = "profile"`` needs ``profile`` (as in
    :func:`parse_fault`).
    """
    p = Path(path)
    if not p.is_file():
        raise FileFormatError(f"Fault file not found: '{p}'. Check the path.")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Fault file '{p}' is not valid TOML: {exc}.") from None
    entries = data.get("fault")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"Fault file '{p}' must contain at least one [[fault]] table with site, mode and rate.")
    if ignore_rate:
        entries = [{**e, "rate": 0.0} for e in entries]
    out = []
    for e in entries:
        from_profile = e.get("rate") == "profile"
        if from_profile and profile is None:
            raise ConfigError(f"Fault file '{p}': rate = \"profile\" needs a profile; pass --profile or give the rate as a number.")
        spec = FaultSpec.from_dict({**e, "rate": 0.0} if from_profile else e)
        if profile is not None:
            check_for_chip(spec, profile.weight_bits, f"profile '{profile.name}'")
        out.append(spec.with_rate(profile_rate(profile, spec)) if from_profile else spec)
    return out
