"""`neurosim bounds` and `neurosim compare` on the bundled example, and the comparison library."""

import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis.compare import compare, effective_rates, predictions_for
from conftest import DIGITS
from test_cli_foundation import run_cli, strict_json


def test_compare_writes_table_figure_and_json(tmp_path, capsys):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(["compare", DIGITS, "--fault", "neuron:transient:0.01:layers=1", "--chips", 60,
                                 "--limit", 40, "-o", out], capsys)
    assert code == 0, err
    for name in ("b1", "b2", "b3", "b4"):
        assert f"\n{name} " in stdout
    png = (out / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    data = strict_json((out / "compare.json").read_text())
    rows = {r["name"]: r for r in data["comparison"]["rows"]}
    assert set(rows) == {"b1", "b2", "b3", "b4"}
    assert 0.0 <= rows["b3"]["mean_covered"] <= 1.0


def test_compare_json_on_mapping_with_core_faults(tmp_path, capsys):
    """Core faults have no analytic prediction: listed as uncovered, the command still works."""
    code, stdout, err = run_cli(["compare", DIGITS, "--profile", "rram", "--fault", "core:transient:0.05",
                                 "--fault", "synapse:transient:0.01", "--chips", 20, "--limit", 20, "--json",
                                 "-o", tmp_path / "c"], capsys)
    assert code == 0, err
    data = strict_json(stdout)["result"]
    assert data["comparison"]["uncovered"] == ["core:transient:0.05"]
    assert [r["name"] for r in data["comparison"]["rows"]] == ["synapse"]


@pytest.mark.parametrize("argv, needle", [
    (["--fault", "neuron:transient:0.01", "--chips", 1], "--chips"),
    (["--fault", "neuron:transient:0.01", "--eps", 0], "--eps"),
    (["--fault", "neuron:transient:2"], "rate"),
    (["--fault", "neuron:transient:0.01", "--output-index", 10], "--output-index"),
    ([], "No fault"),
])
def test_compare_bad_arguments(tmp_path, capsys, argv, needle):
    out = tmp_path / "cmp"
    code, stdout, err = run_cli(["compare", DIGITS, "--limit", 5, "-o", out] + argv, capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_compare_refuses_non_empty_output(tmp_path, capsys):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = run_cli(["compare", DIGITS, "--fault", "neuron:transient:0.01", "-o", out], capsys)
    assert code == 2 and "not empty" in err
    assert (out / "keep.txt").read_text() == "x"


def test_bounds_command_matches_library(tmp_path, capsys):
    out = tmp_path / "b.json"
    code, stdout, err = run_cli(["bounds", DIGITS, "--p", 0.02, "--layer", 1, "--p", 0.01, "--layer", 0,
                                 "--limit", 30, "--json", "-o", out], capsys)
    assert code == 0, err
    summary = strict_json(stdout)["result"]
    net = ns.load_network(DIGITS)
    x, _ = ns.io.load_bundled_data(DIGITS)
    ref = ns.analysis.bounds(net, x[:30], {1: 0.02, 0: 0.01})
    np.testing.assert_allclose(summary["bounds"]["b3"]["mean_avg"], ref["b3"].mean.mean(0))
    full = strict_json(out.read_text())
    np.testing.assert_allclose(full["per_input"]["b4"]["std"], ref["b4"].std)


@pytest.mark.parametrize("argv, needle", [
    (["--p", 0.01, "--layer", 9], "layer"),
    (["--p", 1.5], "1.5"),
    (["--p", 0.01, "--layer", 1, "--layer", 2], "--layer"),
])
def test_bounds_bad_arguments(capsys, argv, needle):
    code, _, err = run_cli(["bounds", DIGITS, "--limit", 5] + argv, capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_effective_rates_combine_specs():
    """Two specs on one layer combine as 1-(1-p1)(1-p2); intermittent uses rate*duty."""
    specs = [ns.FaultSpec("neuron", "transient", 0.1, layers=[1]),
             ns.FaultSpec("neuron", "permanent", 0.2, layers=[1]),
             ns.FaultSpec("neuron", "intermittent", 0.5, layers=[0], p_on=0.1, p_off=0.3),
             ns.FaultSpec("synapse", "transient", 0.01, layers=[2])]
    pn, ps, unc = effective_rates(specs, 3)
    assert pn[1] == pytest.approx(1 - 0.9 * 0.8)
    assert pn[0] == pytest.approx(0.5 * 0.1 / 0.4)
    assert ps == {2: 0.01} and unc == []


def test_compare_detects_a_wrong_prediction(rng):
    """A prediction off by many standard errors is not covered; the true moments are."""
    net = ns.Network.from_arrays([np.ones((1, 50)) / 50], [np.zeros(1)], ["identity"])
    x = np.ones((3, 50))
    res = ns.simulate(net, x, ns.FaultSpec("neuron", "transient", 0.1, layers=[0]), n_chips=4000, seed=3)
    preds = predictions_for(net, x, res.faults)
    good = compare(res.delta, preds, eps=0.05)
    b3 = {r.name: r for r in good.rows}["b3"]
    assert b3.mean_covered == 1.0  # E Δ = -p exactly for this linear network
    shifted = {"b3": ns.analysis.BoundResult("b3", preds["b3"].mean + 0.05, preds["b3"].std, "shifted")}
    bad = compare(res.delta, shifted, eps=0.05)
    assert bad.rows[0].mean_covered == 0.0
