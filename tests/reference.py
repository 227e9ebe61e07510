"""Plain-numpy reference implementations used by the tests.

Everything here is deliberately slow and obvious: dense masks instead of sparse
corrections, Python loops instead of numba, explicit enumeration instead of
sampling. Nothing here imports numba or the engine.
"""
from __future__ import annotations

import itertools

import numpy as np

from neurosim import Network

ACT = {
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "identity": lambda z: z,
}


# ----------------------------------------------------------------------------- networks
def random_net(rng, sizes, acts="tanh", scale=1.0, name="net") -> Network:
    """Random dense network with widths ``sizes``; ``acts`` per hidden layer (or one name)."""
    L = len(sizes) - 1
    Ws = [rng.normal(size=(sizes[k + 1], sizes[k])) * scale / np.sqrt(sizes[k]) for k in range(L)]
    bs = [rng.normal(size=sizes[k + 1]) * 0.3 for k in range(L)]
    if isinstance(acts, str):
        acts = [acts] * (L - 1)
    return Network.from_arrays(Ws, bs, list(acts) + ["identity"], name=name)


def forward(net, x, neuron_alive=None, synapse_alive=None):
    """Outputs ``y_L`` of ``net`` for inputs ``x`` (batch, n_in), with optional fault masks.

    ``neuron_alive[l]`` (l = 0..L) multiplies ``y_l`` (shape ``(n_l,)`` or
    ``(batch, n_l)``); ``synapse_alive[l-1]`` multiplies ``W_l`` (shape
    ``(n_out, n_in)`` or ``(batch, n_out, n_in)``). ``None`` entries mean no fault.
    """
    y = np.atleast_2d(np.asarray(x, dtype=np.float64))
    L = net.n_layers

    def nmask(l, y):
        if neuron_alive is None or neuron_alive[l] is None:
            return y
        return y * neuron_alive[l]

    y = nmask(0, y)
    for l in range(1, L + 1):
        W = net.weights[l - 1]
        S = None if synapse_alive is None else synapse_alive[l - 1]
        if S is None:
            z = np.array([W @ row for row in y]).reshape(y.shape[0], W.shape[0])
        elif S.ndim == 2:
            z = np.array([(W * S) @ row for row in y]).reshape(y.shape[0], W.shape[0])
        else:
            z = np.einsum("rij,rj->ri", W * S, y)
        y = nmask(l, ACT[net.activations[l - 1]](z + net.biases[l - 1]))
    return y


def alive_masks(net, neuron_dead=None, synapse_dead=None, dead_cores=(), mapping=None):
    """Dense 0/1 multipliers for one chip state.

    ``neuron_dead[l]``: indices of dead neurons of layer l (0..L);
    ``synapse_dead[l]``: flat cells ``i * n_in + j`` of dead synapses of ``W_l``;
    ``dead_cores``: dead core ids (every tile cell and neuron on them dies; needs
    ``mapping``, uses ``mapping.synapse_core`` and ``mapping.neuron_core``).
    Returns ``(neuron_alive, synapse_alive)`` for :func:`forward`.
    """
    sizes = net.sizes
    L = net.n_layers
    nal = [np.ones(sizes[l]) for l in range(L + 1)]
    sal = [np.ones(W.shape) for W in net.weights]
    for l, idx in (neuron_dead or {}).items():
        nal[l][np.asarray(list(idx), dtype=np.int64)] = 0.0
    for l, cells in (synapse_dead or {}).items():
        sal[l - 1].reshape(-1)[np.asarray(list(cells), dtype=np.int64)] = 0.0
    dead_cores = np.asarray(sorted(set(int(c) for c in dead_cores)), dtype=np.int64)
    if dead_cores.size:
        for l in range(1, L + 1):
            sal[l - 1][np.isin(mapping.synapse_core(l), dead_cores)] = 0.0
            nal[l][np.isin(mapping.neuron_core[l - 1], dead_cores)] = 0.0
    return nal, sal


def faulty_rows(net, x_rows, row_states, mapping=None):
    """Faulty outputs, one row at a time.

    ``row_states[r] = (neuron_dead, synapse_dead, dead_cores)`` as for :func:`alive_masks`.
    """
    out = np.empty((len(x_rows), net.n_out))
    for r, (x, (nd, sd, dc)) in enumerate(zip(x_rows, row_states)):
        nal, sal = alive_masks(net, nd, sd, dc, mapping)
        out[r] = forward(net, x[None], nal, sal)[0]
    return out


# ----------------------------------------------------------------------------- exact enumeration
def exact_delta_moments(net, x, sites, p):
    """Exact mean, variance and 4th central moment of Δ = y_faulty - y_clean.

    ``sites``: list of ``("neuron", l, i)`` or ``("synapse", l, i, j)``; each
    site is independently dead with probability ``p``. All ``2^n`` dead
    subsets are enumerated, weighted ``p^k (1-p)^(n-k)``.
    Returns three arrays of shape ``(n_inputs, n_out)``.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = len(sites)
    dead = np.array(list(itertools.product([False, True], repeat=n)), dtype=bool).reshape(-1, n)
    k = dead.sum(axis=1)
    w = p ** k * (1.0 - p) ** (n - k)
    M = dead.shape[0]
    L = net.n_layers
    nal = [np.ones((M, s)) for s in net.sizes]
    sal = [np.ones((M,) + W.shape) for W in net.weights]
    for c, s in enumerate(sites):
        if s[0] == "neuron":
            nal[s[1]][dead[:, c], s[2]] = 0.0
        else:
            sal[s[1] - 1][dead[:, c], s[2], s[3]] = 0.0
    clean = forward(net, x)
    means, vars_, m4s = [], [], []
    for b in range(x.shape[0]):
        y = np.broadcast_to(x[b], (M, x.shape[1])) * nal[0]
        for l in range(1, L + 1):
            z = np.einsum("mij,mj->mi", net.weights[l - 1] * sal[l - 1], y) + net.biases[l - 1]
            y = ACT[net.activations[l - 1]](z) * nal[l]
        d = y - clean[b]
        mu = w @ d
        c = d - mu
        means.append(mu)
        vars_.append(w @ c ** 2)
        m4s.append(w @ c ** 4)
    return np.array(means), np.array(vars_), np.array(m4s)


# ----------------------------------------------------------------------------- CSR events
def csr_rows(ptr, cells):
    """CSR pair -> list of per-row arrays."""
    return [np.asarray(cells[ptr[r]:ptr[r + 1]]) for r in range(len(ptr) - 1)]


def random_csr(rng, n_rows, n_sites, max_per_row):
    """Random CSR event list: each row a sorted set of unique sites in ``[0, n_sites)``."""
    rows = []
    for _ in range(n_rows):
        k = int(rng.integers(0, min(max_per_row, n_sites) + 1))
        rows.append(np.sort(rng.choice(n_sites, size=k, replace=False)).astype(np.int64))
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([r.size for r in rows])
    cells = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return ptr, cells


# ----------------------------------------------------------------------------- kernel references
def ref_stuck_synapses(Z, Y, W, ptr, cells, skip_cell=None):
    """``Z[r] - sum over dead cells of W[i, j] Y[r, j]`` with a dense mask (``skip_cell(r, i, j)`` excludes cells)."""
    Z = Z.copy()
    for r, row in enumerate(csr_rows(ptr, cells)):
        mask = np.zeros(W.shape)
        for c in row:
            i, j = divmod(int(c), W.shape[1])
            if skip_cell is None or not skip_cell(r, i, j):
                mask[i, j] = 1.0
        Z[r] -= (W * mask) @ Y[r]
    return Z


def ref_dead_core_tiles(Z, Y, W, dead_rows, synapse_core):
    """Remove every cell of ``W`` whose core (``synapse_core``, W's shape) is dead for the row."""
    Z = Z.copy()
    for r, dead in enumerate(dead_rows):
        mask = np.isin(synapse_core, dead).astype(float)
        Z[r] -= (W * mask) @ Y[r]
    return Z


def ref_stuck_neurons(Y, ptr, cells):
    Y = Y.copy()
    for r, row in enumerate(csr_rows(ptr, cells)):
        Y[r, row] = 0.0
    return Y


def ref_dead_core_neurons(Y, dead_rows, neuron_core_of_layer):
    Y = Y.copy()
    for r, dead in enumerate(dead_rows):
        Y[r, np.isin(neuron_core_of_layer, dead)] = 0.0
    return Y


def ref_union(ptr_a, a, ptr_b, b):
    rows = [np.union1d(ra, rb).astype(np.int64) for ra, rb in zip(csr_rows(ptr_a, a), csr_rows(ptr_b, b))]
    ptr = np.zeros(len(rows) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([r.size for r in rows])
    return ptr, (np.concatenate(rows) if rows else np.zeros(0, np.int64))


# ----------------------------------------------------------------------------- Markov runs
def runs(state):
    """Runs of True in a 1-D bool array: list of ``(start, length)``."""
    s = np.concatenate([[False], np.asarray(state, bool), [False]]).astype(np.int8)
    d = np.diff(s)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))
