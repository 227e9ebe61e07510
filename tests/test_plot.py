"""neurosim.plot: real matplotlib figures in png/pdf/svg, a CSV beside each, no float noise, zeros visible,
legends off the data, and the replica curve against the exact binomial tail."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest

import neurosim.plot._base as base
from neurosim import FaultSpec
from neurosim.analysis import bounds, plan_replicas
from neurosim.cli.main import main
from neurosim.plot import (FORMATS, clean_text, compare_figure, delta_histogram, make_report, num, rate_label,
                           replica_curve, spec_text)
from conftest import DIGITS
from reference import random_net

MAGIC = {"png": b"\x89PNG", "pdf": b"%PDF", "svg": b"<?xml"}
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?:[eE][-+]?\d+)?|(?<![\w.])\d+[eE][-+]?\d+")


def sig_digits(token: str) -> int:
    mant = re.split(r"[eE]", token)[0].replace(".", "").lstrip("0")
    return len(mant) or 1


def no_float_noise(texts):
    bad = [t for t in texts for tok in NUMBER.findall(t) if sig_digits(tok) > 6]
    assert not bad, f"float noise (> 6 significant digits): {bad}"


@pytest.fixture
def captured(monkeypatch):
    """Every figure saved through neurosim.plot: (file names, titles/labels/legend texts, figure)."""
    seen = []
    real = base.save

    def spy(fig, out_dir, stem, series, x_label, y_label, fmt="png", dpi=base.DEFAULT_DPI):
        names = real(fig, out_dir, stem, series, x_label, y_label, fmt=fmt, dpi=dpi)
        fig.canvas.draw()
        seen.append((names, base.titles_of(fig), fig))
        return names

    for mod in ("neurosim.plot.compare", "neurosim.plot.sweep", "neurosim.plot.replicas"):
        monkeypatch.setattr(f"{mod}.save", spy)
    return seen


def test_number_formatting_has_no_float_noise():
    assert num(0.05000000000000001) == "0.05" and num(5.0) == "5" and num(1e-4) == "0.0001" and num(1.234567e-7) == "1.235e-7"
    assert clean_text("p_on=0.05000000000000001:p_off=0.2") == "p_on=0.05:p_off=0.2"
    s = FaultSpec("synapse", "intermittent", 0.02, burst=5, duty=0.2)
    assert spec_text(s) == "synapse:intermittent:0.02:burst=5:duty=0.2"  # whatever float p_on is, shown as written
    with pytest.raises(AssertionError):
        no_float_noise(["p_on=0.05000000000000001"])  # the checker itself can fail


def test_rate_labels_define_the_rate_per_site_and_mode():
    perm = rate_label(FaultSpec("synapse", "permanent", 0.1))
    tran = rate_label(FaultSpec("neuron", "transient", 0.1))
    inter = rate_label(FaultSpec("core", "intermittent", 0.1, p_on=0.1, p_off=0.5))
    assert "fraction of synapses" in perm and "per chip" in perm
    assert "neuron" in tran and "per inference" in tran
    assert "cores" in inter and "weak" in inter and "per chip" in inter
    assert "stuck at 0 " in perm
    for value, words in (("max", "stuck at the tile's max"), ("0.5", "stuck at 0.5"), ("saturated", "saturated"),
                         ("bitflip", "flipped bit"), ("scale=0.5", "scale=0.5")):
        site = "neuron" if value == "saturated" else "synapse"
        label = rate_label(FaultSpec(site, "permanent", 0.1, value=value))
        assert words in label and "stuck at 0 " not in label, (value, label)


@pytest.mark.parametrize("fmt", FORMATS)
def test_compare_figure_every_format_with_csv(fmt, tmp_path, rng, captured):
    net = random_net(rng, [6, 5, 3], "relu")
    x = rng.uniform(0, 1, (4, 6))
    delta = rng.normal(0.1, 0.5, (80, 4, 3))
    preds = bounds(net, x, {1: 0.05})
    i, o = compare_figure(delta, preds, tmp_path / f"cmp.{fmt}", title="rate 0.05000000000000001", dpi=72)
    assert (i, o) == np.unravel_index(int(np.argmax(delta.std(0, ddof=1))), (4, 3))
    assert (tmp_path / f"cmp.{fmt}").read_bytes()[:5].startswith(MAGIC[fmt])
    rows = list(csv.reader(line for line in (tmp_path / "cmp.csv").read_text().splitlines() if not line.startswith("#")))
    assert rows[0] == ["series", "x", "y", "y_lo", "y_hi"]
    names = {r[0] for r in rows[1:]}
    assert {"b3 Gaussian density", "b4 Gaussian density"} <= names and any(n.startswith("simulated density") for n in names)
    dens = [(float(r[1]), float(r[2])) for r in rows[1:] if r[0].startswith("simulated density")]
    width = np.diff([d[0] for d in dens]).mean()
    assert sum(y for _, y in dens) * width == pytest.approx(1.0, rel=1e-6)  # the CSV holds the plotted histogram
    (names_, texts, fig) = captured[-1]
    no_float_noise(texts + names_)
    assert "0.05" in fig._suptitle.get_text()


def test_delta_histogram_alone(tmp_path, rng):
    net = random_net(rng, [4, 4, 2], "tanh")
    x = rng.uniform(0, 1, (3, 4))
    delta_histogram(rng.normal(size=(50, 3, 2)), bounds(net, x, {1: 0.1}), tmp_path / "h.svg", 1, 0)
    assert (tmp_path / "h.svg").is_file() and (tmp_path / "h.csv").is_file()


def _legend_overlaps_data(fig) -> list:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    hits = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and leg.get_window_extent(r).overlaps(ax.get_window_extent(r)):
            hits.append(ax.get_title())
    return hits


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("sw")
    assert main(["sweep", str(DIGITS), "--profile", "rram", "--fault", "neuron:transient:layers=1",
                 "--fault", "synapse:intermittent:burst=5:duty=0.2", "--rates", "0,1e-4,1e-2,1e-1", "--chips", "3",
                 "--limit", "20", "-o", str(d / "s.h5")]) == 0
    return d / "s.h5"


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_report_formats_csv_and_clean_names(fmt, sweep_file, tmp_path, captured):
    info = make_report(sweep_file, tmp_path / "rep", fmt=fmt, dpi=80)
    figs = [p.rsplit("/", 1)[1] for p in info["figures"]]
    assert len(figs) == 4 and all(f.endswith("." + fmt) for f in figs)
    assert "error_p0_s1_synapse-intermittent-burst-5-duty-0.2." + fmt in figs   # as the user wrote it
    for f in figs:
        stem = f.rsplit(".", 1)[0]
        assert (tmp_path / "rep" / f).read_bytes()[:5].startswith(MAGIC[fmt])
        assert (tmp_path / "rep" / f"{stem}.csv").is_file()
    all_texts = []
    for names, texts, fig in captured:
        all_texts += texts + names
        assert not _legend_overlaps_data(fig), "a legend covers an axes"
    no_float_noise(all_texts + figs)
    assert any("▽ = 0" in t for t in all_texts), "zeros (rate 0, no flips at low rates) must be marked"
    assert any("fraction of synapses" in t and "weak" in t for t in all_texts)


def test_report_csv_keeps_zero_values(sweep_file, tmp_path):
    make_report(sweep_file, tmp_path / "rep")
    rows = [r for r in csv.reader(l for l in (tmp_path / "rep" / "flips_p0.csv").read_text().splitlines()
                                  if not l.startswith("#"))][1:]
    zero_rate = [r for r in rows if float(r[1]) == 0.0]
    assert zero_rate and all(float(r[2]) == 0.0 for r in zero_rate)  # rate 0 -> no flips, kept in the CSV


def test_cli_report_and_compare_formats(sweep_file, tmp_path, capsys):
    assert main(["report", str(sweep_file), "--format", "svg", "--dpi", "60", "-o", str(tmp_path / "r")]) == 0
    assert sorted(p.suffix for p in (tmp_path / "r").iterdir()) == [".csv"] * 4 + [".md"] + [".svg"] * 4
    assert main(["compare", str(DIGITS), "--fault", "neuron:transient:0.01:layers=1", "--chips", "20", "--limit", "5",
                 "--format", "pdf", "-o", str(tmp_path / "c")]) == 0
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["compare.csv", "compare.json", "compare.pdf"]
    capsys.readouterr()
    assert main(["report", str(sweep_file), "--dpi", "5", "-o", str(tmp_path / "r2")]) == 2
    assert "--dpi" in capsys.readouterr().err and not (tmp_path / "r2").exists()


@pytest.mark.parametrize("q,delta", [(0.1, 1e-3), (1 / 3, 1e-5), (0.02, 1e-9)])
def test_replica_curve_is_the_binomial_tail_and_marks_the_plan(q, delta, tmp_path, captured):
    from scipy.stats import binom

    plan = plan_replicas(q, delta)
    R = replica_curve(q, delta, tmp_path / "rep.png", chosen=plan.R, q_hi=min(0.49, 1.5 * q))
    rows = [r for r in csv.reader(l for l in (tmp_path / "rep.csv").read_text().splitlines() if not l.startswith("#"))][1:]
    curve = {int(float(r[1])): float(r[2]) for r in rows if r[0].startswith("bound at q = ")}
    for r in R:
        exact = sum(binom.pmf(k, r, q) for k in range(int(np.ceil(r / 2)), r + 1))
        assert curve[int(r)] == pytest.approx(exact, rel=1e-9, abs=1e-300)
    # the chosen R is the first odd R on the curve at or below delta (plan_replicas' answer)
    first = min(r for r in R if curve[int(r)] <= delta)
    assert first == plan.R
    names, texts, fig = captured[-1]
    no_float_noise(texts + names)
    assert not _legend_overlaps_data(fig)
