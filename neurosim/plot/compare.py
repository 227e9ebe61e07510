"""Δ histograms against the first-order predictions (b3, b4, synapse), and the spread scatter.

``compare_figure`` is what ``neurosim compare`` draws; :func:`delta_histogram`
is the same left panel on its own. Both write a CSV of every plotted series
beside the image (see :mod:`neurosim.plot._base`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._base import DEFAULT_DPI, Series, check_format, clean_text, figure, legend_outside, num, save

COLORS = {"b3": "tab:blue", "b4": "tab:orange", "synapse": "tab:green", "b3+synapse": "tab:purple",
          "b1": "tab:brown", "b2": "tab:red"}
DELTA_LABEL = "Δ = faulty − clean output (output units)"


def pick_pair(delta, input_index=None, output_index=None):
    """The (input, output) pair to show: the given one, else the one with the largest simulated spread."""
    sim_std = delta.std(0, ddof=1) if delta.shape[0] > 1 else np.zeros(delta.shape[1:])
    if input_index is None or output_index is None:
        i, o = np.unravel_index(int(np.argmax(sim_std)), sim_std.shape)
        input_index = int(i) if input_index is None else input_index
        output_index = int(o) if output_index is None else output_index
    return int(input_index), int(output_index)


def _hist_panel(ax, delta, preds, i, o, series: Series):
    C, B, O = delta.shape
    d = delta[:, i, o]
    bins = min(60, max(10, C // 20))
    dens, edges = np.histogram(d, bins=bins, density=True)
    ax.stairs(dens, edges, fill=True, color="0.8", label=f"simulated ({C} chips)")
    ax.stairs(dens, edges, color="0.45")
    series.add(f"simulated density ({C} chips)", 0.5 * (edges[:-1] + edges[1:]), dens)
    lo, hi = float(d.min()), float(d.max())
    span = hi - lo if hi > lo else max(1.0, abs(lo))
    grid = np.linspace(lo - 0.25 * span, hi + 0.25 * span, 400)
    for name, b in preds.items():
        m = float(np.broadcast_to(b.mean, (B, O))[i, o])
        color = COLORS.get(name, "k")
        if b.std is not None and name not in ("b1", "b2"):
            s = float(np.broadcast_to(b.std, (B, O))[i, o])
            if s > 0:
                pdf = np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
                ax.plot(grid, pdf, color=color, label=f"{name}: mean {num(m, 3)}, sd {num(s, 3)} (as N, a guide only)")
                series.add(f"{name} Gaussian density", grid, pdf)
            ax.axvline(m, color=color, ls=":", lw=1)
        elif name == "b2":
            ax.axvspan(-m, m, color=color, alpha=0.08, label=f"b2: |EΔ| ≤ {num(m, 3)}")
            series.add("b2 bound on |E Δ|", [-m, m], [np.nan, np.nan])
    ax.axvline(float(d.mean()), color="k", lw=1.2, label=f"simulated mean {num(d.mean(), 3)}")
    series.add("simulated mean", [float(d.mean())], [np.nan])
    ax.set_xlabel(f"{DELTA_LABEL}\noutput {o}, input {i}")
    ax.set_ylabel("probability density (1 / output unit)")
    ax.set_title("output error distribution")
    legend_outside(ax)


def _spread_panel(ax, delta, preds, series: Series):
    B, O = delta.shape[1:]
    sim_std = delta.std(0, ddof=1) if delta.shape[0] > 1 else np.zeros((B, O))
    for name, b in preds.items():
        if b.std is None:
            continue
        std = np.broadcast_to(b.std, (B, O))
        ax.scatter(sim_std.ravel(), std.ravel(), s=6, alpha=0.5, color=COLORS.get(name, "tab:red"), label=name)
        series.add(f"{name} predicted std vs simulated std", sim_std.ravel(), std.ravel())
    top = max(float(sim_std.max()), 1e-12)
    ax.plot([0, top], [0, top], color="k", lw=1, label="prediction = simulation")
    ax.set_xlabel("simulated std of Δ over chips (output units)\none point per (input, output)")
    ax.set_ylabel("predicted std of Δ (output units)")
    ax.set_title("spread: prediction vs simulation")
    legend_outside(ax)


def _target(path):
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".") or "png"
    return path.parent, path.stem, fmt


def compare_figure(delta, preds: dict, path, input_index=None, output_index=None, title="", dpi=DEFAULT_DPI):
    """Two panels: Δ histogram of one (input, output) with the Gaussians the signed predictions
    imply; predicted vs simulated std over all pairs. ``path``'s suffix picks the format
    (png, pdf, svg); ``<stem>.csv`` is written beside it. Returns ``(input_index, output_index)``."""
    out_dir, stem, fmt = _target(path)
    check_format(fmt, dpi)
    i, o = pick_pair(delta, input_index, output_index)
    fig, (ax1, ax2) = figure(ncols=2, width=6.4, height=4.8)
    series = Series()
    _hist_panel(ax1, delta, preds, i, o, series)
    _spread_panel(ax2, delta, preds, series)
    if title:
        fig.suptitle(clean_text(title), fontsize=10)
    save(fig, out_dir, stem, series, f"{DELTA_LABEL} (histogram) | simulated std (scatter)",
         "density (histogram) | predicted std (scatter)", fmt=fmt, dpi=dpi)
    return i, o


def delta_histogram(delta, preds: dict, path, input_index=None, output_index=None, title="", dpi=DEFAULT_DPI):
    """One panel: the simulated Δ of one (input, output) over chips against b3/b4 (and other) predictions.

    ``delta`` is ``(n_chips, n_inputs, n_out)`` (``SimResult.delta``); ``preds`` maps a name to an
    object with ``.mean`` and ``.std`` of shape ``(n_inputs, n_out)`` (``neurosim.analysis.bounds``).
    Returns ``(input_index, output_index)``.
    """
    out_dir, stem, fmt = _target(path)
    check_format(fmt, dpi)
    i, o = pick_pair(delta, input_index, output_index)
    fig, (ax,) = figure()
    series = Series()
    _hist_panel(ax, delta, preds, i, o, series)
    if title:
        fig.suptitle(clean_text(title), fontsize=10)
    save(fig, out_dir, stem, series, DELTA_LABEL, "probability density", fmt=fmt, dpi=dpi)
    return i, o
