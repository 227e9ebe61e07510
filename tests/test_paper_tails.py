"""Issue 16: chip-clustered intervals in compare, Proposition 3 as written, Proposition 5 as δ0 + Var/t²."""
import itertools

import numpy as np
import pytest

import neurosim as ns
from neurosim.analysis.cluster_stats import cluster_bootstrap, clustered_proportion
from neurosim.analysis.compare import compare, default_eps, predictions_for
from neurosim.analysis.tails import (
    crash_count_tail, default_alpha, kl_bernoulli, network_delta0, proposition3_tail, proposition5_tail,
    weight_balancedness, weight_mass,
)
from neurosim.errors import ConfigError
from conftest import DIGITS


def _digits_subset(n_inputs=60):
    from sklearn.datasets import load_digits

    net = ns.load_network(DIGITS)
    x = load_digits().data[:n_inputs] / 16.0
    return net, x


def test_compare_tail_interval_covers_seed_to_seed_spread():
    """Acceptance 1: over 8 seeds with permanent neuron faults, mean 95% half-width >= 1.2 x observed sd."""
    net, x = _digits_subset(60)
    spec = ns.FaultSpec("neuron", "permanent", 0.01, layers=[1])
    eps = 1.0  # tail ~0.1: the setting of issue 16 (sd 0.0095 against a naive half-width 0.0005)
    rates, halves, naive = [], [], []
    for seed in range(8):
        res = ns.simulate(net, x, spec, n_chips=150, seed=seed)
        c = compare(res.delta, {}, eps=eps, flips=res.flips, n_boot=10)
        rates.append(c.empirical_tail["rate"])
        halves.append(c.empirical_tail["half_width"])
        naive.append((c.empirical_tail["hi"] - c.empirical_tail["lo"]) / 2)
    sd = float(np.std(rates, ddof=1))
    assert sd > 0
    assert np.mean(halves) >= 1.2 * sd, (np.mean(halves), sd)
    # the naive Clopper-Pearson half-width, by contrast, is far too narrow here
    assert np.mean(naive) < 0.5 * sd


def test_clustered_proportion_reduces_to_clopper_pearson_for_independent_rows():
    """With one item per cluster there is no clustering: deff = 1 and the limits are Clopper-Pearson's."""
    rng = np.random.default_rng(0)
    f = rng.random((400, 1)) < 0.1
    c = clustered_proportion(f)
    assert c["design_effect"] == pytest.approx(1.0, abs=0.2)
    # perfectly correlated items: deff = number of items, interval = that of the 400 chips
    g = np.repeat(f, 25, axis=1)
    cg = clustered_proportion(g)
    assert cg["design_effect"] == pytest.approx(25.0 * 400 / 399, rel=1e-9)
    assert cg["hi_clustered"] == pytest.approx(clustered_proportion(f)["hi"], rel=0.02)
    with pytest.raises(ConfigError, match="confidence"):
        clustered_proportion(f, confidence=1.5)


def test_cluster_bootstrap_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    d = rng.normal(size=(50, 7))
    a = cluster_bootstrap(lambda v: float(v.mean()), d, n_boot=100, seed=4)
    b = cluster_bootstrap(lambda v: float(v.mean()), d, n_boot=100, seed=4)
    assert a == b and a["lo"] < a["value"] < a["hi"]
    # normal bootstrap sd of a mean of 50 chips ~ sd / sqrt(50 * 7)... per chip mean sd is 1/sqrt(7)
    assert (a["hi"] - a["lo"]) / 2 == pytest.approx(1.96 / np.sqrt(7 * 50), rel=0.3)


def test_default_eps_is_not_a_quantile_of_the_simulated_errors():
    """The rule uses only the clean outputs: the same ε for any fault rate."""
    net, x = _digits_subset(40)
    clean = net.forward(x)
    eps, rule = default_eps(clean)
    top = -np.sort(-clean, axis=1)
    assert eps == pytest.approx(0.5 * np.median(top[:, 0] - top[:, 1]))
    assert "margin" in rule
    e1, _ = default_eps(np.array([[1.0], [3.0]]))
    assert e1 == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="eps"):
        compare(np.zeros((3, 2, 2)), {}, eps=None)


def test_compare_reports_bootstrap_intervals_and_ks_only_as_diagnostic(rng):
    net = ns.Network.from_arrays([rng.normal(size=(3, 20)) / 20], [np.zeros(3)], ["identity"])
    x = rng.random((4, 20))
    res = ns.simulate(net, x, ns.FaultSpec("neuron", "permanent", 0.1, layers=[0]), n_chips=300, seed=2)
    c = compare(res.delta, predictions_for(net, x, res.faults), eps=0.05, n_boot=50)
    b3 = {r.name: r for r in c.rows}["b3"]
    lo, hi = b3.mean_covered_ci
    assert 0.0 <= lo <= b3.mean_covered <= hi <= 1.0
    assert b3.std_rel_error_ci[0] <= b3.std_rel_error <= b3.std_rel_error_ci[1]
    assert b3.diagnostic_ks_gaussian is not None and not hasattr(b3, "ks_mean")


# --------------------------------------------------------------------------- Proposition 3
def _exact_mass_tail(w, p, alpha):
    S = np.array(list(itertools.product([0, 1], repeat=w.size)))
    pr = np.prod(np.where(S == 1, p, 1 - p), axis=1)
    return float(pr[S @ w >= alpha * w.sum() - 1e-12].sum())


def test_proposition3_bound_holds_against_exact_enumeration():
    """δ0 = P{||U||_1 >= α||W||_1} <= exp(-n q d_KL(α||p)) on random q-balanced mass vectors."""
    rng = np.random.default_rng(7)
    best = 0.0
    for trial in range(300):
        n = int(rng.integers(2, 11))
        p = float(rng.uniform(0.005, 0.3))
        w = [rng.uniform(0, 1, n), np.r_[1.0, np.full(n - 1, rng.uniform(0.05, 1))], rng.exponential(1, n)][trial % 3]
        alpha = float(rng.uniform(p, 0.95))
        t = proposition3_tail(w, p, alpha)
        exact = _exact_mass_tail(w, p, alpha)
        assert exact <= t.delta0 * (1 + 1e-9) + 1e-15, (w, p, alpha, exact, t.delta0)
        best = max(best, exact / t.delta0)
    assert best > 0.1, best  # not vacuous by construction: within 10x of the truth somewhere


def test_proposition3_q1_is_the_crash_count_chernoff_bound():
    t = proposition3_tail(np.ones(50), 0.01, 0.1)
    assert t.q == 1.0
    assert t.delta0 == pytest.approx(crash_count_tail(50, 0.01, 5).delta0)
    assert t.delta0 == pytest.approx(np.exp(-50 * kl_bernoulli(0.1, 0.01)))
    assert default_alpha(0.01) == pytest.approx(np.e ** 2 * 0.01)


def test_weight_mass_is_the_paper_row_sum_and_digits_q():
    """W_l^i = sum_j |W_l^{ij}|; on the digits example q is 0.031 at layer 1 and ~0 at layer 2 (issue 16)."""
    net = ns.load_network(DIGITS)
    assert np.allclose(weight_mass(net, 1), np.abs(net.weights[0]).sum(1))
    assert np.allclose(weight_mass(net, 0), np.abs(net.weights[0]).sum(0))
    assert weight_balancedness(weight_mass(net, 1)) == pytest.approx(0.0314, abs=5e-4)
    assert weight_balancedness(weight_mass(net, 2)) < 1e-6
    d0, per = network_delta0(net, {1: 1e-3, 2: 1e-3})
    assert per[1]["delta0"] > 0.999 and d0 == 1.0  # q ~ 0 makes Proposition 3 vacuous
    with pytest.raises(ConfigError, match="layer"):
        weight_mass(net, 9)


# --------------------------------------------------------------------------- Proposition 5
def test_proposition5_adds_delta0_never_minimum():
    mean, std = np.array([[0.0, 0.01]]), np.array([[0.01, 0.02]])
    p5 = proposition5_tail(mean, std, 0.1, delta0=0.2)
    cheb = p5.chebyshev.delta
    assert np.allclose(p5.delta, np.minimum(1, 0.2 + cheb))
    assert np.all(p5.delta >= cheb) and np.all(p5.delta >= 0.2)
    assert p5.delta_any[0] == pytest.approx(min(1, 0.2 + cheb.sum()))
    assert proposition5_tail(np.array([0.2]), np.array([0.0]), 0.1).delta[0] == 1.0  # t <= 0: vacuous
    with pytest.raises(ConfigError, match="delta0"):
        proposition5_tail(mean, std, 0.1, delta0=2.0)


def test_simulate_and_compare_flip_rates_are_chip_clustered():
    from neurosim.cli.cmd_simulate import summarize
    from neurosim.analysis.stats import clustered_interval

    net, x = _digits_subset(30)
    res = ns.simulate(net, x, ns.FaultSpec("neuron", "permanent", 0.02, layers=[1]), n_chips=60, seed=5)
    ref = clustered_interval(res.flips, 0.95)
    f = summarize(res)["flip_rate"]
    assert (f["lo"], f["hi"]) == (ref["lo_clustered"], ref["hi_clustered"]) and f["design_effect"] == ref["design_effect"]
    c = compare(res.delta, {}, eps=1.0, flips=res.flips, n_boot=10)
    assert c.flip_rate["hi_clustered"] == ref["hi_clustered"]
    assert ref["design_effect"] > 1.0  # permanent faults: a chip's flips are correlated across inputs
