r"""The sweep grid: rates, fault specs, profiles, per-point seeds, and the context every worker gets.

Grid
----
``points = profiles × noise points × specs × rates`` in that nesting order
(rates vary fastest): point ``i`` is ``(profile p, noise point d, spec s, rate r)`` with
``i = ((p * n_noise + d) * n_specs + s) * n_rates + r``; ``n_noise = 1`` (and
``d = 0``) without device noise (:mod:`.noise`), so those sweeps keep their indices.
Every spec's own rate is replaced by
the grid rate. Point ``i`` simulates with the seed

.. math:: \mathrm{seed}_i = \mathtt{SeedSequence(seed, spawn\_key=(i,)).generate\_state(1, uint64)[0]}

so a point's result depends only on the configuration and ``i``, never on the
executor, the number of workers or the order in which points complete.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as V
from ..errors import ConfigError
from ..faults.spec import FaultSpec, load_faults_toml, parse_fault
from ..network import Network
from .summary import QUANTILE_LEVELS

#: Rule for the per-point seed (stored in the file's configuration).
POINT_SEED_RULE = "SeedSequence(seed, spawn_key=(point,)).generate_state(1, uint64)[0]"
#: Rule for the raw-Δ subsample (stored in the file's configuration).
RAW_SUBSAMPLE_RULE = ("sort(Generator(PCG64(SeedSequence(seed, spawn_key=(point, 1))))"
                      ".choice(n_chips * n_inputs, K, replace=False)); row = chip * n_inputs + input")


def parse_rates(text) -> tuple:
    """Rates from ``"LO:HI:N"`` (``N`` log-spaced points, ``0 < LO <= HI <= 1``) or ``"r1,r2,..."``.

    Returns the rates sorted ascending. Raises :class:`ConfigError` for an empty
    grid, a rate outside ``[0, 1]`` or a repeated rate.
    """
    if isinstance(text, (list, tuple, np.ndarray)):
        return check_rates(text)
    s = str(text).strip()
    if not s:
        raise ConfigError("'--rates' is empty: the sweep grid has no rate. Give e.g. 1e-4:1e-1:13 or 0.001,0.01,0.1.")
    if ":" in s:
        parts = [t.strip() for t in s.split(":")]
        if len(parts) != 3:
            raise ConfigError(f"'--rates' {s!r} must be LO:HI:N (N log-spaced rates), e.g. 1e-4:1e-1:13.")
        try:
            lo, hi = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"'--rates' {s!r}: LO and HI must be numbers, e.g. 1e-4:1e-1:13.") from None
        try:
            n = int(parts[2])
        except ValueError:
            raise ConfigError(f"'--rates' {s!r}: N must be an integer count of rates. Got {parts[2]!r}.") from None
        if n < 1:
            raise ConfigError(f"'--rates' {s!r} gives an empty grid (N = {n}); N must be >= 1.")
        for name, v in (("LO", lo), ("HI", hi)):
            if not (math.isfinite(v) and 0.0 < v <= 1.0):
                raise ConfigError(
                    f"'--rates' {s!r}: {name} = {v!r} must be in (0, 1] for a log-spaced grid "
                    f"(rates are probabilities; list 0 explicitly with a comma list)."
                )
        if lo > hi:
            raise ConfigError(f"'--rates' {s!r}: LO = {lo!r} must be <= HI = {hi!r}.")
        if n == 1:
            if lo != hi:
                raise ConfigError(f"'--rates' {s!r}: one rate (N = 1) needs LO == HI; give N >= 2 or a single rate.")
            return check_rates([lo])
        vals = list(np.logspace(math.log10(lo), math.log10(hi), n))
        vals[0], vals[-1] = lo, hi  # exact end points
        if len(set(vals)) < n:
            raise ConfigError(f"'--rates' {s!r}: LO == HI gives N equal rates; give distinct LO and HI, or N = 1.")
        return check_rates(vals)
    vals = []
    for t in s.split(","):
        t = t.strip()
        if not t:
            continue
        try:
            vals.append(float(t))
        except ValueError:
            raise ConfigError(f"'--rates': {t!r} is not a number; give LO:HI:N or a comma list like 0.001,0.01.") from None
    return check_rates(vals)


def check_rates(vals) -> tuple:
    """Validate a list of rates (each in [0, 1], no repeats, at least one); return them sorted."""
    try:
        vals = [float(v) for v in vals]
    except (TypeError, ValueError):
        raise ConfigError(f"Sweep rates must be numbers in [0, 1]. Got {vals!r}.") from None
    if not vals:
        raise ConfigError("The sweep grid is empty: no rate given. Give --rates LO:HI:N or a comma list.")
    for v in vals:
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ConfigError(f"Every sweep rate must be a probability in [0, 1]. Got {v!r}.")
    out = sorted(vals)
    dup = [a for a, b in zip(out, out[1:]) if a == b]
    if dup:
        raise ConfigError(f"Sweep rate {dup[0]!r} is given twice; list each rate once.")
    return tuple(out)


def parse_sweep_fault(text: str) -> FaultSpec:
    """A ``--fault`` spec for a sweep: the rate field is optional (it is replaced by the grid rate).

    ``neuron:transient``, ``neuron:transient:0``, ``synapse:permanent:profile:layers=1``
    are all accepted; the given rate is ignored.
    """
    parts = [p.strip() for p in str(text).split(":")]
    if len(parts) < 2:
        raise ConfigError(f"Fault spec {text!r} must look like SITE:MODE[:RATE][:KEY=VALUE...], e.g. 'neuron:transient'.")
    if len(parts) == 2 or "=" in parts[2]:
        parts.insert(2, "0")
    else:
        parts[2] = "0"  # replaced by the grid rate; 'profile' or a number are both accepted
    return parse_fault(":".join(parts))


def load_sweep_faults(path) -> list:
    """``[[fault]]`` tables of a TOML file (as ``--faults``); ``rate`` is optional and ignored."""
    return load_faults_toml(path, ignore_rate=True)


def spec_key(spec: FaultSpec) -> str:
    """Spec text without its rate, e.g. ``neuron:transient:layers=1``."""
    parts = spec.to_text().split(":")
    return ":".join(parts[:2] + parts[3:])


def with_rate(spec: FaultSpec, rate: float) -> FaultSpec:
    d = spec.to_dict()
    d["rate"] = float(rate)
    return FaultSpec.from_dict(d)


def point_seed(seed: int, index: int) -> int:
    """Seed of grid point ``index`` (see :data:`POINT_SEED_RULE`)."""
    return int(np.random.SeedSequence(int(seed), spawn_key=(int(index),)).generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class SweepGrid:
    """The grid ``profiles × noise points × specs × rates`` (rates vary fastest)."""

    profiles: tuple
    """Profile names; ``None`` = the float network (no mapping)."""
    specs: tuple
    """Fault specs (their own rates are ignored)."""
    rates: tuple
    """Rates, ascending."""
    devices: tuple = ()
    """Noise points (dicts of device-noise axis values, :func:`neurosim.sweep.noise.noise_points`);
    ``()`` = ideal devices, ``({},)`` = the profiles' ``[device]`` tables as they are."""

    def __post_init__(self):
        if not self.specs:
            raise ConfigError("The sweep grid is empty: give at least one --fault SPEC or --faults FILE.toml.")
        if not self.rates:
            raise ConfigError("The sweep grid is empty: no rate given. Give --rates LO:HI:N or a comma list.")
        if not self.profiles:
            raise ConfigError("The sweep grid is empty: no profile (use None for the float network).")
        keys = [spec_key(s) for s in self.specs]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ConfigError(f"Fault spec '{dup[0]}' is given twice (rates are set by --rates); list each spec once.")
        names = [p for p in self.profiles]
        dupp = sorted({str(p) for p in names if names.count(p) > 1})
        if dupp:
            raise ConfigError(f"Profile {dupp[0]!r} is given twice; list each --profile once.")

    @property
    def n_noise(self) -> int:
        """Noise points per profile (1 without device noise)."""
        return max(1, len(self.devices))

    @property
    def n_points(self) -> int:
        return len(self.profiles) * self.n_noise * len(self.specs) * len(self.rates)

    def point(self, i: int) -> tuple:
        """``(profile index, spec index, rate index)`` of point ``i`` (its noise point: :meth:`noise`)."""
        R, S = len(self.rates), len(self.specs)
        return i // (S * R * self.n_noise), (i // R) % S, i % R

    def noise(self, i: int) -> int:
        """Noise-point index of point ``i`` (0 without device noise)."""
        return (i // (len(self.specs) * len(self.rates))) % self.n_noise

    def index(self, p: int, s: int, r: int, d: int = 0) -> int:
        return ((p * self.n_noise + d) * len(self.specs) + s) * len(self.rates) + r


@dataclass(frozen=True, eq=False)
class SweepContext:
    """Everything a worker needs to run any grid point (sent once per worker)."""

    grid: SweepGrid
    targets: tuple
    """Per profile: the :class:`ChipMapping`, or the :class:`Network` for ``None``."""
    x: np.ndarray
    n_chips: int
    seed: int
    raw_samples: int | None
    max_chips: int | None = None
    levels: tuple = QUANTILE_LEVELS
    confidence: float = 0.95
    spiking: dict = field(default_factory=dict)
    """Spiking-mode options passed to ``simulate`` (``ticks``, ``dt_s``, ``encoding``, ``delay_ticks``); {} in rate mode."""
    chunk_chips: int | None = None
    """Chips per chunk of a point (None: about 16 MB of Δ); points of more chips stream. Never changes a result."""
    device_kw: tuple = ()
    """Per profile, per noise point: the ``devices=``/``age=`` keywords of ``simulate`` ({} entries: none)."""

    def sim_kwargs(self, index: int) -> dict:
        """Keywords of ``simulate`` for point ``index`` besides faults, chips and seed (spiking, devices)."""
        kw = dict(getattr(self, "spiking", {}))
        dev = getattr(self, "device_kw", ())
        if dev:
            kw.update(dev[self.grid.point(index)[0]][self.grid.noise(index)])
        return kw

    @property
    def n_inputs(self) -> int:
        return int(self.x.shape[0])

    @property
    def rows_per_point(self) -> int:
        return self.n_chips * self.n_inputs

    @property
    def n_raw(self) -> int:
        total = self.rows_per_point
        return total if self.raw_samples is None else min(int(self.raw_samples), total)


def raw_rows(ctx: SweepContext, index: int) -> np.ndarray:
    """Rows (``chip * n_inputs + input``) of point ``index`` kept as raw Δ (see :data:`RAW_SUBSAMPLE_RULE`)."""
    total, k = ctx.rows_per_point, ctx.n_raw
    if k >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(ctx.seed), spawn_key=(int(index), 1))))
    return np.sort(rng.choice(total, size=k, replace=False)).astype(np.int64)


def build_context(net: Network, x, profiles=(None,), faults=(), rates=(), n_chips: int = 10, seed: int = 0,
                  raw_samples=None, max_chips=None, confidence: float = 0.95, spiking=None,
                  devices: tuple = ()) -> SweepContext:
    """Validate the sweep arguments, map the network onto each profile and build the context.

    ``devices``: noise points (:func:`neurosim.sweep.noise.noise_points`; ``()`` = ideal devices).
    """
    from ..chip import map_network

    if not isinstance(net, Network):
        raise ConfigError(f"'net' must be a neurosim.Network. Got {type(net).__name__}.")
    V.integer(n_chips, "--chips", 1, "independent chips per grid point")
    V.seed(seed, "--seed")
    if raw_samples is not None:
        V.integer(raw_samples, "--raw-samples", 0, "raw Δ rows kept per point; 0 = keep no raw Δ")
    V.open_unit(confidence, "confidence", "level of the per-point intervals", "0.95")
    specs = []
    for f in faults if not isinstance(faults, (str, FaultSpec)) else [faults]:
        specs.append(parse_sweep_fault(f) if isinstance(f, str) else f)
    profiles = tuple(profiles) if profiles else (None,)
    grid = SweepGrid(profiles=profiles, specs=tuple(specs), rates=check_rates(rates),
                     devices=tuple(dict(d) for d in devices))
    x = net.check_inputs(x)
    if x.shape[0] == 0:
        raise ConfigError("The sweep needs at least one input row. Got 0.")
    for s in grid.specs:
        s.resolve_layers(net.n_layers)
        if s.site == "core" and None in grid.profiles:
            raise ConfigError(
                f"Fault '{spec_key(s)}' needs a chip mapping: give --profile (core faults are not defined on the bare network)."
            )
    from ..spiking.network import check_run_options
    from .noise import check_noise

    spiking = check_run_options(net, spiking)  # T and dt in the sweep config; {} for rate networks
    if grid.devices and None in grid.profiles:
        check_noise(grid.devices, (None,), (None,), spiking)  # refused before mapping anything
    targets = tuple(net if p is None else map_network(net, p, max_chips=max_chips, x_sample=x) for p in grid.profiles)
    device_kw = check_noise(grid.devices, grid.profiles, targets, spiking)
    return SweepContext(grid=grid, targets=targets, x=x, n_chips=int(n_chips), seed=int(seed),
                        raw_samples=None if raw_samples is None else int(raw_samples), max_chips=max_chips,
                        confidence=float(confidence), spiking=spiking, device_kw=device_kw)


