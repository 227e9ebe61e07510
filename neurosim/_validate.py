"""Argument checkers shared by every layer: one line naming the parameter, the constraint, the value and the fix.

Each checker returns the normalised value or raises :class:`~neurosim.errors.ConfigError`
with a message of the form ``'name' (what) must be CONSTRAINT[, e.g. EXAMPLE]. Got VALUE.``
(``(what)`` is omitted when not given). Layers keep their own domain checks (fault
specs, shapes, file formats); scalar numbers and counts go through here.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ConfigError

__all__ = ["label", "real", "positive", "open_unit", "unit_interval", "integer", "int_array", "seed"]


def label(name: str, what: str | None = None) -> str:
    """``'name' (what)``: how every message names its parameter."""
    return f"'{name}'" + (f" ({what})" if what else "")


def real(value, name: str, what: str | None = None) -> float:
    """``value`` as a finite Python float (bools and non-numbers refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"The {label(name, what)} must be a real number. Got {value!r}.")
    v = float(value)
    if not math.isfinite(v):
        raise ConfigError(f"The {label(name, what)} must be finite. Got {v}.")
    return v


def positive(value, name: str, what: str | None = None, example: str = "1.0") -> float:
    """A finite real number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)) \
            or not float(value) > 0:
        raise ConfigError(f"The {label(name, what)} must be a finite number > 0, e.g. {example}. Got {value!r}.")
    return float(value)


def open_unit(value, name: str, what: str | None = None, example: str = "0.5") -> float:
    """A real number strictly between 0 and 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"The {label(name, what)} must be a real number in (0, 1), e.g. {example}. Got {value!r}.")
    v = float(value)
    if not 0.0 < v < 1.0:
        raise ConfigError(f"The {label(name, what)} must be in (0, 1), e.g. {example}. Got {value!r}.")
    return v


def unit_interval(value, name: str, what: str | None = None, example: str = "0.3", hint: str = "") -> float:
    """A real number in ``[0, 1)``; ``hint`` is appended to the range message (why 1 is excluded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"The {label(name, what)} must be a real number in [0, 1), e.g. {example}. Got {value!r}.")
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise ConfigError(f"The {label(name, what)} must be in [0, 1), e.g. {example}. Got {value!r}." + hint)
    return v


def integer(value, name: str, minimum: int, what: str | None = None, whole_floats: bool = False) -> int:
    """An integer ``>= minimum``; with ``whole_floats`` also integral floats such as ``3.0``."""
    lab = label(name, what)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ConfigError(f"The {lab} must be an integer >= {minimum}. Got {value!r}.")
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif whole_floats:
        f = float(value)
        if not math.isfinite(f) or f != round(f):
            raise ConfigError(f"The {lab} must be a whole number >= {minimum}. Got {value!r}.")
        v = int(f)
    else:
        raise ConfigError(f"The {lab} must be an integer >= {minimum}. Got {value!r}.")
    if v < minimum:
        raise ConfigError(f"The {lab} must be an integer >= {minimum}. Got {value!r}.")
    return v


def seed(value, name: str = "seed") -> int:
    """A non-negative integer seed."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"The '{name}' must be a non-negative integer, e.g. 0. Got {value!r}.")
    return int(value)


def int_array(value, name: str, what: str | None, minimum: int) -> np.ndarray:
    """An integer-valued array (ints or integral floats), each ``>= minimum``."""
    lab = label(name, what)
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ConfigError(f"The {lab} must be an integer or an array of integers. Got {value!r}.")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = arr[~(np.isfinite(arr) & (arr == np.round(arr)))].ravel()[0]
            raise ConfigError(f"The {lab} must hold whole numbers. Got {bad!r}.")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < minimum:
        raise ConfigError(f"The {lab} must be >= {minimum}. Got {int(arr.min())}.")
    return arr
