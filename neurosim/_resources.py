"""Memory model: estimate the peak memory of a run from its sizes, and refuse what cannot fit.

Every estimate counts the large arrays a run holds at its peak (8-byte floats
and integers), not the interpreter (~0.2 GB for Python, numpy, numba and h5py).
The limit is :data:`DEFAULT_FRACTION` of the memory available when the check
runs (``MemAvailable`` of ``/proc/meminfo``; total RAM elsewhere), or an
explicit ``max_memory`` (``--max-memory`` on the command line, e.g. ``2G``);
the environment variable ``NEUROSIM_MAX_MEMORY`` sets a default.

A refusal is one :class:`~neurosim.errors.CapacityError` line with the
estimate, the limit and the fix; it costs a few microseconds, so an impossible
size is refused before any work starts.
"""
from __future__ import annotations

import contextlib
import math
import os
import re

from .errors import CapacityError, ConfigError

#: Fraction of the available memory a run may use by default.
DEFAULT_FRACTION = 0.75
F8 = 8
ROW_BLOCK = 128  # the engine's block of rows (neurosim.sim.engine.ROW_BLOCK)
CLEAN_CACHE_BYTES = 512 * 2**20  # the engine's clean pre-activation cache cap
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
          "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_size(value, name: str = "--max-memory") -> int:
    """``"2G"``, ``"1.5GB"``, ``"500M"``, ``"4096"`` (bytes) or a number -> bytes (> 0)."""
    if isinstance(value, bool):
        raise ConfigError(f"'{name}' must be a size like 2G, 500M or a byte count. Got {value!r}.")
    if isinstance(value, (int, float)):
        v = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ConfigError(f"'{name}' must be a size like 2G, 500M, 1.5GB or a byte count. Got {value!r}.")
        v = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(v) or v < 1:
        raise ConfigError(f"'{name}' must be a positive size like 2G. Got {value!r}.")
    return int(v)


def fmt_bytes(n: float) -> str:
    """``7.3 GB``-style text (binary units)."""
    n = float(n)
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``), else total physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


_OVERRIDE = []  # stack of (limit_bytes, how) set by limit_memory()


@contextlib.contextmanager
def limit_memory(max_memory):
    """Within the block, checks without an explicit ``max_memory`` use this one (``None``: no change)."""
    if max_memory is None:
        yield
        return
    _OVERRIDE.append((parse_size(max_memory), "--max-memory"))
    try:
        yield
    finally:
        _OVERRIDE.pop()


def memory_limit(max_memory=None) -> tuple:
    """``(limit_bytes, how)``: ``max_memory`` if given (or ``NEUROSIM_MAX_MEMORY``), else the default fraction."""
    if max_memory is None and _OVERRIDE:
        return _OVERRIDE[-1]
    if max_memory is None and os.environ.get("NEUROSIM_MAX_MEMORY"):
        return parse_size(os.environ["NEUROSIM_MAX_MEMORY"], "NEUROSIM_MAX_MEMORY"), "NEUROSIM_MAX_MEMORY"
    if max_memory is not None:
        return parse_size(max_memory), "--max-memory"
    avail = available_memory()
    return int(DEFAULT_FRACTION * avail), f"{DEFAULT_FRACTION:.0%} of the {fmt_bytes(avail)} available"


def check_memory(estimate: float, what: str, fix: str, max_memory=None) -> int:
    """Raise :class:`CapacityError` if ``estimate`` bytes exceed the limit; return the estimate."""
    limit, how = memory_limit(max_memory)
    if estimate > limit:
        raise CapacityError(
            f"{what} needs about {fmt_bytes(estimate)} of memory, above the limit of {fmt_bytes(limit)} ({how}); "
            f"{fix}, or raise the limit with --max-memory."
        )
    return int(estimate)


# ----------------------------------------------------------------------------- estimates
def _engine_work(sizes, n_inputs: int, threads: int = 8) -> float:
    """Working memory of the engine itself: clean cache, per-thread blocks, transposed weights."""
    sizes = [int(s) for s in sizes]
    cache = n_inputs * sum(sizes[1:]) * F8
    cache = cache if cache <= CLEAN_CACHE_BYTES else 0
    blocks = threads * 4 * ROW_BLOCK * max(sizes) * F8
    weights = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * F8
    return cache + blocks + weights + n_inputs * sizes[-1] * F8


def simulate_bytes(sizes, n_inputs: int, n_chips: int, n_specs: int = 1, summaries: int = 0) -> float:
    """Peak bytes of ``simulate()`` holding the whole ``Δ`` (``(n_chips, n_inputs, n_out)``).

    ``summaries`` counts extra Δ-sized arrays the caller makes (the sweep's
    per-point statistics make about 3: ``|Δ|``, ``Δ²``, the faulty outputs).
    """
    sizes = [int(s) for s in sizes]
    rows = float(n_chips) * n_inputs
    delta = rows * sizes[-1] * F8
    counts = 2.0 * n_chips * max(1, n_specs) * len(sizes) * F8
    return delta * (1 + summaries) + counts + _engine_work(sizes, n_inputs)


def spiking_simulate_bytes(sizes, n_inputs: int, n_chips: int, ticks: int, n_specs: int = 1,
                           spike_counts: bool = False, spike_trains: bool = False, threads: int = 8) -> float:
    """Peak bytes of spiking-mode ``simulate()`` (:func:`neurosim.sim.spiking.simulate_spiking`).

    Outputs and Δ of every (chip, input) row (2 × n_out float64), fault counts,
    the clean spike trains and currents kept for reuse (at most 256 MiB, as the
    engine caps them), per-thread blocks of 256 rows holding every layer's state
    over the longest delay line (counted as 4 arrays of the widest layer), and,
    if asked for, per-row spike counts (8 bytes per neuron) and spike trains
    (1 byte per neuron per tick). Counts and trains are bounded above by every
    layer, as if all of them fired.
    """
    sizes = [int(s) for s in sizes]
    rows = float(n_chips) * n_inputs
    neurons = sum(sizes)
    out = 2.0 * rows * sizes[-1] * F8 + n_inputs * sizes[-1] * F8
    counts = 2.0 * n_chips * max(1, n_specs) * len(sizes) * F8
    reuse = min(float(n_inputs) * ticks * neurons * (1 + F8), 256.0 * 2**20)
    blocks = threads * 4 * 256 * max(sizes) * F8
    weights = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * F8
    extra = (rows + n_inputs) * neurons * F8 if spike_counts else 0.0
    extra += (rows + n_inputs) * ticks * neurons if spike_trains else 0.0
    return out + counts + reuse + blocks + weights + extra


def stream_chunk_chips(n_inputs: int, n_out: int, target_bytes: int = 16 * 2**20) -> int:
    """Chips per chunk of a streamed run: about ``target_bytes`` (16 MB) of Δ per chunk (at least one chip)."""
    return max(1, int(target_bytes // max(1, n_inputs * n_out * F8)))


def streamed_simulate_bytes(sizes, n_inputs: int, n_chips: int, n_specs: int = 1) -> float:
    """Peak bytes of the streamed ``simulate`` command (Δ written chunk by chunk, never held whole).

    Per chunk: Δ, its faulty outputs and squares (4 Δ-sized arrays); per chip
    for the whole run: per-output sums (2 × n_out), fault counts, and per
    (chip, input) ``||Δ||_∞`` (8 bytes) and a flip flag (1 byte) for exact quantiles.
    """
    sizes = [int(s) for s in sizes]
    O = sizes[-1]
    chunk = min(n_chips, stream_chunk_chips(n_inputs, O))
    per_chunk = 4.0 * chunk * n_inputs * O * F8
    per_chip = float(n_chips) * (2 * O * F8 + 2 * max(1, n_specs) * len(sizes) * F8 + n_inputs * (F8 + 1))
    return per_chunk + per_chip + _engine_work(sizes, n_inputs)


def network_bytes(sizes) -> float:
    """Bytes of a dense network's float64 weights and biases."""
    sizes = [int(s) for s in sizes]
    return float(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))) * F8
