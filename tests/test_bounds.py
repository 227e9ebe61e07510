"""Tests of neurosim.analysis bounds, exact moments, tails and the Fep bound.

References are written here in plain numpy (own forward pass, own crash
enumeration, own Monte Carlo); expected values are either analytic (derived
in the test) or come from those slow references.
"""
import itertools

import numpy as np
import pytest
from scipy.stats import binom

from neurosim import ConfigError, Network
from neurosim.analysis.bounds import (
    LIPSCHITZ, b1_bound, b2_bound, b3_bound, b4_bound, bounds, loss_first_order,
    output_jacobians, synapse_first_order,
)
from neurosim.analysis.exact import exact_moments
from neurosim.analysis.fep import fep_bound
from neurosim.analysis.tails import (
    algorithm1_feasibility, balanced_tail, chebyshev_tail, crash_count_tail, q_balancedness,
)

ACT = {
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "identity": lambda z: z,
}


# ----------------------------------------------------------------------------- references
def make_net(sizes, acts, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(sizes[k + 1], sizes[k])) * scale / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(size=sizes[k + 1]) * 0.3 for k in range(len(sizes) - 1)]
    return Network.from_arrays(Ws, bs, list(acts) + ["identity"])


def ref_forward(net, h, start=0, masks=None):
    """Plain forward from layer ``start``; ``masks[k]`` multiplies y_k (k >= start)."""
    masks = masks or {}
    if start in masks:
        h = h * masks[start]
    for k in range(start + 1, net.n_layers + 1):
        h = ACT[net.activations[k - 1]](h @ net.weights[k - 1].T + net.biases[k - 1])
        if k in masks:
            h = h * masks[k]
    return h


def ref_layers(net, x):
    ys = [x]
    for k in range(1, net.n_layers + 1):
        ys.append(ACT[net.activations[k - 1]](ys[-1] @ net.weights[k - 1].T + net.biases[k - 1]))
    return ys


def ref_distribution(net, x, p):
    """All crash subsets of the layers in ``p``: (probabilities (S,), deltas (S, batch, n_out))."""
    layers = sorted(l for l, r in p.items() if r > 0)
    sizes = [net.sizes[l] for l in layers]
    n = sum(sizes)
    ys = ref_layers(net, x)
    probs, deltas = [], []
    for bits in itertools.product([0, 1], repeat=n):
        bits = np.array(bits)
        w, masks, o = 1.0, {}, 0
        for l, s in zip(layers, sizes):
            b = bits[o:o + s]
            o += s
            w *= np.prod(np.where(b == 1, p[l], 1 - p[l]))
            masks[l] = 1.0 - b
        y = ref_forward(net, ys[layers[0]], layers[0], masks)
        probs.append(w)
        deltas.append(y - ys[-1])
    return np.array(probs), np.array(deltas)


# ----------------------------------------------------------------------------- b3
@pytest.mark.parametrize("acts", [("sigmoid",), ("tanh", "relu"), ("relu", "sigmoid")])
def test_jacobians_match_central_finite_differences(acts):
    sizes = [4, 5, 3] if len(acts) == 1 else [3, 6, 5, 2]
    net = make_net(sizes, acts, seed=1)
    x = np.random.default_rng(2).normal(size=(3, sizes[0]))
    ys = ref_layers(net, x)
    J = output_jacobians(net, x, range(net.n_layers + 1))
    h = 1e-6
    for l in range(net.n_layers + 1):
        fd = np.empty_like(J[l])
        for i in range(net.sizes[l]):
            e = np.zeros(net.sizes[l])
            e[i] = h
            fd[:, :, i] = (ref_forward(net, ys[l] + e, l) - ref_forward(net, ys[l] - e, l)) / (2 * h)
        np.testing.assert_allclose(J[l], fd, rtol=1e-6, atol=1e-8)
        # b3 at this layer is -p Σ_i J_i y_i and sqrt(p Σ (J_i y_i)^2), built from the FD Jacobian
        p = 0.01
        g = fd * ys[l][:, None, :]
        r = b3_bound(net, x, {l: p})
        np.testing.assert_allclose(r.mean, -p * g.sum(-1), rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(r.std, np.sqrt(p * (g ** 2).sum(-1)), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_b3_mean_is_exact_for_linear_networks(layer):
    # y_L is linear in the crash indicators when every layer is linear:
    # Δ = -Σ_i g_i B_i with B_i ~ Bernoulli(p), so E Δ = -p Σ g_i and Var Δ = p(1-p) Σ g_i².
    net = make_net([4, 5, 3], ["identity"], seed=3)
    x = np.random.default_rng(4).normal(size=(5, 4))
    p = 0.1
    b3 = b3_bound(net, x, {layer: p})
    ex = exact_moments(net, x, {layer: p})
    np.testing.assert_allclose(b3.mean, ex.mean, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(b3.std * np.sqrt(1 - p), ex.std, rtol=1e-10, atol=1e-14)


def test_toy_mean_network_analytic():
    # y = mean(x) at x = 1, input neurons crash: Δ = -C/n with C ~ Bin(n, p)
    # => E Δ = -p, Var Δ = p(1-p)/n. b3: g_i = 1/n, mean -p, std sqrt(p/n).
    n, p = 10, 0.3
    net = Network.from_arrays([np.full((1, n), 1.0 / n)], [np.zeros(1)], ["identity"])
    x = np.ones((1, n))
    ex = exact_moments(net, x, {0: p})
    assert ex.n_subsets == 2 ** n and ex.neglected_mass == 0.0
    np.testing.assert_allclose(ex.mean, [[-p]], rtol=1e-12)
    np.testing.assert_allclose(ex.std ** 2, [[p * (1 - p) / n]], rtol=1e-10)
    b = bounds(net, x, {0: p})
    np.testing.assert_allclose(b["b3"].mean, [[-p]], rtol=1e-12)
    np.testing.assert_allclose(b["b3"].std, [[np.sqrt(p / n)]], rtol=1e-12)
    np.testing.assert_allclose(b["b4"].mean, [[-p]], rtol=1e-12)
    # b2 (|W| |y|) and b1 (||W|| ||y||): here p·1, tight (1-norm, inf-norm give p; 2-norm gives p too)
    np.testing.assert_allclose(b["b2"].mean, [[p]], rtol=1e-12)
    np.testing.assert_allclose(b["b1"].mean, [[p]], rtol=1e-12)


# ----------------------------------------------------------------------------- b4
def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("p_layers", [(0,), (1,), (0, 1)])
def test_b4_matches_exact_enumeration_at_small_p(p_layers):
    # b4 is exact to first order in p: the relative error must be O(p), i.e. small at
    # p = 1e-3 and ten times smaller at p = 1e-4.
    net = make_net([4, 5, 3], ["sigmoid"], seed=5, scale=2.0)
    x = np.random.default_rng(6).normal(size=(8, 4))
    errs = []
    for p in (1e-3, 1e-4):
        pd = {l: p for l in p_layers}
        b4, ex = b4_bound(net, x, pd), exact_moments(net, x, pd)
        errs.append((_rel(b4.mean, ex.mean), _rel(b4.std, ex.std)))
    (m3, s3), (m4, s4) = errs
    assert m3 < 2e-2 and s3 < 2e-2
    assert m4 < 2e-3 and s4 < 2e-3
    assert m4 < m3 / 5 or m3 < 1e-12


def test_first_order_bounds_dominate_the_first_order_mean():
    # |J| <= Π K |W| entrywise and ||J||_q <= Π K ||W||_q, so b2 and b1 bound |b3 mean|.
    for seed, acts in enumerate([("sigmoid", "tanh"), ("relu", "relu"), ("tanh", "sigmoid")]):
        net = make_net([6, 7, 5, 3], acts, seed=10 + seed, scale=1.5)
        x = np.random.default_rng(seed).normal(size=(20, 6))
        p = {0: 1e-3, 1: 2e-3, 2: 5e-4}
        m3 = np.abs(b3_bound(net, x, p).mean)
        assert np.all(b2_bound(net, x, p).mean >= m3 * (1 - 1e-12))
        for q in (1, 2, "inf", "min"):
            assert np.all(b1_bound(net, x, p, norm=q).mean >= m3 * (1 - 1e-12))
        tight = np.minimum.reduce([b1_bound(net, x, p, norm=q).mean for q in (1, 2, "inf")])
        np.testing.assert_array_equal(b1_bound(net, x, p).mean, tight)


def test_b2_matches_the_authors_sigmoid4_convention():
    # The authors' networks use sigmoid(4z) (Lipschitz 1) and b2 = p |W_L|...|W_{l+1}| |y_l| with
    # no Lipschitz factor. The same network in our convention has hidden weights and biases
    # times 4 and the logistic (Lipschitz 1/4): the factors 4 and 1/4 cancel, so b2 must equal
    # the authors' formula evaluated on their weights.
    rng = np.random.default_rng(33)
    sizes = [4, 6, 5, 2]
    W = [rng.normal(size=(sizes[k + 1], sizes[k])) for k in range(3)]
    b = [rng.normal(size=sizes[k + 1]) for k in range(3)]
    ours = Network.from_arrays([4 * W[0], 4 * W[1], W[2]], [4 * b[0], 4 * b[1], b[2]], ["sigmoid", "sigmoid"])
    x = rng.normal(size=(5, 4))
    ys = ref_layers(ours, x)
    p = 0.01
    for l in (0, 1, 2):
        m, v = np.abs(ys[l]), ys[l] ** 2
        for k in range(l, 3):
            m, v = m @ np.abs(W[k]).T, v @ (W[k] ** 2).T
        r = b2_bound(ours, x, {l: p})
        np.testing.assert_allclose(r.mean, p * m, rtol=1e-12)
        np.testing.assert_allclose(r.std, np.sqrt(p * v), rtol=1e-12)


def test_exact_moments_do_not_depend_on_chunking(monkeypatch):
    import neurosim.analysis.exact as exact_mod
    net = make_net([3, 4, 2], ["tanh"], seed=34, scale=2.0)
    x = np.random.default_rng(35).normal(size=(3, 3))
    p = {0: 0.2, 1: 0.4}
    whole = [exact_moments(net, x, p, max_crashes=mc) for mc in (None, 3)]
    monkeypatch.setattr(exact_mod, "_CHUNK_ELEMENTS", 30)  # a few subsets per chunk
    for ref, mc in zip(whole, (None, 3)):
        part = exact_moments(net, x, p, max_crashes=mc)
        np.testing.assert_allclose(part.mean, ref.mean, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(part.std, ref.std, rtol=1e-10)
        assert part.neglected_mass == pytest.approx(ref.neglected_mass, rel=1e-12, abs=1e-15)


def test_bounds_shapes_and_names():
    net = make_net([4, 5, 3], ["relu"], seed=7)
    x = np.zeros((6, 4)) + 0.5
    res = bounds(net, x, {1: 1e-2})
    assert set(res) == {"b1", "b2", "b3", "b4"}
    for k, r in res.items():
        assert r.name == k and r.description
        assert r.mean.shape == (6, 3)
        assert r.std is None if k == "b1" else r.std.shape == (6, 3)


# ----------------------------------------------------------------------------- exact
def test_exact_moments_agree_with_monte_carlo():
    # Plain-numpy Monte Carlo with drawn masks; |MC - exact| within 5 standard errors
    # (two-sided miss probability ~6e-7 per component for a normal estimator).
    net = make_net([3, 4, 2], ["tanh"], seed=8, scale=2.0)
    x = np.random.default_rng(9).normal(size=(4, 3))
    p = {0: 0.2, 1: 0.3}
    ex = exact_moments(net, x, p)
    rng = np.random.default_rng(12345)
    R = 20000
    masks = {l: (rng.random((R, 1, net.sizes[l])) >= r).astype(float) for l, r in p.items()}
    d = ref_forward(net, x[None], 0, masks) - ref_forward(net, x, 0)  # (R, batch, n_out)
    mc_mean = d.mean(0)
    se_mean = ex.std / np.sqrt(R)
    assert np.all(np.abs(mc_mean - ex.mean) <= 5 * se_mean + 1e-15)
    c = d - ex.mean
    mc_var = (c ** 2).mean(0)
    se_var = np.sqrt(((c ** 2 - ex.std ** 2) ** 2).mean(0) / R)
    assert np.all(np.abs(mc_var - ex.std ** 2) <= 5 * se_var)


def test_exact_moments_match_reference_enumeration_and_truncation():
    net = make_net([3, 4, 2], ["sigmoid"], seed=13, scale=2.0)
    x = np.random.default_rng(14).normal(size=(3, 3))
    p = {0: 0.05, 1: 0.1}
    w, d = ref_distribution(net, x, p)
    mean = np.einsum("s,sbo->bo", w, d)
    var = np.einsum("s,sbo->bo", w, (d - mean) ** 2)
    ex = exact_moments(net, x, p)
    np.testing.assert_allclose(ex.mean, mean, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ex.std, np.sqrt(var), rtol=1e-10)
    # truncation at 2 crashes: neglected mass is the probability of >= 3 crashes,
    # and the truncated mean is off by at most neglected_mass * max |Δ|.
    tr = exact_moments(net, x, p, max_crashes=2)
    counts = np.array([sum(b) for b in itertools.product([0, 1], repeat=7)])
    np.testing.assert_allclose(tr.neglected_mass, w[counts > 2].sum(), rtol=1e-9)
    assert tr.n_subsets == sum(1 for c in counts if c <= 2)
    assert np.all(np.abs(tr.mean - mean) <= tr.neglected_mass * np.abs(d).max(0) * (1 + 1e-9))


def test_superposition_across_layers():
    # Additional Proposition 7: first-order moments add across layers. The exact
    # interaction term is O(p^2), so the relative gap shrinks ~10x from p=1e-3 to 1e-4.
    net = make_net([4, 5, 3], ["sigmoid"], seed=15, scale=3.0)
    x = np.random.default_rng(16).normal(size=(5, 4))
    gaps = []
    for p in (1e-3, 1e-4):
        both = exact_moments(net, x, {0: p, 1: p})
        a, b = exact_moments(net, x, {0: p}), exact_moments(net, x, {1: p})
        gaps.append((_rel(a.mean + b.mean, both.mean), _rel(a.std ** 2 + b.std ** 2, both.std ** 2)))
        for f in (b3_bound, b4_bound):
            r, ra, rb = f(net, x, {0: p, 1: p}), f(net, x, {0: p}), f(net, x, {1: p})
            np.testing.assert_allclose(r.mean, ra.mean + rb.mean, rtol=1e-12, atol=1e-18)
            np.testing.assert_allclose(r.std ** 2, ra.std ** 2 + rb.std ** 2, rtol=1e-12, atol=1e-18)
    (gm3, gv3), (gm4, gv4) = gaps
    assert gm3 < 1e-2 and gv3 < 1e-2
    assert gm4 < gm3 / 5 and gv4 < gv3 / 5


# ----------------------------------------------------------------------------- synapses and loss
def test_synapse_first_order_matches_scaling_derivative_and_last_layer_exact():
    net = make_net([4, 6, 3], ["tanh"], seed=17, scale=1.5)
    x = np.random.default_rng(18).normal(size=(5, 4))
    p = 0.01
    h = 1e-6
    for l in (1, 2):
        # Σ_ij (∂y/∂W_ij) W_ij = d/dα y(α W_l) at α = 1
        def y_at(a):
            Ws = list(net.weights)
            Ws[l - 1] = Ws[l - 1] * a
            return ref_forward(Network.from_arrays(Ws, net.biases, net.activations), x)
        deriv = (y_at(1 + h) - y_at(1 - h)) / (2 * h)
        np.testing.assert_allclose(synapse_first_order(net, x, {l: p}).mean, -p * deriv, rtol=1e-6, atol=1e-10)
    # crashes in the (linear) output matrix act additively: d_ij = -W[i,j] y[j] e_i
    y1 = ref_layers(net, x)[1]
    W = net.weights[1]
    d = W[None, :, :] * y1[:, None, :]
    r = synapse_first_order(net, x, {2: p})
    np.testing.assert_allclose(r.mean, -p * d.sum(-1), rtol=1e-12)
    np.testing.assert_allclose(r.std, np.sqrt(p * (d ** 2).sum(-1)), rtol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "crossentropy"])
def test_loss_first_order_matches_scaling_derivative(loss):
    net = make_net([4, 6, 3], ["sigmoid"], seed=19, scale=2.0)
    rng = np.random.default_rng(20)
    x = rng.normal(size=(5, 4))
    targets = rng.normal(size=(5, 3)) if loss == "mse" else rng.integers(0, 3, size=5)
    t1 = targets if loss == "mse" else np.eye(3)[targets]

    def L(y):
        if loss == "mse":
            return ((y - t1) ** 2).mean(1)
        z = y - y.max(1, keepdims=True)
        return -(t1 * (z - np.log(np.exp(z).sum(1, keepdims=True)))).sum(1)

    p, h = 0.02, 1e-6
    for l in (1, 2):
        def loss_at(a):
            Ws = list(net.weights)
            Ws[l - 1] = Ws[l - 1] * a
            return L(ref_forward(Network.from_arrays(Ws, net.biases, net.activations), x))
        d = (loss_at(1 + h) - loss_at(1 - h)) / (2 * h)
        np.testing.assert_allclose(loss_first_order(net, x, targets, {l: p}, loss=loss).mean, -p * d, rtol=1e-6, atol=1e-10)
    ys = ref_layers(net, x)
    for l in (0, 1):  # neuron crashes: Σ_i ∂L/∂y_l[i] y_l[i] = d/dα L(forward from α y_l)
        d = (L(ref_forward(net, (1 + h) * ys[l], l)) - L(ref_forward(net, (1 - h) * ys[l], l))) / (2 * h)
        r = loss_first_order(net, x, targets, {l: p}, loss=loss, site="neuron")
        np.testing.assert_allclose(r.mean, -p * d, rtol=1e-6, atol=1e-10)


# ----------------------------------------------------------------------------- Fep
def _worst_case(net, x, failures, mode, cap, rng):
    """Brute force max ||Δ||_∞ over every failure set with the given counts (and inputs)."""
    ys = ref_layers(net, x)
    layers = sorted(failures)
    choices = [list(itertools.combinations(range(net.sizes[l]), failures[l])) for l in layers]
    worst = 0.0
    for sets in itertools.product(*choices):
        n_draws = 1 if mode == "crash" else 40
        for draw in range(n_draws):
            h = ys[0].copy()
            for k in range(0, net.n_layers + 1):
                if k > 0:
                    h = ACT[net.activations[k - 1]](h @ net.weights[k - 1].T + net.biases[k - 1])
                if k in failures:
                    idx = list(sets[layers.index(k)])
                    if mode == "crash":
                        h[:, idx] = 0.0
                    else:  # extreme values first, then uniform ones
                        v = rng.choice([-cap, cap], size=(h.shape[0], len(idx))) if draw < 20 else \
                            rng.uniform(-cap, cap, size=(h.shape[0], len(idx)))
                        h[:, idx] = v
            worst = max(worst, float(np.abs(h - ys[-1]).max()))
    return worst


@pytest.mark.parametrize("acts,failures,need_x", [
    (("sigmoid", "sigmoid"), {1: 1, 2: 1}, False),
    (("tanh", "sigmoid"), {1: 2}, False),
    (("relu", "relu"), {0: 1, 1: 1}, True),
    (("sigmoid", "tanh"), {2: 2, 3: 1}, True),
])
@pytest.mark.parametrize("mode", ["crash", "byzantine"])
def test_fep_bound_never_below_brute_force_worst_case(acts, failures, need_x, mode):
    net = make_net([3, 4, 3, 2], acts, seed=21, scale=2.0)
    rng = np.random.default_rng(22)
    x = rng.normal(size=(30, 3)) * 2
    cap = 1.5
    res = fep_bound(net, failures, mode=mode, capacity=cap, x=x if need_x else None)
    worst = _worst_case(net, x, failures, mode, cap, rng)
    assert worst > 0
    assert res.bound >= worst
    # the paper's single-K form (K = max Lipschitz constant) is looser, never tighter
    K = max(LIPSCHITZ[a] for a in acts)
    assert fep_bound(net, failures, mode=mode, capacity=cap, K=K, x=x if need_x else None).bound >= res.bound


@pytest.mark.parametrize("mode", ["crash", "byzantine"])
def test_fep_bound_is_attained_on_an_equal_weight_linear_network(mode):
    # x = 1 on 2 inputs, W_1 = w·1 (N_1 × 2), identity hidden layer, W_2 = w·1 (1 × N_1).
    # One failed input neuron changes every hidden neuron by w·e and the output by N_1·w²·e,
    # with e = 1 (crash: 1 -> 0) or e = C + 1 (Byzantine: 1 -> -C). The bound
    # f_0 c_0 w_2 (N_1 - f_1) K_1 w_1 gives exactly N_1 w² e: it is tight.
    N1, w, C = 5, 0.7, 2.0
    net = Network.from_arrays([np.full((N1, 2), w), np.full((1, N1), w)], [np.zeros(N1), np.zeros(1)],
                              ["identity", "identity"])
    x = np.ones((1, 2))
    e = 1.0 if mode == "crash" else C + 1.0
    res = fep_bound(net, {0: 1}, mode=mode, capacity=C, x=x)
    assert res.bound == pytest.approx(N1 * w * w * e, rel=1e-12)
    y = ref_forward(net, np.array([[1.0, 0.0 if mode == "crash" else -C]]))
    assert abs(y - net.forward(x)).max() == pytest.approx(res.bound, rel=1e-12)


def test_fep_needs_data_for_unbounded_layers():
    net = make_net([3, 4, 2], ["relu"], seed=23)
    with pytest.raises(ConfigError, match="x="):
        fep_bound(net, {1: 1})
    with pytest.raises(ConfigError, match="failures"):
        fep_bound(net, {1: 5}, x=np.ones((1, 3)))


# ----------------------------------------------------------------------------- tails
def test_chebyshev_never_below_exact_tail():
    net = make_net([3, 5, 2], ["sigmoid"], seed=24, scale=3.0)
    x = np.random.default_rng(25).normal(size=(4, 3))
    p = {0: 0.1, 1: 0.2}
    w, d = ref_distribution(net, x, p)
    ex = exact_moments(net, x, p)
    scale = np.abs(d).max()
    for eps in np.linspace(0.05, 1.0, 12) * scale:
        tail = np.einsum("s,sbo->bo", w, (np.abs(d) >= eps).astype(float))
        tail_any = np.einsum("s,sb->b", w, (np.abs(d).max(-1) >= eps).astype(float))
        ch = chebyshev_tail(ex.mean, ex.std, eps)
        assert np.all(ch.delta >= tail - 1e-12)
        assert np.all(ch.delta_any >= tail_any - 1e-12)
        assert np.all(ch.delta[~ch.informative] == 1.0)


def test_kl_tail_dominates_exact_binomial_tail():
    for n in (5, 20, 100, 1000):
        for p in (1e-3, 1e-2, 0.1, 0.4):
            for k in sorted({0, 1, 2, n // 10, n // 2, n, n + 1}):
                t = crash_count_tail(n, p, k)
                assert t.exact <= t.delta0 * (1 + 1e-9) + 1e-300
                assert t.exact == pytest.approx(0.0 if k > n else binom.sf(k - 1, n, p))
    assert crash_count_tail(10, 0.5, 10).delta0 == pytest.approx(0.5 ** 10)  # exp(-n ln 2) at q = 1


def test_q_balancedness_against_brute_force_on_additive_layer():
    # single linear layer: Δ_S = Σ_{i∈S} d_i exactly, so the worst k-subset is checkable.
    rng = np.random.default_rng(26)
    n = 8
    net = Network.from_arrays([rng.normal(size=(2, n))], [np.zeros(2)], ["identity"])
    x = rng.normal(size=(3, n))
    d = -(net.weights[0][None, :, :] * x[:, None, :])  # (batch, out, n): single-crash deltas
    eps, p = 1.0, 0.05
    bal, d0, exact_tail = balanced_tail(d, p, eps)
    for b in range(3):
        for o in range(2):
            k = int(bal.k_max[b, o])
            best = [max((abs(d[b, o, list(S)].sum()) for S in itertools.combinations(range(n), s)), default=0.0)
                    for s in range(n + 1)]
            assert all(best[s] < eps for s in range(k + 1))
            if k < n:
                assert best[k + 1] >= eps
            np.testing.assert_allclose(bal.worst[b, o], np.maximum.accumulate(best)[1:], rtol=1e-12)
            # exact P(|Δ| >= ε) never exceeds the tail used by Proposition 3
            prob = sum(p ** len(S) * (1 - p) ** (n - len(S))
                       for s in range(n + 1) for S in itertools.combinations(range(n), s)
                       if abs(d[b, o, list(S)].sum()) >= eps)
            assert prob <= exact_tail[b, o] + 1e-15 <= d0[b, o] + 1e-12
    assert np.all(q_balancedness(d, eps).q == bal.k_max / n)


def test_algorithm1_feasibility_and_continuous_limit_widening():
    # |E Δ| >= ε: infeasible, no width helps.
    f = algorithm1_feasibility([[0.2, 0.01]], [[0.05, 0.1]], eps=0.1, delta=0.01)
    assert not f.feasible[0, 0] and np.isinf(f.width_factor[0, 0])
    # feasible: k = Var / (δ (ε - |m|)^2) = 0.01 / (0.01 * 0.09^2)
    np.testing.assert_allclose(f.width_factor[0, 1], 0.01 / (0.01 * 0.09 ** 2))
    assert chebyshev_tail(0.01, 0.1 / np.sqrt(f.width_factor[0, 1]), 0.1).delta == pytest.approx(0.01)
    # the scaling Algorithm 1 relies on: duplicating each hidden neuron k times with
    # outgoing weights / k keeps E Δ and divides Var Δ by k (exactly, linear read-out).
    net = make_net([3, 3, 2], ["sigmoid"], seed=27, scale=2.0)
    k = 3
    W1, W2 = net.weights
    wide = Network.from_arrays([np.repeat(W1, k, axis=0), np.repeat(W2, k, axis=1) / k],
                               [np.repeat(net.biases[0], k), net.biases[1]], net.activations)
    x = np.random.default_rng(28).normal(size=(4, 3))
    a, b = exact_moments(net, x, {1: 0.1}), exact_moments(wide, x, {1: 0.1})
    np.testing.assert_allclose(b.mean, a.mean, rtol=1e-12)
    np.testing.assert_allclose(b.std ** 2, a.std ** 2 / k, rtol=1e-10)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("p,match", [
    ({1: 1.5}, r"\[0, 1\]"),
    ({1: -0.1}, r"\[0, 1\]"),
    ({1: float("nan")}, r"\[0, 1\]"),
    ({1: "a lot"}, "number"),
    ({7: 0.1}, "out of range"),
    ({-1: 0.1}, "out of range"),
    ({1.0: 0.1}, "integer"),
    ([0.1], "dict"),
])
def test_bad_rates_raise_clear_errors(p, match):
    net = make_net([3, 4, 2], ["relu"], seed=29)
    x = np.ones((2, 3))
    for f in (b1_bound, b2_bound, b3_bound, b4_bound, exact_moments):
        with pytest.raises(ConfigError, match=match):
            f(net, x, p)
    with pytest.raises(ConfigError):
        synapse_first_order(net, x, {0: 0.1})  # synapse layers are 1-based


def test_other_bad_inputs():
    net = make_net([20, 30, 2], ["relu"], seed=30)
    x = np.ones((2, 20))
    with pytest.raises(ConfigError, match="max_crashes"):
        exact_moments(net, x, {0: 0.01, 1: 0.01})
    with pytest.raises(ConfigError, match="max_crashes"):
        exact_moments(net, x, {1: 0.01}, max_crashes=-1)
    with pytest.raises(ConfigError, match="norm"):
        b1_bound(net, x, {1: 0.1}, norm=3)
    with pytest.raises(ConfigError, match="eps"):
        chebyshev_tail(0.0, 1.0, eps=0.0)
    with pytest.raises(ConfigError, match="delta"):
        algorithm1_feasibility(0.0, 1.0, eps=0.1, delta=1.0)
    with pytest.raises(ConfigError, match="Inputs"):
        b3_bound(net, np.ones((2, 5)), {1: 0.1})
    with pytest.raises(ConfigError, match="loss"):
        loss_first_order(net, x, np.zeros((2, 2)), {1: 0.1}, loss="hinge")


def test_zero_rate_means_no_error():
    net = make_net([3, 4, 2], ["tanh"], seed=31)
    x = np.random.default_rng(32).normal(size=(3, 3))
    for r in bounds(net, x, {0: 0.0, 1: 0.0}).values():
        assert np.all(r.mean == 0) and (r.std is None or np.all(r.std == 0))
    ex = exact_moments(net, x, {1: 0.0})
    assert np.all(ex.mean == 0) and np.all(ex.std == 0)
    # rate 1 at the output: everything is dead, Δ = -y exactly, no spread
    ex = exact_moments(net, x, {2: 1.0})
    np.testing.assert_allclose(ex.mean, -net.forward(x), rtol=1e-12)
    np.testing.assert_allclose(ex.std, 0.0, atol=1e-12)
