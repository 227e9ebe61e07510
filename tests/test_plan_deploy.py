"""Deployment plans a hardware team can act on (issue 17): verdicts, shared faults, seed stability, failure
criteria, the voter, plan.md / acceptance / programming files and their checks.

Simulation tests use fixed seeds (the engine is bit-reproducible); the properties asserted hold with
probability >= the stated confidence and are checked at that level.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy import stats

from neurosim import ConfigError, map_network, parse_fault
from neurosim.analysis.planner import median_failure_tail
from neurosim.cli.main import main
from neurosim.io import load_bundled_data, load_network
from neurosim.plan import build_plan
from neurosim.plan.criteria import Criterion, parse_failure
from neurosim.plan.routes import estimate_copy_failures, simulation_route
from neurosim.plan.shared import _hyper_tail
from neurosim.plan.verdict import _cp_upper_eff, groups_to_resolve
from neurosim.plan.voter import parse_voter

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
SYN = [parse_fault("synapse:permanent:0.0175")]


@pytest.fixture(scope="module")
def digits():
    net = load_network(DIGITS)
    x, y = load_bundled_data(DIGITS)
    return net, map_network(net, "rram", x_sample=x), x, y


# --------------------------------------------------------------------------- criteria
@pytest.mark.parametrize("crit", ["flip", "topk:2", "topk:3", "loss:0.5", "linf:1.5"])
def test_surrogate_threshold_implies_no_failure(crit):
    """||y - c||_inf <= eps_x must imply that y does not fail (the surrogate the tail models use)."""
    rng = np.random.default_rng(1)
    c = rng.normal(size=(400, 6))
    lab = rng.integers(0, 6, 400)
    cr = parse_failure(crit)
    e = cr.surrogate_eps(c, lab)
    assert np.all(e >= 0)
    for _ in range(50):
        u = rng.uniform(-1, 1, size=c.shape)
        u /= np.max(np.abs(u), axis=1, keepdims=True) * (1 + 1e-9)  # on the eps_x box (inside by rounding)
        y = c + u * e[:, None]
        assert not cr.fails(y, c, lab).any()
    # and just outside the box the criterion can fail (the surrogate is not vacuous for the class criteria)
    if cr.kind in ("flip", "topk"):
        K = 1 if cr.kind == "flip" else int(cr.value)
        top = np.argmax(c, axis=1)
        y = c.copy()
        gaps = c[np.arange(400), top][:, None] - c
        gaps[np.arange(400), top] = np.inf
        order = np.argsort(gaps, axis=1)
        y[np.arange(400), top] -= e * 1.0001 + 1e-12
        for j in range(K):
            o = order[:, j]
            y[np.arange(400), o] += e * 1.0001 + 1e-12
        assert cr.fails(y, c, lab).mean() > 0.5


def test_criteria_events_match_definitions():
    c = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.9]])
    y = np.array([[[2.0, 2.5, 0.0], [0.0, 2.0, 2.0]]])
    assert Criterion("flip").fails(y, c).tolist() == [[True, False]]
    assert Criterion("topk", 2).fails(y, c).tolist() == [[False, False]]
    assert Criterion("linf", 0.5).fails(y, c).tolist() == [[True, False]]
    lab = np.array([0, 1])
    ce = lambda v, l: np.log(np.exp(v).sum()) - v[l]  # noqa: E731
    want = [ce(y[0, i], lab[i]) - ce(c[i], lab[i]) > 0.3 for i in range(2)]
    assert Criterion("loss", 0.3).fails(y, c, lab).tolist() == [want]


@pytest.mark.parametrize("text,needle", [("linf", "needs a value"), ("topk:0", "K >= 1"), ("flip:2", "no value"),
                                         ("loss:-1", "EPS > 0"), ("xx", "must be one of")])
def test_bad_failure_text(text, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_failure(text)


@pytest.mark.parametrize("text,needle", [("digital", "ideal"), ("digital:2", r"\[0, 1\)"), ("digital:1e-6@gpu", "host or chip")])
def test_bad_voter_text(text, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_voter(text)


# --------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("R,m", [(1, 10), (5, 10), (9, 25), (25, 25)])
def test_hypergeometric_tail_is_unbiased_for_T(R, m):
    """E_k[HG tail] = T(R, q) for k ~ Bin(m, q): exact enumeration."""
    for q in (0.03, 0.2, 0.45):
        k = np.arange(m + 1)
        e = float(np.sum(stats.binom.pmf(k, m, q) * _hyper_tail(R, m, k)))
        assert e == pytest.approx(median_failure_tail(R, q), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("rate,deff", [(0.0, 1.0), (2e-5, 1.0), (1e-4, 3.0)])
def test_groups_to_resolve_is_the_smallest(rate, deff):
    B, delta = 450, 1e-3
    G = groups_to_resolve(rate, B, deff, delta, 0.95)
    up = lambda g: _cp_upper_eff(rate * g * B / deff, g * B / deff, 0.95)  # noqa: E731
    assert up(G) <= delta and (G == 1 or up(G - 1) > delta)
    assert groups_to_resolve(2e-3, B, 1.0, delta, 0.95) is None


# --------------------------------------------------------------------------- plans (simulation)
def test_seed_stability_of_R_on_the_bundled_example(digits):
    """Acceptance 3: the plan's R (default 2000 chips) is the same for >= 19 of 20 seeds."""
    _, m, x, _ = digits
    Rs = []
    for seed in range(20):
        est = estimate_copy_failures(m, x, SYN, 2000, 4.5, seed)
        Rs.append(simulation_route(est.fail, est.k_comp, 0.95, 1e-3)["_R"])
    vals, counts = np.unique(Rs, return_counts=True)
    assert counts.max() >= 19, dict(zip(vals.tolist(), counts.tolist()))


def test_shared_faults_change_R_and_verdict(digits):
    """Acceptance 1: at F = 0.3 the verdict rests on the common-cause verification; R under the shared model."""
    _, m, x, _ = digits
    xs = x[:120]
    p = build_plan(m, xs, SYN, 4.5, 0.06, chips=400, groups=40, common_cause=0.3, seed=2,
                   shared_draws=20, chips_per_draw=15)
    d = p.doc
    cc = d["verification"]["common_cause"]
    assert d["replicas"]["R_shared"] is not None and d["replicas"]["R"] >= d["replicas"]["R_independent"]
    assert d["verdict_detail"]["verification"] == "common_cause"
    if d["verdict"] == "meets_target":
        assert cc["median_failures"]["hi_clustered"] <= 0.06
    assert d["common_cause"]["floor"] <= d["common_cause"]["curve"][0]["mean"] + 1e-12
    # a delta below the floor: infeasible, and it says why
    q = build_plan(m, xs, SYN, 4.5, 1e-3, chips=400, groups=20, common_cause=0.3, seed=2,
                   shared_draws=20, chips_per_draw=15)
    assert q.doc["verdict"] == "infeasible" and "floor" in q.doc["verdict_detail"]["reason"]
    assert q.doc["verdict_detail"]["exit_code"] == 3
    assert q.doc["verification"]["common_cause"]["median_failures"]["rate"] > 1e-3


def test_delta_1e6_is_not_confirmed_and_says_the_cost(digits):
    """Acceptance 2: delta = 1e-6 cannot be resolved by the default verification."""
    _, m, x, _ = digits
    p = build_plan(m, x[:150], SYN, 4.5, 1e-6, chips=300, groups=20, seed=0, verify_to_delta=True,
                   verify_budget=10_000)
    v = p.doc["verdict_detail"]
    assert p.doc["verdict"] == "not_confirmed" and v["upper_limit"] > 1e-6
    G = v["groups_to_resolve"]
    assert G is not None and G * 150 >= -math.log(0.025) / 1e-6 * 0.99
    assert v["verify_to_delta"]["ran"] is False and "budget" in v["verify_to_delta"]["why_not"]


def test_flip_plan_verifies_the_flip_rate(digits):
    """Acceptance 4: --failure flip gives a plan whose verified median flip rate is <= delta."""
    _, m, x, y = digits
    crash = [parse_fault("neuron:permanent:0.01:layers=1")]
    p = build_plan(m, x[:200], crash, None, 0.01, chips=400, groups=60, seed=4, failure="flip", labels=y[:200])
    d = p.doc
    ver = d["verification"]["independent"]
    assert ver["criterion"] == "flip" and d["target"]["eps"] is None
    assert d["verdict"] == "meets_target"
    assert ver["median_failures"]["hi_clustered"] <= 0.01
    # the counted failures are exactly the median's argmax flips
    assert ver["median_failures"]["k"] == ver["classification"]["median_flips"]["k"]
    # the bound route ran with per-input thresholds
    assert d["q"]["bound"]["available"]


def test_digital_voter_enters_tail_and_verification(digits):
    _, m, x, _ = digits
    p = build_plan(m, x[:100], SYN, 4.5, 0.02, chips=300, groups=40, seed=5, voter="digital:0.005@chip")
    ver = p.doc["verification"]["independent"]
    assert ver["vote_failures"] > 0 and ver["median_failures"]["k"] >= ver["vote_failures"]
    assert p.doc["target"]["delta_replicas"] == pytest.approx((0.02 - 0.005) / 0.995)
    assert p.doc["cost"]["chips_voter"] == 1 and p.doc["cost"]["chips"] == p.doc["replicas"]["R"] + 1
    from neurosim.plan.build import InfeasiblePlan

    with pytest.raises(InfeasiblePlan, match="voter"):
        build_plan(m, x[:20], SYN, 4.5, 1e-3, chips=20, seed=5, voter="digital:1e-3")


# --------------------------------------------------------------------------- files
@pytest.fixture(scope="module")
def two_chip_plan(tmp_path_factory, digits):
    """A plan whose replica spans 2 chips (profile cores_per_chip = 2), written through the CLI."""
    d = tmp_path_factory.mktemp("deploy")
    text = (ROOT / "neurosim" / "chip" / "profiles" / "rram.toml").read_text()  # the shipped profile
    import re

    text = re.sub(r"cores_per_chip\s*=\s*\d+", "cores_per_chip = 2", text)
    p2 = d / "rram2.toml"
    p2.write_text(text)
    out = d / "plan"
    rc = main(["plan", str(DIGITS), "--profile", str(p2), "--max-chips", "2", "--fault",
               "neuron:permanent:0.01:layers=1", "--failure", "linf:3", "--delta", "1e-2", "--chips", "200",
               "--groups", "20", "--seed", "3", "--limit", "60", "-o", str(out)])
    assert rc == 0
    return out


def test_files_written_and_consistent(two_chip_plan):
    doc = json.loads((two_chip_plan / "plan.json").read_text())
    R = doc["replicas"]["R"]
    assert doc["mapping"]["per_replica"]["chips_used"] == 2 and doc["profile"]["max_chips"] >= 2
    md = (two_chip_plan / "plan.md").read_text()
    assert f"R = {R}" in md and doc["verdict"] in md and "Dominant risks" in md
    files = sorted(p.name for p in (two_chip_plan / "programming").iterdir())
    assert files == [f"replica_{r:03d}.h5" for r in range(R)]
    with h5py.File(two_chip_plan / "programming" / "replica_001.h5", "r") as f:
        assert set(np.unique(f["cells"]["chip"][()])) == {2, 3}
        assert f["cells"]["level"][()].dtype.kind == "i"
        assert np.all(f["cells"]["row"][()] < 256) and f["cells"]["level"].shape[0] == doc["mapping"]["per_replica"]["synapses"]
    with h5py.File(two_chip_plan / "acceptance" / "vectors.h5", "r") as f:
        assert f["inputs"].shape[0] == 60 and int(f.attrs["max_failed"]) == doc["acceptance"]["max_failed"]
    assert main(["plan", "--check", str(two_chip_plan), "--no-rerun"]) == 0


def _tamper_md(d):
    p = d / "plan.md"
    p.write_text(p.read_text().replace("R = ", "R = 1", 1))


def _tamper_acceptance(d):
    with h5py.File(d / "acceptance" / "vectors.h5", "r+") as f:
        f["clean"][0, 0] += 1.0


def _tamper_programming(d):
    with h5py.File(d / "programming" / "replica_000.h5", "r+") as f:
        f["cells"]["level"][0] += 1


def _delete_replica(d):
    (d / "programming" / "replica_000.h5").unlink()


def _extra_file(d):
    shutil.copy(d / "programming" / "replica_000.h5", d / "programming" / "replica_999.h5")


@pytest.mark.parametrize("tamper", [_tamper_md, _tamper_acceptance, _tamper_programming, _delete_replica, _extra_file])
def test_tampering_with_any_deliverable_is_detected(two_chip_plan, tmp_path, capsys, tamper):
    d = tmp_path / "t"
    shutil.copytree(two_chip_plan, d)
    tamper(d)
    assert main(["plan", "--check", str(d), "--no-rerun"]) == 2
    assert "plan check failed" in capsys.readouterr().err


def test_check_detects_consistent_but_wrong_deliverables(two_chip_plan, tmp_path, capsys):
    """Re-hashing a tampered programming file into plan.json (and re-signing) is still caught by re-derivation."""
    from neurosim.plan.files import content_digest, sha256_file

    d = tmp_path / "r"
    shutil.copytree(two_chip_plan, d)
    _tamper_programming(d)
    doc = json.loads((d / "plan.json").read_text())
    doc["files"]["programming/replica_000.h5"]["sha256"] = sha256_file(d / "programming" / "replica_000.h5")
    doc["digest"]["value"] = content_digest(doc)
    (d / "plan.json").write_text(json.dumps(doc))
    assert main(["plan", "--check", str(d), "--no-rerun"]) == 2
    assert "programming" in capsys.readouterr().err


def test_cli_exit_3_when_infeasible(tmp_path, capsys):
    rc = main(["plan", str(DIGITS), "--profile", "rram", "--fault", "synapse:permanent:0.3", "--eps", "0.5",
               "--delta", "1e-3", "--chips", "20", "--limit", "20", "-o", str(tmp_path / "x")])
    out = capsys.readouterr().out
    assert rc == 3 and out.strip().splitlines()[-1].startswith("verdict: infeasible")
    assert not (tmp_path / "x").exists()


def test_topk_and_loss_plans_run_both_routes(digits):
    """topk:2 failures are a subset of flips (same seeds); loss needs labels; both routes report for each."""
    _, m, x, y = digits
    crash = [parse_fault("neuron:permanent:0.01:layers=1")]
    kw = dict(chips=100, groups=30, seed=6, labels=y[:60])
    t = build_plan(m, x[:60], crash, None, 0.05, failure="topk:2", **kw).doc
    tv = t["verification"]["independent"]
    # the clean class leaving the top 2 implies an argmax flip, on the same medians
    assert tv["median_failures"]["k"] <= tv["classification"]["median_flips"]["k"]
    assert t["q"]["bound"]["available"] and t["target"]["criterion"] == "topk:2"
    lo = build_plan(m, x[:60], crash, None, 0.05, failure="loss:1.0", **kw).doc
    assert lo["target"]["criterion"] == "loss:1" and lo["verification"]["independent"]["criterion"] == "loss:1"
    with pytest.raises(ConfigError, match="labels"):
        build_plan(m, x[:60], crash, None, 0.05, failure="loss:1.0", chips=10, seed=6)
