"""Conv fault kernels against plain-numpy references (dense masks over the Toeplitz matrix)."""
import numpy as np
import pytest

from neurosim.kernels import conv as KC
from neurosim.layers import Conv2d
from reference import random_csr


def _setup(rng, stride=1, padding=1):
    op = Conv2d(rng.normal(size=(3, 2, 3, 2)), stride=stride, padding=padding)
    shape = (2, 5, 4)
    idx = op.index(shape)
    M = op.dense_matrix(shape)
    Y = rng.normal(size=(6, 40))
    return op, shape, idx, M, Y


def _toeplitz_of(op, shape, Wm):
    return Conv2d(Wm.reshape(op.weight.shape), stride=op.stride, padding=op.padding).dense_matrix(shape)


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0), (2, 1)])
def test_shared_kernel_stuck_synapses(rng, stride, padding):
    op, shape, idx, M, Y = _setup(rng, stride, padding)
    Wm = op.matrix
    ptr, cells = random_csr(rng, Y.shape[0], Wm.size, 4)
    Z = Y @ M.T
    KC.conv_stuck_synapses(Z, Y, Wm, idx, ptr, cells)
    for r in range(Y.shape[0]):
        mask = np.ones(Wm.size); mask[cells[ptr[r]:ptr[r + 1]]] = 0
        ref = Y[r] @ _toeplitz_of(op, shape, Wm * mask.reshape(Wm.shape)).T
        np.testing.assert_allclose(Z[r], ref, atol=1e-12)


def test_replicated_kernel_stuck_synapses(rng):
    op, shape, idx, M, Y = _setup(rng)
    Wm = op.matrix
    P = idx.shape[0]
    ptr, cells = random_csr(rng, Y.shape[0], P * Wm.size, 5)
    Z = Y @ M.T
    KC.conv_stuck_synapses_replicated(Z, Y, Wm, idx, ptr, cells)
    for r in range(Y.shape[0]):
        Zr = Y[r] @ M.T
        for c in cells[ptr[r]:ptr[r + 1]]:
            p, rem = divmod(c, Wm.size)
            co, k = divmod(rem, Wm.shape[1])
            if idx[p, k] >= 0:  # one position only: the Toeplitz entry of that copy
                Zr[co * P + p] -= M[co * P + p, idx[p, k]] * Y[r, idx[p, k]]
        np.testing.assert_allclose(Z[r], Zr, atol=1e-12)


def test_remove_inputs_matches_dense(rng):
    op, shape, idx, M, Y = _setup(rng)
    ptr, cells = random_csr(rng, Y.shape[0], Y.shape[1], 4)
    Yf = Y.copy()
    old = np.empty(cells.size)
    for r in range(Y.shape[0]):
        for e in range(ptr[r], ptr[r + 1]):
            old[e] = Yf[r, cells[e]]; Yf[r, cells[e]] = 0
    P = idx.shape[0]
    flat = idx.ravel()
    order = np.argsort(flat, kind="stable")
    valid = order[flat[order] >= 0]
    inv_ptr = np.searchsorted(flat[valid], np.arange(Y.shape[1] + 1)).astype(np.int64)
    inv_p, inv_k = (valid // idx.shape[1]).astype(np.int64), (valid % idx.shape[1]).astype(np.int64)
    Z = Y @ M.T
    rows = np.arange(Y.shape[0], dtype=np.int64)
    KC.conv_remove_inputs(Z, op.matrix, P, inv_ptr, inv_p, inv_k, ptr, cells, old, rows)
    np.testing.assert_allclose(Z, Yf @ M.T, atol=1e-12)
