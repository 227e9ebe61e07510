"""Value kernels vs plain-numpy references, bit for bit (no engine).

The reference builds the dense matrix ``D = W - V`` of each value from the
rules in docs/values.md (``zero`` ``w``; a number ``w - v``; ``scale``
``w - f*w``; ``max``/``min`` ``w -+ n*s``; ``bitflip`` ``(q - q')*s``) with numpy
and subtracts ``D[i, j] * Y[r, j]`` event by event, in the engine's order.
Every path of :mod:`neurosim.sim.values` (one spec per row, several specs
merged by tag, a chip's shared segment, weights off the integer grid) must
give exactly those bits, for every value and fault mode.
"""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from neurosim import FaultSpec, map_network
from neurosim.chip.profile import profile_from_dict
from neurosim.faults import flip_bit
from neurosim.kernels import apply as K
from neurosim.kernels import values as V
from neurosim.sim import values as VT
from neurosim.sim.plan import spec_keys
from conftest import tiny_profile_dict
from reference import csr_rows, random_csr, random_net
from reference_values import tile_tables

VALUES = ["zero", "0.37", "max", "min", "bitflip", "bit=2", "scale=0.8"]
MODES = ["permanent", "transient", "intermittent"]
EXTRA = {"intermittent": {"p_on": 0.2, "p_off": 0.5}}
LAYER = 1


@pytest.fixture
def chip(rng):
    """13-11-4 on 3x2 tiles with 4-bit weights: layer 1 has 6 x 5 tiles of its own step."""
    net = random_net(rng, [13, 11, 4], "tanh")
    return map_network(net, profile_from_dict(tiny_profile_dict()))


def _spec(value, mode):
    kw = {"bit": 2, "value": "bitflip"} if value == "bit=2" else {"value": value.split("=")[0]}
    if value.startswith("scale"):
        kw["scale"] = 0.8
    elif value[0].isdigit():
        kw["value"] = float(value)
    return FaultSpec("synapse", mode, 0.1, layers=[LAYER], **kw, **EXTRA.get(mode, {}))


def _plan(mapping, specs, W=None):
    vt = VT.value_tables(specs, spec_keys(7, len(specs)), mapping)
    return SimpleNamespace(values=vt, mapping=mapping)


def _ref_D(mapping, spec, vt, k, chip_, inp):
    """``D = W - V`` of ``spec`` on layer 1 for one row ``(chip_, inp)`` (the uniform bit depends on the row)."""
    W = mapping.qnet.weights[LAYER - 1]
    S, F = tile_tables(mapping, LAYER)
    fv = spec.fault_value
    if fv.kind == "zero":
        return W.copy()
    if fv.kind == "number":
        return W - fv.number
    if fv.kind == "scale":
        return W - fv.number * W
    if fv.kind in ("max", "min"):
        return W - (F if fv.kind == "max" else -F)
    bits = mapping.profile.weight_bits
    Q = np.rint(W / S).astype(np.int64)
    D = np.empty_like(W)
    for i, j in np.ndindex(*W.shape):
        c = i * W.shape[1] + j
        b = fv.bit if fv.bit is not None else V.uniform_bit(vt.layer_hkey(LAYER)[k], vt.hmode[k], vt.group[k],
                                                             chip_, inp, c, bits)
        D[i, j] = (Q[i, j] - flip_bit(Q[i, j], b, bits)) * S[i, j]
    return D


def _ref_apply(Z, Y, n_in, ptr, cells, d_of):
    """``Z[r, i] -= d_of(r, e, i, j) * Y[r, j]`` event by event (numpy float64 scalars, the engine's order)."""
    Z = Z.copy()
    for r, row in enumerate(csr_rows(ptr, cells)):
        for e, c in zip(range(ptr[r], ptr[r + 1]), row):
            i, j = divmod(int(c), n_in)
            Z[r, i] = Z[r, i] - d_of(r, e, i, j) * Y[r, j]
    return Z


def _block(rng, W, R=7):
    Y = rng.normal(size=(R, W.shape[1]))
    Z0 = rng.normal(size=(R, W.shape[0]))
    ptr, cells = random_csr(rng, R, W.size, 40)
    chips = rng.integers(0, 5, size=R).astype(np.int64)
    inputs = rng.integers(0, 50, size=R).astype(np.int64)
    return Y, Z0, ptr, cells, chips, inputs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("value", VALUES)
def test_row_kernels_match_dense_reference_bit_for_bit(chip, rng, value, mode):
    """One spec per row (its own compiled loop), and the same spec through the per-fault ``d`` path."""
    spec = _spec(value, mode)
    plan = _plan(chip, [spec])
    W = chip.qnet.weights[LAYER - 1]
    Y, Z0, ptr, cells, chips, inputs = _block(rng, W)
    Ds = [_ref_D(chip, spec, plan.values, 0, chips[r], inputs[r]) for r in range(len(chips))]
    ref = _ref_apply(Z0, Y, W.shape[1], ptr, cells, lambda r, e, i, j: Ds[r][i, j])
    Z = Z0.copy()
    VT.apply_row_values(plan, Z, Y, W, LAYER, (ptr, cells, None), 1, 0, chips, inputs, None)
    np.testing.assert_array_equal(Z, ref)
    d = VT.tagged(plan.values, W, LAYER, ptr, cells, None, 0, chips, inputs)
    Z = Z0.copy()
    K.stuck_synapses(Z, Y, W, ptr, cells, d)
    np.testing.assert_array_equal(Z, ref)
    off = dataclasses.replace(plan.values, qtab=(None,) * len(plan.values.qtab))  # weights off the grid: from W
    Z = Z0.copy()
    VT.apply_row_values(SimpleNamespace(values=off), Z, Y, W, LAYER, (ptr, cells, None), 1, 0, chips, inputs, None)
    np.testing.assert_array_equal(Z, ref)


@pytest.mark.parametrize("value", VALUES)
def test_shared_segments_match_dense_reference_bit_for_bit(chip, rng, value):
    """Permanent faults of one chip shared by its rows: ``segment_values`` + the stuck-at-0 shared kernel."""
    spec = _spec(value, "permanent")
    plan = _plan(chip, [spec])
    W = chip.qnet.weights[LAYER - 1]
    R = 12
    Y = rng.normal(size=(R, W.shape[1]))
    Z0 = rng.normal(size=(R, W.shape[0]))
    seg_ptr = np.array([0, 5, 12], np.int64)
    fptr, cells = random_csr(rng, 2, W.size, 60)
    chips = np.array([3] * 5 + [4] * 7, np.int64)
    d = VT.segment_values(plan, W, LAYER, (seg_ptr, fptr, cells), None, 0, chips)
    Z = Z0.copy()
    K.stuck_synapses_shared(Z, Y, W, seg_ptr, fptr, cells, np.zeros(2, np.bool_), d)
    rows_cells = np.concatenate([cells[fptr[0]:fptr[1]]] * 5 + [cells[fptr[1]:fptr[2]]] * 7)
    ptr = np.concatenate([[0], np.cumsum([fptr[1] - fptr[0]] * 5 + [fptr[2] - fptr[1]] * 7)]).astype(np.int64)  # row by row
    Ds = [_ref_D(chip, spec, plan.values, 0, chips[r], 0) for r in range(R)]
    ref = _ref_apply(Z0, Y, W.shape[1], ptr, rows_cells, lambda r, e, i, j: Ds[r][i, j])
    np.testing.assert_array_equal(Z, ref)


def test_merged_specs_take_the_later_value_bit_for_bit(chip, rng):
    """Several specs on a layer: each cell corrected once, by the later spec's value (tagged merge)."""
    specs = [_spec(v, m) for v, m in [("max", "transient"), ("bitflip", "permanent"), ("0.37", "intermittent"),
                                      ("zero", "transient"), ("scale=0.8", "permanent"), ("min", "transient")]]
    plan = _plan(chip, specs)
    W = chip.qnet.weights[LAYER - 1]
    Y, Z0, _, _, chips, inputs = _block(rng, W)
    syn, lists = None, []
    for k in range(len(specs)):
        ptr, cells = random_csr(rng, len(chips), W.size, 12)
        lists.append((ptr, cells))
        syn = VT.add_synapse_events(plan.values, syn, ptr, cells, k, 0)
    ptr, cells, tags = syn
    Ds = {(r, k): _ref_D(chip, s, plan.values, k, chips[r], inputs[r]) for r in range(len(chips))
          for k, s in enumerate(specs)}
    want_tag = {}
    for k, (p, c) in enumerate(lists):
        for r, row in enumerate(csr_rows(p, c)):
            want_tag.update({(r, int(x)): k for x in row})
    ref = _ref_apply(Z0, Y, W.shape[1], ptr, cells,
                     lambda r, e, i, j: Ds[(r, want_tag[(r, i * W.shape[1] + j)])][i, j])
    Z = Z0.copy()
    VT.apply_row_values(plan, Z, Y, W, LAYER, syn, len(specs), 0, chips, inputs, None)
    np.testing.assert_array_equal(Z, ref)
    assert sorted(want_tag) == sorted((r, int(c)) for r, row in enumerate(csr_rows(ptr, cells)) for c in row)
    np.testing.assert_array_equal(tags, [want_tag[(r, int(c))] for r, row in enumerate(csr_rows(ptr, cells))
                                         for c in row])


@pytest.mark.parametrize("value", VALUES)
def test_float32_rows_and_segments_agree(chip, rng, value):
    """In float32 the row loop and the shared-segment path give the same bits; zero is float32 stuck-at-0."""
    spec = _spec(value, "permanent")
    plan = _plan(chip, [spec])
    W = np.ascontiguousarray(chip.qnet.weights[LAYER - 1], dtype=np.float32)
    R = 6
    Y = rng.normal(size=(R, W.shape[1])).astype(np.float32)
    Z0 = rng.normal(size=(R, W.shape[0])).astype(np.float32)
    fptr, cells = random_csr(rng, 1, W.size, 60)
    chips = np.full(R, 2, np.int64)
    ptr = np.arange(R + 1, dtype=np.int64) * cells.size
    Zr = Z0.copy()
    VT.apply_row_values(plan, Zr, Y, W, LAYER, (ptr, np.tile(cells, R), None), 1, 0, chips, np.zeros(R, np.int64),
                        None)
    d = VT.segment_values(plan, W, LAYER, (np.array([0, R], np.int64), fptr, cells), None, 0, chips)
    Zs = Z0.copy()
    K.stuck_synapses_shared(Zs, Y, W, np.array([0, R], np.int64), fptr, cells, np.zeros(1, np.bool_), d)
    np.testing.assert_array_equal(Zr, Zs)
    if value == "zero":
        ref = _ref_apply(Z0, Y, W.shape[1], ptr, np.tile(cells, R), lambda r, e, i, j: W[i, j])
        np.testing.assert_array_equal(Zr, ref)
        assert Zr.dtype == np.float32


def test_bit_flip_table_is_exact():
    """``+-2^k s`` from the table equals ``(q - flip(q, k)) * s`` for every stored integer, bit and tile."""
    bits = 5
    step = np.array([[0.013, 0.2], [1.7e-3, 3.1]])
    cbt, rbj, tfs, T = VT._tile_args((4, 4), step * 15, step, 2, 2, bits)
    for t, s in enumerate(step.ravel()):
        for q in range(-(1 << (bits - 1)), 1 << (bits - 1)):
            for k in range(bits):
                assert T[(t * bits + k) * 2 + ((q >> k) & 1)] == (q - flip_bit(q, k, bits)) * s
    np.testing.assert_array_equal(cbt, [0, 0, 2, 2])
    np.testing.assert_array_equal(rbj, [0, 0, 1, 1])


def test_merge_tagged_later_spec_wins(rng):
    for _ in range(20):
        pa, a = random_csr(rng, 9, 30, 8)
        pb, b = random_csr(rng, 9, 30, 8)
        ta = rng.integers(0, 3, size=a.size).astype(np.int64)
        ptr, cells, tags = V.merge_tagged(pa, a, ta, pb, b, 5)
        for r, (ra, rb) in enumerate(zip(csr_rows(pa, a), csr_rows(pb, b))):
            got = dict(zip(cells[ptr[r]:ptr[r + 1]].tolist(), tags[ptr[r]:ptr[r + 1]].tolist()))
            want = dict(zip(ra.tolist(), ta[pa[r]:pa[r + 1]].tolist()))
            want.update({c: 5 for c in rb.tolist()})
            assert got == want
            assert list(got) == sorted(got)


def test_uniform_bit_is_uniform_and_keyed():
    """The hash that picks the flipped bit: uniform over 0..b-1 (chi-square) and a function of its key only."""
    bits = 8
    cells = np.arange(40_000)
    ks = np.array([V.uniform_bit(np.uint64(12345), 0, 1, 3, 0, c, bits) for c in cells[:2000]])
    again = np.array([V.uniform_bit(np.uint64(12345), 0, 1, 3, 99, c, bits) for c in cells[:2000]])
    np.testing.assert_array_equal(ks, again)  # permanent: the input does not matter
    counts = np.bincount(np.array([V.uniform_bit(np.uint64(7), 1, 1, c % 13, c // 13, c, bits) for c in cells]),
                         minlength=bits)
    assert stats.chisquare(counts).pvalue > 1e-4


def test_flip_matches_the_plain_rule():
    for bits in (2, 4, 8, 12):
        for q in range(-(1 << (bits - 1)), 1 << (bits - 1)):
            for k in range(bits):
                assert V.flip(np.int64(q), np.int64(k), np.int64(bits)) == flip_bit(q, k, bits)


@pytest.mark.parametrize("v", [0.0, 2.5])
def test_set_neurons_recorded(rng, v):
    """Stuck-at-0 and saturated/number neurons: ``Y = v`` on the faulty entries, ``old - v`` returned."""
    Y = rng.normal(size=(5, 6))
    ptr, cells = random_csr(rng, 5, 6, 4)
    Y0 = Y.copy()
    d = V.set_neurons_recorded(Y, ptr, cells, v)
    for r, row in enumerate(csr_rows(ptr, cells)):
        np.testing.assert_array_equal(Y[r, row], v)
        np.testing.assert_array_equal(d[ptr[r]:ptr[r + 1]], Y0[r, row] - v)
        rest = np.setdiff1d(np.arange(6), row)
        np.testing.assert_array_equal(Y[r, rest], Y0[r, rest])


def test_saturation_levels_are_the_largest_clean_activations(chip, rng):
    x = rng.normal(size=(9, 13))
    ys, _ = chip.qnet.forward_all(x)
    sat = VT.saturation_levels(chip.qnet, x, chunk=4)
    np.testing.assert_array_equal(sat, [float(np.max(y)) for y in ys])


def test_column_noise_moments(rng):
    """Each output gets N(0, sum_j S2_ij y_j^2): mean and variance within 5 SE over many rows."""
    n_out, n_in, R = 5, 4, 40_000
    S2 = rng.uniform(0.0, 0.1, size=(n_out, n_in))
    y = rng.normal(size=n_in)
    Y = np.tile(y, (R, 1))
    Z = np.zeros((R, n_out))
    chips = np.zeros(R, np.int64)
    inputs = np.arange(R, dtype=np.int64)
    V.column_noise(Z, Y, S2, np.arange(R, dtype=np.int64), np.uint64(9), 3, chips, inputs)
    var = S2 @ (y * y)
    assert np.all(np.abs(Z.mean(0)) < 5 * np.sqrt(var / R))
    assert np.all(np.abs(Z.var(0) - var) < 5 * var * np.sqrt(2 / R))
    Z2 = np.zeros((R, n_out))
    V.column_noise(Z2, Y, S2, np.arange(R, dtype=np.int64), np.uint64(9), 3, chips, inputs)
    np.testing.assert_array_equal(Z, Z2)
    assert abs(np.corrcoef(Z[:, 0], Z[:, 1])[0, 1]) < 5 / np.sqrt(R)
