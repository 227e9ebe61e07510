"""Value kernels vs plain-numpy references (no engine)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurosim.faults import flip_bit
from neurosim.kernels import values as V
from reference import csr_rows, random_csr

KINDS = {"zero": V.ZERO, "number": V.NUMBER, "max": V.MAX, "min": V.MIN, "bitflip": V.BITFLIP, "scale": V.SCALE}


def _tables(n_specs, kinds, nums, bitsel):
    kind = np.array([KINDS[k] for k in kinds], np.int64)
    return (kind, np.array(nums, float), np.array(bitsel, np.int64), np.arange(1, n_specs + 1, dtype=np.uint64) * 77,
            np.zeros(n_specs, np.int64), np.ones(n_specs, np.int64))


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


@pytest.mark.parametrize("kinds", [["zero"], ["number"], ["max"], ["min"], ["scale"], ["bitflip"],
                                   ["number", "max", "bitflip", "scale", "min", "zero"]])
def test_valued_synapses_matches_dense_reference(rng, kinds):
    """Z += (V - W) * mask @ Y with V built cell by cell from the rules in neurosim.faults.values."""
    n_out, n_in, rows, cols, bits = 7, 9, 4, 3, 5
    n_cb, n_rb = -(-n_out // cols), -(-n_in // rows)
    step = rng.uniform(0.05, 0.2, size=(n_cb, n_rb))
    nlev = (1 << (bits - 1)) - 1
    Q = rng.integers(-nlev, nlev + 1, size=(n_out, n_in))
    S = np.array([[step[i // cols, j // rows] for j in range(n_in)] for i in range(n_out)])
    W = Q * S
    fs = step * nlev
    R = 6
    Y = rng.normal(size=(R, n_in))
    Z0 = rng.normal(size=(R, n_out))
    ptr, cells = random_csr(rng, R, W.size, 20)
    tags = rng.integers(0, len(kinds), size=cells.size).astype(np.int64)
    nums = [0.37 if k == "number" else 0.8 if k == "scale" else 0.0 for k in kinds]
    bitsel = [3 if k == "bitflip" else -1 for k in kinds]
    kind, num, bsel, hkey, hmode, group = _tables(len(kinds), kinds, nums, bitsel)
    chips = np.arange(R, dtype=np.int64)
    Z = Z0.copy()
    none = np.zeros(R + 1, np.int64)
    V.valued_synapses(Z, Y, W, ptr, cells, tags, kind, num, bsel, hkey, hmode, group, chips, chips,
                      fs, step, rows, cols, bits, none, np.zeros(0, np.int64), np.zeros((n_cb, n_rb), np.int64))
    ref = Z0.copy()
    for r, row in enumerate(csr_rows(ptr, cells)):
        Wf = W.copy()
        for e, c in zip(range(ptr[r], ptr[r + 1]), row):
            i, j = divmod(int(c), n_in)
            k = kinds[tags[e]]
            Wf[i, j] = {"zero": 0.0, "number": 0.37, "max": fs[i // cols, j // rows], "min": -fs[i // cols, j // rows],
                        "scale": 0.8 * W[i, j], "bitflip": flip_bit(Q[i, j], 3, bits) * S[i, j]}[k]
        ref[r] += (Wf - W) @ Y[r]
    np.testing.assert_allclose(Z, ref, rtol=0, atol=1e-12)


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


def test_set_neurons_recorded(rng):
    Y = rng.normal(size=(5, 6))
    ptr, cells = random_csr(rng, 5, 6, 4)
    Y0 = Y.copy()
    d = V.set_neurons_recorded(Y, ptr, cells, 2.5)
    for r, row in enumerate(csr_rows(ptr, cells)):
        np.testing.assert_array_equal(Y[r, row], 2.5)
        np.testing.assert_array_equal(d[ptr[r]:ptr[r + 1]], Y0[r, row] - 2.5)
        rest = np.setdiff1d(np.arange(6), row)
        np.testing.assert_array_equal(Y[r, rest], Y0[r, rest])


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
