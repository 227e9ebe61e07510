"""Engine: deterministic extremes, reproducibility, numba kernels vs numpy, differential test vs reference.

The differential tests regenerate the engine's fault sites with the public event
kernels (same stream key per spec from ``engine.spec_keys`` and the same salt
from ``engine._salt``), turn them into dense masks and run the plain-numpy
reference of ``tests/reference.py``.
"""
import numpy as np
import pytest

from neurosim import ChipMapping, ConfigError, FaultSpec, map_network, parse_fault, simulate
from neurosim.chip.profile import profile_from_dict
from neurosim.kernels import apply as K
from neurosim.kernels import events as E
from neurosim.kernels.rng import inv_rate
from neurosim.sim import engine as EN
from conftest import tiny_profile_dict
import neurosim as ns
from reference import (
    alive_masks, csr_rows, faulty_rows, forward, random_csr, random_net, ref_dead_core_neurons,
    ref_dead_core_tiles, ref_stuck_neurons, ref_stuck_synapses, ref_union,
)

MIXED = [
    "neuron:permanent:0.15",
    "synapse:transient:0.1",
    "core:intermittent:0.3:p_on=0.3:p_off=0.5",
    "synapse:permanent:0.1:layers=2",
    "neuron:intermittent:0.3:burst=3:duty=0.5",
    "core:transient:0.05",
    "synapse:intermittent:0.2:p_on=0.2:p_off=0.4:layers=1,3",
    "neuron:transient:0.05:layers=0,3",
    "core:permanent:0.1",
]


@pytest.fixture
def mapping(small_net, tiny_profile):
    """7-5-4-3 net on 3x2 tiles, 2 tiles / 3 neurons per core: many cores, cells of one row on several cores."""
    m = map_network(small_net, tiny_profile)
    assert m.n_cores >= 6
    return m


# ----------------------------------------------------------------------------- regeneration of fault sites
def regenerate(target, x, specs, seed, n_chips):
    """Per-row fault state (chip-major rows) and per-(spec, slot) event counts, from the event kernels."""
    specs = [s if isinstance(s, FaultSpec) else parse_fault(s) for s in specs]
    mapping = target if isinstance(target, ChipMapping) else None
    net = mapping.qnet if mapping is not None else target
    B = x.shape[0]
    chips = np.repeat(np.arange(n_chips, dtype=np.int64), B)
    inputs = np.tile(np.arange(B, dtype=np.int64), n_chips)
    keys = EN.spec_keys(seed, len(specs))
    states = [({}, {}, set()) for _ in range(chips.size)]
    row_counts, chip_counts = {}, {}
    for k, s in enumerate(specs):
        for slot in s.resolve_layers(net.n_layers) if s.site != "core" else [0]:
            n_sites = (mapping.n_cores if s.site == "core" else net.sizes[slot] if s.site == "neuron"
                       else net.weights[slot - 1].size)
            salt, sc = EN._salt(s.site, slot), inv_rate(s.rate)
            if s.mode == "transient":
                ptr, cells = E.transient_events(chips, inputs, keys[k], salt, n_sites, sc)
            elif s.mode == "permanent":  # chips of one group (FaultSpec.group) share a draw
                ptr, cells = E.permanent_events(chips // s.group, keys[k], salt, n_sites, sc)
            else:
                ptr, cells = E.intermittent_events(chips, inputs, keys[k], salt, n_sites, sc, inv_rate(s.p_on),
                                                   inv_rate(s.p_off), s.duty)
            if s.mode != "transient":
                wp, _ = E.permanent_events(np.arange(n_chips, dtype=np.int64) // s.group, keys[k], salt, n_sites, sc)
                chip_counts[k, slot] = np.diff(wp)
            row_counts[k, slot] = np.diff(ptr)
            for r, row in enumerate(csr_rows(ptr, cells)):
                if s.site == "core":
                    states[r][2].update(row.tolist())
                else:
                    states[r][0 if s.site == "neuron" else 1].setdefault(slot, set()).update(row.tolist())
    return states, row_counts, chip_counts, chips, inputs


def reference_delta(target, x, states, inputs, n_chips):
    mapping = target if isinstance(target, ChipMapping) else None
    net = mapping.qnet if mapping is not None else target
    clean = forward(net, x)
    yf = faulty_rows(net, x[inputs], states, mapping)
    return (yf - clean[inputs]).reshape(n_chips, x.shape[0], net.n_out)


# ----------------------------------------------------------------------------- (a) rate 0
@pytest.mark.parametrize("site", ["neuron", "synapse", "core"])
@pytest.mark.parametrize("mode", ["permanent", "transient", "intermittent"])
def test_rate_zero_gives_exactly_zero(mapping, rng, site, mode):
    """Rate 0: Δ is exactly 0 (bit for bit) for every site and mode, and no fault is counted."""
    x = rng.uniform(size=(40, mapping.network.n_in))
    kw = {"p_on": 0.5, "p_off": 0.5} if mode == "intermittent" else {}
    for chunk in (7, 4096):
        r = simulate(mapping, x, FaultSpec(site, mode, 0.0, **kw), n_chips=3, seed=1, chunk_rows=chunk)
        assert r.delta.shape == (3, 40, 3)
        assert np.all(r.delta == 0)
        assert np.all(r.fault_counts == 0) and np.all(r.fault_events == 0)
    np.testing.assert_allclose(r.clean, forward(mapping.qnet, x), rtol=1e-12, atol=1e-12)


def test_no_faults_bare_network(small_net, rng):
    """An empty fault list on a bare network: Δ == 0 and clean equals the float forward pass."""
    x = rng.normal(size=(9, small_net.n_in))
    r = simulate(small_net, x, [], n_chips=2, seed=0)
    assert np.all(r.delta == 0) and r.fault_counts.shape == (2, 0, 4)
    np.testing.assert_allclose(r.clean, small_net.forward(x), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- (b) rate 1
@pytest.mark.parametrize("mode", ["permanent", "transient"])
@pytest.mark.parametrize("layer", [0, 1, 2, 3])
def test_neuron_rate_one_zeroes_layer(small_net, mapping, rng, mode, layer):
    """Neuron rate 1 on layer l == the network with y_l = 0 (exactly -clean for the output layer)."""
    x = rng.normal(size=(13, small_net.n_in))
    for target, net in ((small_net, small_net), (mapping, mapping.qnet)):
        r = simulate(target, x, FaultSpec("neuron", mode, 1.0, layers=[layer]), n_chips=2, seed=3)
        nd = {layer: range(net.sizes[layer])}
        expect = forward(net, x, *alive_masks(net, neuron_dead=nd)) - forward(net, x)
        np.testing.assert_allclose(r.delta, np.broadcast_to(expect, r.delta.shape), rtol=0, atol=1e-12)
        if layer == net.n_layers:
            assert np.array_equal(r.delta, np.broadcast_to(-r.clean, r.delta.shape))
        assert np.all(r.fault_counts[:, 0, layer] == (net.sizes[layer] * (13 if mode == "transient" else 1)))


@pytest.mark.parametrize("mode", ["permanent", "transient"])
@pytest.mark.parametrize("layer", [1, 2, 3])
def test_synapse_rate_one_zeroes_matrix(small_net, mapping, rng, mode, layer):
    """Synapse rate 1 on W_l == the network with W_l = 0 (1e-12)."""
    x = rng.normal(size=(13, small_net.n_in))
    for target, net in ((small_net, small_net), (mapping, mapping.qnet)):
        r = simulate(target, x, FaultSpec("synapse", mode, 1.0, layers=layer), n_chips=2, seed=4)
        Ws = [W.copy() for W in net.weights]
        Ws[layer - 1][:] = 0.0
        expect = net.with_weights(Ws).forward(x) - net.forward(x)
        np.testing.assert_allclose(r.delta, np.broadcast_to(expect, r.delta.shape), rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", ["permanent", "transient"])
def test_core_rate_one_kills_everything(mapping, rng, mode):
    """Core rate 1: every core dead, so every neuron of layers 1..L is 0 and y_L == 0 exactly."""
    x = rng.normal(size=(10, mapping.network.n_in))
    r = simulate(mapping, x, [FaultSpec("core", mode, 1.0), "synapse:transient:0.5"], n_chips=2, seed=5)
    assert np.array_equal(r.faulty, np.zeros_like(r.faulty))
    assert np.all(r.fault_counts[:, 0, 0] == mapping.n_cores * (10 if mode == "transient" else 1))


# ----------------------------------------------------------------------------- (c) permanent vs transient
def test_permanent_is_fixed_per_chip(mapping, rng):
    """Permanent: a repeated input gives identical Δ rows on each chip; chips differ from each other."""
    x = np.repeat(rng.uniform(size=(1, 7)), 30, axis=0)
    r = simulate(mapping, x, ["neuron:permanent:0.3", "synapse:permanent:0.3", "core:permanent:0.2"],
                 n_chips=6, seed=7, chunk_rows=11)
    for c in range(6):
        assert np.all(r.delta[c] == r.delta[c, 0])
    assert len({r.delta[c, 0].tobytes() for c in range(6)}) > 1


def test_transient_redraws_every_inference(small_net, rng):
    """Transient: a repeated input gives (almost surely) different Δ rows.

    Each row draws its own subset of the 20 synapses of W_1 at p = 0.5: two rows
    share a subset with probability 2^-20, so >= 25 distinct rows out of 30 fails
    with probability < 30^2 * 2^-20 < 1e-3 for an unseeded run (seeded here).
    """
    x = np.repeat(rng.uniform(size=(1, 7)), 30, axis=0)
    r = simulate(small_net, x, "synapse:transient:0.5:layers=1", n_chips=2, seed=8)
    for c in range(2):
        assert len({row.tobytes() for row in r.delta[c]}) >= 25


def test_intermittent_extremes_alternate():
    """Intermittent rate 1 with p_on = p_off = 1: every site is weak and flips state at every inference."""
    n, T = 12, 20
    net = random_net(np.random.default_rng(0), [n, n], [])
    net = net.with_weights([np.eye(n)])
    r = simulate(net, np.ones((T, n)), FaultSpec("neuron", "intermittent", 1.0, layers=[0], p_on=1.0, p_off=1.0),
                 n_chips=5, seed=2)
    state = r.delta != 0  # y = x + b: a dead input neuron changes its output by -1
    np.testing.assert_allclose(r.delta[state], -1.0, rtol=0, atol=1e-12)
    assert np.all(state[:, 1:] != state[:, :-1])
    assert np.all(r.fault_counts[:, 0, 0] == n) and np.all(r.fault_events[:, 0, 0] == n * T // 2)


def test_permanent_group_shares_draws(mapping, rng):
    """group=K: chips 0..K-1, K..2K-1, ... share one permanent draw (identical Δ and counts), groups differ."""
    x = rng.uniform(size=(6, 7))
    specs = ["neuron:permanent:0.2:group=3", "synapse:permanent:0.2:group=3", "core:permanent:0.1:group=3"]
    r = simulate(mapping, x, specs, n_chips=8, seed=6, chunk_rows=5)
    for c in range(8):
        g0 = (c // 3) * 3
        assert np.array_equal(r.delta[c], r.delta[g0]) and np.array_equal(r.fault_counts[c], r.fault_counts[g0])
    assert len({r.delta[c].tobytes() for c in (0, 3, 6)}) == 3
    assert FaultSpec.from_dict(r.faults[0].to_dict()) == r.faults[0] and r.faults[0].group == 3


@pytest.mark.parametrize("bad", ["synapse:transient:0.1:group=2", "neuron:intermittent:0.1:p_on=0.5:p_off=0.5:group=2",
                                 "synapse:permanent:0.1:group=0", "synapse:permanent:0.1:group=two"])
def test_group_validation(bad):
    """group applies to permanent faults only and must be an integer >= 1."""
    with pytest.raises(ConfigError, match="group"):
        parse_fault(bad)


# ----------------------------------------------------------------------------- (d) reproducibility
def test_bit_identical_for_threads_and_chunking(mapping, rng):
    """Same seed: Δ, fault_counts and fault_events are bit-identical for threads 1/2 and chunk_rows 1/7/128/4096."""
    x = rng.uniform(size=(50, 7))
    base = simulate(mapping, x, MIXED, n_chips=5, seed=11, threads=1, chunk_rows=4096)
    assert np.any(base.delta != 0)
    for chunk in (1, 7, 128, 4096):
        for th in (1, 2):
            r = simulate(mapping, x, MIXED, n_chips=5, seed=11, threads=th, chunk_rows=chunk)
            assert np.array_equal(r.delta, base.delta), (chunk, th)
            assert np.array_equal(r.fault_counts, base.fault_counts), (chunk, th)
            assert np.array_equal(r.fault_events, base.fault_events), (chunk, th)
            assert np.array_equal(r.clean, base.clean)


def test_seed_controls_result(mapping, rng):
    """Same seed -> same result; different seed -> different result; seed=None records a re-usable seed."""
    x = rng.uniform(size=(20, 7))
    a = simulate(mapping, x, MIXED, n_chips=4, seed=1)
    b = simulate(mapping, x, MIXED, n_chips=4, seed=1)
    c = simulate(mapping, x, MIXED, n_chips=4, seed=2)
    assert np.array_equal(a.delta, b.delta) and np.array_equal(a.fault_counts, b.fault_counts)
    assert not np.array_equal(a.delta, c.delta)
    d = simulate(mapping, x, MIXED, n_chips=4, seed=None)
    e = simulate(mapping, x, MIXED, n_chips=4, seed=d.seed)
    assert np.array_equal(d.delta, e.delta)


def test_chip_and_input_prefixes_are_stable(mapping, rng):
    """Streams are keyed by (spec, layer, chip, input): fewer chips or a prefix of the inputs gives the same rows."""
    x = rng.uniform(size=(25, 7))
    full = simulate(mapping, x, MIXED, n_chips=6, seed=13)
    fewer = simulate(mapping, x, MIXED, n_chips=2, seed=13)
    assert np.array_equal(fewer.delta, full.delta[:2])
    pre = simulate(mapping, x[:9], MIXED, n_chips=6, seed=13)
    assert np.array_equal(pre.delta, full.delta[:, :9])


def test_clean_cache_does_not_change_results(mapping, rng, monkeypatch):
    """The clean pre-activation cache is an optimisation only: disabling it gives bit-identical results."""
    x = rng.uniform(size=(40, 7))
    specs = MIXED + ["synapse:transient:0.002:layers=3"]
    a = simulate(mapping, x, specs, n_chips=4, seed=31, chunk_rows=50)
    monkeypatch.setattr(EN, "CLEAN_CACHE_BYTES", 0)
    b = simulate(mapping, x, specs, n_chips=4, seed=31, chunk_rows=50)
    assert np.array_equal(a.delta, b.delta) and np.array_equal(a.fault_events, b.fault_events)


def test_adding_a_spec_keeps_earlier_draws(mapping, rng):
    """Spec k's stream depends only on (seed, k): appending another spec leaves spec 0's fault draws unchanged."""
    x = rng.uniform(size=(15, 7))
    for first in ("synapse:transient:0.2", "neuron:permanent:0.3", "core:intermittent:0.4:p_on=0.3:p_off=0.3"):
        a = simulate(mapping, x, [first], n_chips=3, seed=8)
        b = simulate(mapping, x, [first, "synapse:permanent:0.3", "neuron:transient:0.1"], n_chips=3, seed=8)
        assert np.array_equal(a.fault_counts[:, 0], b.fault_counts[:, 0])
        assert np.array_equal(a.fault_events[:, 0], b.fault_events[:, 0])


# ----------------------------------------------------------------------------- (f)+(g) differential
@pytest.mark.parametrize("specs", [
    ["neuron:permanent:0.3:layers=1"],
    ["neuron:permanent:0.2"],
    ["synapse:transient:0.2"],
    ["synapse:permanent:0.25:layers=1,3", "neuron:transient:0.1:layers=0"],
    ["core:permanent:0.3"],
    ["core:transient:0.2", "synapse:transient:0.2"],
    ["core:permanent:0.25", "synapse:permanent:0.3", "neuron:permanent:0.1"],
    ["neuron:intermittent:0.5:p_on=0.3:p_off=0.4", "synapse:intermittent:0.4:burst=2:duty=0.3"],
    ["core:permanent:0.2:group=2", "synapse:permanent:0.2:group=3", "neuron:transient:0.1"],
    MIXED,
])
def test_engine_matches_reference(mapping, rng, specs):
    """Δ equals the dense-mask reference (1e-12) for the engine's own fault sites; counts match the sites."""
    x = rng.uniform(size=(17, 7))
    n_chips = 4
    r = simulate(mapping, x, specs, n_chips=n_chips, seed=21, chunk_rows=23, threads=2)
    states, row_counts, chip_counts, chips, _ = regenerate(mapping, x, specs, 21, n_chips)
    ref = reference_delta(mapping, x, states, np.tile(np.arange(17), n_chips), n_chips)
    assert np.any(ref != 0)
    np.testing.assert_allclose(r.delta, ref, rtol=0, atol=1e-12)
    # rows that no fault touched are exactly clean, even inside blocks with faulty rows
    untouched = np.array([not any(nd.values()) and not any(sd.values()) and not dc
                          for nd, sd, dc in states]).reshape(n_chips, 17)
    assert np.all(r.delta[untouched] == 0)
    # (g) counts
    for (k, slot), rc in row_counts.items():
        per_chip_events = np.bincount(chips, weights=rc, minlength=n_chips).astype(np.int64)
        assert np.array_equal(r.fault_events[:, k, slot], per_chip_events), (k, slot)
        spec = r.faults[k]
        if spec.mode == "transient":
            assert np.array_equal(r.fault_counts[:, k, slot], per_chip_events)
        else:
            assert np.array_equal(r.fault_counts[:, k, slot], chip_counts[k, slot]), (k, slot)
            if spec.mode == "permanent":
                assert np.array_equal(per_chip_events, chip_counts[k, slot] * 17)
    touched = {(k, s) for k, s in row_counts}
    for k in range(len(specs)):
        for slot in range(4):
            if (k, slot) not in touched:
                assert np.all(r.fault_counts[:, k, slot] == 0) and np.all(r.fault_events[:, k, slot] == 0)


def test_bare_network_matches_reference(small_net, rng):
    """Without a mapping (float weights), neuron and synapse faults match the reference too."""
    x = rng.normal(size=(12, 7))
    specs = ["neuron:permanent:0.2", "synapse:transient:0.15", "synapse:intermittent:0.5:p_on=0.5:p_off=0.5:layers=2"]
    r = simulate(small_net, x, specs, n_chips=3, seed=5, chunk_rows=5)
    states, *_ = regenerate(small_net, x, specs, 5, 3)
    ref = reference_delta(small_net, x, states, np.tile(np.arange(12), 3), 3)
    np.testing.assert_allclose(r.delta, ref, rtol=0, atol=1e-12)


def test_multichip_mapping_core_faults(rng):
    """A mapping spread over several chips: core faults address global cores, and match the reference."""
    net = random_net(rng, [9, 8, 5], "relu")
    prof = profile_from_dict(tiny_profile_dict(chip__cores_per_chip=4))
    m = map_network(net, prof, max_chips=10)
    assert m.n_chips > 1
    x = rng.uniform(size=(8, 9))
    specs = ["core:permanent:0.3", "synapse:transient:0.1"]
    r = simulate(m, x, specs, n_chips=3, seed=2)
    states, *_ = regenerate(m, x, specs, 2, 3)
    np.testing.assert_allclose(r.delta, reference_delta(m, x, states, np.tile(np.arange(8), 3), 3), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs,needle", [
    (dict(n_chips=0), "n_chips"),
    (dict(chunk_rows=0), "chunk_rows"),
    (dict(threads=0), "threads"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
])
def test_simulate_rejects_bad_arguments(small_net, kwargs, needle):
    with pytest.raises(ConfigError) as ei:
        simulate(small_net, np.zeros((2, 7)), "neuron:transient:0.1", **kwargs)
    assert needle in str(ei.value)


def test_core_faults_need_mapping(small_net):
    with pytest.raises(ConfigError, match="mapping"):
        simulate(small_net, np.zeros((2, 7)), "core:permanent:0.1")


def test_layers_out_of_range(small_net):
    with pytest.raises(ConfigError, match="layers"):
        simulate(small_net, np.zeros((2, 7)), "synapse:permanent:0.1:layers=4")


# ----------------------------------------------------------------------------- (e) kernels vs numpy
def _rand_block(rng, R, n_out, n_in):
    return rng.normal(size=(R, n_out)), rng.normal(size=(R, n_in)), rng.normal(size=(n_out, n_in))


def test_kernel_stuck_synapses(rng):
    """stuck_synapses == dense-mask reference on random blocks (1e-12)."""
    for _ in range(5):
        R, n_out, n_in = 9, int(rng.integers(1, 6)), int(rng.integers(1, 8))
        Z, Y, W = _rand_block(rng, R, n_out, n_in)
        ptr, cells = random_csr(rng, R, n_out * n_in, 10)
        expect = ref_stuck_synapses(Z, Y, W, ptr, cells)
        K.stuck_synapses(Z, Y, W, ptr, cells)
        np.testing.assert_allclose(Z, expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_kernel_core_aware(mapping, rng, layer):
    """stuck_synapses_live_cores, dead_core_tiles and dead_core_neurons == references from synapse_core/neuron_core."""
    W = np.ascontiguousarray(mapping.qnet.weights[layer - 1])
    n_out, n_in = W.shape
    p = mapping.profile
    sc = mapping.synapse_core(layer)
    grid = np.ascontiguousarray(sc[::p.crossbar_cols, ::p.crossbar_rows])
    tp, npt, nl, ni = mapping.core_contents()
    R = 12
    for _ in range(4):
        Z, Y, _ = _rand_block(rng, R, n_out, n_in)
        ptr, cells = random_csr(rng, R, n_out * n_in, n_out * n_in)
        dptr, dead = random_csr(rng, R, mapping.n_cores, 3)
        dead_rows = csr_rows(dptr, dead)
        exp = ref_stuck_synapses(Z, Y, W, ptr, cells, skip_cell=lambda r, i, j: sc[i, j] in dead_rows[r])
        Z1 = Z.copy()
        K.stuck_synapses_live_cores(Z1, Y, W, ptr, cells, dptr, dead, grid, p.crossbar_rows, p.crossbar_cols)
        np.testing.assert_allclose(Z1, exp, rtol=0, atol=1e-12)
        Z2 = Z.copy()
        K.dead_core_tiles(Z2, Y, W, dptr, dead, tp, mapping.tile_layer, mapping.tile_r0, mapping.tile_r1,
                          mapping.tile_c0, mapping.tile_c1, layer)
        np.testing.assert_allclose(Z2, ref_dead_core_tiles(Z, Y, W, dead_rows, sc), rtol=0, atol=1e-12)
        Yn = rng.normal(size=(R, n_out))
        Y2 = Yn.copy()
        K.dead_core_neurons(Y2, dptr, dead, npt, nl, ni, layer)
        assert np.array_equal(Y2, ref_dead_core_neurons(Yn, dead_rows, mapping.neuron_core[layer - 1]))


def test_kernel_stuck_neurons(rng):
    """stuck_neurons zeroes exactly the listed entries."""
    Y = rng.normal(size=(8, 6))
    ptr, cells = random_csr(rng, 8, 6, 6)
    expect = ref_stuck_neurons(Y, ptr, cells)
    K.stuck_neurons(Y, ptr, cells)
    assert np.array_equal(Y, expect)


def test_kernel_union_events(rng):
    """union_events == per-row sorted set union (incl. empty rows and full overlap)."""
    for _ in range(20):
        n_rows, n_sites = int(rng.integers(1, 10)), int(rng.integers(1, 30))
        pa, a = random_csr(rng, n_rows, n_sites, n_sites)
        pb, b = random_csr(rng, n_rows, n_sites, n_sites)
        for (p1, c1), (p2, c2) in (((pa, a), (pb, b)), ((pa, a), (pa, a))):
            ptr, out = E.union_events(p1, c1, p2, c2)
            eptr, eout = ref_union(p1, c1, p2, c2)
            assert np.array_equal(ptr, eptr) and np.array_equal(out, eout)


def _check_sorted_unique(ptr, cells, n_sites):
    assert ptr[0] == 0 and np.all(np.diff(ptr) >= 0) and ptr[-1] == cells.size
    for row in csr_rows(ptr, cells):
        assert np.all(np.diff(row) > 0) and (row.size == 0 or (row[0] >= 0 and row[-1] < n_sites))


def test_transient_events_properties(rng):
    """transient_events: sorted unique sites in range; p=0 none, p=1 all; per-site frequency p within 5 SE; order-free."""
    n_sites, R = 23, 4000
    chips = np.repeat(np.arange(4, dtype=np.int64), R // 4)
    inputs = np.tile(np.arange(R // 4, dtype=np.int64), 4)
    key = np.uint64(rng.integers(0, 2**63))
    ptr, cells = E.transient_events(chips, inputs, key, 7, n_sites, inv_rate(0.0))
    assert cells.size == 0 and np.all(ptr == 0)
    ptr, cells = E.transient_events(chips, inputs, key, 7, n_sites, inv_rate(1.0))
    assert np.array_equal(cells, np.tile(np.arange(n_sites), R)) and np.array_equal(ptr, np.arange(R + 1) * n_sites)
    p = 0.3
    ptr, cells = E.transient_events(chips, inputs, key, 7, n_sites, inv_rate(p))
    _check_sorted_unique(ptr, cells, n_sites)
    freq = np.bincount(cells, minlength=n_sites)
    se = np.sqrt(R * p * (1 - p))
    assert np.all(np.abs(freq - R * p) <= 5 * se), freq
    # adjacent sites independent: P(both) = p^2 within 5 SE
    dense = np.zeros((R, n_sites), bool)
    dense[np.repeat(np.arange(R), np.diff(ptr)), cells] = True
    both = np.sum(dense[:, :-1] & dense[:, 1:])
    n = n_sites
    var_row = (n - 1) * (p**2 - p**4) + 2 * (n - 2) * (p**3 - p**4)  # overlapping pairs are correlated
    assert abs(both - R * (n - 1) * p * p) <= 5 * np.sqrt(R * var_row)
    # counter-based: a reversed subset of rows gives the same rows
    sel = np.arange(R)[::-7]
    p2, c2 = E.transient_events(chips[sel], inputs[sel], key, 7, n_sites, inv_rate(p))
    full = csr_rows(ptr, cells)
    for q, row in zip(sel, csr_rows(p2, c2)):
        assert np.array_equal(row, full[q])
    # another salt or key gives other events
    _, c3 = E.transient_events(chips, inputs, key, 8, n_sites, inv_rate(p))
    assert not np.array_equal(c3, cells)


def test_permanent_and_intermittent_events_properties(rng):
    """permanent_events: one draw per chip repeated on its rows; intermittent rows are subsets of the weak sites and chunk-free."""
    n_sites, B, n_chips = 40, 30, 6
    chips = np.repeat(np.arange(n_chips, dtype=np.int64), B)
    inputs = np.tile(np.arange(B, dtype=np.int64), n_chips)
    key, salt = np.uint64(rng.integers(0, 2**63)), 4097
    sc = inv_rate(0.4)
    ptr, cells = E.permanent_events(chips, key, salt, n_sites, sc)
    _check_sorted_unique(ptr, cells, n_sites)
    rows = csr_rows(ptr, cells)
    for c in range(n_chips):
        for b in range(B):
            assert np.array_equal(rows[c * B + b], rows[c * B])
    assert len({rows[c * B].tobytes() for c in range(n_chips)}) > 1
    counts = E.chip_site_counts(np.arange(n_chips, dtype=np.int64), key, salt, n_sites, sc)
    assert np.array_equal(counts, [rows[c * B].size for c in range(n_chips)])
    iptr, icells = E.intermittent_events(chips, inputs, key, salt, n_sites, sc, inv_rate(0.3), inv_rate(0.4), 0.3 / 0.7)
    _check_sorted_unique(iptr, icells, n_sites)
    irows = csr_rows(iptr, icells)
    for r in range(chips.size):
        assert np.all(np.isin(irows[r], rows[chips[r] * B]))
    assert icells.size > 0
    # any contiguous window of one chip's inputs reproduces the same rows
    for c, (b0, b1) in ((0, (0, 5)), (2, (7, 30)), (5, (12, 13))):
        wp, wc = E.intermittent_events(np.full(b1 - b0, c, np.int64), np.arange(b0, b1, dtype=np.int64), key, salt,
                                       n_sites, sc, inv_rate(0.3), inv_rate(0.4), 0.3 / 0.7)
        for b, row in zip(range(b0, b1), csr_rows(wp, wc)):
            assert np.array_equal(row, irows[c * B + b])


def test_result_save_load_roundtrip(mapping, rng, tmp_path):
    """save_result -> load_result reproduces Δ, clean, counts, events, labels, specs, seed and config exactly."""
    from neurosim.io.mapping_io import load_result, save_result

    x = rng.uniform(size=(9, 7))
    labels = rng.integers(0, 3, size=9)
    r = simulate(mapping, x, MIXED, n_chips=3, seed=2**63 + 5, labels=labels)
    save_result(r, tmp_path / "r.h5")
    q = load_result(tmp_path / "r.h5")
    for f in ("delta", "clean", "fault_counts", "fault_events", "labels"):
        a, b = getattr(r, f), getattr(q, f)
        assert a.dtype == b.dtype and np.array_equal(a, b), f
    assert q.faults == r.faults and q.seed == r.seed and q.config == r.config


def test_permanent_fault_sites_replay_the_engine(small_net):
    """Zeroing the reported sites by hand reproduces the engine's faulty output on that chip."""
    from neurosim.sim import permanent_fault_sites

    x = np.random.default_rng(5).uniform(-1, 1, (6, small_net.n_in))
    specs = [ns.FaultSpec("neuron", "permanent", 0.3, layers=[0, 1]),
             ns.FaultSpec("synapse", "permanent", 0.3, layers=[2]),
             ns.FaultSpec("neuron", "transient", 0.0)]
    res = ns.simulate(small_net, x, specs, n_chips=3, seed=11)
    for chip in range(3):
        sites = permanent_fault_sites(small_net, specs, chip=chip, seed=11)
        assert sites[2] == {}
        Ws = [W.copy() for W in small_net.weights]
        Ws[1].ravel()[sites[1][2]] = 0.0
        dead = {l: sites[0][l] for l in (0, 1)}
        y = x.copy()
        y[:, dead[0]] = 0.0
        for l, (W, b, a) in enumerate(zip(Ws, small_net.biases, small_net.activations), start=1):
            y = ns.network.activate(a, y @ W.T + b)
            if l in dead:
                y[:, dead[l]] = 0.0
        np.testing.assert_allclose(res.faulty[chip], y, rtol=0, atol=1e-12)
        assert [len(sites[0][0]), len(sites[0][1]), len(sites[1][2])] == \
            [res.fault_counts[chip, 0, 0], res.fault_counts[chip, 0, 1], res.fault_counts[chip, 1, 2]]
