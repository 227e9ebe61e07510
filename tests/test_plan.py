"""Deployment plans: tail models, replica choice, verification, common cause, plan files, CLI.

Statistical tests use fixed seeds (the engine is bit-reproducible), so every
outcome is deterministic; the properties asserted are ones that must hold
with probability >= the stated confidence, and are checked at that level.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim import ConfigError, map_network, parse_fault
from neurosim.analysis.planner import median_failure_tail, plan_replicas
from neurosim.plan import (
    TailModel, build_plan, clustered_interval, common_cause_specs, mixture_tail, smallest_R_mixture, tails,
)
from neurosim.cli.main import main
from neurosim.io import load_bundled_data, load_network, save_network
from neurosim.plan.files import (
    H5_NAME, JSON_NAME, content_digest, dataset_sha256, read_plan, sha256_file, weights_sha256, write_plan,
)

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
FAST = ["--profile", "rram", "--fault", "neuron:permanent:0.01:layers=1", "--eps", "3", "--delta", "1e-3",
        "--chips", "300", "--groups", "60", "--seed", "3"]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def digits():
    net = load_network(DIGITS)
    x, y = load_bundled_data(DIGITS)
    return net, map_network(net, "rram", x_sample=x), x, y


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory):
    """A fresh plan of the bundled example, written by the CLI."""
    d = tmp_path_factory.mktemp("plans") / "fast"
    assert main(["plan", str(DIGITS), *FAST, "-o", str(d)]) == 0
    return d


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in (JSON_NAME, H5_NAME):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def _resign(path: Path, doc: dict) -> None:
    """Rewrite plan.json with a recomputed digest (a 'careful' tamperer)."""
    doc = dict(doc)
    doc["digest"] = dict(doc["digest"], value=content_digest(doc))
    (path / JSON_NAME).write_text(json.dumps(doc, indent=2), encoding="utf-8")


# --------------------------------------------------------------------------- tail models
@pytest.mark.parametrize("R", [1, 2, 3, 8, 25, 101, 1001, 5001])
def test_vectorised_tail_matches_planner(R):
    q = np.array([0.0, 1e-9, 1e-4, 0.01, 1 / 3, 0.4999, 0.5, 0.7, 1.0])
    ref = np.array([median_failure_tail(R, v) for v in q])
    np.testing.assert_allclose(tails(R, q), ref, rtol=1e-10, atol=0)


def test_homogeneous_inputs_reduce_to_plan_replicas():
    for q, delta in [(1 / 3, 1e-5), (0.1, 1e-3), (0.01, 1e-12), (0.45, 1e-2), (1e-4, 0.5)]:
        R, tail, why = smallest_R_mixture(np.full(17, q), delta)
        plan = plan_replicas(q, delta)
        assert why is None and R == plan.R
        assert math.isclose(tail, plan.tail, rel_tol=1e-9)


def test_mixture_search_matches_bruteforce_and_pooling_underpredicts():
    rng = np.random.default_rng(1)
    q = rng.beta(0.6, 6, size=300) * 0.9  # heterogeneous inputs, some near 1/2
    q = np.minimum(q, 0.4)
    for delta in (1e-2, 1e-4, 1e-6):
        R, tail, _ = smallest_R_mixture(q, delta)
        brute = next(r for r in range(1, 2001, 2) if mixture_tail(r, q) <= delta)
        assert R == brute and tail <= delta
        # Jensen: the pooled formula picks a smaller R whose true (mixture) tail exceeds delta
        Rp = plan_replicas(float(q.mean()), delta).R
        assert Rp < R and mixture_tail(Rp, q) > delta


def test_hard_inputs_make_the_plan_infeasible_or_cost_nothing():
    q = np.r_[np.full(99, 0.05), 0.6]  # one input at q >= 1/2
    R, _, why = smallest_R_mixture(q, 1e-3)
    assert R is None and "1/2" in why
    R, tail, why = smallest_R_mixture(q, 0.01)  # its share (0.006 at R = 1) fits in delta
    assert R is not None and tail <= 0.01


def test_componentwise_model_is_sharper_and_still_bounds_the_median():
    """Synthetic copies: each fails with probability q in one random output and direction.

    The exact median failure probability is estimated by Monte Carlo and must lie
    below the component-wise bound, which must lie below the copy-wise one.
    """
    rng = np.random.default_rng(7)
    O, q, trials = 5, 0.3, 40000
    q_os = np.full((1, O, 2), q / (2 * O))
    cw = TailModel([q], q_os)
    cp = TailModel([q])
    for R in (3, 5, 7):
        fails = rng.random((trials, R)) < q
        comp = rng.integers(0, 2 * O, size=(trials, R))  # (output, direction) hit by a failing copy
        dev = np.zeros((trials, R, 2 * O))
        np.put_along_axis(dev, comp[..., None], fails[..., None].astype(float), axis=2)
        med_fails = np.median(dev, axis=1).max(axis=1) > 0.5
        ci = clustered_interval(med_fails[None], 0.99)
        assert ci["lo"] <= cw.mean(R) <= cp.mean(R)
        assert cw.mean(R) < 0.5 * cp.mean(R)
        assert ci["hi"] >= 0.8 * cw.mean(R)  # nearly disjoint events: the union bound is almost exact


def test_clustered_interval_widens_for_correlated_rows():
    rng = np.random.default_rng(2)
    indep = rng.random((200, 50)) < 0.1
    corr = np.repeat(rng.random((200, 1)) < 0.1, 50, axis=1)  # all-or-nothing rows
    a, b = clustered_interval(indep, 0.95), clustered_interval(corr, 0.95)
    assert a["design_effect"] < 1.6 and b["design_effect"] > 20
    assert b["hi_clustered"] - b["lo_clustered"] > 3 * (b["hi"] - b["lo"])
    z = clustered_interval(np.zeros((10, 10), bool), 0.95)
    assert z["lo_clustered"] == 0 and z["design_effect"] == 1.0


def test_common_cause_specs_keep_the_marginal_rate():
    specs = [parse_fault("synapse:permanent:0.02:layers=1,2"), parse_fault("neuron:transient:0.01")]
    assert common_cause_specs(specs, 0.0, 7) == specs
    out = common_cause_specs(specs, 0.4, 7)
    shared, indep, trans = out
    assert shared.group == 7 and indep.group == 1 and trans == specs[1]
    assert shared.layers == indep.layers == (1, 2)
    assert math.isclose(1 - (1 - shared.rate) * (1 - indep.rate), 0.02, rel_tol=1e-12)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        common_cause_specs(specs, 1.0, 7)


# --------------------------------------------------------------------------- verification (acceptance 2)
CONFIGS = [
    # (fault specs, eps, delta, rule)
    (["synapse:permanent:0.0175"], 4.5, 1e-3, "componentwise"),
    (["neuron:permanent:0.01:layers=1"], 3.0, 1e-3, "componentwise"),
    (["synapse:transient:0.01", "neuron:permanent:0.002"], 3.5, 1e-2, "copywise"),
]


@pytest.mark.parametrize("faults,eps,delta,rule", CONFIGS)
def test_verification_on_bundled_example(digits, faults, eps, delta, rule):
    """Empirical median failure rate <= predicted tail within its CI, at R and along the tail curve.

    Stronger than the acceptance floor: at every r <= R (medians of the first r
    replicas of each group) the lower limit of the group-clustered 95% interval
    is at or below the plan model's conservative prediction, not only at R.
    """
    net, m, x, y = digits
    plan = build_plan(m, x, [parse_fault(f) for f in faults], eps, delta, chips=600, groups=80, seed=11,
                      labels=y, rule=rule)
    r, v = plan.doc["replicas"], plan.doc["verification"]["independent"]
    assert r["tail"] <= delta and r["rule"] == rule
    assert v["consistent"] and v["median_failures"]["lo_clustered"] <= r["tail"]
    for row in v["tail_curve"]:
        assert row["lo"] <= row["predicted_upper"], row
        if rule == "componentwise" and row["R"] == 3:
            # sharp, not merely safe: where the rate is resolvable the model is within a factor 3 of the data
            assert row["hi"] >= row["predicted_point"] / 3, row
    # the verification's copies are not worse than the chips that estimated q (chip-clustered limit)
    assert v["per_copy_failures"]["lo"] <= plan.doc["q"]["simulation"]["q_upper_clustered"]
    # R never exceeds the copy-wise R, and the pooled formula is not what chose it
    rb = r["R_by_model"]
    assert rb["componentwise"] <= rb["copywise"]
    cls = v["classification"]
    assert cls["median_flips"]["rate"] <= cls["per_copy_flips"]["rate"]


def test_common_cause_raises_the_median_failure_rate(digits):
    """Property: with a shared fraction F of permanent faults the median fails at least as often.

    Why it must hold: given the shared draw S the replicas are i.i.d. with rates
    q_S(x) whose mean over S is the independent q(x) (the marginal per site is
    unchanged), and T(R, .) is convex on [0, 1/2], so E_S T(R, q_S) >= T(R, q)
    (Jensen). At F = 0.9 the shared faults dominate and the rate approaches the
    single-copy rate, so we test a strict, statistically separated increase
    (lower limit of the common-cause interval above the upper limit of the
    independent one), and that the per-copy rate did not change.
    """
    net, m, x, y = digits
    plan = build_plan(m, x, [parse_fault("synapse:permanent:0.0175")], 4.5, 1e-2, chips=300, groups=60, seed=5,
                      common_cause=0.9)
    ind, cc = plan.doc["verification"]["independent"], plan.doc["verification"]["common_cause"]
    a, b = ind["median_failures"], cc["median_failures"]
    assert cc["common_cause"] == 0.9 and b["rate"] >= a["rate"]
    assert b["lo_clustered"] > a["hi_clustered"]
    assert not cc["consistent"]  # departs from the independent prediction
    pa, pb = ind["per_copy_failures"], cc["per_copy_failures"]
    assert pa["lo"] <= pb["hi"] and pb["lo"] <= pa["hi"]  # marginal per-copy rate unchanged (intervals overlap)
    assert b["rate"] <= pb["hi"]  # bounded by the single-copy rate


# --------------------------------------------------------------------------- plan files (acceptance 3)
def test_plan_roundtrip(plan_dir, digits):
    lp = read_plan(plan_dir)
    on_disk = json.loads((plan_dir / JSON_NAME).read_text(encoding="utf-8"))
    assert lp.doc == on_disk
    assert lp.doc["digest"]["value"] == content_digest(on_disk)
    assert lp.doc["format_version"] == 1 and lp.doc["format"] == "neurosim-plan"
    net, m, x, y = digits
    np.testing.assert_array_equal(lp.inputs, x)
    np.testing.assert_array_equal(lp.labels, y)
    for Wa, Wb in zip(lp.mapping.qnet.weights, m.qnet.weights):
        np.testing.assert_array_equal(Wa, Wb)
    assert lp.doc["model"]["sha256_file"] == sha256_file(DIGITS)
    assert lp.doc["model"]["sha256_weights"] == weights_sha256(net)
    assert lp.doc["inputs"]["sha256"] == dataset_sha256(x)
    R, tot, per = lp.doc["replicas"]["R"], lp.doc["mapping"]["totals"], lp.doc["mapping"]["per_replica"]
    assert (tot["chips"], tot["cores"], tot["synapses"]) == (per["chips_used"] * R, per["cores_used"] * R, per["synapses"] * R)
    assert lp.doc["replicas"]["paper"]["valid"] is False and "binomial coefficient" in lp.doc["replicas"]["paper"]["note"]
    assert lp.doc["target"]["aggregation"] == "component-wise median"
    assert lp.doc["q"]["bound"]["available"] and lp.doc["q"]["bound"]["proposition3"]["applies"]
    assert lp.doc["algorithm1"]["available"]
    with h5py.File(plan_dir / H5_NAME, "r") as f:
        assert f.attrs["neurosim_type"] == "plan" and int(f.attrs["format_version"]) == 1
        assert int(f.attrs["R"]) == R


def test_library_write_then_read_is_identical(digits, tmp_path):
    net, m, x, y = digits
    plan = build_plan(m, x[:60], [parse_fault("neuron:transient:0.002")], 2.0, 0.05, chips=50, groups=20, seed=1,
                      labels=y[:60], model_info={"path": str(DIGITS), "sha256_file": sha256_file(DIGITS),
                                                 "sha256_weights": weights_sha256(net), "sizes": list(net.sizes)})
    doc = write_plan(plan, tmp_path / "p")
    lp = read_plan(tmp_path / "p")
    assert lp.doc == doc
    for k, a in plan.arrays.items():
        np.testing.assert_array_equal(lp.arrays[k], np.asarray(a), err_msg=k)


def test_same_seed_same_plan_bytes(tmp_path):
    for i, threads in ((1, "1"), (2, "2")):
        assert main(["plan", str(DIGITS), *FAST, "--chips", "100", "--groups", "20", "--threads", threads,
                     "-o", str(tmp_path / f"p{i}")]) == 0
    for name in (JSON_NAME, H5_NAME):
        assert (tmp_path / "p1" / name).read_bytes() == (tmp_path / "p2" / name).read_bytes()


def test_check_passes_on_fresh_plan(plan_dir, capsys):
    assert main(["plan", "--check", str(plan_dir)]) == 0
    out = capsys.readouterr().out
    assert "reproduced exactly" in out and "is valid" in out
    assert main(["plan", "--check", str(plan_dir), "--json", "--no-rerun"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ok"] and rep["problems"] == []


def _check_fails(d, capsys, *extra):
    rc = main(["plan", "--check", str(d), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "plan check failed" in err[0]
    return err[0]


def test_check_detects_edited_plan_json(plan_dir, tmp_path, capsys):
    d = _copy(plan_dir, tmp_path / "edited")
    text = (d / JSON_NAME).read_text(encoding="utf-8")
    R = json.loads(text)["replicas"]["R"]
    (d / JSON_NAME).write_text(text.replace(f'"R": {R},', f'"R": {R + 2},', 1), encoding="utf-8")
    assert "modified after it was written" in _check_fails(d, capsys)


def test_check_detects_edited_plan_json_with_recomputed_digest(plan_dir, tmp_path, capsys):
    d = _copy(plan_dir, tmp_path / "resigned")
    doc = json.loads((d / JSON_NAME).read_text(encoding="utf-8"))
    doc["replicas"]["R"] = max(1, doc["replicas"]["R"] - 2)  # claim fewer replicas
    _resign(d, doc)
    msg = _check_fails(d, capsys, "--no-rerun")
    assert "replicas" in msg or "totals" in msg


def test_check_detects_tampered_h5_dataset(plan_dir, tmp_path, capsys):
    d = _copy(plan_dir, tmp_path / "h5")
    with h5py.File(d / H5_NAME, "r+") as f:
        ds = f["estimate/fail_count"]
        a = ds[()]
        a[0] += 1
        ds[...] = a
    msg = _check_fails(d, capsys)
    assert "estimate/fail_count" in msg


def test_check_detects_tampered_weights_and_other_model(plan_dir, tmp_path, capsys, digits):
    d = _copy(plan_dir, tmp_path / "w")
    with h5py.File(d / H5_NAME, "r+") as f:
        ds = f["mapping/qnetwork/W002"]
        a = ds[()]
        a[0, 0] += 0.5
        ds[...] = a
    assert "mapping/qnetwork/W002" in _check_fails(d, capsys)
    # a different model file than the plan's
    net, m, x, y = digits
    W = [w.copy() for w in net.weights]
    W[0][0, 0] += 1e-3
    other = tmp_path / "other.h5"
    save_network(net.with_weights(W), other)
    assert "model file" in _check_fails(plan_dir, capsys, str(other), "--no-rerun")


def test_check_missing_folder_and_files(tmp_path, capsys):
    assert main(["plan", "--check", str(tmp_path / "nope")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    _check_fails(tmp_path / "empty", capsys)


# --------------------------------------------------------------------------- CLI arguments
BASE = {"--profile": "rram", "--fault": "neuron:permanent:0.01:layers=1", "--eps": "3", "--delta": "1e-3",
        "--chips": "100", "--groups": "20", "--seed": "3"}
BAD = [
    ({"--eps": "0"}, "--eps"),
    ({"--eps": "-1"}, "--eps"),
    ({"--eps": "nan"}, "--eps"),
    ({"--delta": "0"}, "--delta"),
    ({"--delta": "1"}, "--delta"),
    ({"--delta": "1.5"}, "--delta"),
    ({"--confidence": "1"}, "--confidence"),
    ({"--confidence": "0"}, "--confidence"),
    ({"--profile": "no_such_chip"}, "Unknown profile"),
    ({"--common-cause": "1"}, "--common-cause"),
    ({"--chips": "1"}, "--chips"),
    ({"--fault": "neuron:permanent:0.05:layers=1", "--eps": "1e-3"}, "1/2"),  # per-copy failure >= 1/2
    ({"--fault": "neuron:permanent:0.01:group=3"}, "common-cause"),
    ({"--fault": "neuron:sometimes:0.01"}, "mode"),
]


@pytest.mark.parametrize("override,needle", BAD)
def test_bad_arguments_one_line_exit_2_no_directory(tmp_path, capsys, override, needle):
    out = tmp_path / "plan"
    argv = [t for k, v in {**BASE, **override}.items() for t in (k, v)]
    rc = main(["plan", str(DIGITS), *argv, "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary folder left either


def test_missing_required_arguments(tmp_path, capsys):
    for argv, needle in ((["plan", str(DIGITS), "--profile", "rram", "--fault", "neuron:transient:0.01", "--delta", "0.01",
                           "-o", str(tmp_path / "a")], "--eps"),
                         (["plan", str(DIGITS), "--fault", "neuron:transient:0.01", "--eps", "1", "--delta", "0.01",
                           "-o", str(tmp_path / "a")], "--profile"),
                         (["plan", str(DIGITS), *FAST], "-o PLAN_DIR"),
                         (["plan", "--profile", "rram"], "model")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_empty_plan_dir(tmp_path, capsys):
    out = tmp_path / "plan"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["plan", str(DIGITS), *FAST, "-o", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_json_output_is_the_plan(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["plan", str(DIGITS), *FAST, "--chips", "100", "--groups", "20", "--json", "-o", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads((out / JSON_NAME).read_text(encoding="utf-8"))
    assert sorted(p.name for p in out.iterdir()) == sorted([JSON_NAME, H5_NAME])
