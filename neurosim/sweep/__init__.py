r"""Fault-rate sweeps: a grid of (profile, fault spec, rate) points over the engine.

A sweep runs :func:`~neurosim.sim.simulate` once per grid point and keeps, per
point, summary statistics of ``Δ = y_faulty - y_clean`` and (optionally
subsampled) raw ``Δ`` in one HDF5 file. See ``docs/sweeps.md`` for the file
format, the resume semantics and the executors.

Modules: :mod:`.grid` (rates, specs, seeds, the per-worker context),
:mod:`.summary` (per-point statistics, intervals from
:mod:`neurosim.analysis.stats`), :mod:`.store` (part files, lock, atomic
assembly, reading), :mod:`.run` (:func:`run_sweep`: resume and the per-point
work) and :mod:`.executors` (in-process, processes, Dask).
"""
from .executors import DaskExecutor, ProcessExecutor, SerialExecutor, check_dask_address, make_executor
from .grid import (
    POINT_SEED_RULE, RAW_SUBSAMPLE_RULE, SweepContext, SweepGrid, build_context, check_rates, load_sweep_faults,
    parse_rates, parse_sweep_fault, point_seed, raw_rows, spec_key, with_rate,
)
from .run import PointTask, SweepOutcome, finish_point, run_point, run_sweep, simulate_point
from .noise import noise_label, noise_points
from .read import SweepData, load_raw_delta, load_sweep
from .store import SWEEP_KIND, SWEEP_VERSION, config_hash, sweep_config, verify_sweep
from .summary import QUANTILE_LEVELS, clopper_pearson_interval, quantiles, summarize, summary_fields

__all__ = [
    "DaskExecutor", "ProcessExecutor", "SerialExecutor", "check_dask_address", "make_executor",
    "POINT_SEED_RULE", "RAW_SUBSAMPLE_RULE", "SweepContext", "SweepGrid", "build_context", "check_rates",
    "load_sweep_faults", "parse_rates", "parse_sweep_fault", "point_seed", "raw_rows", "spec_key", "with_rate",
    "noise_label", "noise_points", "PointTask", "SweepOutcome", "finish_point", "run_point", "run_sweep", "simulate_point",
    "SWEEP_KIND", "SWEEP_VERSION", "SweepData", "config_hash", "load_raw_delta", "load_sweep", "sweep_config", "verify_sweep",
    "QUANTILE_LEVELS", "clopper_pearson_interval", "quantiles", "summarize", "summary_fields",
]
