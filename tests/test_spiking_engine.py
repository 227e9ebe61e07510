"""Spiking engine vs the independent plain-numpy forward-Euler reference (tests/spiking_reference.py).

Spike counts must be equal, not close: both implement DESIGN.md's discretisation
with the same floating-point operations on the neuron state; only the order of
the synaptic sums differs (~1e-16 relative), which flips a spike only if a
membrane lands within that distance of its threshold (not the case for the
random real-valued weights used here; the tests would show it).
"""
import numpy as np
import pytest

from neurosim import ConfigError, FaultSpec
from neurosim.layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from neurosim.network import Network
from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites
from neurosim.spiking import CubaLIF, IF, LI, LIF, Integrator, from_arrays
from spiking_reference import reference_run

T = 40


def make_net(rng, kind="LIF", delay=0, sizes=(6, 12, 4), readout=None, **kw):
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * 25 / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(12, 5, sizes[k + 1]) for k in range(len(sizes) - 1)]
    mk = {"LIF": lambda: LIF(tau_s=0.02, v_threshold=0.3, delay_ticks=delay, **kw),
          "IF": lambda: IF(v_threshold=0.02, delay_ticks=delay, **kw),
          "CubaLIF": lambda: CubaLIF(tau_syn_s=0.004, tau_mem_s=0.02, v_threshold=0.2, delay_ticks=delay, **kw)}[kind]
    neurons = [mk() for _ in Ws]
    if readout == "LI":
        neurons[-1] = LI(tau_s=0.01, delay_ticks=delay)
    elif readout == "I":
        neurons[-1] = Integrator(delay_ticks=delay)
    return from_arrays(Ws, bs, neurons)


@pytest.fixture
def x(rng):
    return rng.uniform(0, 1, (5, 6))


def check_equal(net, x, res, **ref_kw):
    ref, rc = reference_run(net, x, res.ticks, **ref_kw)
    if res.clean_spike_counts is not None and not ref_kw:
        for l, c in rc.items():
            if l in res.clean_spike_counts:
                np.testing.assert_array_equal(res.clean_spike_counts[l], c)
    return ref, rc


@pytest.mark.parametrize("kind", ["IF", "LIF", "CubaLIF"])
@pytest.mark.parametrize("delay", [0, 1, 2])
def test_clean_counts_equal_reference(rng, x, kind, delay):
    net = make_net(rng, kind, delay)
    res = simulate_spiking(net, x, [], ticks=T, spike_counts=True, seed=0)
    ref, rc = check_equal(net, x, res)
    assert rc[1].sum() > 0 and 0 < rc[2].mean() < T  # activity neither dead nor saturated
    np.testing.assert_array_equal(res.clean, ref)
    assert np.all(res.delta == 0)


@pytest.mark.parametrize("opts", [dict(reset="subtract"), dict(refractory_ticks=3), dict(v_reset=-0.1)])
def test_reset_and_refractory_equal_reference(rng, x, opts):
    net = make_net(rng, "LIF", 0, **opts)
    res = simulate_spiking(net, x, [], ticks=T, spike_counts=True)
    ref, rc = check_equal(net, x, res)
    np.testing.assert_array_equal(res.clean, ref)


@pytest.mark.parametrize("readout", ["LI", "I"])
def test_membrane_readout(rng, x, readout):
    net = make_net(rng, "LIF", 1, readout=readout)
    res = simulate_spiking(net, x, [], ticks=T)
    ref, _ = reference_run(net, x, T)
    np.testing.assert_allclose(res.clean, ref, rtol=1e-12, atol=1e-12)
    assert np.std(ref) > 0


def test_permanent_faults_equal_reference(rng, x):
    net = make_net(rng, "LIF", 1)
    faults = [FaultSpec("neuron", "permanent", 0.25, layers=(0, 1)),
              FaultSpec("neuron", "permanent", 0.15, layers=(1,), value="saturated"),
              FaultSpec("synapse", "permanent", 0.1),
              FaultSpec("neuron", "permanent", 0.3, value="threshold_scale", scale=0.7),
              FaultSpec("neuron", "permanent", 0.3, value="leak_scale", scale=1.6)]
    res = simulate_spiking(net, x, faults, n_chips=3, seed=7, ticks=T, spike_counts=True)
    moved = 0
    for chip in range(3):
        sites = spiking_fault_sites(net, faults, chip=chip, seed=7)
        dead = {l: np.isin(np.arange(net.sizes[l]), sites[0].get(l, [])) for l in (0, 1)}
        sat = {1: np.isin(np.arange(net.sizes[1]), sites[1][1])}
        syn = {l: np.isin(np.arange(W.size), sites[2][l]).reshape(W.shape) for l, W in enumerate(net.weights, 1)}
        thr = {l: np.where(np.isin(np.arange(net.sizes[l]), sites[3][l]), 0.7, 1.0) for l in (1, 2)}
        leak = {l: np.where(np.isin(np.arange(net.sizes[l]), sites[4][l]), 1.6, 1.0) for l in (1, 2)}
        ref, rc = reference_run(net, x, T, dead=dead, saturated=sat, dead_synapses=syn, thr_scale=thr, leak_scale=leak)
        np.testing.assert_allclose(res.faulty[chip], ref, rtol=0, atol=1e-12)  # faulty = clean + delta
        for l in (1, 2):
            np.testing.assert_array_equal(res.spike_counts[l][chip], rc[l])
        moved += np.any(res.delta[chip] != 0)
        # fault counts: distinct sites per chip
        assert res.fault_counts[chip, 0, 1] == len(sites[0][1])
        assert res.fault_counts[chip, 2, 2] == len(sites[2][2])
    assert moved == 3


def test_all_dead_and_all_saturated_hidden_layer(rng, x):
    net = make_net(rng, "LIF", 0)
    n1 = net.sizes[1]
    dead = simulate_spiking(net, x, "neuron:permanent:1.0:layers=1", ticks=T, spike_counts=True)
    assert np.all(dead.spike_counts[1] == 0)
    # layer 2 then sees only its bias b2: every input gives the same output, that of a constant current b2
    only_bias = reference_run(net, np.zeros((1, 6)), T, dead={1: np.ones(n1, bool)})[0]
    np.testing.assert_allclose(dead.faulty[0], np.repeat(only_bias, len(x), axis=0), rtol=0, atol=1e-12)
    sat = simulate_spiking(net, x, "neuron:permanent:1.0:layers=1:value=saturated", ticks=T, spike_counts=True)
    assert np.all(sat.spike_counts[1] == T)
    # layer 2 sees W2 @ 1 + b2 every tick, whatever the input
    want = reference_run(net, np.zeros((1, 6)), T, saturated={1: np.ones(n1, bool)})[0]
    np.testing.assert_allclose(sat.faulty[0], np.repeat(want, len(x), axis=0), rtol=0, atol=1e-12)
    assert not np.allclose(want, only_bias)


def test_rate_zero_changes_nothing(rng, x):
    net = make_net(rng, "CubaLIF", 1)
    base = simulate_spiking(net, x, [], ticks=T, seed=3, encoding="rate", spike_counts=True)
    zero = [FaultSpec(s, "transient", 0.0) for s in ("neuron", "synapse", "router")] + [
        FaultSpec("neuron", "transient", 0.0, scope="tick"), FaultSpec("neuron", "permanent", 0.0, value="saturated")]
    res = simulate_spiking(net, x, zero, n_chips=2, ticks=T, seed=3, encoding="rate", spike_counts=True)
    assert np.all(res.delta == 0)
    np.testing.assert_array_equal(res.clean, base.clean)
    for l in base.clean_spike_counts:
        np.testing.assert_array_equal(res.spike_counts[l][1], base.clean_spike_counts[l])
    assert res.fault_counts.sum() == 0 and res.fault_events.sum() == 0


FAULTS = ["neuron:transient:0.05", "neuron:transient:0.02:scope=tick", "synapse:transient:0.03:scope=tick",
          "router:transient:0.1", "neuron:intermittent:0.2:p_on=0.1:p_off=0.3:scope=tick",
          "synapse:permanent:0.05", "neuron:permanent:0.05:value=saturated"]


@pytest.mark.parametrize("encoding", ["current", "rate"])
def test_bit_identical_threads_and_chunks(rng, encoding):
    net = make_net(rng, "LIF", 0, sizes=(6, 30, 20, 4))
    x = rng.uniform(0, 1, (37, 6))
    a = simulate_spiking(net, x, FAULTS, n_chips=9, seed=11, ticks=25, threads=1, encoding=encoding, spike_counts=True)
    b = simulate_spiking(net, x, FAULTS, n_chips=9, seed=11, ticks=25, threads=2, chunk_rows=50, encoding=encoding,
                         spike_counts=True)
    np.testing.assert_array_equal(a.delta, b.delta)
    np.testing.assert_array_equal(a.fault_counts, b.fault_counts)
    np.testing.assert_array_equal(a.fault_events, b.fault_events)
    for l in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[l], b.spike_counts[l])
    assert np.any(a.delta != 0)


def test_rate_coding_equals_reference_on_its_spike_trains(rng, x):
    net = make_net(rng, "IF", 0)
    res = simulate_spiking(net, x, [], ticks=200, encoding="rate", spike_trains=True, spike_counts=True, seed=5)
    trains = res.clean_spike_trains[0]
    # Bernoulli(x) per tick: counts within 5 standard deviations of x * T
    sd = np.sqrt(200 * x * (1 - x)) + 1e-9
    assert np.all(np.abs(trains.sum(1) - 200 * x) <= 5 * sd + 1)
    ref, rc = reference_run(net, x, 200, rate_spikes=trains)
    np.testing.assert_array_equal(res.clean, ref)
    np.testing.assert_array_equal(res.clean_spike_counts[1], rc[1])


def test_router_drops_every_spike_at_rate_one(rng, x):
    net = make_net(rng, "LIF", 0)
    res = simulate_spiking(net, x, "router:transient:1.0:layers=1", ticks=T, spike_counts=True)
    # layer 1 still fires, but nothing reaches layer 2: it sees only its bias
    assert res.spike_counts[1].sum() > 0
    only_bias = reference_run(net, np.zeros((1, 6)), T, dead={1: np.ones(net.sizes[1], bool)})[0]
    np.testing.assert_allclose(res.faulty[0], np.repeat(only_bias, len(x), axis=0), rtol=0, atol=1e-12)
    assert res.fault_events[0, 0, 1] == res.spike_counts[1].sum()


def test_transient_event_counts(rng):
    net = make_net(rng, "LIF", 0, sizes=(6, 50, 4))
    x = rng.uniform(0, 1, (40, 6))
    p = 0.05
    res = simulate_spiking(net, x, [f"neuron:transient:{p}:layers=1", f"neuron:transient:{p}:layers=1:scope=tick"],
                           n_chips=5, seed=2, ticks=20)
    n = 5 * 40 * 50
    for k, mult in ((0, 1), (1, 20)):
        got = res.fault_counts[:, k, 1].sum()
        mean = p * n * mult
        assert abs(got - mean) <= 5 * np.sqrt(mean * (1 - p)), (k, got, mean)


def test_conv_spiking_net_equals_reference(rng):
    conv = Conv2d(rng.normal(0, 1, (3, 1, 3, 3)) * 8, stride=1, padding=1)
    layers = [Layer(conv, rng.normal(4, 1, 3), LIF(tau_s=0.02, v_threshold=0.2)),
              Layer(AvgPool2d(2), None, "identity"), Layer(Flatten(), None, "identity"),
              Layer(Dense(rng.normal(0, 1, (4, 12)) * 10), np.full(4, 3.0), LIF(tau_s=0.02, v_threshold=0.2))]
    net = Network.from_layers(layers, (1, 4, 4), "conv-snn")
    x = rng.uniform(0, 1, (4, 1, 4, 4))
    res = simulate_spiking(net, x, "synapse:permanent:0.2:layers=1", ticks=T, spike_counts=True, seed=4)
    ref, rc = reference_run(net, x, T)
    np.testing.assert_array_equal(res.clean, ref)
    # a stuck kernel weight is stuck at every position it serves
    sites = spiking_fault_sites(net, "synapse:permanent:0.2:layers=1", seed=4)[0][1]
    w = conv.weight.copy().ravel()
    w[sites] = 0.0
    faulty = Network.from_layers([Layer(Conv2d(w.reshape(conv.weight.shape), 1, 1), layers[0].bias, layers[0].neuron)]
                                 + layers[1:], (1, 4, 4))
    np.testing.assert_allclose(res.faulty[0], reference_run(faulty, x, T)[0], rtol=0, atol=1e-12)
    assert np.any(res.delta != 0)


@pytest.mark.parametrize("bad, match", [
    (lambda: LIF(tau_s=0.0), "tau_s"), (lambda: LIF(tau_s=-1.0), "tau_s"), (lambda: LIF(v_threshold=np.nan), "finite"),
    (lambda: CubaLIF(tau_syn_s=0.0), "tau_syn_s"), (lambda: IF(refractory_ticks=1.5), "refractory"),
    (lambda: LIF(reset="half"), "reset"),
])
def test_bad_neuron_parameters_refused(bad, match):
    with pytest.raises(ConfigError, match=match):
        bad()


def test_bad_run_parameters_refused(rng, x):
    net = make_net(rng, "LIF", 0)
    for kw, match in ((dict(ticks=0), "ticks"), (dict(ticks=-3), "ticks"), (dict(dt_s=0.02), "dt < tau"),
                      (dict(dt_s=0.05), "dt < tau"), (dict(dt_s=float("nan")), "dt_s"), (dict(dt_s=-1e-3), "dt_s"),
                      (dict(encoding="poisson"), "encoding")):
        with pytest.raises(ConfigError, match=match) as e:
            simulate_spiking(net, x, [], **kw)
        assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        simulate_spiking(net, x * 3, [], encoding="rate")
    with pytest.raises(ConfigError, match="rate activation"):
        simulate_spiking(Network.from_arrays([np.ones((2, 6)), np.ones((1, 2))], [np.zeros(2), np.zeros(1)], "relu"), x, [])


def test_device_non_idealities_refused_in_spiking_mode(rng, x):
    """simulate(devices=/age=) on a spiking network: one line, not silently ideal devices."""
    from neurosim import simulate
    net = make_net(rng, "LIF", 0)
    for kw in (dict(devices=True), dict(devices=True, age="1y"), dict(age=3600.0)):
        with pytest.raises(ConfigError, match="--devices/--age on the command line.*rate mode only") as e:
            simulate(net, x, ["neuron:permanent:0.1"], ticks=T, **kw)
        assert "\n" not in str(e.value)
    assert simulate(net, x, ["neuron:permanent:0.1"], ticks=T, devices=None, seed=1).delta.shape[1] == x.shape[0]


@pytest.mark.parametrize("faults", [["neuron:permanent:0.3:layers=2"], ["neuron:permanent:0.02", "synapse:transient:0.002"],
                                    ["router:transient:0.2:layers=2", "neuron:transient:0.05:layers=3:scope=tick"],
                                    ["router:transient:0.1:layers=1", "neuron:permanent:0.1:layers=2"],
                                    ["synapse:permanent:0.05:layers=2,3",
                                     "neuron:permanent:0.2:layers=3:value=threshold_scale:scale=0.7"]])
def test_clean_reuse_is_exact(rng, monkeypatch, faults):
    """Fault-free rows and layers copied from the clean run give exactly the fully computed result."""
    import neurosim.sim.spiking as M

    net = make_net(rng, "LIF", 1, sizes=(6, 20, 15, 4))
    x = rng.uniform(0, 1, (9, 6))
    a = simulate_spiking(net, x, faults, n_chips=12, seed=1, ticks=30, spike_counts=True, spike_trains=True)
    monkeypatch.setattr(M, "CLEAN_TRAIN_BYTES", 0)
    b = simulate_spiking(net, x, faults, n_chips=12, seed=1, ticks=30, spike_counts=True, spike_trains=True)
    np.testing.assert_array_equal(a.delta, b.delta)
    for l in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[l], b.spike_counts[l])
        np.testing.assert_array_equal(a.spike_trains[l], b.spike_trains[l])
    assert np.any(a.delta != 0)
