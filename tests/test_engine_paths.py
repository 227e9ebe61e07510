"""Engine fast paths (issue 12): per-chip permanent faults, masked weight copies, no-fault runs, float32.

Each fast path is checked against the plain-numpy dense-mask reference on the
engine's own fault sites, and for bit-identity over thread counts and chunk
sizes; the new kernels are checked against the existing row-wise kernels
(bit for bit) and the numpy references.
"""
import numpy as np
import pytest

from neurosim import ConfigError, simulate
from neurosim.kernels import apply as K
from neurosim.kernels import events as E
from neurosim.kernels.rng import inv_rate
from neurosim.sim import engine as EN
from neurosim.sim.engine import _blocks
from neurosim.sim.plan import weights_for
from reference import csr_rows, random_net, ref_stuck_synapses
from test_engine import MIXED, reference_delta, regenerate


@pytest.fixture
def wide_net(rng):
    """20-24-12-5: big enough that one chip's permanent fault list beats n_in + 2 n_out (transposed kernel)."""
    return random_net(rng, [20, 24, 12, 5], ["tanh", "relu"])


# ----------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("n_faults", [3, 200])  # row-wise branch and transposed-block branch
def test_kernel_stuck_synapses_shared(rng, n_faults):
    """Shared fault lists per segment == stuck_synapses on the same lists repeated per row, bit for bit."""
    n_out, n_in, R = 12, 20, 40
    W = rng.normal(size=(n_out, n_in))
    Z0, Y = rng.normal(size=(R, n_out)), rng.normal(size=(R, n_in))
    seg_ptr = np.array([0, 3, 15, 15, 40], dtype=np.int64)
    lists = [np.sort(rng.choice(n_out * n_in, size=min(n_faults, n_out * n_in), replace=False)) for _ in range(4)]
    lists[2] = lists[2][:0]
    fptr = np.concatenate([[0], np.cumsum([c.size for c in lists])]).astype(np.int64)
    cells = np.concatenate(lists).astype(np.int64)
    skip = np.array([False, False, False, True])
    Z = Z0.copy()
    K.stuck_synapses_shared(Z, Y, W, seg_ptr, fptr, cells, skip)
    rows = [lists[s] if not skip[s] else lists[s][:0] for s in range(4) for _ in range(seg_ptr[s + 1] - seg_ptr[s])]
    ptr = np.concatenate([[0], np.cumsum([c.size for c in rows])]).astype(np.int64)
    flat = np.concatenate(rows).astype(np.int64)
    Z_rows = Z0.copy()
    K.stuck_synapses(Z_rows, Y, W, ptr, flat)
    assert np.array_equal(Z, Z_rows)
    np.testing.assert_allclose(Z, ref_stuck_synapses(Z0, Y, W, ptr, flat), rtol=0, atol=1e-12)
    assert np.array_equal(Z[15:], Z0[15:])  # skipped segment untouched


def test_permanent_segments_match_per_row_events(rng):
    """permanent_segments stores once per run of equal chips exactly what permanent_events repeats per row."""
    chips = np.repeat(np.array([0, 3, 4, 9], dtype=np.int64), [5, 1, 7, 2])
    for p in (0.0, 0.05, 0.5, 1.0):
        ptr, cells = E.permanent_events(chips, np.uint64(77), 4099, 300, inv_rate(p))
        sp, fp, sc = E.permanent_segments(chips, np.uint64(77), 4099, 300, inv_rate(p))
        assert np.array_equal(sp, [0, 5, 6, 13, 15])
        per_row = csr_rows(ptr, cells)
        for s in range(4):
            for r in range(sp[s], sp[s + 1]):
                assert np.array_equal(per_row[r], sc[fp[s]:fp[s + 1]])


# ----------------------------------------------------------------------------- engine paths vs reference
@pytest.mark.parametrize("specs", [
    ["synapse:permanent:0.02"],                          # sparse, per-chip kernel
    ["synapse:permanent:0.4:layers=1,2"],                # dense: masked weight copies
    ["synapse:permanent:0.03", "synapse:permanent:0.05:layers=2", "neuron:transient:0.05"],  # union per chip
    ["synapse:permanent:0.2:group=2", "synapse:transient:0.02"],  # mixed modes: row-wise path
])
def test_permanent_paths_match_reference(wide_net, rng, specs):
    """Per-chip and masked-copy paths give the dense-mask reference's Δ (1e-12) and the right event counts."""
    x = rng.normal(size=(30, 20))
    n_chips = 5
    r = simulate(wide_net, x, specs, n_chips=n_chips, seed=4, chunk_rows=37, threads=2)
    states, row_counts, _, chips, _ = regenerate(wide_net, x, specs, 4, n_chips)
    ref = reference_delta(wide_net, x, states, np.tile(np.arange(30), n_chips), n_chips)
    assert np.any(ref != 0)
    np.testing.assert_allclose(r.delta, ref, rtol=0, atol=1e-12)
    for (k, slot), rc in row_counts.items():
        assert np.array_equal(r.fault_events[:, k, slot], np.bincount(chips, weights=rc, minlength=n_chips))


def test_fast_paths_bit_identical_for_threads_and_chunking(wide_net, rng):
    """Per-chip, masked and row-wise paths together: bit-identical for threads 1/2 and chunk_rows 1..4096."""
    x = rng.normal(size=(45, 20))
    specs = ["synapse:permanent:0.01:layers=1", "synapse:permanent:0.3:layers=3", "neuron:permanent:0.05",
             "synapse:transient:0.01:layers=2"]
    for precision in ("float64", "float32"):
        base = simulate(wide_net, x, specs, n_chips=4, seed=9, threads=1, chunk_rows=4096, precision=precision)
        for chunk in (1, 7, 64, 100):
            for th in (1, 2):
                r = simulate(wide_net, x, specs, n_chips=4, seed=9, threads=th, chunk_rows=chunk, precision=precision)
                assert np.array_equal(r.delta, base.delta), (precision, chunk, th)
                assert np.array_equal(r.fault_events, base.fault_events), (precision, chunk, th)


# ----------------------------------------------------------------------------- no faults
def test_no_faults_is_exactly_zero_and_clean_matches_forward(wide_net, rng):
    """No fault (or rate 0 only): Δ is exactly 0 and the clean output is the network's forward pass."""
    x = rng.normal(size=(70, 20))
    for faults in ([], ["synapse:transient:0.0", "neuron:permanent:0.0"]):
        r = simulate(wide_net, x, faults, n_chips=3, seed=1, chunk_rows=50)
        assert r.delta.shape == (3, 70, 5) and np.all(r.delta == 0)
        np.testing.assert_allclose(r.clean, wide_net.forward(x), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- precision
def test_float32_runs_in_float32_and_agrees_with_float64(small_net, rng):
    """float32: outputs are float32, fault draws identical to float64, Δ equal to float64's within float32 rounding.

    Tolerance: 1e-5 of the output scale, ~100x float32's epsilon (1.2e-7) times the
    summed magnitudes of a 7-5-4-3 network's products.
    """
    from neurosim import map_network
    from neurosim.chip.profile import profile_from_dict
    from conftest import tiny_profile_dict

    m = map_network(small_net, profile_from_dict(tiny_profile_dict()))
    x = rng.uniform(size=(33, 7))
    for target, specs in ((m, MIXED), (small_net, ["synapse:permanent:0.2", "neuron:transient:0.1"])):
        r64 = simulate(target, x, specs, n_chips=4, seed=3)
        r32 = simulate(target, x, specs, n_chips=4, seed=3, precision="float32")
        assert r32.delta.dtype == np.float32 and r32.clean.dtype == np.float32
        assert r32.config["precision"] == "float32" and r64.config["precision"] == "float64"
        assert np.array_equal(r32.fault_events, r64.fault_events)
        assert np.array_equal(r32.fault_counts, r64.fault_counts)
        scale = 1.0 + np.abs(r64.clean).max()
        assert np.abs(r32.delta.astype(np.float64) - r64.delta).max() <= 1e-5 * scale
        assert np.abs(r32.clean.astype(np.float64) - r64.clean).max() <= 1e-5 * scale
        assert np.any(r64.delta != 0)


def test_float32_bit_identical_for_threads_and_chunking(small_net, rng):
    """MIXED faults at float32 on a mapping: bit-identical for threads 1/2 and chunk_rows 1/7/64/4096."""
    from neurosim import map_network
    from neurosim.chip.profile import profile_from_dict
    from conftest import tiny_profile_dict

    m = map_network(small_net, profile_from_dict(tiny_profile_dict()))
    x = rng.uniform(size=(29, 7))
    base = simulate(m, x, MIXED, n_chips=5, seed=11, threads=1, chunk_rows=4096, precision="float32")
    for chunk in (1, 7, 64):
        for th in (1, 2):
            r = simulate(m, x, MIXED, n_chips=5, seed=11, threads=th, chunk_rows=chunk, precision="float32")
            assert np.array_equal(r.delta, base.delta), (chunk, th)
    # fewer chips / a prefix of the inputs: the same rows, bit for bit
    assert np.array_equal(simulate(m, x, MIXED, n_chips=2, seed=11, precision="float32").delta, base.delta[:2])
    assert np.array_equal(simulate(m, x[:20], MIXED, n_chips=5, seed=11, precision="float32").delta,
                          base.delta[:, :20])


def test_blocks_pin_each_input_to_its_block_row():
    """_blocks: blocks tile the range, each holds one chip's inputs inside one aligned ROW_BLOCK window."""
    RB = EN.ROW_BLOCK
    for B, start, stop in ((1000, 0, 5000), (30, 7, 95), (RB, 3, 4 * RB + 1), (1, 0, 9), (2 * RB + 5, 100, 101)):
        blocks = _blocks(start, stop, B)
        assert blocks[0][0] == 0 and blocks[-1][1] == stop - start
        for (a0, a1), (b0, _) in zip(blocks, blocks[1:]):
            assert a1 == b0
        for b0, b1 in blocks:
            g = np.arange(start + b0, start + b1)
            assert np.unique(g // B).size == 1 and np.unique((g % B) // RB).size == 1


@pytest.mark.parametrize("bad", ["float16", "double", 32, None])
def test_precision_validation(small_net, bad):
    with pytest.raises(ConfigError, match="precision"):
        simulate(small_net, np.zeros((2, 7)), [], precision=bad)


def test_weight_copies_are_cached_per_network_and_precision(small_net):
    """One float32 copy per network (reused across calls); float64 uses the network's own arrays."""
    a, b = weights_for(small_net, np.float32), weights_for(small_net, np.float32)
    assert a is b and a.W[0].dtype == np.float32
    np.testing.assert_array_equal(a.W[0], small_net.weights[0].astype(np.float32))
    assert weights_for(small_net, np.float64).W[0] is small_net.weights[0]
    assert np.array_equal(a.WT(1), a.W[1].T) and a.WT(1).flags.c_contiguous


# ----------------------------------------------------------------------------- activation kernel
def test_kernel_sigmoid_rows_matches_numpy_logistic(rng):
    """sigmoid_rows: within 1e-15 relative of the logistic (log-space reference), within 2 ulp of 1 (4.5e-16) absolute of

    Network's 0.5 * (1 + tanh(z / 2)) (whose cancellation in the negative tail costs relative accuracy);
    exact at the extremes, NaN propagates."""
    from neurosim.kernels.activations import sigmoid_rows
    from neurosim.network import activate

    z = np.concatenate([rng.normal(scale=8.0, size=(6, 50)),
                        np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0, np.nan] + [0.0] * 44])])
    expect = activate("sigmoid", z.copy())
    got = sigmoid_rows(z.copy())
    np.testing.assert_allclose(got, expect, rtol=0, atol=4.5e-16)
    finite = np.isfinite(z)
    np.testing.assert_allclose(got[finite], np.exp(-np.logaddexp(0.0, -z[finite])), rtol=1e-15, atol=0)
    assert got[-1, 0] == 0.0 and got[-1, 4] == 1.0 and got[-1, 2] == 0.5 and np.isnan(got[-1, 5])


def test_sigmoid_network_matches_reference(rng):
    """A sigmoid network (float64 logistic kernel) against the dense-mask reference."""
    net = random_net(rng, [9, 8, 6, 3], "sigmoid")
    x = rng.normal(size=(21, 9))
    specs = ["synapse:transient:0.1", "neuron:permanent:0.1", "synapse:permanent:0.05"]
    r = simulate(net, x, specs, n_chips=3, seed=2, chunk_rows=10)
    states, *_ = regenerate(net, x, specs, 2, 3)
    np.testing.assert_allclose(r.delta, reference_delta(net, x, states, np.tile(np.arange(21), 3), 3),
                               rtol=0, atol=1e-12)


def test_cli_simulate_precision_float32(capsys, tmp_path, digits_path):
    """`simulate --precision float32 -o r.h5` stores float32 Δ equal to the library's float32 run; bad value exits 2."""
    from neurosim import load_network
    from neurosim.io import load_bundled_data
    from neurosim.io.mapping_io import load_result
    from test_cli_foundation import run_cli

    code, _, err = run_cli(["simulate", digits_path, "--fault", "synapse:transient:0.01", "--chips", "2",
                            "--limit", "15", "--seed", "3", "--precision", "float32", "-o", tmp_path / "r.h5"], capsys)
    assert code == 0, err
    res = load_result(tmp_path / "r.h5")
    x, _ = load_bundled_data(digits_path)
    lib = simulate(load_network(digits_path), x[:15], "synapse:transient:0.01", n_chips=2, seed=3, precision="float32")
    assert res.delta.dtype == np.float32 and np.array_equal(res.delta, lib.delta)
    code, _, err = run_cli(["simulate", digits_path, "--fault", "synapse:transient:0.01", "--precision", "half"], capsys)
    assert code == 2 and "precision" in err


def test_clean_caches_are_bit_neutral_without_neuron_faults(wide_net, rng, monkeypatch):
    """Pre-activation and activation caches change no bit when every correction is a synapse one.

    (Stuck neurons are handled as a rank-k correction of the cached z with the caches
    and by the product without them: equal to rounding only, checked by the reference tests.)
    """
    x = rng.normal(size=(80, 20))
    specs = ["synapse:transient:0.003", "synapse:permanent:0.002:layers=2,3"]
    a = simulate(wide_net, x, specs, n_chips=3, seed=12, chunk_rows=50)
    assert np.any(a.delta == 0, axis=2).any() and np.any(a.delta != 0)
    monkeypatch.setattr(EN, "CLEAN_CACHE_BYTES", 0)
    b = simulate(wide_net, x, specs, n_chips=3, seed=12, chunk_rows=50)
    assert np.array_equal(a.delta, b.delta)


def test_stuck_neuron_rows_match_reference_with_caches(wide_net, rng):
    """Rows with only a few stuck neurons (cached z minus a rank-k correction, cached y elsewhere) == reference."""
    x = rng.normal(size=(70, 20))
    specs = ["neuron:transient:0.01", "neuron:permanent:0.02:layers=1"]
    r = simulate(wide_net, x, specs, n_chips=3, seed=8, chunk_rows=33, threads=2)
    states, *_ = regenerate(wide_net, x, specs, 8, 3)
    ref = reference_delta(wide_net, x, states, np.tile(np.arange(70), 3), 3)
    np.testing.assert_allclose(r.delta, ref, rtol=0, atol=1e-12)
    untouched = np.array([not any(nd.values()) for nd, _, _ in states]).reshape(3, 70)
    assert untouched.any() and np.all(r.delta[untouched] == 0)
