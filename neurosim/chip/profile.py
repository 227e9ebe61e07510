"""Chip profiles: frozen, validated descriptions of a neuromorphic chip.

Profiles are data: one TOML file per chip, shipped as package data in
``neurosim/chip/profiles/`` (read with :mod:`importlib.resources`, so names work
from any install) and optionally in user folders named by the environment
variable ``NEUROSIM_PROFILE_PATH`` (``os.pathsep``-separated; they take
precedence over shipped names). A file has the
tables ``[chip]``, ``[core]``, ``[synapse]`` and optionally ``[faults]``
(literature fault rates, for reference and for ``rate=profile`` fault specs) and
``[sources]`` (one citation per number), ``[soft_errors]`` (SRAM upset rate,
for ``value=bitflip`` at ``rate=profile``) and ``[device]`` (device
non-idealities: programming/read noise, drift, ADC/DAC bits; see
:mod:`neurosim.chip.devices`). See ``docs/profiles.md``.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, FileFormatError
from .quantize import SCALE_RULES

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
"""Shipped profiles on disk (for a zip import use :func:`profile_sources`)."""
PROFILE_PATH_ENV = "NEUROSIM_PROFILE_PATH"
"""Environment variable: folders of user profiles, ``os.pathsep``-separated."""
SCALINGS = ("per_tile", "per_layer")


@dataclass(frozen=True)
class ChipProfile:
    """A virtual chip (all counts are per chip unless stated)."""

    name: str
    """Short identifier (the file stem for shipped profiles)."""
    description: str
    """One line on what the profile models and its simplifications."""
    cores_per_chip: int
    """Neuro-cores on one chip."""
    crossbar_rows: int
    """Input rows (axons) of one crossbar tile: the largest fan-in a tile holds."""
    crossbar_cols: int
    """Output columns of one crossbar tile: neurons one tile feeds."""
    crossbars_per_core: int
    """Crossbar tiles on one core."""
    neurons_per_core: int
    """Neuron circuits on one core."""
    weight_bits: int
    """Signed weight precision in bits (levels ``-(2^(b-1)-1) .. 2^(b-1)-1`` times a scale); 0 = unquantised float."""
    weight_scaling: str = "per_tile"
    """Where the quantisation scale is shared: ``per_tile`` or ``per_layer``."""
    weight_scale_rule: str = "max"
    """How the scale is chosen: ``max`` (no clipping) or ``mse`` (least squared error)."""
    max_chips: int = 1
    """How many chips the network may be spread over."""
    conv_kernels: str = "shared"
    """Conv layers: ``shared`` (each kernel weight in one cell serving every output position) or
    ``replicated`` (one copy of the kernel per output position, TrueNorth-style)."""
    synapse_scheme: str = "differential pair"
    """How a signed weight is stored (documentation only)."""
    fault_rates: dict = field(default_factory=dict)
    """Literature fault rates, e.g. ``{"synapse_stuck0": 0.0175}`` (informational)."""
    sources: dict = field(default_factory=dict)
    """Citation for each number."""
    soft_errors: dict = field(default_factory=dict)
    """SRAM soft errors: ``fit_per_mbit`` and ``mission_hours`` (see :func:`neurosim.chip.devices.bitflip_probability`)."""
    device: dict = field(default_factory=dict)
    """Device non-idealities, validated by :func:`neurosim.chip.devices.device_model` (empty = ideal devices)."""
    path: str = ""
    """File the profile was read from."""

    @property
    def synapses_per_core(self) -> int:
        return self.crossbar_rows * self.crossbar_cols * self.crossbars_per_core

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def literature_rate(self, key: str):
        """Rate for ``faults.<key>``; ``<site>_bitflip`` comes from ``[soft_errors]`` when not given.

        Returns None when the profile has no such rate.
        """
        if key in self.fault_rates:
            return self.fault_rates[key]
        if key == "synapse_bitflip" and self.soft_errors and self.weight_bits:
            from .devices import soft_error_weight_rate
            return soft_error_weight_rate(self.soft_errors["fit_per_mbit"], self.soft_errors["mission_hours"],
                                          self.weight_bits)
        return None


_INT_FIELDS = {
    ("chip", "cores_per_chip"): (1, 10**7),
    ("chip", "max_chips"): (1, 10**6),
    ("core", "crossbar_rows"): (1, 1 << 20),
    ("core", "crossbar_cols"): (1, 1 << 20),
    ("core", "crossbars_per_core"): (1, 1 << 16),
    ("core", "neurons_per_core"): (1, 1 << 24),
}
_ALLOWED = {
    "chip": {"name", "description", "cores_per_chip", "max_chips"},
    "core": {"crossbar_rows", "crossbar_cols", "crossbars_per_core", "neurons_per_core", "conv_kernels"},
    "synapse": {"weight_bits", "weight_scaling", "weight_scale_rule", "scheme"},
    "faults": None,  # free keys, each a rate in [0, 1]
    "sources": None,  # free keys, each a string
    "soft_errors": {"fit_per_mbit", "mission_hours"},
    "device": None,  # validated by chip.devices.device_model
}


def _fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"Profile {where}: {msg}")


def profile_from_dict(data: dict, where: str = "<dict>", path: str = "") -> ChipProfile:
    """Validate a parsed TOML document into a :class:`ChipProfile`."""
    if not isinstance(data, dict):
        raise _fail(where, "must be a table of tables [chip], [core], [synapse].")
    for table, val in data.items():
        if table not in _ALLOWED:
            raise _fail(where, f"unknown table [{table}]; allowed: {', '.join('[' + t + ']' for t in _ALLOWED)}.")
        if not isinstance(val, dict):
            raise _fail(where, f"'{table}' must be a table ([{table}]). Got {type(val).__name__}.")
        allowed = _ALLOWED[table]
        if allowed is not None:
            for key in val:
                if key not in allowed:
                    raise _fail(where, f"unknown key '{table}.{key}'; allowed in [{table}]: {', '.join(sorted(allowed))}.")
    for table in ("chip", "core", "synapse"):
        if table not in data:
            raise _fail(where, f"missing table [{table}].")
    kw = {}
    for (table, key), (lo, hi) in _INT_FIELDS.items():
        if key not in data[table]:
            if key == "max_chips":
                continue
            raise _fail(where, f"missing key '{table}.{key}' (an integer in [{lo}, {hi}]).")
        v = data[table][key]
        if isinstance(v, bool) or not isinstance(v, int):
            raise _fail(where, f"'{table}.{key}' must be an integer in [{lo}, {hi}]. Got {v!r} ({type(v).__name__}).")
        if not lo <= v <= hi:
            raise _fail(where, f"'{table}.{key}' must be in [{lo}, {hi}]. Got {v}.")
        kw[key] = v
    chip = data["chip"]
    name = chip.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(where, f"'chip.name' must be a non-empty string. Got {name!r}.")
    desc = chip.get("description", "")
    if not isinstance(desc, str):
        raise _fail(where, f"'chip.description' must be a string. Got {desc!r}.")
    syn = data["synapse"]
    bits = syn.get("weight_bits")
    if isinstance(bits, bool) or not isinstance(bits, int) or not (bits == 0 or 2 <= bits <= 32):
        raise _fail(where, f"'synapse.weight_bits' must be 0 (unquantised) or an integer in [2, 32]. Got {bits!r}.")
    scaling = syn.get("weight_scaling", "per_tile")
    if scaling not in SCALINGS:
        raise _fail(where, f"'synapse.weight_scaling' must be one of {', '.join(SCALINGS)}. Got {scaling!r}.")
    rule = syn.get("weight_scale_rule", "max")
    if rule not in SCALE_RULES:
        raise _fail(where, f"'synapse.weight_scale_rule' must be one of {', '.join(SCALE_RULES)}. Got {rule!r}.")
    scheme = syn.get("scheme", "differential pair")
    if not isinstance(scheme, str):
        raise _fail(where, f"'synapse.scheme' must be a string. Got {scheme!r}.")
    conv = data["core"].get("conv_kernels", "shared")
    if conv not in ("shared", "replicated"):
        raise _fail(where, f"'core.conv_kernels' must be 'shared' or 'replicated'. Got {conv!r}.")
    rates = dict(data.get("faults", {}))
    for key, v in rates.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
            raise _fail(where, f"'faults.{key}' must be a rate in [0, 1]. Got {v!r}.")
        rates[key] = float(v)
    sources = dict(data.get("sources", {}))
    for key, v in sources.items():
        if not isinstance(v, str):
            raise _fail(where, f"'sources.{key}' must be a string citation. Got {v!r}.")
    soft = dict(data.get("soft_errors", {}))
    if soft:
        for key in ("fit_per_mbit", "mission_hours"):
            v = soft.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (0.0 <= float(v) < float("inf")):
                raise _fail(where, f"'soft_errors.{key}' must be a number >= 0 (both fit_per_mbit and mission_hours are needed). Got {v!r}.")
            soft[key] = float(v)
    from .devices import device_model
    device = dict(data.get("device", {}))
    device_model(device, where)  # validates; the table itself is kept as data
    if kw["neurons_per_core"] < 1:
        raise _fail(where, "'core.neurons_per_core' must be >= 1.")
    return ChipProfile(
        name=name.strip(), description=desc, weight_bits=bits, weight_scaling=scaling, weight_scale_rule=rule,
        synapse_scheme=scheme, conv_kernels=conv, fault_rates=rates, sources=sources, soft_errors=soft, device=device,
        path=path, **kw,
    )


def _user_dirs() -> list[Path]:
    raw = os.environ.get(PROFILE_PATH_ENV, "")
    dirs = [Path(d).expanduser() for d in raw.split(os.pathsep) if d.strip()]
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(
                f"{PROFILE_PATH_ENV} names '{d}', which is not a folder; "
                f"set {PROFILE_PATH_ENV} to existing folders separated by '{os.pathsep}' or unset it."
            )
    return dirs


def _shipped():
    """``{name: Traversable}`` of the profiles shipped inside the package."""
    root = importlib.resources.files("neurosim.chip") / "profiles"
    return {e.name[:-5]: e for e in root.iterdir() if e.name.endswith(".toml") and e.is_file()}


def profile_sources() -> list[dict]:
    """Every profile findable by name: ``{"name", "source", "path", "shadows"}``.

    ``source`` is ``"user"`` (a folder of ``NEUROSIM_PROFILE_PATH``) or ``"shipped"``
    (package data); a user profile with a shipped name wins and lists the
    shipped one in ``shadows``. Sorted by name.
    """
    found: dict[str, dict] = {}
    for d in _user_dirs():
        for f in sorted(d.glob("*.toml")):
            found.setdefault(f.stem, {"name": f.stem, "source": "user", "path": str(f), "shadows": None})
    for name, res in _shipped().items():
        if name in found:
            found[name]["shadows"] = str(res)
        else:
            found[name] = {"name": name, "source": "shipped", "path": str(res), "shadows": None}
    return [found[k] for k in sorted(found)]


def list_profiles() -> list[str]:
    """Names usable as ``--profile NAME``: user folders (``NEUROSIM_PROFILE_PATH``) and shipped ones."""
    return [e["name"] for e in profile_sources()]


def load_profile(name_or_path) -> ChipProfile:
    """Load a profile by name (user folders first, then shipped) or any profile TOML file by path."""
    if isinstance(name_or_path, ChipProfile):
        return name_or_path
    s = str(name_or_path)
    p = Path(s)
    if p.suffix.lower() != ".toml" and not p.exists():
        for d in _user_dirs():
            if (d / f"{s}.toml").is_file():
                return _load_file(d / f"{s}.toml")
        res = _shipped().get(s)
        if res is None:
            raise ConfigError(
                f"Unknown profile {s!r}; use one of {', '.join(list_profiles())} or a path to a .toml file"
                f" (or add a folder of profiles to {PROFILE_PATH_ENV}).",
                parameter="profile", fix=f"use one of {', '.join(list_profiles())} or a path to a .toml file",
            )
        return _parse(res.read_text(encoding="utf-8"), str(res))
    if not p.is_file():
        raise FileFormatError(f"Profile file not found: '{p}'. Check the path or use a shipped profile name.")
    return _load_file(p)


def _load_file(p: Path) -> ChipProfile:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"Profile '{p}' is not a UTF-8 text file; pass a .toml profile.") from None
    return _parse(text, str(p))


def _parse(text: str, where: str) -> ChipProfile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Profile '{where}' is not valid TOML: {exc}. Fix the file syntax.") from None
    return profile_from_dict(data, where=f"'{where}'", path=where)
