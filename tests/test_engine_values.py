"""Engine with fault values: exact rate-1 semantics, dense reference, Monte Carlo vs enumeration, bit flips."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurosim import ConfigError, FaultSpec, map_network, simulate
from neurosim.chip.profile import profile_from_dict
from neurosim.faults import flip_bit
from conftest import tiny_profile_dict
from reference import random_net
from reference_values import exact_value_moments, forward_values, reference_delta_values, tile_tables
from test_engine_stats import moment_band_check


@pytest.fixture
def mapping(small_net, tiny_profile):
    return map_network(small_net, tiny_profile)


def _clean(net, x):
    return np.array([forward_values(net, xb) for xb in x])


def _with_W(net, x, layer, W1):
    return np.array([forward_values(net, xb, synapse_W={layer: W1}) for xb in x])


# ----------------------------------------------------------------------------- (1) rate 1, exact
@pytest.mark.parametrize("mode", ["permanent", "transient"])
@pytest.mark.parametrize("layer", [1, 2])
def test_rate_one_number_on_bare_network(small_net, rng, mode, layer):
    """Every W_l cell at 0.5 gives the network with W_l = 0.5."""
    x = rng.normal(size=(9, 7))
    r = simulate(small_net, x, FaultSpec("synapse", mode, 1.0, layers=[layer], value=0.5), n_chips=2, seed=1)
    W = np.full(small_net.weights[layer - 1].shape, 0.5)
    want = _with_W(small_net, x, layer, W) - _clean(small_net, x)
    np.testing.assert_allclose(r.delta, np.broadcast_to(want, r.delta.shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("value", ["max", "min", "scale=0.7", "bitflip", "-0.3"])
@pytest.mark.parametrize("mode", ["permanent", "transient"])
def test_rate_one_on_mapped_chip(mapping, rng, value, mode):
    """max/min: every cell at its tile's +-n*s; scale: s*W; bitflip bit=2: flipped integers times s."""
    x = rng.uniform(size=(8, 7))
    layer = 2
    kw = {"bit": 2} if value == "bitflip" else {}
    r = simulate(mapping, x, FaultSpec("synapse", mode, 1.0, layers=[layer], value=value, **kw), n_chips=2, seed=3)
    net = mapping.qnet
    W = net.weights[layer - 1]
    S, F = tile_tables(mapping, layer)
    if value == "max":
        Wf = F
    elif value == "min":
        Wf = -F
    elif value == "scale=0.7":
        Wf = 0.7 * W
    elif value == "bitflip":
        Q = np.rint(W / S).astype(int)
        Wf = np.vectorize(lambda q: flip_bit(q, 2, mapping.profile.weight_bits))(Q) * S
    else:
        Wf = np.full(W.shape, -0.3)
    want = _with_W(net, x, layer, Wf) - _clean(net, x)
    assert np.any(want != 0)
    np.testing.assert_allclose(r.delta, np.broadcast_to(want, r.delta.shape), rtol=0, atol=1e-12)


def test_rate_one_max_with_range_on_float_network(small_net, rng):
    x = rng.normal(size=(5, 7))
    r = simulate(small_net, x, "synapse:permanent:1:layers=1:value=max:range=-2,1.5", seed=0)
    want = _with_W(small_net, x, 1, np.full((5, 7), 1.5)) - _clean(small_net, x)
    np.testing.assert_allclose(r.delta[0], want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["permanent", "transient"])
@pytest.mark.parametrize("layer", [0, 1, 2])
def test_rate_one_saturated_neurons(small_net, rng, mode, layer):
    """Saturated neurons at layer l give the network with y_l = its largest clean activation."""
    x = rng.normal(size=(11, 7))
    r = simulate(small_net, x, FaultSpec("neuron", mode, 1.0, layers=[layer], value="saturated"), n_chips=2, seed=2)
    ys, _ = small_net.forward_all(x)
    top = ys[layer].max()
    want = np.array([forward_values(small_net, xb, {layer: {i: top for i in range(small_net.sizes[layer])}})
                     for xb in x]) - _clean(small_net, x)
    np.testing.assert_allclose(r.delta, np.broadcast_to(want, r.delta.shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("layer", [0, 1])
def test_rate_one_neuron_number(small_net, rng, layer):
    x = rng.normal(size=(6, 7))
    r = simulate(small_net, x, FaultSpec("neuron", "permanent", 1.0, layers=[layer], value=-0.4), seed=2)
    want = np.array([forward_values(small_net, xb, {layer: {i: -0.4 for i in range(small_net.sizes[layer])}})
                     for xb in x]) - _clean(small_net, x)
    np.testing.assert_allclose(r.delta[0], want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("site,value", [("synapse", "max"), ("synapse", "bitflip"), ("neuron", "saturated"),
                                        ("synapse", "scale=1.3"), ("neuron", "0.5")])
@pytest.mark.parametrize("mode", ["permanent", "transient", "intermittent"])
def test_rate_zero_is_exactly_zero(mapping, rng, site, value, mode):
    x = rng.uniform(size=(5, 7))
    kw = {"p_on": 0.3, "p_off": 0.3} if mode == "intermittent" else {}
    r = simulate(mapping, x, FaultSpec(site, mode, 0.0, value=value, **kw), n_chips=2, seed=0)
    assert np.all(r.delta == 0)


# ----------------------------------------------------------------------------- (2) dense reference
CASES = [
    ["synapse:permanent:0.3:value=0.8"],
    ["synapse:transient:0.2:value=max", "synapse:permanent:0.2:value=min"],
    ["synapse:permanent:0.3:value=bitflip:bit=3:layers=1,3", "neuron:transient:0.2:value=saturated"],
    ["synapse:permanent:0.25", "synapse:permanent:0.25:value=max", "synapse:transient:0.2:value=scale=-1"],
    ["neuron:permanent:0.2:value=0.6", "neuron:permanent:0.3:value=saturated:layers=1,2", "neuron:transient:0.2"],
    ["neuron:intermittent:0.5:p_on=0.3:p_off=0.4:value=saturated",
     "synapse:intermittent:0.4:burst=2:duty=0.3:value=max"],
    ["core:permanent:0.2", "synapse:permanent:0.3:value=max", "neuron:permanent:0.2:value=saturated"],
    ["synapse:permanent:0.3:value=min:group=2", "core:transient:0.1", "synapse:transient:0.1:value=1.5"],
]


@pytest.mark.parametrize("specs", CASES)
def test_engine_matches_dense_reference(mapping, rng, specs):
    """Δ equals the dense reference for the engine's own sites (later spec wins; dead cores read 0)."""
    x = rng.uniform(size=(13, 7))
    n_chips = 3
    r = simulate(mapping, x, specs, n_chips=n_chips, seed=8, chunk_rows=7, threads=2)
    sat = [y.max() for y in mapping.qnet.forward_all(x)[0]]
    ref = reference_delta_values(mapping, x, specs, 8, n_chips, sat=sat)
    assert np.any(ref != 0)
    np.testing.assert_allclose(r.delta, ref, rtol=0, atol=1e-12)


def test_bare_network_values_match_reference(small_net, rng):
    x = rng.normal(size=(10, 7))
    specs = ["synapse:transient:0.2:value=0.4", "neuron:permanent:0.2:value=saturated",
             "synapse:permanent:0.3:value=scale=0.5:layers=2"]
    r = simulate(small_net, x, specs, n_chips=3, seed=4, chunk_rows=4)
    sat = [y.max() for y in small_net.forward_all(x)[0]]
    np.testing.assert_allclose(r.delta, reference_delta_values(small_net, x, specs, 4, 3, sat=sat), rtol=0, atol=1e-12)


def test_values_bit_identical_for_threads_and_chunks(mapping, rng):
    x = rng.uniform(size=(40, 7))
    specs = ["synapse:transient:0.1:value=bitflip", "neuron:permanent:0.1:value=saturated",
             "synapse:intermittent:0.2:p_on=0.2:p_off=0.3:value=max"]
    a = simulate(mapping, x, specs, n_chips=5, seed=3, threads=1)
    b = simulate(mapping, x, specs, n_chips=5, seed=3, threads=2, chunk_rows=17)
    np.testing.assert_array_equal(a.delta, b.delta)


def test_value_errors_name_the_fix(small_net, rng):
    x = rng.normal(size=(3, 7))
    with pytest.raises(ConfigError, match="stores float weights"):
        simulate(small_net, x, "synapse:permanent:0.1:value=bitflip")
    with pytest.raises(ConfigError, match="state the range"):
        simulate(small_net, x, "synapse:permanent:0.1:value=max")
    ideal = map_network(small_net, profile_from_dict(tiny_profile_dict(synapse__weight_bits=0)))
    with pytest.raises(ConfigError, match="weight_bits = 0"):
        simulate(ideal, x, "synapse:permanent:0.1:value=bitflip")


# ----------------------------------------------------------------------------- (3) MC vs enumeration
MC = [
    # sizes, act, site, layer, value, mode, p
    ([3, 3, 2], "tanh", "synapse", 1, 0.7, "permanent", 0.2),
    ([3, 2, 2], "relu", "synapse", 2, -1.2, "transient", 0.25),
    ([3, 3, 2], "sigmoid", "neuron", 1, 0.9, "permanent", 0.3),
    ([3, 3, 2], "relu", "neuron", 0, -0.5, "transient", 0.2),
]


@pytest.mark.parametrize("sizes,act,site,layer,value,mode,p", MC)
def test_mc_matches_exact_enumeration_for_values(sizes, act, site, layer, value, mode, p):
    """Stuck-at-value sites: MC mean and variance of Δ within 5 SE of the exact 2^n enumeration."""
    rng = np.random.default_rng(int(p * 1000) + layer)
    net = random_net(rng, sizes, act, scale=2.0)
    x = rng.normal(size=(2, sizes[0]))
    if site == "synapse":
        sites = [("synapse", layer, i, j, value) for i in range(sizes[layer]) for j in range(sizes[layer - 1])]
    else:
        sites = [("neuron", layer, i, value) for i in range(sizes[layer])]
    mean, var, m4 = exact_value_moments(net, x, sites, p)
    spec = FaultSpec(site, mode, p, layers=[layer], value=value)
    if mode == "permanent":
        samples = simulate(net, x, spec, n_chips=40_000, seed=11).delta
    else:
        R = 100
        d = simulate(net, np.repeat(x, R, axis=0), spec, n_chips=400, seed=11).delta
        samples = d.reshape(400, 2, R, -1).transpose(0, 2, 1, 3).reshape(400 * R, 2, -1)
    assert np.any(var > 1e-6)
    moment_band_check(samples, mean, var, m4, f"{site}={value}/{mode}")


def test_mc_saturated_neurons_match_enumeration():
    """Saturated neurons (value = the layer's largest clean activation on the evaluation inputs)."""
    rng = np.random.default_rng(5)
    net = random_net(rng, [3, 4, 2], "relu", scale=2.0)
    x = rng.normal(size=(2, 3))
    top = net.forward_all(x)[0][1].max()
    mean, var, m4 = exact_value_moments(net, x, [("neuron", 1, i, top) for i in range(4)], 0.25)
    samples = simulate(net, x, FaultSpec("neuron", "permanent", 0.25, layers=[1], value="saturated"),
                       n_chips=40_000, seed=2).delta
    moment_band_check(samples, mean, var, m4, "saturated")


# ----------------------------------------------------------------------------- (4) bit flips
def test_bitflips_flip_one_uniform_bit_of_the_stored_integer():
    """Identity inputs read out W' - W per cell: every faulty cell is its integer with one bit flipped,
    dequantised (exact), and the flipped bits are uniform over 0..7 (chi-square)."""
    rng = np.random.default_rng(0)
    n_in, n_out = 6, 5
    net = random_net(rng, [n_in, n_out], [], scale=1.0)
    prof = profile_from_dict(tiny_profile_dict(synapse__weight_bits=8))
    m = map_network(net, prof)
    x = np.eye(n_in)
    r = simulate(m, x, FaultSpec("synapse", "permanent", 0.3, value="bitflip"), n_chips=800, seed=9)
    W = m.qnet.weights[0]
    S, _ = tile_tables(m, 1)
    Q = np.rint(W / S).astype(np.int64)
    # delta[c, j, i] = (W'_ij - W_ij) * 1   (bias cancels; last layer is linear)
    D = r.delta.transpose(0, 2, 1)  # (chips, i, j)
    hit = D != 0
    dq = np.rint(D[hit] / np.broadcast_to(S, D.shape)[hit]).astype(np.int64)
    k = np.log2(np.abs(dq)).astype(np.int64)
    assert np.all(np.abs(dq) == (1 << k))  # one bit changed
    qf = np.broadcast_to(Q, D.shape)[hit]
    flipped = np.array([flip_bit(q, kk, 8) for q, kk in zip(qf, k)])
    np.testing.assert_allclose(D[hit], (flipped - qf) * np.broadcast_to(S, D.shape)[hit], rtol=0, atol=1e-12)
    counts = np.bincount(k, minlength=8)
    n_faults = int(r.fault_counts[:, 0, 1].sum())
    assert counts.sum() == n_faults  # every fault changes its weight (a flip never leaves q unchanged)
    assert stats.chisquare(counts).pvalue > 1e-4, counts
