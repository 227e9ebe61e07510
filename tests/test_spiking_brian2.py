"""Spiking engine vs Brian2 (numpy code generation): tick-for-tick spike trains and fault statistics.

Brian2 delivers a spike emitted at tick k at tick k + 1 (its thresholds ->
synapses -> resets schedule), so these runs use ``delay_ticks=1``. The neuron
update in Brian2 is explicit forward-Euler abstract code (neurosim.spiking.brian2_net),
so spike trains must be equal tick for tick, clean and with permanent faults.
Transient faults use different random streams: means are compared within
5 standard errors (two-sample, per output neuron and input).
"""
import numpy as np
import pytest

pytest.importorskip("brian2")

from neurosim import FaultSpec  # noqa: E402
from neurosim.sim.spiking import simulate_spiking, spiking_fault_sites  # noqa: E402
from neurosim.spiking import CubaLIF, IF, LI, LIF, from_arrays, run_brian2_network  # noqa: E402

T = 40


def net_of(rng, kind, sizes=(6, 12, 4), readout=None, **kw):
    Ws = [rng.normal(0, 1, (sizes[k + 1], sizes[k])) * 25 / np.sqrt(sizes[k]) for k in range(len(sizes) - 1)]
    bs = [rng.normal(12, 5, sizes[k + 1]) for k in range(len(sizes) - 1)]
    mk = {"LIF": lambda: LIF(tau_s=0.02, v_threshold=0.3, delay_ticks=1, **kw),
          "IF": lambda: IF(v_threshold=0.02, delay_ticks=1, **kw),
          "CubaLIF": lambda: CubaLIF(tau_syn_s=0.004, tau_mem_s=0.02, v_threshold=0.2, delay_ticks=1, **kw)}[kind]
    neurons = [mk() for _ in Ws]
    if readout == "LI":
        neurons[-1] = LI(tau_s=0.01, delay_ticks=1)
    return from_arrays(Ws, bs, neurons)


@pytest.fixture
def x(rng):
    return rng.uniform(0, 1, (4, 6))


@pytest.mark.parametrize("kind, kw", [("LIF", {}), ("IF", {"refractory_ticks": 2}), ("CubaLIF", {"reset": "subtract"})])
def test_clean_spike_trains_equal_tick_for_tick(rng, x, kind, kw):
    net = net_of(rng, kind, **kw)
    ours = simulate_spiking(net, x, [], ticks=T, spike_trains=True)
    b2 = run_brian2_network(net, x, T, record_trains=True)
    for l in (1, 2):
        assert b2.spike_trains[l].sum() > 0
        np.testing.assert_array_equal(ours.clean_spike_trains[l], b2.spike_trains[l])
    np.testing.assert_array_equal(ours.clean, b2.outputs)


def test_li_readout_membrane_equals(rng, x):
    net = net_of(rng, "LIF", readout="LI")
    ours = simulate_spiking(net, x, [], ticks=T)
    b2 = run_brian2_network(net, x, T)
    np.testing.assert_allclose(ours.clean, b2.outputs, rtol=1e-12, atol=1e-12)


def test_permanent_faults_equal_tick_for_tick(rng, x):
    net = net_of(rng, "LIF")
    faults = [FaultSpec("neuron", "permanent", 0.2), FaultSpec("neuron", "permanent", 0.15, layers=(1,), value="saturated"),
              FaultSpec("synapse", "permanent", 0.1),
              FaultSpec("neuron", "permanent", 0.3, value="threshold_scale", scale=0.6),
              FaultSpec("neuron", "permanent", 0.3, value="leak_scale", scale=1.5)]
    ours = simulate_spiking(net, x, faults, n_chips=2, seed=5, ticks=T, spike_trains=True)
    for chip in range(2):
        s = spiking_fault_sites(net, faults, chip=chip, seed=5)
        mask = lambda idx, n: np.isin(np.arange(n), idx)  # noqa: E731
        dead = {l: mask(s[0][l], net.sizes[l]) for l in (0, 1, 2)}
        sat = {1: mask(s[1][1], net.sizes[1])}
        syn = {l: mask(s[2][l], W.size).reshape(W.shape) for l, W in enumerate(net.weights, 1)}
        thr = {l: np.where(mask(s[3][l], net.sizes[l]), 0.6, 1.0) for l in (1, 2)}
        leak = {l: np.where(mask(s[4][l], net.sizes[l]), 1.5, 1.0) for l in (1, 2)}
        b2 = run_brian2_network(net, x, T, dead=dead, saturated=sat, dead_synapses=syn, thr_scale=thr,
                                leak_scale=leak, record_trains=True)
        for l in (1, 2):
            np.testing.assert_array_equal(ours.spike_trains[l][chip], b2.spike_trains[l])
        assert np.any(ours.spike_trains[1][chip] != ours.clean_spike_trains[1])


@pytest.mark.parametrize("case", ["dead_inference", "dead_tick", "router"])
def test_transient_faults_agree_statistically(rng, case):
    net = net_of(rng, "LIF", sizes=(6, 16, 4))
    x = rng.uniform(0, 1, (3, 6))
    R = 150  # chips (neurosim) = copies per input (Brian2)
    p = 0.15
    spec, b2kw = {
        "dead_inference": (f"neuron:transient:{p}:layers=1", dict(p_dead={1: p})),
        "dead_tick": (f"neuron:transient:{p}:layers=1:scope=tick", dict(p_dead_tick={1: p})),
        "router": (f"router:transient:{p}:layers=1", dict(p_drop={1: p})),
    }[case]
    ours = simulate_spiking(net, x, spec, n_chips=R, seed=9, ticks=T, spike_counts=True)
    a = ours.spike_counts[2].astype(float)  # (R, 3, 4)
    b2 = run_brian2_network(net, np.repeat(x, R, axis=0), T, seed=9, **b2kw)
    b = b2.spike_counts[2].reshape(3, R, 4).transpose(1, 0, 2).astype(float)
    ma, mb = a.mean(0), b.mean(0)
    se = np.sqrt(a.var(0, ddof=1) / R + b.var(0, ddof=1) / R)
    assert np.all(np.abs(ma - mb) <= 5 * se + 1e-9), (ma, mb, se)
    # and the faults matter: the faulty mean is off the clean count by more than 5 SE somewhere
    clean = simulate_spiking(net, x, [], ticks=T, spike_counts=True).clean_spike_counts[2]
    assert np.any(np.abs(ma - clean) > 5 * np.sqrt(a.var(0, ddof=1) / R) + 1e-9)


def _value_arrays(net, sites, specs):
    """Per layer: the stuck-at-value weights (NaN elsewhere) and the scale factors (1 elsewhere) of the sites;
    a cell drawn by several specs takes the last one's value (docs/values.md, "Overlaps")."""
    vals = {l: np.full(W.shape, np.nan) for l, W in enumerate(net.weights, 1)}
    scales = {l: np.ones(W.shape) for l, W in enumerate(net.weights, 1)}
    for spec, st in zip(specs, sites):
        fv = spec.fault_value
        for l, cells in st.items():
            if spec.site != "synapse":
                continue
            if fv.kind == "scale":
                scales[l].reshape(-1)[cells] = fv.number
                vals[l].reshape(-1)[cells] = np.nan  # a later scale= acts on W_ij, not on an earlier value
            else:
                vals[l].reshape(-1)[cells] = fv.number
    return vals, scales


@pytest.mark.parametrize("kind", ["LIF", "CubaLIF"])
def test_synapse_values_equal_brian2_tick_for_tick(rng, x, kind):
    """Synapses stuck at a number and drifted by scale= (beside dead and saturated neurons): Brian2, fed the
    engine's own fault sites as weights replaced / scaled, fires the same spikes at the same ticks."""
    net = net_of(rng, kind)
    faults = [FaultSpec("synapse", "permanent", 0.25, layers=(1,), value=1.75),
              FaultSpec("synapse", "permanent", 0.3, layers=(2,), value="scale", scale=-0.6),
              FaultSpec("synapse", "permanent", 0.2, layers=(2,), value=-3.0),
              FaultSpec("neuron", "permanent", 0.1, layers=(1,), value="saturated")]
    C = 2
    ours = simulate_spiking(net, x, faults, n_chips=C, seed=8, ticks=T, spike_trains=True)
    for chip in range(C):
        sites = spiking_fault_sites(net, faults, chip=chip, seed=8)
        assert np.intersect1d(sites[1][2], sites[2][2]).size  # overlapping cells: the later spec's value
        vals, scales = _value_arrays(net, sites, faults)
        sat = {1: np.isin(np.arange(net.sizes[1]), sites[3][1])}
        b2 = run_brian2_network(net, x, T, saturated=sat, synapse_values=vals, synapse_scales=scales,
                                record_trains=True)
        for l in (1, 2):
            assert b2.spike_trains[l].sum() > 0
            np.testing.assert_array_equal(ours.spike_trains[l][chip], b2.spike_trains[l])
        np.testing.assert_allclose(ours.faulty[chip], b2.outputs, rtol=0, atol=1e-12)  # clean + Δ: rounding only
        assert np.any(ours.spike_trains[2][chip] != ours.clean_spike_trains[2])  # the values change the spikes


def test_synapse_value_arrays_are_checked_and_applied_in_order():
    from neurosim.errors import ConfigError
    from neurosim.spiking.brian2_net import synapse_weights

    W = [np.array([[1.0, 2.0], [3.0, 4.0]])]
    got = synapse_weights(W, dead_synapses={1: np.array([[0, 0], [0, 1]], bool)},
                          synapse_values={1: np.array([[np.nan, 9.0], [np.nan, 7.0]])},
                          synapse_scales={1: np.array([[0.5, 0.5], [1.0, 1.0]])})
    np.testing.assert_array_equal(got[0], [[0.5, 9.0], [3.0, 0.0]])
    with pytest.raises(ConfigError, match=r"'synapse_values\[1\]' must have the shape of W_1"):
        synapse_weights(W, synapse_values={1: np.zeros(3)})
