"""Core faults on mapped spiking networks (DESIGN.md "Semantics": a dead core's neurons and synapses are stuck at 0).

References: Brian2 (numpy code generation) replaying a chip's dead cores as
dead neurons and missing synapses, tick for tick; the deterministic extremes
(rate 1: every mapped neuron dead; rate 0: nothing changes); Monte Carlo of
transient core faults against the exact expectation over all dead-core
subsets (each subset replayed in Brian2), within 5 standard errors.
"""
import itertools

import numpy as np
import pytest

pytest.importorskip("brian2")

from neurosim import map_network  # noqa: E402
from neurosim.chip.profile import profile_from_dict  # noqa: E402
from neurosim.errors import ConfigError  # noqa: E402
from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites  # noqa: E402
from neurosim.sim.spiking_faults import core_fault_masks  # noqa: E402
from neurosim.spiking import IF, LIF, from_arrays, run_brian2_network  # noqa: E402
from tests.conftest import tiny_profile_dict  # noqa: E402

T = 30


def lif_net(rng, sizes=(6, 9, 5)):
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * 20 / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(10, 4, sizes[k + 1]) for k in range(len(sizes) - 1)]
    return from_arrays(Ws, bs, [LIF(tau_s=0.02, v_threshold=0.3, delay_ticks=1) for _ in Ws])


@pytest.fixture
def mapped(rng, tiny_profile):
    m = map_network(lif_net(rng), tiny_profile)
    assert m.n_cores >= 6
    return m


def brian2_of(m, x, cores, syn_sites=None):
    dead, syn = core_fault_masks(m, cores)
    if syn_sites is not None:
        for l, idx in syn_sites.items():
            syn[l].ravel()[idx] = True
    return run_brian2_network(m.qnet, x, T, dead=dead, dead_synapses=syn, record_trains=True)


def test_permanent_core_faults_equal_brian2_tick_for_tick(rng, mapped):
    x = rng.uniform(0, 1, (3, 6))
    faults = ["core:permanent:0.3", "synapse:permanent:0.2"]
    ours = simulate_spiking(mapped, x, faults, n_chips=3, seed=11, ticks=T, spike_trains=True)
    changed = 0
    for chip in range(3):
        cores, syn = spiking_fault_sites(mapped, faults, chip=chip, seed=11)
        assert ours.fault_counts[chip, 0, 0] == cores[0].size
        b2 = brian2_of(mapped, x, cores[0], syn)
        for l in (1, 2):
            np.testing.assert_array_equal(ours.spike_trains[l][chip], b2.spike_trains[l])
        changed += int(np.any(ours.spike_trains[1][chip] != ours.clean_spike_trains[1]))
    assert changed > 0
    # the clean run is the mapped (quantised) network, also Brian2's
    np.testing.assert_array_equal(ours.clean, run_brian2_network(mapped.qnet, x, T).outputs)


def test_rate_one_kills_every_mapped_neuron_and_rate_zero_changes_nothing(rng, mapped):
    x = rng.uniform(0, 1, (4, 6))
    r1 = simulate_spiking(mapped, x, "core:permanent:1", n_chips=2, seed=1, ticks=T, spike_counts=True)
    assert all(int(c.sum()) == 0 for c in r1.spike_counts.values())
    assert np.all(r1.clean + r1.delta == 0.0) and np.any(r1.clean > 0)
    assert np.all(r1.fault_counts[:, 0, 0] == mapped.n_cores)
    for mode in ("permanent", "transient", "intermittent"):
        spec = f"core:{mode}:0" + (":p_on=0.3:p_off=0.5" if mode == "intermittent" else "")
        r0 = simulate_spiking(mapped, x, spec, n_chips=2, seed=1, ticks=T)
        assert np.all(r0.delta == 0.0) and np.all(r0.fault_counts == 0)


def test_transient_core_faults_match_exact_expectation(rng, tiny_profile):
    """Mean output spike rate under transient dead cores vs the exact mixture over dead-core subsets."""
    prof = profile_from_dict(tiny_profile_dict(core__crossbar_rows=4, core__crossbar_cols=2, core__crossbars_per_core=1,
                                               core__neurons_per_core=2))
    m = map_network(lif_net(rng, (4, 4, 3)), prof)
    n = m.n_cores
    assert 3 <= n <= 6
    x = rng.uniform(0, 1, (2, 4))
    p = 0.3
    exact = np.zeros((2, 3))
    for dead in itertools.product((0, 1), repeat=n):
        cores = np.flatnonzero(dead)
        w = p ** cores.size * (1 - p) ** (n - cores.size)
        exact += w * brian2_of(m, x, cores).outputs
    C = 1500
    res = simulate_spiking(m, x, f"core:transient:{p}", n_chips=C, seed=3, ticks=T)
    y = res.clean[None] + res.delta
    se = y.std(0, ddof=1) / np.sqrt(C)
    assert np.all(np.abs(y.mean(0) - exact) <= 5 * se + 1e-12)
    assert np.any(se > 0)
    # fault events: Binomial(n_cores * inputs, p) per chip
    ev = res.fault_events[:, 0, 0]
    assert abs(ev.mean() - p * n * 2) <= 5 * np.sqrt(p * (1 - p) * n * 2 / C)


def test_core_fault_refusals(rng, mapped):
    x = rng.uniform(0, 1, (2, 6))
    with pytest.raises(ConfigError, match="need a mapping"):
        simulate_spiking(mapped.qnet, x, "core:permanent:0.1", ticks=5)
    with pytest.raises(ConfigError, match="scope=tick"):
        simulate_spiking(mapped, x, "core:transient:0.1:scope=tick", ticks=5)


def test_core_faults_bit_identical_for_threads_and_chunks(rng, mapped):
    x = rng.uniform(0, 1, (5, 6))
    kw = dict(n_chips=7, seed=2, ticks=T, spike_counts=True)
    a = simulate_spiking(mapped, x, ["core:intermittent:0.4:p_on=0.3:p_off=0.5", "neuron:permanent:0.1"], threads=1, **kw)
    b = simulate_spiking(mapped, x, ["core:intermittent:0.4:p_on=0.3:p_off=0.5", "neuron:permanent:0.1"], threads=2,
                         chunk_rows=3, **kw)
    np.testing.assert_array_equal(a.delta, b.delta)
    np.testing.assert_array_equal(a.fault_events, b.fault_events)
    for l in a.spike_counts:
        np.testing.assert_array_equal(a.spike_counts[l], b.spike_counts[l])


def test_if_network_maps_and_simulates_through_simulate(rng, tiny_profile):
    import neurosim

    net = from_arrays([rng.normal(size=(5, 4)) * 3], [np.full(5, 1.0)], [IF(v_threshold=0.01)])
    m = map_network(net, tiny_profile)
    r = neurosim.simulate(m, rng.uniform(0, 1, (2, 4)), "core:permanent:1", n_chips=1, seed=0, ticks=10)
    assert r.config["target"] == "mapping" and r.config["profile"] == "tiny"
    assert np.all(r.clean + r.delta == 0.0)


def test_valued_synapses_on_dead_cores_are_not_corrected_twice(rng, mapped):
    """Every core dead: a synapse value fault on top changes nothing (its cells are already gone with their tiles)."""
    x = rng.uniform(0, 1, (3, 6))
    a = simulate_spiking(mapped, x, ["core:permanent:1", "synapse:permanent:0.5:value=0.3"], n_chips=2, seed=1,
                         ticks=T, spike_counts=True)
    b = simulate_spiking(mapped, x, ["core:permanent:1"], n_chips=2, seed=1, ticks=T, spike_counts=True)
    np.testing.assert_array_equal(a.delta, b.delta)
    assert all(int(c.sum()) == 0 for c in a.spike_counts.values())
