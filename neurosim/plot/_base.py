"""Shared figure plumbing: canvas, formats, CSV of every series, labels, zeros on log axes.

Every figure neurosim writes goes through :func:`save`: the image in the
requested format (``png``, ``pdf`` or ``svg``) and, beside it, ``<stem>.csv``
with every plotted series in long form (``series, x, y, y_lo, y_hi``), so a
figure can be redrawn in any tool. Figures use matplotlib's object API on an
Agg canvas (no pyplot state), constrained layout, and legends placed outside
the axes so that they never cover data.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from ..errors import ConfigError

FORMATS = ("png", "pdf", "svg")
"""Image formats :func:`save` writes."""
DEFAULT_DPI = 150
"""Raster resolution of PNG figures (vector formats ignore it except for embedded rasters)."""

_NUM = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def check_format(fmt: str = "png", dpi: int = DEFAULT_DPI) -> tuple[str, int]:
    """Validate an image format and a resolution (one-line errors)."""
    f = str(fmt).lower().lstrip(".")
    if f not in FORMATS:
        raise ConfigError(f"'--format' must be one of {', '.join(FORMATS)}. Got {fmt!r}; e.g. --format pdf.")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 20 <= int(dpi) <= 2400:
        raise ConfigError(f"'--dpi' must be an integer in [20, 2400]. Got {dpi!r}; e.g. --dpi 300.")
    return f, int(dpi)


def figure(ncols: int = 1, width: float = 6.4, height: float = 4.4):
    """A new figure with ``ncols`` axes side by side on an Agg canvas (constrained layout)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def num(v, sig: int = 4) -> str:
    """A number for a title, label or file name: at most ``sig`` significant digits, no float noise."""
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    s = f"{v:.{sig}g}"
    if "e" in s:
        mant, exp = s.split("e")
        s = f"{mant}e{int(exp)}"
    return s


def clean_text(text: str, sig: int = 4) -> str:
    """Rewrite every number in ``text`` with :func:`num` (``0.05000000000000001`` -> ``0.05``)."""
    return _NUM.sub(lambda m: num(float(m.group(0)), sig), str(text))


def slug(text: str) -> str:
    """A file-name-safe form of ``text`` (numbers cleaned first)."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", clean_text(text)).strip("-")


def spec_text(spec, with_rate: bool = True) -> str:
    """A fault spec as a user would write it: ``burst=5:duty=0.2`` rather than raw ``p_on``/``p_off`` floats."""
    parts = [spec.site, spec.mode]
    if with_rate:
        parts.append(num(spec.rate))
    if spec.layers is not None:
        parts.append("layers=" + ",".join(str(v) for v in spec.layers))
    value = getattr(spec, "value", "zero")
    if value not in (None, "zero", "stuck0", 0, 0.0):
        parts.append(f"value={clean_text(value)}")
    if spec.mode == "intermittent":
        burst, duty = 1.0 / spec.p_off, spec.p_on / (spec.p_on + spec.p_off)
        parts.append(f"burst={num(burst)}:duty={num(duty)}")
    if getattr(spec, "group", 1) > 1:
        parts.append(f"group={spec.group}")
    return ":".join(parts)


_SITE_NOUN = {"neuron": "neurons", "synapse": "synapses (crossbar cells)", "core": "cores", "router": "spikes"}


def rate_label(spec=None) -> str:
    """x-axis label: what the fault rate of ``spec`` measures (fraction of which sites, per chip/inference/tick)."""
    if spec is None:
        return ("fault rate p = fraction of sites faulty\n(permanent: per chip; transient: per inference; "
                "intermittent: weak, per chip)")
    noun = _SITE_NOUN.get(spec.site, "sites")
    if spec.mode == "permanent":
        return f"fault rate p = fraction of {noun}\n{_value_words(spec.fault_value)} for the chip's life (per chip)"
    if spec.mode == "transient":
        per = "tick" if getattr(spec, "scope", None) == "tick" else "inference"
        return f"fault rate p = probability that one of the {noun}\nis faulty, independently per {per}"
    return f"fault rate p = fraction of {noun} that are weak\n(per chip; a weak site is faulty in bursts)"


def _value_words(fv) -> str:
    """What a faulty site holds, in words (a :class:`~neurosim.faults.values.FaultValue`)."""
    if fv.kind == "zero":
        return "stuck at 0"
    if fv.kind == "number":
        return f"stuck at {clean_text(fv.text)}"
    if fv.kind in ("max", "min"):
        return f"stuck at the {'stated range' if fv.range else 'tile'}'s {fv.kind} weight"
    if fv.kind == "saturated":
        return "saturated"
    if fv.kind == "bitflip":
        return "with a flipped bit" if fv.bit is None else f"with bit {fv.bit} flipped"
    return f"faulty ({clean_text(fv.text)})"  # scale=s and the spiking-only parameter drifts


def log_floor(*arrays) -> float:
    """A floor for zeros on a log axis: one decade below the smallest positive value (1e-12 if none)."""
    pos = [np.asarray(a, dtype=np.float64) for a in arrays]
    pos = np.concatenate([a[np.isfinite(a) & (a > 0)].ravel() for a in pos]) if pos else np.array([])
    if pos.size == 0:
        return 1e-12
    return float(10.0 ** (math.floor(math.log10(pos.min())) - 1))


def plot_log(ax, x, y, floor: float, label=None, **kw):
    """Plot ``y`` on a log axis; values <= 0 are drawn at ``floor`` with hollow down-triangles.

    Returns True when some zero was drawn (the caller then marks the floor).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    pos = np.where(y > 0, y, np.nan)
    ax.plot(x, pos, label=label, **kw)
    zero = np.isfinite(y) & (y <= 0)
    if zero.any():
        color = kw.get("color", "k")
        ax.plot(x[zero], np.full(int(zero.sum()), floor), "v", mfc="none", color=color, ms=7, ls="none")
    return bool(zero.any())


def mark_floor(ax, floor: float, what: str = "0"):
    """A dotted line at ``floor`` labelled as the place where zero values are drawn."""
    ax.axhline(floor, color="0.5", lw=0.8, ls=":", label=f"▽ = {what} (drawn at {num(floor)})")


def band_log(ax, x, lo, hi, floor: float, **kw):
    """Shade ``[lo, hi]`` on a log axis; a lower end <= 0 is drawn down to ``floor``."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    ax.fill_between(np.asarray(x, dtype=np.float64), np.where(lo > 0, lo, floor), np.where(hi > 0, hi, floor), **kw)


def legend_outside(ax, **kw):
    """Legend to the right of the axes (never over the data); nothing if there is nothing to label."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                  fontsize=kw.pop("fontsize", 8), **kw)


class Series:
    """Collects every plotted series of one figure for its CSV."""

    def __init__(self):
        self.rows: list[tuple] = []

    def add(self, name, x, y, lo=None, hi=None):
        x = np.atleast_1d(np.asarray(x, dtype=np.float64))
        y = np.broadcast_to(np.asarray(y, dtype=np.float64), x.shape)
        lo = np.full(x.shape, np.nan) if lo is None else np.broadcast_to(np.asarray(lo, dtype=np.float64), x.shape)
        hi = np.full(x.shape, np.nan) if hi is None else np.broadcast_to(np.asarray(hi, dtype=np.float64), x.shape)
        for a, b, c, d in zip(x, y, lo, hi):
            self.rows.append((str(name), a, b, c, d))

    def write(self, path: Path, x_label: str, y_label: str):
        def cell(v):
            return "" if not np.isfinite(v) else repr(float(v))

        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write(f"# x: {x_label.replace(chr(10), ' ')}\n# y: {y_label.replace(chr(10), ' ')}\n")
            w = csv.writer(f)
            w.writerow(["series", "x", "y", "y_lo", "y_hi"])
            for name, a, b, c, d in self.rows:
                w.writerow([name, cell(a), cell(b), cell(c), cell(d)])


def save(fig, out_dir, stem: str, series: Series, x_label: str, y_label: str, fmt: str = "png",
         dpi: int = DEFAULT_DPI) -> list[str]:
    """Write ``<stem>.<fmt>`` and ``<stem>.csv`` into ``out_dir``; returns the two file names."""
    fmt, dpi = check_format(fmt, dpi)
    out_dir = Path(out_dir)
    stem = slug(stem)
    img = f"{stem}.{fmt}"
    meta = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}[fmt]  # reproducible files
    fig.savefig(out_dir / img, format=fmt, dpi=dpi, metadata=meta)
    series.write(out_dir / f"{stem}.csv", x_label, y_label)
    return [img, f"{stem}.csv"]


def titles_of(fig) -> list[str]:
    """Every title, axis label and legend text of a figure (for the float-noise test)."""
    out = []
    if fig._suptitle is not None:
        out.append(fig._suptitle.get_text())
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        leg = ax.get_legend()
        if leg is not None:
            out += [t.get_text() for t in leg.get_texts()]
    return [t for t in out if t]
