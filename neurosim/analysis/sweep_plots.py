"""Plots and a Markdown summary of a sweep file (``neurosim report``).

Figures (PNG, matplotlib's Agg canvas; no pyplot global state):

* ``error_pK_sJ_<spec>.png`` — one per (profile, fault spec): left, ``||Δ||_∞``
  per (chip, input) against the rate: its mean with a confidence band (Student
  t over chips) and its 50/95/99 % quantiles; right, the RMS error
  ``sqrt(E Δ²)`` (over chips, inputs and outputs) with its confidence band and,
  for neuron faults, the RMS predicted by the first-order bounds b3 and b4,
  ``sqrt(mean over inputs and outputs of (mean² + std²))``.
* ``rms_pK.png`` — RMS error of every spec of profile K on one plot.
* ``flips_pK.png`` — classification flip rate against the rate with confidence
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
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def _figure(ncols=1, width=6.4, height=4.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, k + 1) for k in range(ncols)]
    return fig, axes


def _save(fig, path: Path):
    fig.savefig(path, format="png")


@contextlib.contextmanager
def _staged_dir(out_dir: Path):
    """Render into a temporary sibling folder; publish only if everything succeeded.

    A new ``out_dir`` appears complete or not at all; in an existing one the
    report's files are replaced one by one (atomic renames) and other files are
    left alone.
    """
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
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


def _positive(rates, *arrays):
    """Keep rates > 0 (log axis)."""
    m = rates > 0
    return (rates[m],) + tuple(a[m] for a in arrays)


def _log_axes(ax, xlabel="fault rate"):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.grid(True, which="both", alpha=0.25)


def _pos(a):
    a = np.asarray(a, dtype=np.float64).copy()
    a[~(a > 0)] = np.nan
    return a


def _band(ax, x, lo, hi, **kw):
    """Shade ``[lo, hi]`` on a log axis; a non-positive lower end extends to the bottom of the axis."""
    ax.set_yscale("log")
    bottom = ax.get_ylim()[0]
    lo = np.where(np.asarray(lo) > 0, lo, np.nan)
    hi = _pos(hi)
    ylim = ax.get_ylim()
    ax.fill_between(x, np.where(np.isfinite(lo), lo, bottom), hi, **kw)
    ax.set_ylim(ylim)


def bound_rms(net, x, spec, rates) -> dict:
    """Predicted RMS error of b3 and b4 at every rate, or ``{}`` if no bound applies.

    Returns ``{"b3": array, "b4": array}``; for faults with a non-zero value
    ``{"values": array}`` (first-order stuck-at-value moments,
    :func:`neurosim.analysis.values.value_first_order`); raises whatever the
    bounds raise.
    """
    if not spec.fault_value.is_zero and spec.site in ("neuron", "synapse"):
        from .values import value_first_order

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


def make_report(path, out_dir, bounds: bool = True) -> dict:
    """Write the PNGs and ``summary.md`` of sweep file ``path`` into ``out_dir``.

    Returns a JSON-ready dict: figure paths, summary path, status and per-spec
    bound notes.
    """
    from ..sweep.store import load_sweep

    out_dir = Path(out_dir)
    data = load_sweep(path)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"Report output '{out_dir}' is a file; give a folder to -o.")
    parent = out_dir.parent if str(out_dir.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Folder '{parent}' does not exist; create it or choose another -o.")
    if not data.complete.any():
        raise ConfigError(f"'{path}' has no completed point yet; nothing to plot.")
    with _staged_dir(out_dir) as work:
        figures, notes = _render(data, path, work, bounds)
    return {"sweep": str(path), "output_dir": str(out_dir), "summary": str(out_dir / "summary.md"),
            "figures": [str(out_dir / f) for f in figures], "status": data.status,
            "n_points": data.n_points, "n_complete": int(data.complete.sum()), "bounds": notes}


def _render(data, path, out_dir: Path, bounds: bool):
    specs = data.fault_specs()
    S = data.summary
    conf = data.confidence
    figures, notes, tables = [], {}, []
    for p, pname in enumerate(data.profiles):
        plabel = pname or "float network"
        net = data.networks[p]
        fig_rms, (ax_rms,) = _figure()
        any_rms = False
        fig_flip, (ax_flip,) = _figure()
        any_flip = False
        bands_rms, bands_flip = [], []
        for s, spec in enumerate(specs):
            key = data.specs[s]
            idx = data.select(p, s)
            if idx.size == 0:
                continue
            color = _COLORS[s % len(_COLORS)]
            rates = data.point_rate[idx]
            # ---- bounds
            pred = {}
            valued = not spec.fault_value.is_zero and spec.site in ("neuron", "synapse")
            note = "no bound for this fault site" if spec.site != "neuron" and not valued else ""
            if bounds and (spec.site == "neuron" or valued):
                try:
                    pred = bound_rms(net, data.x, spec, rates)
                    note = ("first-order stuck-at-value moments overlaid" if valued else "b3/b4 overlaid") + (
                        " (p = rate x duty)" if spec.mode == "intermittent" else "")
                except Exception as exc:  # the report must survive a failing or missing bound
                    pred = {}
                    note = f"bounds unavailable ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            elif not bounds:
                note = "bounds not requested"
            notes[f"{plabel} / {key}"] = note
            # ---- per-spec error figure
            fig, (ax1, ax2) = _figure(ncols=2, width=5.6)
            r, lm, lci, lq = _positive(rates, S["linf_mean"][idx], S["linf_mean_ci"][idx], S["linf_quantiles"][idx])
            levels = list(np.round(data.levels, 6))
            ax1.plot(r, _pos(lm), "o-", color=color, label="mean")
            for q, style in ((0.5, ":"), (0.95, "--"), (0.99, "-.")):
                if q in levels:
                    ax1.plot(r, _pos(lq[:, levels.index(q)]), style, color="0.35", lw=1,
                             label=f"{int(100 * q)}% quantile")
            _band(ax1, r, lci[:, 0], lci[:, 1], color=color, alpha=0.25, label=f"{int(100 * conf)}% CI of the mean")
            _log_axes(ax1)
            ax1.set_ylabel("||Δ||∞ per (chip, input)")
            ax1.set_title("max-norm error")
            ax1.legend(fontsize=8)
            r, rm, rci = _positive(rates, S["rms"][idx], S["rms_ci"][idx])
            ax2.plot(r, _pos(rm), "o-", color=color, label="simulated")
            for bk, style in (("b3", "--"), ("b4", ":"), ("values", "--")):
                if bk in pred and np.isfinite(pred[bk]).any():
                    rb, vb = _positive(rates, pred[bk])
                    ax2.plot(rb, _pos(vb), style, color="black", lw=1.5, label=f"{bk} prediction")
            _band(ax2, r, rci[:, 0], rci[:, 1], color=color, alpha=0.25, label=f"{int(100 * conf)}% CI")
            _log_axes(ax2)
            ax2.set_ylabel("RMS error sqrt(E Δ²)")
            ax2.set_title("RMS error" + (" vs first-order bounds" if pred else ""))
            ax2.legend(fontsize=8)
            fig.suptitle(f"{plabel}: {key}  ({data.config['n_chips']} chips x {data.x.shape[0]} inputs per point)")
            name = f"error_p{p}_s{s}_{_slug(key)}.png"
            _save(fig, out_dir / name)
            figures.append(name)
            # ---- overview and flips
            ax_rms.plot(r, _pos(rm), "o-", color=color, label=key)
            bands_rms.append((r, rci[:, 0], rci[:, 1], color))
            any_rms = True
            has_flips = S["flip_trials"][idx].max() > 0
            if has_flips:
                r, fr, fci, fcc = _positive(rates, S["flip_rate"][idx], S["flip_ci"][idx], S["flip_chip_ci"][idx])
                lo, hi = _flip_band(spec.mode, fci, fcc)
                ax_flip.plot(r, _pos(fr), "o-", color=color, label=key)
                bands_flip.append((r, lo, hi, color))
                any_flip = True
            tables.append((p, s, plabel, key, spec, idx, pred, name))
        if any_rms:
            _log_axes(ax_rms)
            for r, lo, hi, color in bands_rms:
                _band(ax_rms, r, lo, hi, color=color, alpha=0.2)
            ax_rms.set_ylabel("RMS error sqrt(E Δ²)")
            ax_rms.set_title(f"{plabel}: RMS error by fault spec ({int(100 * conf)}% CI bands)")
            ax_rms.legend(fontsize=8)
            name = f"rms_p{p}.png"
            _save(fig_rms, out_dir / name)
            figures.append(name)
        if any_flip:
            _log_axes(ax_flip)
            for r, lo, hi, color in bands_flip:
                _band(ax_flip, r, lo, hi, color=color, alpha=0.2)
            ax_flip.set_ylabel("classification flip rate")
            ax_flip.set_title(f"{plabel}: argmax flips ({int(100 * conf)}% CI bands)")
            ax_flip.legend(fontsize=8)
            name = f"flips_p{p}.png"
            _save(fig_flip, out_dir / name)
            figures.append(name)
    (out_dir / "summary.md").write_text(_markdown(data, path, figures, tables, notes), encoding="utf-8")
    return figures, notes


def _fmt(v, digits=3):
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _markdown(data, path, figures, tables, notes) -> str:
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
        f"- per point: {cfg['n_chips']} chips x {cfg['inputs']['n_inputs']} inputs, seed {cfg['seed']}, "
        f"neurosim {cfg['neurosim_version']}",
        f"- intervals: {conf}% (mean, RMS: Student t over chips; flips: Clopper–Pearson, "
        "widened by the per-chip t interval for permanent/intermittent faults)",
        "",
    ]
    overview = [f for f in figures if f.startswith(("rms_", "flips_"))]
    if overview:
        lines += ["## Overview", ""]
        for f in overview:
            lines += [f"![{f}]({f})", ""]
    for p, s, plabel, key, spec, idx, pred, fig in tables:
        lines += [f"## {plabel}: `{key}`", "", f"![{fig}]({fig})", "",
                  f"Bounds: {notes.get(f'{plabel} / {key}', '')}.", ""]
        head = ["rate", "mean ‖Δ‖∞", "RMS", f"RMS {conf}% CI", "flip rate", f"flip {conf}% CI", "faults/chip"]
        if pred:
            head += ["b3 RMS", "b4 RMS"]
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
                   _fmt(S["faults_per_chip"][i])]
            if pred:
                row += [_fmt(pred.get("b3", [np.nan] * len(idx))[k]), _fmt(pred.get("b4", [np.nan] * len(idx))[k])]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += ["Rates of 0 are in the tables but not on the log-scaled plots; zero errors are not drawn on log axes.", ""]
    return "\n".join(lines)
