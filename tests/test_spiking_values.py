"""Synapse fault values in spiking mode vs the plain-numpy forward-Euler reference (tests/spiking_reference.py).

A synapse stuck at ``v`` is the network whose ``W_ij`` is ``v``: the reference
runs that network (weights replaced on the engine's own fault sites,
``spiking_fault_sites``), with the dead-synapse masks of any stuck-at-0 spec.
"""
from __future__ import annotations

import numpy as np
import pytest

from neurosim import ConfigError, FaultSpec
from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites
from neurosim.spiking import LIF, from_arrays
from spiking_reference import reference_run

T = 30


def make_net(rng, sizes=(6, 12, 4)):
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * 25 / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(12, 5, sizes[k + 1]) for k in range(len(sizes) - 1)]
    return from_arrays(Ws, bs, [LIF(tau_s=0.02, v_threshold=0.3, delay_ticks=1) for _ in Ws])


def with_values(net, sites, specs):
    """The network with every faulty synapse holding its value (later spec wins), and dead masks of none."""
    Ws = [np.array(W, dtype=np.float64) for W in net.weights]
    for spec, st in zip(specs, sites):
        if spec.site != "synapse":
            continue
        for l, cells in st.items():
            W0 = np.asarray(net.weights[l - 1]).reshape(-1)
            fv = spec.fault_value
            flat = Ws[l - 1].reshape(-1)
            if fv.is_zero:
                flat[cells] = 0.0
            elif fv.kind == "scale":
                flat[cells] = fv.number * W0[cells]
            elif fv.kind in ("max", "min"):
                flat[cells] = fv.range[1] if fv.kind == "max" else fv.range[0]
            else:
                flat[cells] = fv.number
    return from_arrays(Ws, [np.asarray(b) for b in net.biases], [la.neuron for la in net.layers])


@pytest.mark.parametrize("specs", [
    [FaultSpec("synapse", "permanent", 0.15, value=0.5)],
    [FaultSpec("synapse", "permanent", 0.2, value="scale", scale=-0.5)],
    [FaultSpec("synapse", "permanent", 0.1, layers=(1,), value="max", range=(-2.0, 3.0)),
     FaultSpec("synapse", "permanent", 0.3, value="min", range=(-2.0, 3.0))],
    [FaultSpec("synapse", "permanent", 0.3), FaultSpec("synapse", "permanent", 0.3, value=-1.25)],
])
def test_permanent_synapse_values_equal_reference(rng, specs):
    net = make_net(rng)
    x = rng.uniform(0, 1, (5, 6))
    res = simulate_spiking(net, x, specs, n_chips=3, seed=11, ticks=T)
    moved = 0
    for chip in range(3):
        sites = spiking_fault_sites(net, specs, chip=chip, seed=11)
        ref, _ = reference_run(with_values(net, sites, specs), x, T)
        np.testing.assert_allclose(res.faulty[chip], ref, rtol=0, atol=1e-12)
        moved += np.any(res.delta[chip] != 0)
    assert moved == 3


def test_rate_one_value_is_the_network_with_that_weight(rng):
    """Every W_1 cell at 0.5: exactly the network with W_1 = 0.5 (deterministic extreme)."""
    net = make_net(rng)
    x = rng.uniform(0, 1, (4, 6))
    res = simulate_spiking(net, x, [FaultSpec("synapse", "permanent", 1.0, layers=(1,), value=0.5)], ticks=T, seed=0)
    Ws = [np.full(net.weights[0].shape, 0.5), np.asarray(net.weights[1])]
    ref, _ = reference_run(from_arrays(Ws, list(net.biases), [la.neuron for la in net.layers]), x, T)
    np.testing.assert_allclose(res.faulty[0], ref, rtol=0, atol=1e-12)


def test_transient_values_bit_identical_across_threads_and_chunks(rng):
    net = make_net(rng, sizes=(6, 40, 4))
    x = rng.uniform(0, 1, (7, 6))
    f = [FaultSpec("synapse", "transient", 0.05, value=2.0), FaultSpec("synapse", "permanent", 0.05, value="scale",
                                                                       scale=0.5)]
    a = simulate_spiking(net, x, f, n_chips=4, seed=3, ticks=T, threads=1)
    b = simulate_spiking(net, x, f, n_chips=4, seed=3, ticks=T, threads=2, chunk_rows=3)
    np.testing.assert_array_equal(a.delta, b.delta)
    assert np.any(a.delta != 0)


@pytest.mark.parametrize("spec, match", [
    (FaultSpec("synapse", "transient", 0.1, value=0.5, scope="tick"), "scope=tick are not simulated"),
    (FaultSpec("neuron", "permanent", 0.1, layers=(1,), value=0.5), "holds no number"),
    (FaultSpec("synapse", "permanent", 0.1, value="max"), "float weights"),
])
def test_unsupported_spiking_values_refused_in_one_line(rng, spec, match):
    with pytest.raises(ConfigError, match=match) as e:
        simulate_spiking(make_net(rng), rng.uniform(0, 1, (2, 6)), [spec], ticks=5)
    assert "\n" not in str(e.value)


def test_overlapping_stuck_at_zero_specs_remove_a_cell_once(rng):
    """Two stuck-at-0 synapse specs drawing the same cell: the cell is gone once (not subtracted twice)."""
    net = make_net(rng)
    x = rng.uniform(0, 1, (3, 6))
    f = [FaultSpec("synapse", "permanent", 1.0, layers=(1,)), FaultSpec("synapse", "permanent", 0.6, layers=(1,))]
    res = simulate_spiking(net, x, f, ticks=T, seed=2)
    ref, _ = reference_run(net, x, T, dead_synapses={1: np.ones(net.weights[0].shape, bool)})
    np.testing.assert_allclose(res.faulty[0], ref, rtol=0, atol=1e-12)
    f = [FaultSpec("synapse", "permanent", 0.4), FaultSpec("synapse", "permanent", 0.4)]
    res = simulate_spiking(net, x, f, n_chips=2, seed=5, ticks=T)
    for chip in range(2):
        sites = spiking_fault_sites(net, f, chip=chip, seed=5)
        dead = {l: np.isin(np.arange(W.size), np.union1d(sites[0][l], sites[1][l])).reshape(W.shape)
                for l, W in enumerate(net.weights, start=1)}
        ref, _ = reference_run(net, x, T, dead_synapses=dead)
        np.testing.assert_allclose(res.faulty[chip], ref, rtol=0, atol=1e-12)
