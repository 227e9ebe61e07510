"""Algorithm 1 as the paper writes it: every check triggers its action, the loop ends certified or infeasible."""
import sys

import numpy as np
import pytest

if sys.version_info[:2] != (3, 11):
    pytest.skip(f"torch==2.13.0 is only provided for Python 3.11 (this is {sys.version.split()[0]})",
                allow_module_level=True)
pytest.importorskip("torch", reason="torch is part of the dev extra on Python 3.11")

from neurosim.analysis.planner import median_failure_tail  # noqa: E402
from neurosim.errors import ConfigError  # noqa: E402
from neurosim.plan.algorithm1 import Algorithm1Config, run_algorithm1  # noqa: E402
from neurosim.train.trainer import load_digits_split  # noqa: E402
from test_cli_foundation import run_cli, strict_json  # noqa: E402

DATA = None


def _data():
    global DATA
    if DATA is None:
        Xtr, Xte, ytr, yte = load_digits_split(0)
        DATA = (Xtr[:400], Xte[:80], ytr[:400], yte[:80])
    return DATA


def _cfg(**kw):
    base = dict(eps=3.0, delta=1e-4, p=0.01, complexity=1e9, hidden=(16,), width_step=16, epochs=25,
                max_iterations=6, verify_groups=20, growth=10.0)
    base.update(kw)
    return Algorithm1Config(**base)


def test_each_check_triggers_its_action_and_certification_follows_the_exact_median_tail():
    lines = []
    r = run_algorithm1(_cfg(), data=_data(), emit=lines.append)
    steps = [e["step"] for e in r.log]
    assert steps[0] == "train" and len(lines) == len(r.log)
    for e, nxt in zip(r.log, r.log[1:]):
        if e["step"].startswith("delta0 > 1/3"):
            assert e["delta0"] > 1 / 3 and e["q"] >= 1e-2
        if e["step"].startswith("q < 1e-2"):
            assert e["q"] < 1e-2
    widen = [e for e in r.log if e["step"].startswith("delta0 > 1/3")]
    for a, b in zip(widen, widen[1:]):
        assert b["widths"][0] == a["widths"][0] + 16  # n increased by a constant amount
    assert r.status == "certified", steps
    cert = r.log[-2] if r.log[-1]["step"].startswith("verify") else r.log[-1]
    assert cert["delta0"] <= 1 / 3 and cert["delta"] <= 1 / 3 and cert["R3"] <= 1e9
    assert cert["delta"] >= cert["delta0"]  # Proposition 5: δ0 is added
    R = r.R
    assert R % 2 == 1 and median_failure_tail(R, r.delta_single) <= 1e-4
    assert R == 1 or median_failure_tail(R - 2, r.delta_single) > 1e-4
    v = r.verification
    assert v["R"] == R and v["chips"] == 20 * R and 0 <= v["median"]["rate"] <= 1


def test_r3_above_complexity_raises_psi_and_large_mean_is_infeasible():
    r = run_algorithm1(_cfg(complexity=1e-6, max_iterations=3), data=_data(), emit=lambda s: None)
    psi = [e["psi"] for e in r.log if e["step"].startswith("R3 > C")]
    assert psi and psi[0] == (1e-4, 1e-2) and (len(psi) < 2 or psi[1] == pytest.approx((1e-3, 1e-1)))
    assert r.status == "stopped" and "max_iterations" in r.reason
    inf = run_algorithm1(_cfg(eps=1e-9, hidden=(400,)), data=_data(), emit=lambda s: None)
    assert inf.status == "infeasible" and inf.R is None
    assert inf.log[-1]["max_abs_E_delta"] >= 1e-9


def test_q_below_threshold_raises_mu(monkeypatch):
    """q < 1e-2 -> μ from 0 to μ0, then ×growth; the loop continues (retrains) without the later checks."""
    import neurosim.plan.algorithm1 as a1
    from neurosim.analysis.tails import Proposition3Tail

    calls = []

    def fake(masses, p, alpha=None):
        calls.append(1)
        return Proposition3Tail(len(masses), p, alpha, 1e-3, 1.0)  # q = 0.001 < 1e-2

    monkeypatch.setattr(a1, "proposition3_tail", fake)
    r = run_algorithm1(_cfg(max_iterations=3), data=_data(), emit=lambda s: None)
    mus = [e["mu"] for e in r.log if e["step"].startswith("q < 1e-2")]
    assert mus == pytest.approx([1e-10, 1e-9, 1e-8])
    assert [e["step"] for e in r.log].count("train") == 3 and r.status == "stopped"
    trains = [e for e in r.log if e["step"] == "train"]
    assert [t["mu"] for t in trains] == pytest.approx([0.0, 1e-10, 1e-9])  # each retraining uses the raised μ
    with pytest.raises(ConfigError, match="delta"):
        run_algorithm1(_cfg(delta=2.0), data=_data())


def test_certify_cli(tmp_path, capsys):
    out = tmp_path / "cert"
    code, stdout, err = run_cli(["certify", "--eps", 3, "--delta", 1e-4, "--p", 0.01, "--complexity", 1e9,
                                 "--hidden", "64", "--epochs", 20, "--verify-groups", 10, "-o", out], capsys)
    assert code in (0, 1), err
    data = strict_json((out / "algorithm1.json").read_text())
    assert data["status"] in ("certified", "stopped") and data["log"][0]["step"] == "train"
    assert "[0] train" in stdout
    code, _, err = run_cli(["certify", "--eps", 0, "--delta", 1e-4, "--p", 0.01, "--complexity", 1,
                            "-o", tmp_path / "bad"], capsys)
    assert code == 2 and "eps" in err and not (tmp_path / "bad").exists()
