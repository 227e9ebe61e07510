"""ANN -> SNN conversion and the spiking command line (convert, simulate, sweep, compare)."""
import json

import numpy as np
import pytest

import neurosim as ns
from neurosim.cli.main import main
from neurosim.io import load_bundled_data


@pytest.fixture(scope="module")
def digits():
    net = ns.load_network("examples/digits_mlp.h5")
    x, y = load_bundled_data("examples/digits_mlp.h5")
    return net, x, y


def test_conversion_tracks_the_ann(digits):
    net, x, y = digits
    ann = net.forward(x)
    errs = {}
    for T in (25, 100, 400):
        c = ns.spiking.convert(net, x, ticks=T, percentile=100.0)
        out = c.simulate(x[:100], []).clean
        errs[T] = float(np.max(np.abs(out - ann[:100])))
        assert errs[T] <= c.error_bound  # the nominal 1/T bound holds without clipping
        assert c.network.activations == ("IF", "IF", "identity")
    assert errs[400] < errs[25] / 4  # O(1/T)
    c = ns.spiking.convert(net, x, ticks=50)
    acc = np.mean(np.argmax(c.simulate(x, []).clean, 1) == y)
    assert acc >= np.mean(np.argmax(ann, 1) == y) - 0.01


def test_lif_conversion_and_refusals(digits):
    net, x, y = digits
    c = ns.spiking.convert(net, x, ticks=50, neuron="LIF", tau_s=0.5)
    assert np.mean(np.argmax(c.simulate(x, []).clean, 1) == y) > 0.95
    tanh = ns.Network.from_arrays(net.weights, net.biases, ["tanh", "relu", "identity"])
    with pytest.raises(ns.ConfigError, match="ReLU"):
        ns.spiking.convert(tanh, x)
    for kw in (dict(ticks=0), dict(percentile=0), dict(neuron="AdEx"), dict(neuron="LIF", tau_s=1e-4)):
        with pytest.raises(ns.ConfigError):
            ns.spiking.convert(net, x, **kw).simulate(x[:2], [])


def test_simulate_dispatch_and_mode(digits):
    net, x, _ = digits
    snn = ns.load_network("examples/digits_snn_if.h5")
    r = ns.simulate(snn, x[:5], "neuron:transient:0.05", n_chips=2, ticks=20, seed=3)
    assert r.delta.shape == (2, 5, 10) and r.ticks == 20
    with pytest.raises(ns.ConfigError, match="spiking"):
        ns.simulate(net, x[:5], "neuron:transient:0.05", ticks=20)
    with pytest.raises(ns.ConfigError, match="rate activation"):
        ns.simulate(net, x[:5], [], mode="spiking")
    with pytest.raises(ns.ConfigError, match="spiking mode only"):
        ns.simulate(net, x[:5], "neuron:permanent:0.1:value=threshold_scale:scale=0.8")  # saturated works in rate mode too (issue 15)


def test_cli_convert_simulate_sweep_compare(tmp_path, capsys):
    snn = tmp_path / "snn.h5"
    assert main(["convert", "examples/digits_mlp.h5", "--ticks", "30", "--limit", "120", "-o", str(snn), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)["result"]  # the command-line JSON envelope
    assert d["accuracy"]["snn"] > 0.9 and d["layers"] == ["IF", "IF", "identity"]
    assert main(["simulate", str(snn), "--ticks", "30", "--fault", "router:transient:0.05", "--chips", "3",
                 "--limit", "40", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)["result"]
    assert s["samples"] == 120 and s["faults_per_chip"]["router:stuck0:transient"] > 0
    assert main(["sweep", str(snn), "--ticks", "20", "--fault", "neuron:permanent:layers=1", "--rates", "0.01,0.1",
                 "--chips", "2", "--limit", "30", "-o", str(tmp_path / "sw.h5")]) == 0
    assert main(["report", str(tmp_path / "sw.h5"), "-o", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "summary.md").read_text()
    assert "spiking network" in md and "bounds unavailable" not in md  # says why no bound, names the route
    capsys.readouterr()
    assert main(["compare", str(snn), "--ticks", "30", "--fault", "neuron:transient:0.02:layers=1", "--chips", "20",
                 "--limit", "30", "--ann", "examples/digits_mlp.h5", "-o", str(tmp_path / "cmp"), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)["result"]
    assert c["spiking"]["ticks"] == 30 and c["spiking"]["clean_quantisation_max_abs"] > 0
    # bad spiking input: one line, exit 2, nothing written
    for argv in (["simulate", "examples/digits_mlp.h5", "--fault", "neuron:transient:0.1", "--ticks", "5"],
                 ["simulate", str(snn), "--fault", "neuron:transient:0.1", "--ticks", "0"],
                 ["simulate", str(snn), "--fault", "neuron:transient:0.1", "--dt", "-1"],
                 ["convert", "examples/digits_mlp.h5", "--ticks", "-1", "-o", str(tmp_path / "bad.h5")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "bad.h5").exists()


def test_plan_library_refuses_the_bound_route_without_an_ann():
    """build_plan on a spiking mapping: the bound route needs the source ANN; the refusal names --route simulation."""
    from neurosim.plan import build_plan

    m = ns.map_network(ns.load_network("examples/digits_snn_if.h5"), "rram")
    with pytest.raises(ns.ConfigError, match="--route simulation") as e:
        build_plan(m, np.zeros((2, 64)), [ns.FaultSpec("neuron", "permanent", 1e-3)], failure="flip",
                   spiking={"ticks": 10})
    assert "\n" not in str(e.value)
    with pytest.raises(ns.ConfigError, match="route"):
        build_plan(m, np.zeros((2, 64)), [ns.FaultSpec("neuron", "permanent", 1e-3)], failure="flip", route="bounds")


def test_simulate_cli_runs_core_faults_on_a_mapped_spiking_network(capsys):
    code = main(["simulate", "examples/digits_snn_if.h5", "--profile", "loihi", "--fault", "core:permanent:1",
                 "--chips", "2", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["profile"] == "loihi"
    acc = doc["result"]["accuracy"]
    assert acc["clean"] > 0.9 and acc["faulty"] < 0.2  # every core dead: no output spike, class 0 for every input


def test_compare_finds_the_source_ann_from_any_folder(tmp_path, capsys, monkeypatch):
    """The converted_from path resolves relative to the converted file, so the pair works from any cwd."""
    import shutil
    from pathlib import Path

    import h5py

    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "models"
    work.mkdir()
    shutil.copy(root / "examples" / "digits_mlp.h5", work / "ann.h5")
    (work / "sub").mkdir()
    assert main(["convert", str(work / "ann.h5"), "--ticks", "20", "--limit", "60",
                 "-o", str(work / "sub" / "snn.h5")]) == 0
    with h5py.File(work / "sub" / "snn.h5", "r") as f:
        assert json.loads(f.attrs["source"])["converted_from"] == "../ann.h5"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    for snn in (work / "sub" / "snn.h5", root / "examples" / "digits_snn_if.h5"):  # new file; bundled (older form)
        assert main(["compare", str(snn), "--ticks", "20", "--fault", "neuron:transient:0.02:layers=1",
                     "--chips", "4", "--limit", "20", "-o", str(tmp_path / f"cmp-{snn.parent.name}"), "--json"]) == 0
        c = json.loads(capsys.readouterr().out)["result"]
        assert Path(c["spiking"]["ann"]).is_file()
