"""First-order stuck-at-value moments: reduce to b3/synapse at value 0, exact where theory says, vs the engine."""
from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim import FaultSpec, map_network, simulate
from neurosim.analysis import b3_bound, fep_bound, fep_value_bound, synapse_first_order, value_first_order
from neurosim.analysis.compare import predictions_for
from neurosim.chip.profile import profile_from_dict
from conftest import tiny_profile_dict
from reference import random_net
from reference_values import exact_value_moments


def test_value_zero_is_b3_and_synapse_first_order(small_net, rng):
    x = rng.normal(size=(6, 7))
    a = value_first_order(small_net, x, [FaultSpec("neuron", "permanent", 0.03, layers=[1, 2])])
    b = b3_bound(small_net, x, {1: 0.03, 2: 0.03})
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.std, b.std, rtol=1e-12, atol=1e-14)
    c = value_first_order(small_net, x, [FaultSpec("synapse", "transient", 0.02, layers=[2, 3])])
    d = synapse_first_order(small_net, x, {2: 0.02, 3: 0.02})
    np.testing.assert_allclose(c.mean, d.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c.std, d.std, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("site,layer,value", [("neuron", 1, 0.8), ("neuron", 0, "saturated"),
                                              ("synapse", 2, -0.6), ("synapse", 1, "scale=1.5")])
def test_exact_for_linear_downstream(site, layer, value):
    """One faulty layer, linear after it: the first-order mean is exact, the variance is (1-p) times exact-ish:
    exact Var = first-order Var - p^2 Σ (J d)^2 (independent sites), checked by enumeration."""
    rng = np.random.default_rng(2)
    net = random_net(rng, [3, 3, 2], "identity")
    x = rng.normal(size=(2, 3))
    p = 0.2
    spec = FaultSpec(site, "permanent", p, layers=[layer], value=value)
    fo = value_first_order(net, x, [spec])
    ys = net.forward_all(x)[0]
    if site == "neuron":
        v = ys[layer].max() if value == "saturated" else value
        sites = [("neuron", layer, i, v) for i in range(3)]
    else:
        W = net.weights[layer - 1]
        V = 1.5 * W if value == "scale=1.5" else np.full(W.shape, value)
        sites = [("synapse", layer, i, j, V[i, j]) for i in range(W.shape[0]) for j in range(W.shape[1])]
    mean, var, _ = exact_value_moments(net, x, sites, p)
    np.testing.assert_allclose(fo.mean, mean, rtol=1e-10, atol=1e-12)
    # the single-site terms of Var: p (1 - p) (J d)^2, i.e. (1 - p) times the first-order variance
    np.testing.assert_allclose((1 - p) * fo.std ** 2, var, rtol=1e-10, atol=1e-12)


def test_bitflip_moments_vs_engine():
    """Uniform bit flips on one linear layer: first-order mean (exact here) within 5 SE of the engine."""
    rng = np.random.default_rng(4)
    net = random_net(rng, [6, 4], [])
    m = map_network(net, profile_from_dict(tiny_profile_dict(synapse__weight_bits=6)))
    x = rng.uniform(size=(3, 6))
    p = 0.05
    spec = FaultSpec("synapse", "permanent", p, value="bitflip")
    fo = value_first_order(m, x, [spec])
    d = simulate(m, x, spec, n_chips=20_000, seed=3).delta
    se = d.std(0, ddof=1) / np.sqrt(d.shape[0])
    assert np.all(np.abs(d.mean(0) - fo.mean) < 5 * se)
    # and the variance: exact Var = (1 - p) p Σ ... only if one flip per site; first-order Var >= MC var
    assert np.all(d.var(0) <= fo.std ** 2 * 1.05)


def test_max_min_need_mapping_or_range(small_net, rng):
    x = rng.normal(size=(2, 7))
    with pytest.raises(ns.ConfigError, match="state the range"):
        value_first_order(small_net, x, [FaultSpec("synapse", "permanent", 0.1, value="max")])
    r = value_first_order(small_net, x, [FaultSpec("synapse", "permanent", 0.1, value="max", range=(-1, 1))])
    assert np.all(np.isfinite(r.mean))


def test_predictions_for_values_and_compare_cli(tmp_path, digits_path):
    net = ns.load_network(digits_path)
    x, _ = ns.io.load_bundled_data(digits_path)
    m = map_network(net, "rram")
    specs = [ns.parse_fault("synapse:permanent:0.001:value=max", profile=m.profile)]
    preds = predictions_for(m.qnet, x[:20], specs, mapping=m)
    assert list(preds) == ["values"]
    from neurosim.cli.main import main
    rc = main(["compare", str(digits_path), "--profile", "rram", "--fault", "synapse:transient:0.002:value=max",
               "--chips", "40", "--limit", "30", "-o", str(tmp_path / "cmp")])
    assert rc == 0 and (tmp_path / "cmp" / "compare.png").exists()


def test_fep_value_bound_is_byzantine(small_net, rng):
    x = rng.normal(size=(10, 7))
    crash = fep_value_bound(small_net, {1: 2}, "zero", x)
    assert crash.bound == fep_bound(small_net, {1: 2}, mode="crash", x=x).bound
    b = fep_value_bound(small_net, {1: 2}, 0.7, x)
    assert b.mode == "byzantine" and b.bound == fep_bound(small_net, {1: 2}, mode="byzantine", capacity=0.7, x=x).bound
    # the bound holds for the engine: 2 neurons of layer 1 stuck at 0.7, every pair of neurons
    ys = small_net.forward_all(x)[0]
    from reference_values import forward_values
    worst = 0.0
    for i in range(5):
        for j in range(i + 1, 5):
            f = np.array([forward_values(small_net, xb, {1: {i: 0.7, j: 0.7}}) for xb in x])
            worst = max(worst, float(np.max(np.abs(f - ys[-1]))))
    assert worst <= b.bound
    s = fep_value_bound(small_net, {1: 1}, "saturated", x)
    assert s.bound == fep_bound(small_net, {1: 1}, mode="byzantine", capacity=ys[1].max(), x=x).bound
