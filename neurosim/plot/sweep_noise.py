"""Report figures of a sweep's device-noise axes (:mod:`neurosim.sweep.noise`).

``noise_pK_<axis>.<fmt>`` — for every noise axis with more than one value
(programming σ, read σ, age): the RMS error ``sqrt(E Δ²)`` against the axis
value, one curve per (fault spec, fault rate), the other axes held at their
smallest values (named in the title: one factor at a time; every combination
is in the per-point figures and tables), with confidence bands when at most
:data:`MAX_BANDS` curves share the axes. Sigma axes are linear;
the age axis is symlog (linear below the smallest positive age) so that age 0
shows. Every figure has its CSV beside it (:func:`neurosim.plot._base.save`).
"""
from __future__ import annotations

import numpy as np

from ._base import Series, figure, legend_outside, log_floor, mark_floor, num, spec_text

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")
_STYLES = ("o-", "s--", "^-.", "v:", "x-")
MAX_BANDS = 6
AXIS_TITLES = {"programming_sigma": "programming-noise σ (std of the conductance / g_max; 0 = none)",
               "read_sigma": "read-noise σ per inference (std / w_max)",
               "age_s": "deployment age for drift (s since programming)"}


def axis_values(data) -> dict:
    """``{axis: sorted distinct values}`` of the sweep's noise points (axes in grid order)."""
    from ..sweep.noise import AXES

    return {k: sorted({d[k] for d in data.devices}) for k, _ in AXES if data.devices and k in data.devices[0]}


def noise_axes_text(data) -> str:
    """``programming σ ∈ {0, 0.05}; age ∈ {0 s, 1 y}`` for the summary."""
    from ..sweep.noise import AXIS_LABELS, format_age

    vals = axis_values(data)
    if not vals:
        return "as they are (no noise axis)"
    return "; ".join(f"{AXIS_LABELS[k]} ∈ {{" + ", ".join(format_age(v) if k == "age_s" else num(v) for v in vs) + "}"
                     for k, vs in vals.items())


def noise_figures(data, specs, publish) -> None:
    """One ``noise_pK_<axis>`` figure per profile and axis with several values; ``publish(fig, stem, series, xl, yl)``."""
    from ..sweep.noise import noise_label
    from .sweep import RMS_LABEL, error_vs_rate

    S = data.summary
    vals = axis_values(data)
    for p, pname in enumerate(data.profiles):
        for axis, xs in vals.items():
            if len(xs) < 2:
                continue
            held = {k: v[0] for k, v in vals.items() if k != axis}  # the other axes at their smallest values
            curves = {}  # (spec, rate index) -> [(axis value, point)]
            for i in np.flatnonzero((data.point_profile == p) & data.complete):
                pt = data.devices[int(data.point_device[i])]
                if all(pt[k] == v for k, v in held.items()):
                    curves.setdefault((int(data.point_spec[i]), int(data.point_rate_index[i])), []).append((pt[axis], i))
            if not curves:
                continue
            fig, (ax,) = figure(width=7.6, height=4.8)
            series = Series()
            rows = []
            for n, ((s, r), pts) in enumerate(sorted(curves.items())):
                pts.sort()
                idx = np.array([i for _, i in pts])
                rows.append((f"{spec_text(specs[s], with_rate=False)}, rate {num(data.rates[r])}",
                             np.array([v for v, _ in pts], dtype=np.float64), S["rms"][idx], S["rms_ci"][idx],
                             _COLORS[s % len(_COLORS)], _STYLES[r % len(_STYLES)]))
            bands = len(rows) <= MAX_BANDS
            floor = log_floor(*[r[2] for r in rows], *([r[3] for r in rows] if bands else []))
            zero = False
            for label, x, y, ci, color, style in rows:
                zero |= error_vs_rate(ax, x, y, ci[:, 0] if bands else None, ci[:, 1] if bands else None, floor,
                                      label=label, color=color, series=series, style=style)
            if zero:
                mark_floor(ax, floor)
            x_all = np.asarray(xs, dtype=np.float64)
            if axis == "age_s" and (x_all > 0).any():
                from ..sweep.noise import format_age

                ax.set_xscale("symlog", linthresh=float(x_all[x_all > 0].min()), linscale=0.5)
                ax.set_xticks(x_all, [format_age(v) for v in x_all])
                ax.minorticks_off()
            ax.set_xlabel(AXIS_TITLES[axis])
            ax.set_ylabel(RMS_LABEL)
            ax.grid(True, which="both", alpha=0.25)
            title = f"{pname or 'float network'}: RMS error vs {AXIS_TITLES[axis].split(' (')[0]}"
            sub = ("other axes at " + noise_label(held) + "; ") if held else ""
            sub += f"{num(100 * data.confidence, 3)}% CI bands" if bands else "CI in the CSV"
            ax.set_title(f"{title}\n({sub})", fontsize=9)
            legend_outside(ax)
            publish(fig, f"noise_p{p}_{axis}", series, AXIS_TITLES[axis], RMS_LABEL)
