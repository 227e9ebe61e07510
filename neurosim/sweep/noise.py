r"""Device-noise axes of a sweep: programming noise, read noise and drift age (:mod:`neurosim.chip.devices`).

A sweep with ``--devices`` or any of ``--programming-sigma``, ``--read-sigma``,
``--age`` simulates every point with the profile's ``[device]`` non-idealities
(``simulate(..., devices=TABLE, age=AGE)``). The noise axes add a grid
dimension: the *noise points* are the product
``programming_sigma × read_sigma × age`` (age varying fastest; an axis not
given is left out, so the profile's own value is used), and each noise point
replaces the named keys of the profile's table:

* ``programming_sigma = s``: ``device.programming_sigma = s`` (the profile's
  ``programming`` must be ``gaussian`` or ``lognormal``, the models with a
  sigma; ``s = 0`` means no programming noise: ``programming = "none"``);
* ``read_sigma = s``: ``device.read_sigma = s`` (per-inference read noise, std / w_max);
* ``age``: the deployment age passed as ``simulate(..., age=)`` (the
  profile's ``drift`` must not be ``none``).

So grid point ``i`` equals, bit for bit, ``simulate(target, x, [spec],
n_chips, seed=seed_i, devices=device_table(profile.device, point), age=age)``.
"""
from __future__ import annotations

import itertools
import math

from ..errors import ConfigError

#: Noise axes in grid order (the last varies fastest), with their CLI options.
AXES = (("programming_sigma", "--programming-sigma"), ("read_sigma", "--read-sigma"), ("age_s", "--age"))
_PROGRAMMING_WITH_SIGMA = ("gaussian", "lognormal")


def _items(text, option: str, example: str = "0,0.01,0.03") -> list:
    if isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ConfigError(f"'{option}' is empty; give a comma list, e.g. {option} {example}.")
    return items


def _distinct(vals, option: str) -> tuple:
    out = sorted(vals)
    dup = [a for a, b in zip(out, out[1:]) if a == b]
    if dup:
        raise ConfigError(f"'{option}' gives {dup[0]!r} twice; list each value once.")
    return tuple(out)


def parse_sigmas(text, option: str, key: str = "read_sigma") -> tuple:
    """Noise levels from ``"0,0.01,0.03"`` (std / full scale), sorted, no repeats, within the range the
    ``[device]`` table accepts for ``key`` (:mod:`neurosim.chip.devices`: ``[0, 10]``)."""
    from ..chip.devices import _NUM

    lo, hi = _NUM[key]
    vals = []
    for t in _items(text, option):
        try:
            v = float(t)
        except (TypeError, ValueError):
            raise ConfigError(f"'{option}': {t!r} is not a number; give noise levels >= 0 like 0,0.01,0.03.") from None
        if not (math.isfinite(v) and lo <= v <= hi):
            raise ConfigError(f"'{option}' values are standard deviations (relative to full scale) in [{lo:g}, "
                              f"{hi:g}]. Got {t!r}; give e.g. 0,0.01,0.03.")
        vals.append(v)
    return _distinct(vals, option)


def parse_ages(text) -> tuple:
    """Deployment ages from ``"0,1h,30d,1y"`` (each as :func:`neurosim.chip.devices.parse_age`) -> seconds, sorted."""
    from ..chip.devices import parse_age

    vals = []
    for t in _items(text, "--age", "0,1h,30d,1y"):
        try:
            vals.append(parse_age(t))
        except ConfigError:
            raise ConfigError(f"'--age': {t!r} is not a duration >= 0; give a comma list like 0,1h,30d,1y "
                              "(units s, min, h, d, y; a bare number is seconds).") from None
    return _distinct(vals, "--age")


def noise_points(programming_sigma=None, read_sigma=None, age=None, devices: bool = False) -> tuple:
    """The noise points (dicts of the given axes), ``()`` for a sweep without devices.

    Each argument is a comma list (or a sequence) or None. ``devices=True``
    without axes gives one point, ``{}``: the profiles' tables as they are.
    """
    axes = []
    for (key, opt), text in zip(AXES, (programming_sigma, read_sigma, age)):
        if text is not None:
            axes.append((key, parse_ages(text) if key == "age_s" else parse_sigmas(text, opt, key)))
    if not axes:
        return ({},) if devices else ()
    return tuple({k: v for (k, _), v in zip(axes, combo)} for combo in itertools.product(*[a for _, a in axes]))


def device_table(table: dict, point: dict) -> dict:
    """The ``[device]`` table of one noise point: the profile's ``table`` with the point's keys replaced."""
    out = dict(table)
    if "programming_sigma" in point:
        s = float(point["programming_sigma"])
        out["programming_sigma"] = s
        if s == 0.0:
            out["programming"] = "none"
    if "read_sigma" in point:
        out["read_sigma"] = float(point["read_sigma"])
    return out


def point_kwargs(table: dict, point: dict) -> dict:
    """``simulate`` keywords of one (profile, noise point): ``devices=`` and, on an age axis, ``age=``."""
    kw = {"devices": device_table(table, point)}
    if "age_s" in point:
        kw["age"] = float(point["age_s"])
    return kw


def check_noise(points: tuple, profiles: tuple, targets: tuple, spiking: dict) -> tuple:
    """Validate the noise points against every profile; return ``kwargs[p][d]`` for :func:`simulate`.

    Refused (:class:`ConfigError`): devices on the float network, on a
    spiking network, on a profile without a ``[device]`` table, a programming
    axis on a profile whose programming model has no sigma, an age axis on a
    profile without drift.
    """
    from ..chip.devices import device_model
    from ..sim.devices import resolve_devices

    if not points:
        return ()
    given = [opt for key, opt in AXES if key in points[0]] or ["--devices"]
    what = "/".join(given)
    if spiking:
        raise ConfigError(f"'{what}' (device noise) is simulated in rate mode only; this is a spiking network. "
                          "Drop the noise axes or sweep the rate network it was converted from.")
    out = []
    for name, t in zip(profiles, targets):
        if name is None:
            raise ConfigError(f"'{what}' (device noise) needs a chip profile with a [device] table: give --profile "
                              "(e.g. --profile pcm); the float network has no devices.")
        table = dict(t.profile.device or {})
        if not table:
            raise ConfigError(f"'{what}' (device noise) needs a [device] table in profile '{t.profile.name}', which "
                              "has none; use a profile with one (e.g. pcm) or add a [device] table (docs/profiles.md).")
        base = device_model(table, f"'{t.profile.name}'")
        if "programming_sigma" in points[0] and base.programming not in _PROGRAMMING_WITH_SIGMA:
            raise ConfigError(f"'--programming-sigma' sets the sigma of gaussian or lognormal programming noise; profile "
                              f"'{t.profile.name}' has device.programming = {base.programming!r}. Use a profile (a copy "
                              "of its TOML) with programming = \"gaussian\" or \"lognormal\", or drop --programming-sigma.")
        if "age_s" in points[0] and base.drift == "none":
            raise ConfigError(f"'--age' (drift time) needs conductance drift; profile '{t.profile.name}' has "
                              "device.drift = 'none'. Use a profile with drift (e.g. pcm) or drop --age.")
        row = []
        for pt in points:
            kw = point_kwargs(table, pt)
            resolve_devices(t, device_model(kw["devices"], f"'{t.profile.name}' at {noise_label(pt)}"))
            row.append(kw)
        out.append(tuple(row))
    return tuple(out)


def format_age(seconds: float) -> str:
    """A short duration: ``0 s``, ``1 h``, ``30 d``, ``1 y`` (the largest unit giving a number >= 1)."""
    from ..chip.devices import SECONDS

    s = float(seconds)
    for unit in ("y", "d", "h", "min"):
        if s >= SECONDS[unit]:
            return f"{s / SECONDS[unit]:.3g} {unit}"
    return f"{s:.3g} s"


#: Axis labels in reports.
AXIS_LABELS = {"programming_sigma": "programming σ", "read_sigma": "read σ", "age_s": "age"}


def noise_label(point: dict) -> str:
    """``programming σ 0.03, read σ 0.02, age 1 y`` (``devices`` for the profile's table as is)."""
    parts = [f"{AXIS_LABELS[k]} {format_age(point[k]) if k == 'age_s' else f'{point[k]:g}'}"
             for k, _ in AXES if k in point]
    return ", ".join(parts) if parts else "devices"


__all__ = ["AXES", "AXIS_LABELS", "check_noise", "device_table", "format_age", "noise_label", "noise_points",
           "parse_ages", "parse_sigmas", "point_kwargs"]
