"""Sweeps count non-finite Δ per point (summary 'non_finite'), warn on the command line and flag it in the report."""
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns
from neurosim import sweep as S
from neurosim.cli.main import main
from neurosim.io import load_bundled_data
from neurosim.sweep.summary import summarize

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
FAULTS = ["synapse:permanent:value=1e300", "neuron:transient"]


@pytest.fixture(scope="module")
def digits():
    net = ns.load_network(DIGITS)
    x, _ = load_bundled_data(DIGITS)
    return net, x[:15]


def test_non_finite_count_per_point_equals_a_direct_count(digits, tmp_path):
    net, x = digits
    ctx = S.build_context(net, x, faults=FAULTS, rates=(1e-3, 0.05), n_chips=3, seed=2)
    out = tmp_path / "nf.h5"
    o = S.run_sweep(ctx, out, progress=False)
    data = S.load_sweep(out)
    want = {}
    for i in range(ctx.grid.n_points):
        p, s, r = ctx.grid.point(i)
        with np.errstate(all="ignore"):
            res = ns.simulate(net, x, [S.with_rate(ctx.grid.specs[s], ctx.grid.rates[r])], n_chips=3,
                              seed=S.point_seed(2, i))
        n = int(np.count_nonzero(~np.isfinite(res.delta)))
        assert data.summary["non_finite"][i] == n
        if n:
            want[i] = n
        if s == 1:
            assert n == 0  # crashes cannot overflow
    assert want and o.non_finite == want
    # a complete sweep re-run reports the same points (read back from the file)
    again = S.run_sweep(ctx, out, progress=False)
    assert again.n_computed == 0 and again.non_finite == want


def test_non_finite_count_does_not_depend_on_the_chunking(digits):
    net, x = digits
    with np.errstate(all="ignore"):
        res = ns.simulate(net, x, ["synapse:permanent:0.01:value=1e300"], n_chips=4, seed=1)
    d = res.delta.copy()
    d[0, 0, 0] = np.nan  # one more, of the other kind
    args = (d, res.clean, res.fault_counts[:, 0, :], res.fault_events[:, 0, :])
    whole = summarize(*args)
    one = summarize(*args, chunk_chips=1)
    three = summarize(*args, chunk_chips=3)
    n = int(np.count_nonzero(~np.isfinite(d)))
    assert n > 1 and whole["non_finite"] == one["non_finite"] == three["non_finite"] == n


def test_cli_warns_and_report_flags_non_finite_points(tmp_path, capsys):
    out, rep = tmp_path / "nf.h5", tmp_path / "rep"
    assert main(["sweep", str(DIGITS), "--fault", FAULTS[0], "--fault", FAULTS[1], "--rates", "1e-3,0.05",
                 "--chips", "2", "--limit", "10", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "warning" in ln]
    assert len(lines) == 1 and "non-finite output errors" in lines[0] and "synapse:permanent:value=1e+300" in lines[0]
    assert "RuntimeWarning" not in err  # counted and flagged, not warned about by numpy
    assert main(["report", str(out), "-o", str(rep), "--json"]) == 0
    captured = capsys.readouterr()
    import json

    info = json.loads(captured.out)["result"]
    data = S.load_sweep(out)
    bad = [int(i) for i in np.flatnonzero(data.summary["non_finite"] > 0)]
    assert info["non_finite_points"] == bad and bad
    md = (rep / "summary.md").read_text()
    assert f"Warning: {len(bad)} of 4 points have non-finite output errors" in md
    assert "non-finite Δ" in md and f"**{int(data.summary['non_finite'][bad[0]])}**" in md


def test_clean_sweep_has_zero_non_finite_and_no_warning(tmp_path, capsys):
    out = tmp_path / "ok.h5"
    assert main(["sweep", str(DIGITS), "--fault", "neuron:transient", "--rates", "0.01", "--chips", "2",
                 "--limit", "5", "-o", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert S.load_sweep(out).summary["non_finite"].tolist() == [0]
