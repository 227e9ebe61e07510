"""Statistical tests of the engine: Monte Carlo vs exact enumeration, analytic toy models, Markov chains.

Every test is seeded (deterministic); the bands below are chosen so that an
unseeded run of a correct engine fails with the stated (small) probability.
"5 SE" bands: two-sided normal tail 5.7e-7 per comparison.
"""
import math

import numpy as np
import pytest
from scipy import stats

from neurosim import FaultSpec, Network, simulate
from neurosim.kernels import events as E
from neurosim.kernels.rng import inv_rate
from reference import exact_delta_moments, random_net, runs

Z = 5.0  # standard errors allowed


def moment_band_check(samples, mean, var, m4, what):
    """|sample mean - mean| <= Z SE and |sample var - var| <= Z SE(var) (SE from the exact 4th central moment).

    ``samples``: (N, ...) iid draws; ``mean``, ``var``, ``m4``: exact moments of shape ``samples.shape[1:]``.
    For the sample variance s^2, Var(s^2) = (m4 - var^2 (N-3)/(N-1)) / N (any distribution).
    """
    N = samples.shape[0]
    mc_mean = samples.mean(0)
    mc_var = samples.var(0, ddof=1)
    se_mean = np.sqrt(var / N)
    se_var = np.sqrt(np.maximum(m4 - var ** 2 * (N - 3) / (N - 1), 0.0) / N)
    bad_m = np.abs(mc_mean - mean) > Z * se_mean + 1e-12
    bad_v = np.abs(mc_var - var) > Z * se_var + 1e-12
    assert not bad_m.any(), f"{what}: MC mean {mc_mean[bad_m]} vs exact {mean[bad_m]} (SE {se_mean[bad_m]})"
    assert not bad_v.any(), f"{what}: MC var {mc_var[bad_v]} vs exact {var[bad_v]} (SE {se_var[bad_v]})"


def _sites(net, site, layers):
    if site == "neuron":
        return [("neuron", l, i) for l in layers for i in range(net.sizes[l])]
    return [("synapse", l, i, j) for l in layers for i in range(net.sizes[l]) for j in range(net.sizes[l - 1])]


CASES = [
    # sizes, activation, site, layers, mode, p
    ([3, 3, 2], "tanh", "neuron", [0, 1, 2], "permanent", 0.2),
    ([3, 3, 2], "sigmoid", "neuron", [1], "transient", 0.3),
    ([4, 3, 2], "relu", "neuron", [0, 1], "permanent", 0.25),
    ([4, 3, 2], "tanh", "synapse", [1], "transient", 0.15),
    ([3, 3, 2], "relu", "synapse", [1, 2], "permanent", 0.1),
    ([4, 3, 2], "sigmoid", "synapse", [2], "permanent", 0.4),
    ([4, 3, 2], "relu", "neuron", [0, 1, 2], "transient", 0.1),
]


@pytest.mark.parametrize("sizes,act,site,layers,mode,p", CASES)
def test_mc_moments_match_exact_enumeration(sizes, act, site, layers, mode, p):
    """MC mean and variance of Δ agree with exact enumeration of all 2^n fault subsets within 5 SE.

    40,000 iid samples per input (permanent: one per chip; transient: 100 repeats of
    the input on each of 400 chips, all independent). 2 inputs x 2 outputs x 2
    moments per case: family-wise false-alarm probability < 1e-5 (normal approx.).
    """
    rng = np.random.default_rng(sum(sizes) * 1000 + len(layers) * 10 + int(p * 100))
    net = random_net(rng, sizes, act, scale=2.0)
    x = rng.normal(size=(2, sizes[0]))
    mean, var, m4 = exact_delta_moments(net, x, _sites(net, site, layers), p)
    spec = FaultSpec(site, mode, p, layers=layers)
    if mode == "permanent":
        r = simulate(net, x, spec, n_chips=40_000, seed=17)
        samples = r.delta  # (chips, 2, n_out)
    else:
        R = 100
        r = simulate(net, np.repeat(x, R, axis=0), spec, n_chips=400, seed=17)
        samples = r.delta.reshape(400, 2, R, -1).transpose(0, 2, 1, 3).reshape(400 * R, 2, -1)
    assert np.any(var > 1e-6)
    moment_band_check(samples, mean, var, m4, f"{site}/{mode}/{act}")


@pytest.mark.parametrize("mode", ["permanent", "transient"])
def test_mean_network_input_crashes(mode):
    """Toy y = mean(x) at x = 1 with input crashes at rate p: Δ = -K/n, K ~ Bin(n, p).

    So E Δ = -p and Var Δ = p(1-p)/n (analytic); checked within 5 SE with 30,000
    samples; the variance band uses the binomial 4th central moment
    n p q (1 + 3 (n-2) p q) / n^4.
    """
    n, p = 16, 0.3
    net = Network.from_arrays([np.ones((1, n)) / n], [np.zeros(1)], [])
    spec = FaultSpec("neuron", mode, p, layers=[0])
    if mode == "permanent":
        r = simulate(net, np.ones((1, n)), spec, n_chips=30_000, seed=3)
        d = r.delta[:, 0, 0]
        # each chip's Δ is exactly its crash count / n
        np.testing.assert_allclose(d * n, -r.fault_counts[:, 0, 0], rtol=0, atol=1e-9)
    else:
        r = simulate(net, np.ones((100, n)), spec, n_chips=300, seed=3)
        d = r.delta.ravel()
        np.testing.assert_allclose(d.reshape(300, 100).sum(1) * n, -r.fault_counts[:, 0, 0], rtol=0, atol=1e-8)
    q = 1 - p
    m4 = n * p * q * (1 + 3 * (n - 2) * p * q) / n ** 4
    moment_band_check(d[:, None], np.array([-p]), np.array([p * q / n]), np.array([m4]), "mean network")
    assert np.allclose(d * n, np.rint(d * n), atol=1e-9)


def test_permanent_and_transient_correlation():
    """Same input twice on one chip: permanent Δs are identical (corr 1), transient ones uncorrelated (|r| < 5/sqrt(N))."""
    n = 16
    net = Network.from_arrays([np.ones((1, n)) / n], [np.zeros(1)], [])
    x = np.ones((2, n))
    N = 20_000
    rp = simulate(net, x, "neuron:permanent:0.3:layers=0", n_chips=N, seed=5)
    assert np.array_equal(rp.delta[:, 0], rp.delta[:, 1])
    rt = simulate(net, x, "neuron:transient:0.3:layers=0", n_chips=N, seed=5)
    c = np.corrcoef(rt.delta[:, 0, 0], rt.delta[:, 1, 0])[0, 1]
    assert abs(c) < Z / math.sqrt(N)


# ----------------------------------------------------------------------------- geometric skipping
@pytest.mark.parametrize("p", [1e-6, 0.05, 0.3, 0.9])
def test_skip_gaps_are_geometric(p):
    """Gaps between drawn sites are 1 + Geometric(p) (chi-square over ~30 bins with exact bin
    probabilities, tail bin included; alpha = 1e-4). For p = 1e-6 this checks the exponential
    ziggurat sampler including its tail beyond r = 7.697 (bins up to E > 10)."""
    n_events = 400_000
    n_sites = int(n_events / p * 1.02) + 10
    rows = 1
    if n_sites > 2 ** 52:
        pytest.skip("too many sites for exact float positions")
    ptr, cells = E.transient_events(np.zeros(rows, np.int64), np.zeros(rows, np.int64), np.uint64(987654321),
                                    5, n_sites, inv_rate(p))
    cells = cells[: ptr[1]]
    g = np.diff(np.concatenate([[-1], cells])) - 1  # healthy sites skipped before each fault
    assert g.size >= n_events and np.all(g >= 0)
    lam = -math.log1p(-p)
    # bin edges in "exponential units" e = g * lam, mapped to integer gap thresholds
    e_edges = np.concatenate([np.linspace(0, 7.0, 22)[:-1], [7.0, 7.697, 8.5, 10.0]])
    k_edges = np.unique(np.ceil(e_edges / lam).astype(np.int64))
    tail = lambda k: math.exp(k * math.log1p(-p))  # P(G >= k)
    exp_p = np.array([tail(a) - tail(b) for a, b in zip(k_edges[:-1], k_edges[1:])] + [tail(k_edges[-1])])
    obs = np.array([np.sum((g >= a) & (g < b)) for a, b in zip(k_edges[:-1], k_edges[1:])] + [np.sum(g >= k_edges[-1])])
    keep = exp_p * g.size >= 5
    # merge sparse bins into the last kept one (keeps the total)
    obs_m = np.append(obs[keep], obs[~keep].sum())
    exp_m = np.append(exp_p[keep], exp_p[~keep].sum()) * g.size
    if exp_m[-1] < 5:
        obs_m[-2] += obs_m[-1]; exp_m[-2] += exp_m[-1]
        obs_m, exp_m = obs_m[:-1], exp_m[:-1]
    chi2 = np.sum((obs_m - exp_m) ** 2 / exp_m)
    dof = obs_m.size - 1
    assert chi2 < stats.chi2.ppf(1 - 1e-4, dof), f"chi2 = {chi2:.1f} with {dof} dof; obs {obs_m}, exp {exp_m.round(1)}"


# ----------------------------------------------------------------------------- intermittent
def test_intermittent_chain_statistics():
    """Intermittent input-neuron faults observed through y = x (W = I), x = 1, on 150 chips x 400 inputs.

    Δ[c, t, i] = -1 exactly when site i of chip c is faulty at input t. Checks, each within 5 SE:
    weak-site fraction = rate (binomial); faulty fraction at t = 0 and t = T-1 among weak sites
    = duty (stationary start; binomial); time-averaged occupancy = duty (SE with the chain's
    autocorrelation rho = 1 - p_on - p_off); mean burst = 1/p_off and mean healthy gap = 1/p_on
    (runs starting at 1 <= s <= T-1-M, fully observed up to length M; P(longer) < 1e-6);
    burst and gap lengths are 1 + Geometric (chi-square, alpha = 1e-4).
    """
    n, T, n_chips = 40, 400, 150
    rate, p_on, p_off = 0.4, 0.1, 0.25
    duty = p_on / (p_on + p_off)
    net = Network.from_arrays([np.eye(n)], [np.zeros(n)], [])
    spec = FaultSpec("neuron", "intermittent", rate, layers=[0], p_on=p_on, p_off=p_off)
    assert spec.duty == pytest.approx(duty)
    r = simulate(net, np.ones((T, n)), spec, n_chips=n_chips, seed=99)
    assert np.all((r.delta == 0) | (r.delta == -1))
    state = r.delta < -0.5  # (chips, T, n)
    assert np.array_equal(state.sum(axis=(1, 2)), r.fault_events[:, 0, 0])
    W = int(r.fault_counts[:, 0, 0].sum())
    N = n_chips * n
    assert abs(W - rate * N) <= Z * math.sqrt(N * rate * (1 - rate))
    # sites ever faulty are a subset of the weak ones, per chip
    ever = state.any(axis=1).sum(1)
    assert np.all(ever <= r.fault_counts[:, 0, 0])
    for t in (0, T - 1):
        k = int(state[:, t].sum())
        assert abs(k - W * duty) <= Z * math.sqrt(W * duty * (1 - duty)), (t, k, W * duty)
    rho = 1 - p_on - p_off
    occ = state.sum() / (W * T)
    se = math.sqrt(duty * (1 - duty) * (1 + rho) / (1 - rho) / (T * W))
    assert abs(occ - duty) <= Z * se, (occ, duty, se)

    def sojourns(on, M):
        out = []
        for c in range(n_chips):
            for i in range(n):
                s = state[c, :, i] if on else ~state[c, :, i]
                for start, length in runs(s):
                    if 1 <= start <= T - 1 - M:
                        out.append(length)
        return np.array(out)

    for on, q, M in ((True, p_off, 60), (False, p_on, 150)):
        L = sojourns(on, M)
        assert L.size > 2000 and L.max() <= M
        mu, sd = 1 / q, math.sqrt(1 - q) / q
        assert abs(L.mean() - mu) <= Z * sd / math.sqrt(L.size), (on, L.mean(), mu)
        K = int(np.searchsorted(np.cumsum([q * (1 - q) ** (k - 1) for k in range(1, 200)]), 1 - 5 / L.size))
        K = max(K, 2)
        probs = np.array([q * (1 - q) ** (k - 1) for k in range(1, K + 1)] + [(1 - q) ** K])
        obs = np.array([np.sum(L == k) for k in range(1, K + 1)] + [np.sum(L > K)])
        chi2 = np.sum((obs - probs * L.size) ** 2 / (probs * L.size))
        assert chi2 < stats.chi2.ppf(1 - 1e-4, K), (on, chi2, K)


def test_intermittent_weak_site_fraction_core_and_synapse(small_net, tiny_profile):
    """Weak sites (fault_counts) of intermittent synapse faults: fraction = rate within 5 SE (binomial)."""
    from neurosim import map_network

    m = map_network(small_net, tiny_profile)
    n_chips, rate = 3000, 0.2
    r = simulate(m, np.ones((1, small_net.n_in)), FaultSpec("synapse", "intermittent", rate, p_on=0.5, p_off=0.5),
                 n_chips=n_chips, seed=4)
    N = n_chips * small_net.n_synapses
    W = int(r.fault_counts.sum())
    assert abs(W - rate * N) <= Z * math.sqrt(N * rate * (1 - rate))
    # each weak site is faulty at the (single) input with probability duty = 1/2
    ev = int(r.fault_events.sum())
    assert abs(ev - W / 2) <= Z * math.sqrt(W / 4)
