"""Plots and a Markdown summary of a sweep file (``neurosim report``).

Figures (png, pdf or svg at a chosen dpi, matplotlib's Agg canvas, no pyplot
global state; each with ``<stem>.csv`` of its plotted series beside it; zeros on
log axes drawn at a marked floor; legends outside the axes):

* ``error_pK_sJ_<spec>.<fmt>`` — one per (profile, fault spec): left, ``||Δ||_∞``
  per (chip, input) against the rate: its mean with a confidence band (Student
  t over chips) and its 50/95/99 % quantiles; right, the RMS error
  ``sqrt(E Δ²)`` (over chips, inputs and outputs) with its confidence band and,
  for neuron faults, the RMS predicted by the first-order bounds b3 and b4,
  ``sqrt(mean over inputs and outputs of (mean² + std²))``.
* ``rms_pK.<fmt>`` — RMS error of every spec of profile K on one plot.
* ``flips_pK.<fmt>`` — classification flip rate against the rate with confidence
  bands: Clopper–Pearson over all (chip, input) trials for transient faults; for
  permanent and intermittent faults (trials on one chip are correlated) the
  union of that interval and the Student-t interval over per-chip flip rates.
* ``summary.md`` — configuration, one table per spec, links to the figures.

Bounds apply to neuron stuck-at-0 faults on the simulated network (the float
network, or the mapping's quantised network): transient and permanent faults
with crash probability ``p = rate`` per site; intermittent ones with the
per-inference marginal ``p = rate * duty``. Specs without a bound, or a bound
that fails to compute, are plotted without overlay and noted in the summary.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ._base import (DEFAULT_DPI, Series, band_log, check_format, clean_text, figure, legend_outside, log_floor,
                    mark_floor, num, plot_log, rate_label, save, spec_text)

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")
LINF_LABEL = "‖Δ‖∞ per (chip, input) (output units)\n= largest |faulty − clean| over the outputs"
RMS_LABEL = "RMS error sqrt(E Δ²) (output units)\nover chips, inputs and outputs"
FLIP_LABEL = "classification flip rate\n= fraction of (chip, input) trials whose argmax changes"


@contextlib.contextmanager
def _staged_dir(out_dir: Path):
    """Render into a temporary sibling folder; publish only if everything succeeded.

    A new ``out_dir`` appears complete or not at all; in an existing one the
    report's files are replaced one by one (atomic renames) and other files are
    left alone.
    """
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    from ..io.h5util import _UMASK

    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700; the folder gets the usual mode, like its files
    try:
        yield tmp
        if not out_dir.exists():
            tmp.rename(out_dir)
        else:
            for f in sorted(tmp.iterdir()):
                os.replace(f, out_dir / f.name)
            tmp.rmdir()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _xscale(ax, rates, spec=None):
    """Log rate axis; a rate of 0 switches to symlog (linear below the smallest positive rate) so it shows."""
    r = np.asarray(rates, dtype=np.float64)
    if (r <= 0).any() and (r > 0).any():
        lin = float(r[r > 0].min())
        ax.set_xscale("symlog", linthresh=lin, linscale=0.5)
        ax.set_xlim(left=-0.15 * lin)
    else:
        ax.set_xscale("log")
        if (r > 0).any():
            ax.set_xlim(left=float(r[r > 0].min()) / 1.6)
    if (r > 0).any():
        ax.set_xlim(right=float(r.max()) * 1.6)
    ax.set_xlabel(rate_label(spec))
    ax.grid(True, which="both", alpha=0.25)


def error_vs_rate(ax, rates, y, lo=None, hi=None, floor=None, label="simulated", color="#1f77b4",
                  series: Series | None = None, style="o-", band_label=None):
    """One error-vs-rate curve with its confidence band on log axes; zeros drawn at ``floor``.

    Returns True if a zero was drawn (mark it with :func:`neurosim.plot.mark_floor`).
    """
    if floor is None:
        floor = log_floor(y, lo if lo is not None else [], hi if hi is not None else [])
    ax.set_yscale("log")
    zero = plot_log(ax, rates, y, floor, label=label, color=color, **_style(style))
    if lo is not None and hi is not None:
        band_log(ax, rates, lo, hi, floor, color=color, alpha=0.22, lw=0, label=band_label)
    if series is not None:
        series.add(label, rates, y, lo, hi)
    return zero


def _style(style):
    marker = style[0] if style and style[0] in "o.sv^x" else ""
    ls = style[len(marker):] or ("none" if marker else "-")
    return {"marker": marker or None, "ls": ls}


def bound_rms(net, x, spec, rates) -> dict:
    """Predicted RMS error of b3 and b4 at every rate, or ``{}`` if no bound applies.

    Returns ``{"b3": array, "b4": array}``; for faults with a non-zero value
    ``{"values": array}`` (first-order stuck-at-value moments,
    :func:`neurosim.analysis.values.value_first_order`); raises whatever the
    bounds raise.
    """
    if not spec.fault_value.is_zero and spec.site in ("neuron", "synapse"):
        from ..analysis.values import value_first_order

        vals = np.full(len(rates), np.nan)
        for k, r in enumerate(rates):
            b = value_first_order(net, x, [spec.with_rate(float(r))])
            vals[k] = math.sqrt(float(np.mean(np.square(b.mean) + np.square(b.std))))
        return {"values": vals}
    if spec.site != "neuron":
        return {}
    import importlib

    B = importlib.import_module("neurosim.analysis.bounds")  # the package re-exports a function of that name
    layers = spec.resolve_layers(net.n_layers)
    scale = 1.0 if spec.mode in ("transient", "permanent") else float(spec.duty)
    out = {"b3": np.full(len(rates), np.nan), "b4": np.full(len(rates), np.nan)}
    for k, r in enumerate(rates):
        p = {int(l): float(r) * scale for l in layers}
        res = {"b3": B.b3_bound(net, x, p), "b4": B.b4_bound(net, x, p)} if hasattr(B, "b3_bound") \
            else B.bounds(net, x, p)
        for key in ("b3", "b4"):
            b = res.get(key)
            if b is None or b.std is None:
                continue
            out[key][k] = math.sqrt(float(np.mean(np.square(b.mean) + np.square(b.std))))
    return out


def _flip_band(mode, ci, chip_ci):
    if mode == "transient":
        return ci[:, 0], ci[:, 1]
    lo = np.fmin(ci[:, 0], chip_ci[:, 0])
    hi = np.fmax(ci[:, 1], chip_ci[:, 1])
    return lo, hi


def make_report(path, out_dir, bounds: bool = True, fmt: str = "png", dpi: int = DEFAULT_DPI) -> dict:
    """Write the figures (``fmt``: png, pdf or svg, each with its CSV) and ``summary.md`` of sweep
    file ``path`` into ``out_dir``.

    Returns a JSON-ready dict: figure paths, CSV paths, summary path, status and per-spec bound notes.
    """
    from ..sweep.read import load_sweep

    fmt, dpi = check_format(fmt, dpi)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"Report output '{out_dir}' is a file; give a folder to -o.")
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Folder '{parent}' does not exist; create it or choose another -o.")
    data = load_sweep(path)
    if not data.complete.any():
        raise ConfigError(f"'{path}' has no completed point yet; nothing to plot.")
    with _staged_dir(out_dir) as work:
        figures, csvs, notes = _render(data, path, work, bounds, fmt, dpi)
    return {"sweep": str(path), "output_dir": str(out_dir), "summary": str(out_dir / "summary.md"),
            "figures": [str(out_dir / f) for f in figures], "csv": [str(out_dir / f) for f in csvs],
            "format": fmt, "dpi": dpi, "status": data.status,
            "n_points": data.n_points, "n_complete": int(data.complete.sum()), "bounds": notes,
            "non_finite_points": [int(i) for i in non_finite_points(data)]}


def _render(data, path, out_dir: Path, bounds: bool, fmt: str, dpi: int):
    specs = data.fault_specs()
    S = data.summary
    conf = data.confidence
    cpct = num(100 * conf, 3)
    figures, csvs, notes, tables = [], [], {}, []

    def publish(fig, stem, series, xl, yl):
        img, csv_name = save(fig, out_dir, stem, series, xl, yl, fmt=fmt, dpi=dpi)
        figures.append(img)
        csvs.append(csv_name)
        return img

    from ..sweep.noise import noise_label

    cells = [(d, s) for d in range(data.n_noise) for s in range(len(specs))]
    for p, pname in enumerate(data.profiles):
        plabel = pname or "float network"
        net = data.networks[p]
        over_rms, over_flip = [], []
        for c, (d, s) in enumerate(cells):
            spec = specs[s]
            key = data.specs[s]
            nl = noise_label(data.devices[d]) if data.devices else ""
            shown = spec_text(spec, with_rate=False) + (f" [{nl}]" if nl else "")
            idx = data.select(p, s, d)
            if idx.size == 0:
                continue
            color = _COLORS[c % len(_COLORS)]
            rates = data.point_rate[idx]
            # ---- bounds
            pred = {}
            valued = not spec.fault_value.is_zero and spec.site in ("neuron", "synapse")
            note = "no bound for this fault site" if spec.site != "neuron" and not valued else ""
            if bounds and (spec.site == "neuron" or valued) and not net.is_rate:
                note = ("no bound overlaid: spiking network (the bounds are those of the ANN it was converted from, "
                        "without the O(1/T) rate quantisation: `neurosim compare MODEL --ann ANN.h5`)")
            elif bounds and (spec.site == "neuron" or valued):
                try:
                    with np.errstate(over="ignore", invalid="ignore"):  # overflowing values: the prediction is inf
                        pred = bound_rms(net, data.x, spec, rates)
                    note = ("first-order stuck-at-value moments overlaid" if valued else "b3/b4 overlaid") + (
                        " (p = rate x duty)" if spec.mode == "intermittent" else "")
                except Exception as exc:  # the report must survive a failing or missing bound
                    pred = {}
                    note = f"bounds unavailable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            elif not bounds:
                note = "bounds not requested"
            if data.devices and note and not note.startswith(("no bound", "bounds not")):
                note += " (ideal devices: the first-order terms do not model device noise)"
            notes[f"{plabel} / {key}" + (f" [{nl}]" if nl else "")] = note
            # ---- per-spec error figure
            fig, (ax1, ax2) = figure(ncols=2, width=6.8, height=4.8)
            series = Series()
            lm, lci, lq = S["linf_mean"][idx], S["linf_mean_ci"][idx], S["linf_quantiles"][idx]
            levels = list(np.round(data.levels, 6))
            qcols = [(q, st) for q, st in ((0.5, ":"), (0.95, "--"), (0.99, "-.")) if q in levels]
            floor = log_floor(lm, lci, *[lq[:, levels.index(q)] for q, _ in qcols])
            zero = error_vs_rate(ax1, rates, lm, lci[:, 0], lci[:, 1], floor, label="mean", color=color,
                                 series=series, band_label=f"{cpct}% CI of the mean")
            for q, st in qcols:
                lab = f"{num(100 * q)}% quantile"
                zero |= plot_log(ax1, rates, lq[:, levels.index(q)], floor, label=lab, color="0.35", ls=st, lw=1)
                series.add(f"max-norm {lab}", rates, lq[:, levels.index(q)])
            if zero:
                mark_floor(ax1, floor)
            _xscale(ax1, rates, spec)
            ax1.set_ylabel(LINF_LABEL)
            ax1.set_title("max-norm error")
            legend_outside(ax1)
            rm, rci = S["rms"][idx], S["rms_ci"][idx]
            bvals = [pred[k] for k in ("b3", "b4", "values") if k in pred]
            floor2 = log_floor(rm, rci, *bvals)
            zero = error_vs_rate(ax2, rates, rm, rci[:, 0], rci[:, 1], floor2, label="simulated RMS", color=color,
                                 series=series, band_label=f"{cpct}% CI")
            for bk, st in (("b3", "--"), ("b4", ":"), ("values", "--")):
                if bk in pred and np.isfinite(pred[bk]).any():
                    zero |= plot_log(ax2, rates, pred[bk], floor2, label=f"{bk} prediction", color="black", ls=st, lw=1.5)
                    series.add(f"{bk} predicted RMS", rates, pred[bk])
            if zero:
                mark_floor(ax2, floor2)
            _xscale(ax2, rates, spec)
            ax2.set_ylabel(RMS_LABEL)
            ax2.set_title("RMS error" + (" vs first-order bounds" if pred else ""))
            legend_outside(ax2)
            bad = non_finite_points(data, idx)
            fig.suptitle(clean_text(f"{plabel}: {shown}  ({data.config['n_chips']} chips x {data.x.shape[0]} inputs per point)")
                         + (f"\nWARNING: non-finite Δ (inf/NaN) at rate {', '.join(num(data.point_rate[i]) for i in bad)}"
                            " - those points are not plotted" if bad.size else ""),
                         color="#b00000" if bad.size else None)
            stem = f"error_p{p}_d{d}_s{s}_{spec_text(spec, with_rate=False)}" if data.devices else f"error_p{p}_s{s}_{shown}"
            name = publish(fig, stem, series, rate_label(spec), f"{LINF_LABEL} | {RMS_LABEL}")
            over_rms.append((shown, rates, rm, rci, color))
            if S["flip_trials"][idx].max() > 0:
                lo, hi = _flip_band(spec.mode, S["flip_ci"][idx], S["flip_chip_ci"][idx])
                over_flip.append((shown, rates, S["flip_rate"][idx], np.stack([lo, hi], 1), color))
            tables.append((plabel, key + (f" [{nl}]" if nl else ""), shown, idx, pred, name, spec))
        for stem, rows, ylab, what in ((f"rms_p{p}", over_rms, RMS_LABEL, "RMS error by fault spec"),
                                       (f"flips_p{p}", over_flip, FLIP_LABEL, "argmax flips")):
            if not rows:
                continue
            fig, (ax,) = figure(width=7.6)
            series = Series()
            floor = log_floor(*[r[2] for r in rows], *[r[3] for r in rows])
            zero = False
            for shown, rates, y, ci, color in rows:
                zero |= error_vs_rate(ax, rates, y, ci[:, 0], ci[:, 1], floor, label=shown, color=color, series=series)
            if zero:
                mark_floor(ax, floor)
            one = specs[0] if len({(sp.site, sp.mode) for sp in specs}) == 1 else None
            _xscale(ax, np.concatenate([r[1] for r in rows]), one)
            ax.set_ylabel(ylab)
            ax.set_title(f"{plabel}: {what} ({cpct}% CI bands)")
            legend_outside(ax)
            publish(fig, stem, series, rate_label(one), ylab)
    if data.devices:
        from .sweep_noise import noise_figures

        noise_figures(data, specs, publish)
    (out_dir / "summary.md").write_text(_markdown(data, path, figures, tables, notes), encoding="utf-8")
    return figures, csvs, notes


def non_finite_points(data, idx=None) -> np.ndarray:
    """Complete points (of ``idx``, default all) whose Δ holds inf or NaN (summary ``non_finite`` > 0;
    files written before that field existed have none recorded)."""
    nf = data.summary.get("non_finite")
    idx = np.flatnonzero(data.complete) if idx is None else np.asarray(idx)
    return idx[:0] if nf is None else idx[nf[idx] > 0]


def _non_finite_cell(S, i) -> str:
    nf = S.get("non_finite")
    if nf is None or nf[i] < 0:
        return "–"
    return f"**{int(nf[i])}**" if nf[i] > 0 else "0"


def _fmt(v, digits=3):
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _markdown(data, path, figures, tables, notes) -> str:
    from .sweep_noise import noise_axes_text

    cfg = data.config
    S = data.summary
    conf = int(round(100 * data.confidence))
    lines = [f"# Sweep report: `{Path(path).name}`", ""]
    if data.status != "complete":
        lines += [f"**Partial sweep**: {int(data.complete.sum())} of {data.n_points} points complete "
                  "(re-run the sweep command to finish it).", ""]
    m = cfg["model"]
    lines += [
        f"- model: `{m['name']}` {m['sizes']} ({', '.join(m['activations'])})",
        f"- profiles: {', '.join(p or 'float network' for p in data.profiles)}",
        f"- fault specs: {', '.join('`' + k + '`' for k in data.specs)}",
        f"- rates: {len(data.rates)} from {data.rates.min():.3g} to {data.rates.max():.3g}",
        *([f"- device noise ({data.n_noise} noise points, the profile's [device] table with): {noise_axes_text(data)}"]
          if data.devices else []),
        f"- per point: {cfg['n_chips']} chips x {cfg['inputs']['n_inputs']} inputs, seed {cfg['seed']}, "
        f"neurosim {cfg['neurosim_version']}",
        f"- intervals: {conf}% (mean, RMS: Student t over chips; flips: Clopper–Pearson, "
        "widened by the per-chip t interval for permanent/intermittent faults)",
        "",
    ]
    bad = non_finite_points(data)
    if bad.size:
        lines += [f"**Warning: {bad.size} of {int(data.complete.sum())} points have non-finite output errors** "
                  f"(inf/NaN, {int(S['non_finite'][bad].sum())} values; column 'non-finite Δ'): their statistics are "
                  "inf/NaN and they are left out of the figures. Large fault values overflow the outputs.", ""]
    overview = [f for f in figures if f.startswith(("rms_", "flips_", "noise_"))]
    lines += ["Figures: " + ", ".join(f"[{f}]({f}) ([csv]({f.rsplit('.', 1)[0]}.csv))" for f in figures), ""]
    if overview:
        lines += ["## Overview", ""]
        for f in overview:
            lines += [f"![{f}]({f})", ""]
    for plabel, key, shown, idx, pred, fig, spec in tables:
        lines += [f"## {plabel}: `{shown}`", "", f"![{fig}]({fig})", "",
                  f"Bounds: {notes.get(f'{plabel} / {key}', '')}.", ""]
        head = ["rate", "mean ‖Δ‖∞", "RMS", f"RMS {conf}% CI", "flip rate", f"flip {conf}% CI", "faults/chip",
                "non-finite Δ"]
        pcols = [k for k in ("b3", "b4", "values") if k in pred]
        head += [("first-order" if k == "values" else k) + " RMS" for k in pcols]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, i in enumerate(idx):
            fci = S["flip_ci"][i]
            if spec.mode != "transient":
                cc = S["flip_chip_ci"][i]
                fci = (np.fmin(fci[0], cc[0]), np.fmax(fci[1], cc[1]))
            row = [f"{data.point_rate[i]:.3g}", _fmt(S["linf_mean"][i]), _fmt(S["rms"][i]),
                   f"[{_fmt(S['rms_ci'][i][0])}, {_fmt(S['rms_ci'][i][1])}]",
                   _fmt(S["flip_rate"][i]) if S["flip_trials"][i] > 0 else "–",
                   f"[{_fmt(fci[0])}, {_fmt(fci[1])}]" if S["flip_trials"][i] > 0 else "–",
                   _fmt(S["faults_per_chip"][i]), _non_finite_cell(S, i)]
            row += [_fmt(pred[c][k]) for c in pcols]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += ["Zero values are drawn on the log axes as hollow triangles on a dotted floor line (labelled); a rate of 0 "
              "switches the rate axis to symlog. Every figure has a CSV of its plotted series beside it.", ""]
    return "\n".join(lines)
