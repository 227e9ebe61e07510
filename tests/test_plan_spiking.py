"""``neurosim plan`` on spiking networks: simulation route through the spiking engine, bound route via the ANN.

* end to end on the bundled converted digits SNN (CLI): the plan records T,
  dt, encoding and delays, and R is what the simulation route's numbers say:
  recomputed here independently (scipy Clopper-Pearson upper limits per input
  at level 1 - α/B, copy-wise median tail ``P(Bin(R, q) >= (R+1)/2)`` averaged
  over inputs), the upper tail is <= delta at R and > delta at R - 2, and the
  verification's measured median failure rate at R is below delta;
* ``--check`` passes; a careful tamperer who changes ``spiking.ticks`` and
  recomputes the digest is caught (the acceptance vectors and the re-run no
  longer reproduce), a malformed ``spiking`` record fails the schema;
* the bound route's 1/T term equals the conversion's nominal bound;
* a spiking network with no source ANN: the bound route is refused in one line
  naming ``--route simulation``, which then plans it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import neurosim as ns
from neurosim.cli.main import main
from neurosim.io import load_bundled_data
from neurosim.plan.files import content_digest

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT / "examples" / "digits_snn_if.h5"
ANN = ROOT / "examples" / "digits_mlp.h5"
DELTA = 0.05
ARGS = ["--profile", "loihi", "--ticks", "20", "--fault", "neuron:permanent:0.002", "--eps", "2", "--delta", str(DELTA),
        "--chips", "150", "--limit", "10", "--groups", "40", "--rule", "copywise"]


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan") / "p"
    assert main(["plan", str(SNN), *ARGS, "-o", str(out), "--json"]) == 0
    return out


def _doc(d):
    return json.loads((d / "plan.json").read_text())


def copywise_upper_tail(k, C, confidence, R):
    B = k.size
    level = 1.0 - (1.0 - confidence) / B
    q = np.where(k < C, stats.beta.ppf(level, k + 1, np.maximum(C - k, 1)), 1.0)
    return float(np.mean(stats.binom.sf((R + 1) // 2 - 1, R, q)))


def test_spiking_plan_records_the_run_and_r_follows_the_simulation(plan_dir):
    import h5py

    doc = _doc(plan_dir)
    sp = doc["spiking"]
    assert (sp["ticks"], sp["dt_s"], sp["encoding"], sp["delay_ticks_per_layer"]) == (20, 1e-3, "current", [0, 0, 0])
    R = doc["replicas"]["R"]
    with h5py.File(plan_dir / "plan.h5", "r") as f:
        k = f["estimate/fail_count"][()]
        C = f["estimate/fail"].shape[0]
    assert R >= 3 and k.sum() > 0
    assert copywise_upper_tail(k, C, 0.95, R) <= DELTA < copywise_upper_tail(k, C, 0.95, R - 2)
    ver = doc["verification"]["independent"]
    assert ver["R"] == R and ver["median_failures"]["rate"] <= DELTA
    single = next(c for c in ver["tail_curve"] if c["R"] == 1)
    assert doc["q"]["simulation"]["q"] > DELTA and single["n"] == ver["median_failures"]["n"]
    # the copies are spiking chips: the clean outputs stored are the T = 20 readouts of the mapped SNN
    snn = ns.load_network(SNN)
    x = load_bundled_data(SNN)[0][:10]
    m = ns.map_network(snn, "loihi", x_sample=x)
    with h5py.File(plan_dir / "plan.h5", "r") as f:
        np.testing.assert_array_equal(f["clean"][()], ns.simulate(m, x, [], ticks=20).clean)
    # bound route: the ANN's, with the stated 1/T term
    qa = doc["q"]["bound"]["ann"]["quantisation"]
    assert qa["ticks"] == 20 and qa["eps_q"] > 0 and qa["clean_max_abs"] > 0 and "nominal" in qa["note"]
    assert "Spiking mode: T = 20" in (plan_dir / "plan.md").read_text()


def test_spiking_plan_check_passes_and_catches_tampering(plan_dir, tmp_path, capsys):
    import shutil

    capsys.readouterr()
    assert main(["plan", "--check", str(plan_dir), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["result"]
    assert rep["ok"] and rep["rerun"]["independent"]["identical"]
    assert any(c["check"] == "spiking" and c["ok"] for c in rep["checks"])
    for field, value, why in (("ticks", 25, "re-run"), ("encoding", "spikes", "spiking.encoding"),
                              ("delay_ticks_per_layer", [1, 1, 1], "delay")):
        d = tmp_path / f"t_{field}"
        shutil.copytree(plan_dir, d)
        doc = _doc(d)
        doc["spiking"][field] = value
        doc["digest"] = dict(doc["digest"], value=content_digest(doc))
        (d / "plan.json").write_text(json.dumps(doc, indent=2))
        assert main(["plan", "--check", str(d)]) == 2, field
        out = capsys.readouterr()
        assert why in out.out + out.err and out.err.count("\n") == 1, (field, out)


def test_quantisation_term_is_the_conversions_nominal_bound():
    from neurosim.spiking.convert import convert, quantisation_term

    ann = ns.load_network(ANN)
    x, _ = load_bundled_data(ANN)
    for T, neuron in ((30, "IF"), (80, "LIF")):
        conv = convert(ann, x[:100], ticks=T, neuron=neuron, tau_s=2.0)
        q = quantisation_term(ann, conv.network, T, conv.dt_s)
        np.testing.assert_allclose(q["scales"], conv.scales, rtol=1e-12)
        assert q["eps_q"] == pytest.approx(conv.error_bound, rel=1e-12)
        assert quantisation_term(ann, conv.network, 2 * T, conv.dt_s)["eps_q"] == pytest.approx(conv.error_bound / 2)


def test_spiking_net_without_ann_needs_route_simulation(plan_dir, tmp_path, capsys):
    """The digits SNN saved again without its 'converted_from' record: no ANN, so no bound route."""
    model = tmp_path / "snn_only.h5"
    x, y = load_bundled_data(SNN)
    ns.save_network(ns.load_network(SNN), model, inputs=x, labels=y)
    assert main(["plan", str(model), *ARGS, "-o", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--route simulation" in err and "Traceback" not in err
    assert not (tmp_path / "no").exists()
    assert main(["plan", str(model), *ARGS, "--route", "simulation", "-o", str(tmp_path / "yes")]) == 0
    doc, ref = _doc(tmp_path / "yes"), _doc(plan_dir)
    assert doc["spiking"]["route"] == "simulation" and doc["spiking"]["ann"] is None
    assert not doc["q"]["bound"]["available"] and "--route simulation" in doc["q"]["bound"]["reason"]
    # the simulation route does not depend on the bound route: same R, same evidence as the full plan
    assert doc["replicas"]["R"] == ref["replicas"]["R"] and doc["q"]["simulation"] == ref["q"]["simulation"]
    assert main(["plan", "--check", str(tmp_path / "yes")]) == 0
    capsys.readouterr()
    # --ann on a rate network: one line, nothing written
    assert main(["plan", str(ANN), *ARGS[:2], "--fault", "neuron:permanent:0.01", "--eps", "2", "--delta", "0.05",
                 "--ann", str(ANN), "-o", str(tmp_path / "rate")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--ann" in err and not (tmp_path / "rate").exists()
