"""NIR spiking graphs (written by ``nir.write``) load, simulate and write back (acceptance of the spiking issue).

Affine -> LIF -> Affine -> LIF: spike counts equal the independent
forward-Euler reference (same-tick chain, NIR's default) and Brian2 (with
delay_ticks=1, Brian2's schedule); all-dead / all-saturated hidden layers give
the outputs a bias-only / all-ones input to layer 2 gives.
"""
import numpy as np
import pytest

nir = pytest.importorskip("nir")

import neurosim  # noqa: E402
from neurosim.io.nir_io import from_nir, to_nir  # noqa: E402
from neurosim.sim.spiking import simulate_spiking  # noqa: E402
from neurosim.spiking.network import with_delay  # noqa: E402
from spiking_reference import reference_run  # noqa: E402

T, DT = 50, 1e-3


def write_graph(rng, path):
    W1 = rng.normal(0, 1, (10, 5)) * 12
    W2 = rng.normal(0, 1, (3, 10)) * 8
    n1, n2 = 10, 3
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([5])}),
            "fc1": nir.Affine(weight=W1, bias=rng.normal(6, 2, n1)),
            "lif1": nir.LIF(tau=np.full(n1, 0.02), r=np.ones(n1), v_leak=np.zeros(n1), v_threshold=np.full(n1, 0.2),
                            v_reset=np.zeros(n1)),
            "fc2": nir.Affine(weight=W2, bias=rng.normal(4, 1, n2)),
            "lif2": nir.LIF(tau=np.full(n2, 0.01), r=np.full(n2, 1.5), v_leak=np.full(n2, 0.05),
                            v_threshold=np.full(n2, 0.15), v_reset=np.zeros(n2)),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")],
    )
    nir.write(str(path), g)
    return g


@pytest.fixture
def nir_net(rng, tmp_path):
    write_graph(rng, tmp_path / "snn.nir")
    return neurosim.load_network(tmp_path / "snn.nir")


@pytest.fixture
def x(rng):
    return rng.uniform(0, 1, (6, 5))


def test_nir_lif_graph_equals_reference(nir_net, x):
    assert nir_net.activations == ("LIF", "LIF")
    res = simulate_spiking(nir_net, x, [], ticks=T, dt_s=DT, spike_counts=True)
    ref, rc = reference_run(nir_net, x, T, dt_s=DT)
    for l in (1, 2):
        np.testing.assert_array_equal(res.clean_spike_counts[l], rc[l])
    assert 0 < rc[1].mean() < T and 0 < rc[2].mean() < T
    np.testing.assert_array_equal(res.clean, ref)


def test_nir_lif_graph_equals_brian2(nir_net, x):
    pytest.importorskip("brian2")
    from neurosim.spiking import run_brian2_network

    net1 = with_delay(nir_net, 1)
    ours = simulate_spiking(nir_net, x, [], ticks=T, dt_s=DT, delay_ticks=1, spike_trains=True)
    b2 = run_brian2_network(net1, x, T, dt_s=DT, record_trains=True)
    for l in (1, 2):
        np.testing.assert_array_equal(ours.clean_spike_trains[l], b2.spike_trains[l])


def test_nir_all_dead_and_saturated_hidden(nir_net, x):
    n1 = nir_net.sizes[1]
    dead = simulate_spiking(nir_net, x, "neuron:permanent:1:layers=1", ticks=T, spike_counts=True)
    want = reference_run(nir_net, x[:1], T, dead={1: np.ones(n1, bool)})[0]
    np.testing.assert_allclose(dead.faulty[0], np.repeat(want, len(x), 0), rtol=0, atol=1e-12)
    sat = simulate_spiking(nir_net, x, "neuron:permanent:1:layers=1:value=saturated", ticks=T, spike_counts=True)
    assert np.all(sat.spike_counts[1] == T)
    want_s = reference_run(nir_net, x[:1], T, saturated={1: np.ones(n1, bool)})[0]
    np.testing.assert_allclose(sat.faulty[0], np.repeat(want_s, len(x), 0), rtol=0, atol=1e-12)
    assert not np.array_equal(want, want_s)


def test_to_nir_round_trip_keeps_settings(nir_net, tmp_path, x):
    from neurosim.spiking import CubaLIF, IF, LI, from_arrays

    rng = np.random.default_rng(1)
    net = from_arrays([rng.normal(size=(4, 5)), rng.normal(size=(4, 4)), rng.normal(size=(2, 4))],
                      [np.ones(4), np.ones(4), np.zeros(2)],
                      [IF(v_threshold=0.3, reset="subtract", refractory_ticks=2),
                       CubaLIF(tau_syn_s=0.003, w_in=np.linspace(0.5, 1, 4), delay_ticks=1), LI(tau_s=0.05)])
    nir.write(str(tmp_path / "b.nir"), to_nir(net))
    back = neurosim.load_network(tmp_path / "b.nir")
    assert back.activations == ("IF", "CubaLIF", "LI")
    for a, b in zip(net.layers, back.layers):
        assert set(a.neuron.params) == set(b.neuron.params)
        for k in a.neuron.params:
            np.testing.assert_array_equal(np.broadcast_to(a.neuron.params[k], b.neuron.params[k].shape)
                                          if np.ndim(b.neuron.params[k]) else a.neuron.params[k], b.neuron.params[k])
    np.testing.assert_array_equal(simulate_spiking(net, x, [], ticks=20).clean,
                                  simulate_spiking(back, x, [], ticks=20).clean)
    # native HDF5 format round trip too
    neurosim.save_network(net, tmp_path / "b.h5")
    again = neurosim.load_network(tmp_path / "b.h5")
    np.testing.assert_array_equal(simulate_spiking(net, x, [], ticks=20).clean,
                                  simulate_spiking(again, x, [], ticks=20).clean)


def test_cubali_refused_with_one_line(tmp_path):
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                            "fc": nir.Affine(weight=np.ones((2, 2)), bias=np.zeros(2)),
                            "cli": nir.CubaLI(tau_syn=np.full(2, 0.01), tau_mem=np.full(2, 0.02), r=np.ones(2),
                                              v_leak=np.zeros(2), w_in=np.ones(2)),
                            "output": nir.Output(output_type={"output": np.array([2])})},
                     edges=[("input", "fc"), ("fc", "cli"), ("cli", "output")])
    with pytest.raises(neurosim.ConfigError, match="CubaLI") as e:
        from_nir(g)
    assert "\n" not in str(e.value)
