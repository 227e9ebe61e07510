"""Publishable figures: every one as png, pdf or svg with a CSV of its series beside it.

Public entry points:

- :func:`compare_figure`, :func:`delta_histogram` — Δ over chips against the b3/b4 predictions;
- :func:`error_vs_rate` (on an axes) and :func:`make_report` (a whole sweep file) — error vs fault
  rate with confidence bands;
- :func:`replica_curve` — failure probability of the median of R replicas vs R.

Helpers: :func:`figure`, :func:`save`, :func:`rate_label`, :func:`spec_text`, :func:`num`,
:data:`FORMATS`. Plotting lives here, apart from :mod:`neurosim.analysis` (pure maths).
"""
from ._base import (DEFAULT_DPI, FORMATS, Series, check_format, clean_text, figure, legend_outside, log_floor,
                    mark_floor, num, plot_log, rate_label, save, spec_text)
from .compare import compare_figure, delta_histogram
from .replicas import median_tail, replica_curve
from .sweep import bound_rms, error_vs_rate, make_report

__all__ = [
    "DEFAULT_DPI", "FORMATS", "Series", "check_format", "clean_text", "figure", "legend_outside", "log_floor",
    "mark_floor", "num", "plot_log", "rate_label", "save", "spec_text", "compare_figure", "delta_histogram",
    "median_tail", "replica_curve", "bound_rms", "error_vs_rate", "make_report",
]
