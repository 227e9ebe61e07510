"""Rate engine on conv networks: Monte Carlo vs exact enumeration, extremes, replay against a
plain-loop reference (dense masks per output position), threads/chunking bit-identity."""
import itertools

import numpy as np
import pytest

import neurosim as ns
from neurosim import ConfigError, Network, map_network, simulate
from neurosim.analysis.bounds import _forward_from
from neurosim.chip.profile import profile_from_dict
from neurosim.layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from neurosim.sim.engine import permanent_fault_sites
from conftest import tiny_profile_dict
from reference_conv import conv2d_loops, pool_loops, tiny_cnn


def _tiny(rng):
    """(1,3,3) -> conv 2x2, 2 channels (8 neurons, 8 kernel weights) relu -> avgpool 2 -> flatten -> dense 2."""
    conv = Conv2d(rng.normal(size=(2, 1, 2, 2)), stride=1, padding=0)
    return Network.from_layers([Layer(conv, rng.normal(size=2) * 0.3, "relu"), Layer(AvgPool2d(2)),
                                Layer(Flatten()), Layer(Dense(rng.normal(size=(2, 2))), rng.normal(size=2) * 0.3)],
                               (1, 3, 3), name="tiny")


def ref_forward(net, x, kernel_alive=None, neuron_alive=None):
    """Plain loops for conv -> act -> pool -> flatten -> dense nets (tiny_cnn / _tiny layouts).

    ``kernel_alive``: (P, c_out, c_in, kh, kw) or (c_out, c_in, kh, kw) 0/1; ``neuron_alive[l]``: flat 0/1.
    """
    na = neuron_alive or {}
    B = x.shape[0]
    x = x.reshape(B, *net.input_shape) * na.get(0, np.ones(net.n_in)).reshape(net.input_shape)
    c = net.layers[0]
    z = conv2d_loops(x, c.op.weight, c.bias, c.op.stride, c.op.padding, kernel_alive)
    y = ns.network.activate(c.activation, z).reshape(B, -1) * na.get(1, 1.0)
    y = y.reshape(B, *net.shapes[1])
    k = 1
    if net.layers[1].op.kind in ("avgpool2d", "sumpool2d"):
        pl = net.layers[1].op
        y = pool_loops(y, pl.kernel, pl.stride, pl.kind == "avgpool2d")
        k = 2
    y = y.reshape(B, -1)
    d = net.layers[-1]
    return (y @ d.op.weight.T + d.bias) * na.get(net.n_layers, 1.0)


def _exact_synapse(net, x, p):
    n = net.layers[0].op.weight.size
    clean = net.forward(x)
    m1 = m2 = m4 = 0.0
    ds, ws = [], []
    for dead in itertools.product([0, 1], repeat=n):
        dead = np.array(dead)
        w = p ** dead.sum() * (1 - p) ** (n - dead.sum())
        ds.append(ref_forward(net, x, kernel_alive=(1 - dead).reshape(net.layers[0].op.weight.shape)) - clean)
        ws.append(w)
    ds, ws = np.array(ds), np.array(ws)
    mean = np.einsum("s,sbo->bo", ws, ds)
    var = np.einsum("s,sbo->bo", ws, (ds - mean) ** 2)
    m4 = np.einsum("s,sbo->bo", ws, (ds - mean) ** 4)
    return mean, var, m4


def _exact_neuron(net, x, p):
    n = net.sizes[1]
    clean = net.forward(x)
    ds, ws = [], []
    for dead in itertools.product([0, 1], repeat=n):
        dead = np.array(dead)
        ws.append(p ** dead.sum() * (1 - p) ** (n - dead.sum()))
        ds.append(ref_forward(net, x, neuron_alive={1: 1.0 - dead}) - clean)
    ds, ws = np.array(ds), np.array(ws)
    mean = np.einsum("s,sbo->bo", ws, ds)
    var = np.einsum("s,sbo->bo", ws, (ds - mean) ** 2)
    m4 = np.einsum("s,sbo->bo", ws, (ds - mean) ** 4)
    return mean, var, m4


@pytest.mark.parametrize("site", ["neuron", "synapse"])
@pytest.mark.parametrize("mode", ["permanent", "transient"])
def test_monte_carlo_matches_exact_enumeration(rng, site, mode):
    """Acceptance 2: MC mean and variance within 5 standard errors of the exact enumeration."""
    net = _tiny(rng)
    x = rng.uniform(0, 1, size=(3, 1, 3, 3))
    p = 0.15
    mean, var, m4 = (_exact_neuron if site == "neuron" else _exact_synapse)(net, x, p)
    if site == "neuron":  # the analysis code's enumeration (dense equivalent) agrees with the loop reference
        ex = ns.analysis.exact_moments(net, x, {1: p})
        np.testing.assert_allclose(ex.mean, mean, atol=1e-12)
    n = 4000
    r = simulate(net, x, f"{site}:{mode}:{p}:layers=1", n_chips=n, seed=3)
    d = r.delta
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(d.mean(0) - mean) <= 5 * se_mean + 1e-12)
    se_var = np.sqrt(np.maximum(m4 - var ** 2, 0) / n)
    assert np.all(np.abs(d.var(0) - var) <= 5 * se_var + 1e-12)
    if mode == "permanent":  # one draw per chip: every input of a chip sees the same fault set
        cnt = r.fault_counts[:, 0, 1]
        assert cnt.mean() == pytest.approx(p * 8, abs=5 * np.sqrt(p * (1 - p) * 8 / n))


@pytest.mark.parametrize("site", ["neuron", "synapse"])
@pytest.mark.parametrize("mode", ["permanent", "transient", "intermittent"])
def test_rate_zero_changes_nothing(rng, site, mode):
    net = tiny_cnn(rng, c_in=2, hw=5)
    x = rng.uniform(size=(7, 2, 5, 5))
    extra = ":p_on=0.3:p_off=0.5" if mode == "intermittent" else ""
    r = simulate(net, x, f"{site}:{mode}:0{extra}", n_chips=3, seed=1)
    assert np.all(r.delta == 0.0)
    np.testing.assert_allclose(r.clean, net.forward(x), atol=1e-12)


@pytest.mark.parametrize("mode", ["permanent", "transient"])
def test_rate_one_is_the_dead_layer(rng, mode):
    net = tiny_cnn(rng, c_in=2, hw=5)
    x = rng.uniform(size=(5, 2, 5, 5))
    clean = net.forward(x)
    r = simulate(net, x, f"neuron:{mode}:1:layers=1", n_chips=2, seed=0)
    dead = _forward_from(net, np.zeros((5, net.sizes[1])), 1)
    np.testing.assert_allclose(r.delta, np.broadcast_to(dead - clean, r.delta.shape), atol=1e-12)
    r = simulate(net, x, f"synapse:{mode}:1:layers=1", n_chips=2, seed=0)
    zero_kernel = ref_forward(net, x, kernel_alive=np.zeros(net.layers[0].op.weight.shape))
    np.testing.assert_allclose(r.delta, np.broadcast_to(zero_kernel - clean, r.delta.shape), atol=1e-12)


def test_wiring_layers_have_no_faults(rng):
    net = tiny_cnn(rng)
    x = rng.uniform(size=(4, 1, 5, 5))
    r = simulate(net, x, ["neuron:transient:0.3", "synapse:transient:0.3"], n_chips=2, seed=0)
    assert np.all(r.fault_counts[:, :, 2:4] == 0)  # pool and flatten slots
    assert r.fault_counts[:, 0, 1].sum() > 0 and r.fault_counts[:, 1, 1].sum() > 0
    with pytest.raises(ConfigError, match="wiring"):
        simulate(net, x, "neuron:transient:0.1:layers=2")


@pytest.mark.parametrize("mode", ["shared", "replicated"])
def test_permanent_faults_replay_against_loop_reference(rng, mode):
    """Neuron, synapse and core faults of one chip, replayed with per-position kernel masks."""
    net = tiny_cnn(rng, c_in=2, hw=5, c_mid=3)
    prof = profile_from_dict(tiny_profile_dict(core__conv_kernels=mode, synapse__weight_bits=0))
    m = map_network(net, prof)
    q = m.qnet
    x = rng.uniform(size=(4, 2, 5, 5))
    specs = ["neuron:permanent:0.1", "synapse:permanent:0.1:layers=1", "core:permanent:0.05"]
    r = simulate(m, x, specs, n_chips=3, seed=11)
    conv = q.layers[0].op
    P = q.sizes[1] // conv.weight.shape[0]
    for chip in range(3):
        sites = permanent_fault_sites(m, specs, chip=chip, seed=11)
        dead_cores = set(sites[2].get(0, np.array([], np.int64)).tolist())
        ka = np.ones((P,) + conv.weight.shape)
        cells = sites[1].get(1, np.array([], np.int64))
        flat = ka.reshape(P, -1)
        if mode == "shared":
            flat[:, cells] = 0
        else:
            for c in cells:
                flat[c // conv.weight.size, c % conv.weight.size] = 0
        sc = m.synapse_core(1).reshape((P, -1) if mode == "replicated" else (1, -1))
        flat[np.broadcast_to(np.isin(sc, list(dead_cores)), flat.shape)] = 0
        na = {}
        for l in range(q.n_layers + 1):
            a = np.ones(q.sizes[l])
            a[sites[0].get(l, np.array([], np.int64))] = 0
            if l > 0:
                a[np.isin(m.neuron_core[l - 1], list(dead_cores))] = 0
            na[l] = a
        # dense layer: its tile cells on dead cores die too
        d = q.layers[-1]
        dalive = ~np.isin(m.synapse_core(q.n_layers), list(dead_cores))
        qd = Network.from_layers(list(q.layers[:-1]) + [Layer(Dense(d.op.weight * dalive), d.bias)], q.input_shape)
        ref = ref_forward(qd, x, kernel_alive=ka, neuron_alive=na) - q.forward(x)
        np.testing.assert_allclose(r.delta[chip], ref, atol=1e-11)


def test_bit_identical_threads_and_chunking(rng):
    net = tiny_cnn(rng, c_in=2, hw=6, c_mid=4)
    m = map_network(net, profile_from_dict(tiny_profile_dict()))
    x = rng.uniform(size=(150, 2, 6, 6))
    specs = ["neuron:transient:0.02", "synapse:transient:0.01", "synapse:permanent:0.02", "core:intermittent:0.05:p_on=0.2:p_off=0.5"]
    a = simulate(m, x, specs, n_chips=3, seed=5, threads=1)
    b = simulate(m, x, specs, n_chips=3, seed=5, threads=2)
    c = simulate(m, x, specs, n_chips=3, seed=5, threads=2, chunk_rows=77)
    assert np.array_equal(a.delta, b.delta) and np.array_equal(a.delta, c.delta)
    assert np.array_equal(a.fault_counts, b.fault_counts)
    bare = simulate(net, x, specs[:3], n_chips=2, seed=5, threads=1)
    bare2 = simulate(net, x, specs[:3], n_chips=2, seed=5, threads=2, chunk_rows=50)
    assert np.array_equal(bare.delta, bare2.delta)


def test_float32_precision_on_conv(rng):
    """float32 runs: bit-identical across threads/chunking, close to float64."""
    net = tiny_cnn(rng, c_in=2, hw=6, c_mid=4)
    x = rng.uniform(size=(70, 2, 6, 6))
    specs = ["neuron:transient:0.02", "synapse:transient:0.02"]
    a = simulate(net, x, specs, n_chips=2, seed=2, threads=1, precision="float32")
    b = simulate(net, x, specs, n_chips=2, seed=2, threads=2, chunk_rows=33, precision="float32")
    c = simulate(net, x, specs, n_chips=2, seed=2, precision="float64")
    assert a.delta.dtype == np.float32 and np.array_equal(a.delta, b.delta)
    np.testing.assert_allclose(a.delta, c.delta, atol=1e-4 * np.abs(c.clean).max())
