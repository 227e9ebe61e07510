"""Brian2 reference (neurosim.spiking): rate-coded IF network vs the float network and the engine.

Tolerance. A neuron of layer ``l`` is off by at most about ``l + 1`` spikes
over ``T`` steps (one from count quantisation, one step of latency per upstream
layer), i.e. ``(l + 1) lam_l / (rho T)`` in activity; propagated through
``|W_L| ... |W_{l+1}|`` this gives ``Brian2Result.error_bound()``, which is
``O(1/T)``. With T = 2000 steps and rho = 0.5 spikes per step it is below 1 %
of the output range for the 4-6-3 nets here; the measured errors are another
~10x smaller, so every comparison below also asserts a relative error <= 1 %.
All tests use the portable "numpy" code-generation target; each run builds a
fresh ``brian2.Network`` (no global ``run()``), so tests do not share state.
"""
import numpy as np
import pytest

pytest.importorskip("brian2")

from neurosim import ConfigError, Network, map_network  # noqa: E402
from neurosim.spiking import replay_engine_faults, run_brian2  # noqa: E402
from reference import forward, random_net  # noqa: E402

T = 2000
REL = 0.01  # relative to max |reference output|


@pytest.fixture
def net(rng):
    """4-6-3 relu net whose hidden units are mostly active on inputs in [0, 1] (so faults show)."""
    W1 = rng.uniform(-0.2, 0.8, size=(6, 4))
    b1 = rng.uniform(-0.1, 0.2, size=6)
    W2 = rng.normal(0.0, 0.6, size=(3, 6))
    b2 = rng.normal(0.0, 0.2, size=3)
    return Network.from_arrays([W1, W2], [b1, b2], "relu", name="relu-4-6-3")


@pytest.fixture
def x(rng):
    return rng.uniform(0.0, 1.0, size=(6, 4))


def assert_close(got, want, bound):
    err = np.max(np.abs(got - want))
    assert err <= bound, f"max |err| {err:.3g} > bound {bound:.3g}"
    assert err <= REL * max(np.max(np.abs(want)), 1e-12), f"relative error {err / np.max(np.abs(want)):.3g} > {REL}"


# ----------------------------------------------------------------------------- clean
def test_clean_matches_forward(net, x):
    assert np.mean(net.forward_all(x)[0][1] > 0) > 0.7  # the fixture exercises the hidden layer
    r = run_brian2(net, x, duration_steps=T, codegen_target="numpy")
    y = net.forward(x)
    assert r.rates.shape == y.shape
    assert r.error_bound() < 0.05 * np.max(np.abs(y))  # the bound itself is informative
    assert_close(r.rates, y, r.error_bound())
    # hidden spike counts estimate the hidden activations (one layer: <= 2 spikes of error)
    ys, _ = net.forward_all(x)
    est = r.layer_estimates()
    rho_T = r.spikes_per_step * T
    for l in range(net.n_layers):
        assert est[l].shape == ys[l].shape
        assert np.max(np.abs(est[l] - ys[l])) <= (l + 1) * r.scales[l] / rho_T + 1e-12
    assert r.spike_counts[0].max() <= rho_T + 1  # rates stay below max_rate_hz
    assert (r.duration_steps, r.dt_s, r.max_rate_hz, r.codegen_target) == (T, 1e-3, 500.0, "numpy")


def test_error_shrinks_with_duration(net, x):
    y = net.forward(x)
    short = run_brian2(net, x, duration_steps=100)
    long = run_brian2(net, x, duration_steps=4000)
    assert short.error_bound() == pytest.approx(40 * long.error_bound())
    assert np.max(np.abs(long.rates - y)) < np.max(np.abs(short.rates - y))


def test_signed_inputs_use_on_off_pairs(net, rng):
    xs = rng.normal(size=(5, 4))
    r = run_brian2(net, xs, duration_steps=T)
    assert_close(r.rates, net.forward(xs), r.error_bound())
    # layer 0 counts are ON minus OFF spikes: x / lam_0 * rho * T within one spike
    assert np.max(np.abs(r.spike_counts[0] - xs / r.scales[0] * r.spikes_per_step * T)) <= 1.0


# ----------------------------------------------------------------------------- faults (independent of the engine)
def test_dead_sites_match_masked_reference(net, x):
    """Dead inputs, hidden and output neurons and dead cells vs tests/reference.py masks."""
    dead_n = {0: [1], 1: [0, 4], 2: [2]}
    syn_mask = np.zeros((6, 4), dtype=bool)
    syn_mask[3, 0] = syn_mask[5, 2] = True
    dead_s = {1: syn_mask, 2: [0 * 6 + 5, 1 * 6 + 1]}  # i * n_in + j of W_2 (3, 6)
    r = run_brian2(net, x, dead_neurons=dead_n, dead_synapses=dead_s, duration_steps=T)
    alive = [np.ones(n) for n in net.sizes]
    for l, idx in dead_n.items():
        alive[l][idx] = 0.0
    S1 = (~syn_mask).astype(float)
    S2 = np.ones((3, 6))
    S2[0, 5] = S2[1, 1] = 0.0
    want = forward(net, x, neuron_alive=alive, synapse_alive=[S1, S2])
    assert np.all(r.rates[:, 2] == 0.0)  # dead output neuron reads exactly 0
    assert np.all(r.spike_counts[0][:, 1] == 0) and np.all(r.spike_counts[1][:, [0, 4]] == 0)
    assert np.max(np.abs(want - net.forward(x))) > 10 * r.error_bound()  # faults matter
    assert_close(r.rates, want, r.error_bound())
    assert sorted(r.dead_synapses[1].tolist()) == [3 * 4 + 0, 5 * 4 + 2]


def test_all_inputs_dead_gives_bias_only_output(net, x):
    r = run_brian2(net, x, dead_neurons={0: np.ones(4, dtype=bool)}, duration_steps=T)
    want = net.forward(np.zeros((1, 4)))
    assert np.all(r.spike_counts[0] == 0)
    assert np.allclose(r.rates, want, atol=r.error_bound())


# ----------------------------------------------------------------------------- replay of the engine's faults
def test_replay_engine_permanent_faults(net, x):
    faults = ["neuron:permanent:0.25:layers=0,1", "synapse:permanent:0.2"]
    rep = replay_engine_faults(net, x, faults, chip=1, seed=1, duration_steps=T, codegen_target="numpy")
    # the draw hits an input neuron, a hidden neuron and both weight matrices (else the test is moot)
    assert rep.dead_neurons[0].size > 0 and rep.dead_neurons[1].size > 0
    assert rep.dead_synapses[1].size > 0 and rep.dead_synapses[2].size > 0
    bound = rep.brian2.error_bound()
    assert_close(rep.brian2.rates, rep.engine, bound)
    assert np.allclose(rep.clean, net.forward(x))
    # where the engine's faults move the output, Brian2 moves it too (fails if faults were ignored)
    moved = np.abs(rep.engine - rep.clean) > 3 * bound
    assert moved.sum() >= 3
    assert np.all(np.abs(rep.brian2.rates - rep.clean)[moved] > bound)
    d = rep.deviation()
    assert d["max_abs"] <= bound and d["argmax_agreement"] == 1.0 and d["fault_effect"] > 3 * bound


def test_replay_core_faults_on_mapping(rng, tiny_profile):
    net = random_net(rng, [7, 5, 4, 3], "relu")
    m = map_network(net, tiny_profile)
    x = rng.uniform(0.0, 1.0, size=(5, 7))
    rep = replay_engine_faults(m, x, ["core:permanent:0.2", "synapse:permanent:0.1"], chip=0, seed=2,
                               duration_steps=T)
    assert sum(v.size for v in rep.dead_neurons.values()) > 0
    assert np.max(np.abs(rep.engine - rep.clean)) > 3 * rep.brian2.error_bound()
    assert_close(rep.brian2.rates, rep.engine, rep.brian2.error_bound())


# ----------------------------------------------------------------------------- bad inputs
def test_sigmoid_network_rejected(rng, x):
    sig = random_net(rng, [4, 6, 3], "sigmoid")
    with pytest.raises(ConfigError, match="'sigmoid'.*relu"):
        run_brian2(sig, x)


@pytest.mark.parametrize("spec", ["neuron:transient:0.1", "synapse:intermittent:0.1:p_on=0.2:p_off=0.5"])
def test_non_permanent_faults_not_replayable(net, x, spec):
    with pytest.raises(ConfigError, match="Only permanent faults"):
        replay_engine_faults(net, x, ["neuron:permanent:0.1", spec], seed=0)


@pytest.mark.parametrize("kw, match", [
    ({"max_rate_hz": 2000.0}, "at most one spike per step"),
    ({"duration_steps": 0}, "duration_steps"),
    ({"dead_neurons": {3: [0]}}, "layer keys"),
    ({"dead_neurons": {1: [6]}}, "indices must be in 0..5"),
    ({"dead_synapses": {0: [0]}}, "layer keys"),
    ({"codegen_target": "cpp_standalone"}, "runtime mode"),
])
def test_bad_arguments(net, x, kw, match):
    with pytest.raises(ConfigError, match=match):
        run_brian2(net, x, **kw)


def test_codegen_target_restored(net, x):
    import brian2
    before = brian2.prefs.codegen.target
    run_brian2(net, x[:1], duration_steps=50, codegen_target="numpy")
    assert brian2.prefs.codegen.target == before
