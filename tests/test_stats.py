"""Tests for neurosim.analysis.stats: exact references, scipy cross-checks, coverage."""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

from neurosim.errors import ConfigError
from neurosim.analysis.distribution import _concordant_pairs_blocked, _concordant_pairs_kendall
from neurosim.analysis.stats import (
    clopper_pearson,
    dkw_epsilon,
    dkw_sample_size,
    empirical_tail,
    ks_distance_normal,
    leveugle_sample_size,
    mean_ci,
    rank_loss,
    std_ci,
    wilson_interval,
)


# ---------------------------------------------------------------------------
# Clopper–Pearson
# ---------------------------------------------------------------------------

KN = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (0, 1000), (1, 1000), (17, 250), (999, 1000), (50, 100)]


@pytest.mark.parametrize("k,n", KN)
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.999])
def test_clopper_pearson_matches_scipy_binomtest(k, n, conf):
    lo, hi = clopper_pearson(k, n, conf)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=conf, method="exact")
    assert lo == pytest.approx(ref.low, rel=1e-9, abs=1e-15)
    assert hi == pytest.approx(ref.high, rel=1e-9, abs=1e-15)
    # one-sided bounds = scipy's one-sided alternatives
    _, up = clopper_pearson(k, n, conf, side="upper")
    ref_up = sps.binomtest(k, n, alternative="less").proportion_ci(confidence_level=conf, method="exact")
    assert up == pytest.approx(ref_up.high, rel=1e-9, abs=1e-15)
    low, one = clopper_pearson(k, n, conf, side="lower")
    ref_low = sps.binomtest(k, n, alternative="greater").proportion_ci(confidence_level=conf, method="exact")
    assert low == pytest.approx(ref_low.low, rel=1e-9, abs=1e-15)
    assert one == 1.0


def test_clopper_pearson_edges_are_exact_closed_forms():
    a = 0.05 / 2
    for n in (1, 2, 7, 100, 10**6):
        lo, hi = clopper_pearson(0, n)
        assert lo == 0.0
        assert hi == pytest.approx(1 - a ** (1 / n), rel=1e-12)
        lo, hi = clopper_pearson(n, n)
        assert hi == 1.0
        assert lo == pytest.approx(a ** (1 / n), rel=1e-12)
    # one-sided: k = 0 upper bound uses alpha, not alpha/2 (3/n "rule of three" for large n)
    _, hi = clopper_pearson(0, 3000, 0.95, side="upper")
    assert hi == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-12)
    assert hi == pytest.approx(3 / 3000, rel=0.01)


@pytest.mark.parametrize("n,p", [(10, 0.05), (10, 0.5), (30, 0.01), (50, 0.3), (200, 0.002), (200, 0.97)])
@pytest.mark.parametrize("side", ["two-sided", "upper", "lower"])
def test_clopper_pearson_exact_coverage_is_at_least_nominal(n, p, side):
    conf = 0.95
    k = np.arange(n + 1)
    lo, hi = clopper_pearson(k, n, conf, side=side)
    covered = (lo <= p) & (p <= hi)
    coverage = sps.binom.pmf(k, n, p)[covered].sum()
    assert coverage >= conf - 1e-12


def test_clopper_pearson_vectorised_broadcasting():
    k = np.array([[0], [1], [2]])
    n = np.array([[2, 5, 9, 40]])
    lo, hi = clopper_pearson(k, n)
    assert lo.shape == hi.shape == (3, 4)
    for i, j in itertools.product(range(3), range(4)):
        l1, h1 = clopper_pearson(int(k[i, 0]), int(n[0, j]))
        assert lo[i, j] == l1 and hi[i, j] == h1
    assert np.all(lo <= k / n) and np.all(k / n <= hi)
    # scalar in -> scalar out
    lo, hi = clopper_pearson(3, 10)
    assert np.ndim(lo) == 0 and np.ndim(hi) == 0
    # integral floats are accepted
    assert clopper_pearson(3.0, 10.0) == clopper_pearson(3, 10)


# ---------------------------------------------------------------------------
# Wilson
# ---------------------------------------------------------------------------

def _wilson_by_quadratic(k, n, conf):
    """Roots of (p̂ - p)^2 = z^2 p (1 - p) / n, solved independently."""
    z = sps.norm.ppf(1 - (1 - conf) / 2)
    ph = k / n
    A = 1 + z * z / n
    B = -(2 * ph + z * z / n)
    C = ph * ph
    disc = math.sqrt(max(B * B - 4 * A * C, 0.0))
    return (-B - disc) / (2 * A), (-B + disc) / (2 * A)


@pytest.mark.parametrize("k,n", KN)
@pytest.mark.parametrize("conf", [0.8, 0.95, 0.99])
def test_wilson_matches_score_quadratic(k, n, conf):
    lo, hi = wilson_interval(k, n, conf)
    rlo, rhi = _wilson_by_quadratic(k, n, conf)
    assert lo == pytest.approx(rlo, abs=1e-12)
    assert hi == pytest.approx(rhi, abs=1e-12)
    if k == 0:
        assert lo == 0.0
    if k == n:
        assert hi == 1.0


def test_wilson_vectorised_and_inside_unit_interval():
    k = np.arange(0, 21)
    lo, hi = wilson_interval(k, 20)
    assert lo.shape == (21,) and np.all((0 <= lo) & (lo <= k / 20) & (k / 20 <= hi) & (hi <= 1))


# ---------------------------------------------------------------------------
# tail estimate
# ---------------------------------------------------------------------------

def test_empirical_tail_counts_and_interval():
    x = np.array([0.0, 0.1, 0.5, 0.5, 2.0, 0.49])
    t = empirical_tail(x, 0.5, confidence=0.9)
    assert (t.k, t.n) == (3, 6)  # >= eps counts, ties included
    assert t.estimate == 0.5
    assert (t.lo, t.hi) == clopper_pearson(3, 6, 0.9)
    up = empirical_tail(x, 0.5, side="upper")
    assert up.lo == 0.0 and up.hi == clopper_pearson(3, 6, 0.95, side="upper")[1]
    # zero failures: the upper bound is still informative
    z = empirical_tail(np.zeros(1000), 1e-3, side="upper")
    assert z.k == 0 and 0 < z.hi < 0.004


def test_empirical_tail_axis():
    x = np.array([[0.0, 1.0], [2.0, 1.0], [3.0, 0.0]])
    t = empirical_tail(x, 1.0, axis=0)
    np.testing.assert_array_equal(t.k, [2, 2])
    assert t.n == 3
    t_all = empirical_tail(x, 1.0)
    assert (t_all.k, t_all.n) == (4, 6)


# ---------------------------------------------------------------------------
# moments
# ---------------------------------------------------------------------------

def test_mean_ci_formula_and_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(400, 3))
    m, lo, hi, se = mean_ci(x, 0.95, axis=0)
    assert m.shape == (3,)
    np.testing.assert_allclose(m, x.mean(0))
    np.testing.assert_allclose(se, x.std(0, ddof=1) / 20)
    np.testing.assert_allclose(hi - m, 1.959963984540054 * se)
    np.testing.assert_allclose(m - lo, hi - m)
    m1, *_ = mean_ci(x.T, axis=1)
    np.testing.assert_allclose(m1, m)


def test_mean_and_std_ci_monte_carlo_coverage():
    rng = np.random.default_rng(12345)
    trials, n, conf = 4000, 60, 0.9
    x = rng.normal(1.0, 2.0, size=(n, trials))
    _, lo, hi, _ = mean_ci(x, conf, axis=0)
    cov_mean = np.mean((lo <= 1.0) & (1.0 <= hi))
    _, slo, shi = std_ci(x, conf, axis=0)
    cov_std = np.mean((slo <= 2.0) & (2.0 <= shi))
    # std_ci is exact for normal data; mean_ci (z, not t) slightly under-covers at n=60
    # (exact coverage 0.895). 4000 trials: binomial sd ~ 0.005, allow 4 sd.
    assert abs(cov_std - conf) < 0.02
    assert abs(cov_mean - conf) < 0.025


def test_std_ci_formula():
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    s, lo, hi = std_ci(x, 0.95)
    s_ref = np.std(x, ddof=1)
    assert s == pytest.approx(s_ref)
    assert lo == pytest.approx(s_ref * math.sqrt(4 / sps.chi2.ppf(0.975, 4)))
    assert hi == pytest.approx(s_ref * math.sqrt(4 / sps.chi2.ppf(0.025, 4)))
    assert lo < s < hi


# ---------------------------------------------------------------------------
# DKW and KS
# ---------------------------------------------------------------------------

def test_dkw_epsilon_formula_and_inverse():
    assert dkw_epsilon(100, 0.05) == pytest.approx(math.sqrt(math.log(40) / 200))
    np.testing.assert_allclose(dkw_epsilon([1, 4, 100], 0.1), np.sqrt(math.log(20) / (2 * np.array([1, 4, 100]))))
    for eps, alpha in [(0.01, 0.05), (0.05, 0.01), (0.1, 0.5)]:
        n = dkw_sample_size(eps, alpha)
        assert dkw_epsilon(n, alpha) <= eps < dkw_epsilon(n - 1, alpha)


@pytest.mark.parametrize("n,alpha", [(50, 0.05), (200, 0.2)])
def test_dkw_band_monte_carlo(n, alpha):
    """The sup-distance exceeds the DKW half-width in at most ~alpha of the trials.

    Stated confidence: we reject only if the 99.9 % Clopper-Pearson lower limit of
    the exceedance rate is above alpha (false-alarm probability <= 0.1 %).
    """
    rng = np.random.default_rng(20240601)
    trials = 3000
    x = rng.standard_normal((n, trials))
    d = ks_distance_normal(x, 0.0, 1.0, axis=0)
    k = int(np.count_nonzero(d > dkw_epsilon(n, alpha)))
    lo, _ = clopper_pearson(k, trials, 0.999, side="lower")
    assert lo <= alpha
    # and the band is not vacuous: some trials do come close to it
    assert k > 0


def _ks_bruteforce(x, mean, std):
    """sup |F_n - F| over points just left of, at, and right of every jump (both CDFs)."""
    x = np.sort(np.asarray(x, float))
    pts = np.concatenate([x, [mean]])
    grid = np.concatenate([pts, np.nextafter(pts, -np.inf), np.nextafter(pts, np.inf)])
    Fn = np.searchsorted(x, grid, side="right") / x.size
    F = (grid >= mean).astype(float) if std == 0 else sps.norm.cdf(grid, mean, std)
    return np.abs(Fn - F).max()


@pytest.mark.parametrize("seed", range(5))
def test_ks_distance_normal_matches_scipy_kstest(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    x = rng.normal(0.3, 1.7, n)
    if seed % 2:
        x = np.round(x, 1)  # ties
    for mean, std in [(0.3, 1.7), (0.0, 1.0), (1.0, 0.5)]:
        d = ks_distance_normal(x, mean, std)
        ref = sps.kstest(x, sps.norm(mean, std).cdf).statistic
        assert d == pytest.approx(ref, abs=1e-14)


def test_ks_distance_normal_vectorised_with_per_column_parameters():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(80, 4))
    mean = np.array([0.0, 1.0, -1.0, 0.5])
    std = np.array([1.0, 2.0, 0.5, 1.0])
    d = ks_distance_normal(x, mean, std, axis=0)
    for j in range(4):
        assert d[j] == pytest.approx(sps.kstest(x[:, j], sps.norm(mean[j], std[j]).cdf).statistic, abs=1e-14)
    d_t = ks_distance_normal(x.T, mean, std, axis=1)
    np.testing.assert_array_equal(d, d_t)


def test_ks_distance_degenerate_std_zero():
    assert ks_distance_normal([0.0, 0.0, 1.0], 0.0, 0.0) == pytest.approx(1 / 3)
    assert ks_distance_normal([-1.0, 0.0, 0.0, 1.0], 0.0, 0.0) == pytest.approx(0.25)
    assert ks_distance_normal([2.0, 2.0], 2.0, 0.0) == 0.0
    assert ks_distance_normal([1.0, 2.0, 3.0], 5.0, 0.0) == 1.0
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(-2, 3, size=int(rng.integers(1, 12))).astype(float)
        m = float(rng.integers(-2, 3))
        assert ks_distance_normal(x, m, 0.0) == pytest.approx(_ks_bruteforce(x, m, 0.0))
    # mixed columns: one degenerate, one not
    x = np.array([[0.0, 0.1], [0.0, -0.3], [1.0, 2.0]])
    d = ks_distance_normal(x, [0.0, 0.0], [0.0, 1.0])
    assert d[0] == pytest.approx(1 / 3)
    assert d[1] == pytest.approx(sps.kstest(x[:, 1], sps.norm().cdf).statistic)


def test_ks_distance_normal_vs_bruteforce_grid():
    rng = np.random.default_rng(11)
    for _ in range(10):
        x = np.round(rng.normal(size=int(rng.integers(1, 40))), 1)
        assert ks_distance_normal(x, 0.1, 0.9) == pytest.approx(_ks_bruteforce(x, 0.1, 0.9), abs=1e-12)


# ---------------------------------------------------------------------------
# Leveugle
# ---------------------------------------------------------------------------

def _leveugle_exact(N, e, t, p=Fraction(1, 2)):
    """Formula in exact rational arithmetic (t, e as decimal strings)."""
    t, e = Fraction(t), Fraction(e)
    limit = t * t * p * (1 - p) / (e * e)
    n = limit if N is None else Fraction(N) / (1 + e * e * (N - 1) / (t * t * p * (1 - p)))
    return math.ceil(n)


def test_leveugle_published_numbers():
    # derived by the formula in exact arithmetic with the paper's rounded t values
    assert _leveugle_exact(None, "0.01", "2.58") == 16641
    assert _leveugle_exact(None, "0.01", "1.96") == 9604
    assert leveugle_sample_size(None, 0.01, 0.99) == 16641
    assert leveugle_sample_size(None, 0.01, 0.95) == 9604
    assert leveugle_sample_size(math.inf, 0.01, 0.99) == 16641
    assert leveugle_sample_size(float("inf"), 0.01, 0.95) == 9604


@pytest.mark.parametrize("N", [1, 2, 100, 1000, 12345, 10**6, 10**9])
@pytest.mark.parametrize("conf,t", [(0.90, "1.645"), (0.95, "1.96"), (0.99, "2.58")])
@pytest.mark.parametrize("e", ["0.01", "0.05"])
def test_leveugle_finite_population(N, conf, t, e):
    n = leveugle_sample_size(N, float(e), conf)
    assert n == _leveugle_exact(N, e, t)
    assert 1 <= n <= N


def test_leveugle_other_levels_and_overrides():
    t = sps.norm.ppf(0.995)
    assert leveugle_sample_size(None, 0.01, 0.99, t=t) == math.ceil(t * t * 2500)  # 16587
    z = sps.norm.ppf(0.9875)
    assert leveugle_sample_size(None, 0.01, 0.975) == math.ceil(z * z * 2500)
    assert leveugle_sample_size(None, 0.01, 0.95, p=0.1) == _leveugle_exact(None, "0.01", "1.96", Fraction(1, 10))
    assert leveugle_sample_size(None, 0.01, 0.95, p=0.1) < leveugle_sample_size(None, 0.01, 0.95)


# ---------------------------------------------------------------------------
# rank loss
# ---------------------------------------------------------------------------

def _rank_loss_double_loop(a, b):
    a, b = np.ravel(a), np.ravel(b)
    n = a.size
    bad = sum(1 for i in range(n) for j in range(i + 1, n) if not (a[i] - a[j]) * (b[i] - b[j]) > 0)
    return bad / (n * (n - 1) / 2)


def _rank_loss_paper(a, b):
    """The paper's helpers.rank_loss (LPD-EPFL/nn-fault-tolerance), re-typed, stable sort."""
    a, b = np.ravel(a), np.ravel(b)
    b = b[np.argsort(a, kind="stable")]
    res = sum(1 for i in range(len(b)) for j in range(i + 1, len(b)) if b[i] >= b[j])
    return res / (len(a) * (len(a) - 1) / 2)


def test_rank_loss_hand_cases():
    assert rank_loss([1, 2, 3], [10, 20, 30]) == 0.0
    assert rank_loss([1, 2, 3], [3, 2, 1]) == 1.0
    assert rank_loss([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert rank_loss([1, 2, 3], [1, 1, 2]) == pytest.approx(1 / 3)  # tie in b: discordant
    assert rank_loss([1, 1, 2], [1, 2, 3]) == pytest.approx(1 / 3)  # tie in a: discordant
    assert rank_loss([5, 5, 5], [1, 2, 3]) == 1.0
    assert rank_loss([[1, 2], [3, 4]], [1, 2, 4, 3]) == pytest.approx(1 / 6)  # flattened


def test_rank_loss_vs_double_loop_and_paper_code():
    rng = np.random.default_rng(5)
    for trial in range(20):
        n = int(rng.integers(2, 60))
        a = rng.integers(0, 8, n).astype(float) if trial % 2 else rng.normal(size=n)
        b = rng.integers(0, 8, n).astype(float)  # ties in b
        assert rank_loss(a, b) == pytest.approx(_rank_loss_double_loop(a, b), abs=1e-15)
        if len(np.unique(a)) == n:
            assert rank_loss(a, b) == pytest.approx(_rank_loss_paper(a, b), abs=1e-15)


def test_rank_loss_large_paths_agree():
    rng = np.random.default_rng(9)
    for n in (2, 3, 500, 3001):
        a = rng.integers(0, 50, n).astype(float)
        b = a + rng.integers(-5, 6, n)
        assert _concordant_pairs_kendall(a, b) == _concordant_pairs_blocked(a, b)
    # public entry point above the O(n^2) threshold
    n = 6000
    a = rng.normal(size=n)
    b = np.round(a + rng.normal(scale=0.5, size=n), 1)
    conc = _concordant_pairs_blocked(a, b)
    assert rank_loss(a, b) == pytest.approx(1 - conc / (n * (n - 1) // 2), abs=1e-15)
    # degenerate: everything tied
    assert _concordant_pairs_kendall(np.zeros(10), np.arange(10.0)) == 0


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

BAD = [
    (clopper_pearson, (5, 3), {}, "'k'"),
    (clopper_pearson, (-1, 3), {}, "'k'"),
    (clopper_pearson, (1, 0), {}, "'n'"),
    (clopper_pearson, (1.5, 3), {}, "'k'"),
    (clopper_pearson, (1, 3), {"confidence": 95}, "'confidence'"),
    (clopper_pearson, (1, 3), {"confidence": 0.0}, "'confidence'"),
    (clopper_pearson, (1, 3), {"side": "left"}, "'side'"),
    (clopper_pearson, ([1, 2], [3, 4, 5]), {}, "'k' and 'n'"),
    (wilson_interval, (4, 3), {}, "'k'"),
    (wilson_interval, (1, 3), {"confidence": 1.0}, "'confidence'"),
    (mean_ci, ([1.0],), {}, "'samples'"),
    (mean_ci, ([1.0, np.nan],), {}, "'samples'"),
    (mean_ci, ([1.0, 2.0],), {"axis": 3}, "'axis'"),
    (std_ci, ([1.0],), {}, "'samples'"),
    (dkw_epsilon, (0, 0.05), {}, "'n'"),
    (dkw_epsilon, (10, 1.5), {}, "'alpha'"),
    (dkw_sample_size, (0.0, 0.05), {}, "'eps'"),
    (ks_distance_normal, ([1.0, 2.0], 0.0, -1.0), {}, "'std'"),
    (ks_distance_normal, ([], 0.0, 1.0), {}, "'samples'"),
    (ks_distance_normal, ([1.0, np.inf], 0.0, 1.0), {}, "'samples'"),
    (ks_distance_normal, (np.zeros((3, 2)), [0.0, 0.0, 0.0], 1.0), {}, "'mean' and 'std'"),
    (leveugle_sample_size, (0, 0.01, 0.95), {}, "'N'"),
    (leveugle_sample_size, (100.5, 0.01, 0.95), {}, "'N'"),
    (leveugle_sample_size, (100, 0.0, 0.95), {}, "'e'"),
    (leveugle_sample_size, (100, 0.01, 1.2), {}, "'confidence'"),
    (leveugle_sample_size, (100, 0.01, 0.95), {"p": 1.0}, "'p'"),
    (leveugle_sample_size, (100, 0.01, 0.95), {"t": -2.0}, "'t'"),
    (rank_loss, ([1, 2, 3], [1, 2]), {}, "'a' and 'b'"),
    (rank_loss, ([1], [1]), {}, "'a' and 'b'"),
    (rank_loss, ([1, np.nan], [1, 2]), {}, "'a'"),
    (empirical_tail, ([0.1, -0.2], 0.1), {}, "'abs_values'"),
    (empirical_tail, ([0.1, 0.2], -1.0), {}, "'eps'"),
    (empirical_tail, ([], 0.1), {}, "'abs_values'"),
]


@pytest.mark.parametrize("fn,args,kwargs,name", BAD, ids=[f"{b[0].__name__}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises_config_error_naming_parameter(fn, args, kwargs, name):
    with pytest.raises(ConfigError) as exc:
        fn(*args, **kwargs)
    msg = str(exc.value)
    assert name in msg
    assert "\n" not in msg
    assert isinstance(exc.value, ValueError)


def test_empirical_tail_scalar_fields_are_plain_python():
    import dataclasses
    import json

    t = empirical_tail([0.0, 1.0, 2.0], 1.0)
    assert type(t.k) is int and type(t.estimate) is float and type(t.hi) is float
    json.dumps(dataclasses.asdict(t))
