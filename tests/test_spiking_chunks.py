"""Spiking ``simulate(first_chip=c)`` and overlapping stuck-at-0 specs on conv spiking layers.

* chips ``c..c+m-1`` of a run are exactly those chips of one larger run with
  the same seed (every draw is keyed by the global chip index): concatenating
  chunked runs equals one run, bit for bit, for permanent, transient,
  intermittent, per-tick, router and core faults;
* two stuck-at-0 specs drawing the same stored conv weight remove it once:
  the engine equals the plain-numpy reference run on the network whose kernel
  weights of the union of both specs' sites are zero.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurosim import FaultSpec, map_network, simulate
from neurosim.layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from neurosim.network import Network
from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites
from neurosim.spiking import LIF, from_arrays
from spiking_reference import reference_run

T = 25
FAULTS = ["neuron:permanent:0.1", "synapse:transient:0.05", "neuron:intermittent:0.3:p_on=0.2:p_off=0.4",
          "synapse:transient:0.02:scope=tick", "router:transient:0.1", "neuron:permanent:0.05:value=saturated",
          "synapse:permanent:0.1:value=0.5"]


def lif_net(rng, sizes=(6, 9, 5)):
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * 20 / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(10, 4, sizes[k + 1]) for k in range(len(sizes) - 1)]
    return from_arrays(Ws, bs, [LIF(tau_s=0.02, v_threshold=0.3) for _ in Ws])


def _check_chunks(target, x, faults, C, steps, **kw):
    whole = simulate(target, x, faults, n_chips=C, seed=7, spike_counts=True, **kw)
    assert np.any(whole.delta != 0)
    for step in steps:
        parts = [(c0, simulate(target, x, faults, n_chips=min(step, C - c0), seed=7, first_chip=c0, spike_counts=True,
                               **kw)) for c0 in range(0, C, step)]
        np.testing.assert_array_equal(np.concatenate([p.delta for _, p in parts]), whole.delta)
        np.testing.assert_array_equal(np.concatenate([p.fault_counts for _, p in parts]), whole.fault_counts)
        np.testing.assert_array_equal(np.concatenate([p.fault_events for _, p in parts]), whole.fault_events)
        for l in whole.spike_counts:
            np.testing.assert_array_equal(np.concatenate([p.spike_counts[l] for _, p in parts]), whole.spike_counts[l])
        for c0, p in parts:
            np.testing.assert_array_equal(p.clean, whole.clean)
            assert p.config.get("first_chip", 0) == c0


@pytest.mark.parametrize("encoding", ["current", "rate"])
def test_chunked_runs_equal_one_run(rng, encoding):
    net = lif_net(rng)
    x = rng.uniform(0, 1, (4, 6))
    _check_chunks(net, x, FAULTS, 7, (1, 3, 4), ticks=T, encoding=encoding)


def test_chunked_runs_equal_one_run_with_core_faults(rng, tiny_profile):
    m = map_network(lif_net(rng), tiny_profile)
    x = rng.uniform(0, 1, (3, 6))
    faults = ["core:permanent:0.2", "core:transient:0.1", "core:intermittent:0.3:p_on=0.3:p_off=0.5",
              "synapse:permanent:0.1", "router:transient:0.05"]
    _check_chunks(m, x, faults, 6, (2, 5), ticks=T)


def test_first_chip_is_not_chip_zero(rng):
    """A chunk starting at c draws chip c's faults, not chip 0's (the old behaviour repeated chips 0..m-1)."""
    net = lif_net(rng)
    x = rng.uniform(0, 1, (3, 6))
    a = simulate_spiking(net, x, "neuron:permanent:0.2", n_chips=1, seed=3, ticks=T, first_chip=0)
    b = simulate_spiking(net, x, "neuron:permanent:0.2", n_chips=1, seed=3, ticks=T, first_chip=1)
    sites = [spiking_fault_sites(net, "neuron:permanent:0.2", chip=c, seed=3)[0] for c in (0, 1)]
    assert any(not np.array_equal(sites[0][l], sites[1][l]) for l in sites[0])
    assert not np.array_equal(a.fault_counts, b.fault_counts) or not np.array_equal(a.delta, b.delta)


def conv_net(rng):
    conv = Conv2d(rng.normal(0, 1, (3, 1, 3, 3)) * 8, stride=1, padding=1)
    layers = [Layer(conv, rng.normal(4, 1, 3), LIF(tau_s=0.02, v_threshold=0.2)),
              Layer(AvgPool2d(2), None, "identity"), Layer(Flatten(), None, "identity"),
              Layer(Dense(rng.normal(0, 1, (4, 12)) * 10), np.full(4, 3.0), LIF(tau_s=0.02, v_threshold=0.2))]
    return Network.from_layers(layers, (1, 4, 4), "conv-snn"), conv, layers


def _without(conv, layers, dead):
    w = conv.weight.copy().ravel()
    w[dead] = 0.0
    return Network.from_layers([Layer(Conv2d(w.reshape(conv.weight.shape), 1, 1), layers[0].bias, layers[0].neuron)]
                               + layers[1:], (1, 4, 4))


@pytest.mark.parametrize("rates", [(1.0, 0.6), (0.5, 0.5), (0.4, 0.3, 0.5)])
def test_overlapping_stuck_at_zero_specs_on_conv_remove_a_weight_once(rng, rates):
    net, conv, layers = conv_net(rng)
    x = rng.uniform(0, 1, (4, 1, 4, 4))
    specs = [FaultSpec("synapse", "permanent", r, layers=(1,)) for r in rates]
    res = simulate_spiking(net, x, specs, n_chips=3, seed=5, ticks=T)
    overlap = False
    for chip in range(3):
        sites = [s[1] for s in spiking_fault_sites(net, specs, chip=chip, seed=5)]
        overlap |= bool(np.intersect1d(sites[0], sites[1]).size)
        ref, _ = reference_run(_without(conv, layers, np.unique(np.concatenate(sites))), x, T)
        np.testing.assert_allclose(res.faulty[chip], ref, rtol=0, atol=1e-12)
    assert overlap  # the test exercises a shared cell


def test_overlapping_conv_stuck_at_zero_with_a_per_tick_spec(rng):
    """A weight dead for the chip's life and also drawn by a per-tick spec: still removed once at that tick."""
    net, conv, layers = conv_net(rng)
    x = rng.uniform(0, 1, (2, 1, 4, 4))
    every = FaultSpec("synapse", "permanent", 1.0, layers=(1,))
    res = simulate_spiking(net, x, [every, "synapse:transient:0.5:scope=tick:layers=1"], n_chips=2, seed=1, ticks=T)
    ref, _ = reference_run(_without(conv, layers, np.arange(conv.weight.size)), x, T)
    for chip in range(2):
        np.testing.assert_allclose(res.faulty[chip], ref, rtol=0, atol=1e-12)
