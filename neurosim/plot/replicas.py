"""The replica curve: failure probability of the median of R copies against R.

For a per-copy failure probability ``q``, the component-wise median of R
copies fails only if at least ``⌈R/2⌉`` copies fail, so
``P(median fails) <= P(Bin(R, q) >= ⌈R/2⌉)`` (docs/theory.md, "Median of R
copies"; DESIGN.md Semantics). The curve shows that tail for odd R, the target
δ, and the R a plan chose.
"""
from __future__ import annotations

import math

import numpy as np

from ._base import (DEFAULT_DPI, Series, check_format, clean_text, figure, legend_outside, log_floor, mark_floor,
                    num, plot_log, save)


def median_tail(q: float, R) -> np.ndarray:
    """``P(Bin(R, q) >= ceil(R/2))`` for each R (scipy's regularised incomplete beta; exact, no overflow)."""
    from scipy.stats import binom

    R = np.asarray(R, dtype=np.int64)
    k = np.ceil(R / 2.0).astype(np.int64)
    return binom.sf(k - 1, R, float(q))


def replica_curve(q, delta, path, chosen=None, r_max=None, q_hi=None, title="", dpi=DEFAULT_DPI):
    """Draw ``P(median of R fails)`` bound vs odd R for per-copy failure ``q`` (and its upper limit ``q_hi``).

    ``delta``: target line; ``chosen``: the R a plan picked (marked); ``path``'s suffix picks the
    format, ``<stem>.csv`` is written beside it. Returns the R values plotted.
    """
    from pathlib import Path

    path = Path(path)
    fmt, dpi = check_format(path.suffix.lstrip(".") or "png", dpi)
    if r_max is None:
        r_max = max(15, 2 * int(chosen or 1) + 5)
    R = np.arange(1, int(r_max) + 1, 2)
    fig, (ax,) = figure(width=7.2)
    series = Series()
    curves = [("bound at q = " + num(q, 3), float(q), "tab:blue", "-")]
    if q_hi is not None and q_hi != q:
        curves.append((f"bound at upper limit q = {num(q_hi, 3)}", float(q_hi), "tab:red", "--"))
    ys = [median_tail(qq, R) for _, qq, _, _ in curves]
    floor = log_floor(*ys, [delta])
    ax.set_yscale("log")
    zero = False
    for (lab, qq, color, ls), y in zip(curves, ys):
        zero |= plot_log(ax, R, y, floor, label=lab, color=color, ls=ls, marker="o", ms=3)
        series.add(lab, R, y)
    if zero:
        mark_floor(ax, floor)
    ax.axhline(float(delta), color="k", lw=1, ls=":", label=f"target δ = {num(delta, 3)}")
    series.add("target delta", [R[0], R[-1]], [float(delta), float(delta)])
    if chosen is not None:
        ax.axvline(int(chosen), color="tab:green", lw=1.2, label=f"chosen R = {int(chosen)}")
    ax.set_xlabel("replicas R (odd; component-wise median of R chips)")
    ax.set_ylabel("P(median of R fails) ≤ P(Bin(R, q) ≥ ⌈R/2⌉)\nper input, probability")
    ax.set_xlim(0, R[-1] + 1)
    ax.grid(True, which="both", alpha=0.25)
    ax.set_title(clean_text(title) if title else f"median of R replicas, per-copy failure q = {num(q, 3)}")
    legend_outside(ax)
    save(fig, path.parent, path.stem, series, "replicas R", "P(median of R fails) bound", fmt=fmt, dpi=dpi)
    return R
