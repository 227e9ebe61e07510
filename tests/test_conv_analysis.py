"""Bounds and exact moments on conv networks: Jacobians by finite differences, b3 vs exact enumeration,
the shared-kernel synapse first order vs enumeration with a plain-loop conv (kernel masks)."""
import itertools

import numpy as np
import pytest

import neurosim as ns
from neurosim import ConfigError, Network
from neurosim.analysis.bounds import _forward_from, output_jacobians, synapse_first_order
from neurosim.layers import AvgPool2d, Conv2d, Dense, Flatten, Layer
from reference_conv import conv2d_loops, pool_loops, tiny_cnn


def _small(rng, act="tanh", scale=0.6):
    conv = Conv2d(rng.normal(size=(2, 1, 3, 3)) * scale, stride=1, padding=0)
    layers = [Layer(conv, rng.normal(size=2) * 0.2, act), Layer(AvgPool2d(2)), Layer(Flatten()),
              Layer(Dense(rng.normal(size=(2, 2))), rng.normal(size=2) * 0.2)]
    return Network.from_layers(layers, (1, 4, 4))


def test_jacobians_through_conv_and_pool_match_finite_differences(rng):
    net = tiny_cnn(rng, c_in=2, hw=5, c_mid=2, act="tanh", stride=2, padding=1)
    x = rng.normal(size=(3, 2, 5, 5))
    ys, _ = net.forward_all(x)
    J = output_jacobians(net, x, [0, 1, 2, 3])
    h = 1e-6
    for l in (0, 1, 2, 3):
        n = ys[l].shape[1]
        fd = np.empty((3, net.n_out, n))
        for j in range(n):
            e = np.zeros(n); e[j] = h
            fd[:, :, j] = (_forward_from(net, ys[l] + e, l) - _forward_from(net, ys[l] - e, l)) / (2 * h)
        np.testing.assert_allclose(J[l], fd, rtol=1e-6, atol=1e-8)


def test_b3_mean_on_conv_layer_matches_exact_enumeration(rng):
    net = _small(rng)
    x = rng.uniform(0, 1, size=(4, 1, 4, 4))
    p = {1: 1e-3}
    ex = ns.analysis.exact_moments(net, x, p)
    b = ns.analysis.bounds(net, x, p)
    # first order: relative error O(p * n) on mean and std
    np.testing.assert_allclose(b["b3"].mean, ex.mean, rtol=0.02, atol=1e-9)
    np.testing.assert_allclose(b["b3"].std, ex.std, rtol=0.02, atol=1e-9)
    assert np.all(b["b2"].mean >= np.abs(ex.mean) - 1e-12)


def test_rates_on_wiring_layers_refused(rng):
    net = _small(rng)
    with pytest.raises(ConfigError, match="avgpool2d layer"):
        ns.analysis.bounds(net, np.zeros((1, 16)), {2: 0.1})
    with pytest.raises(ConfigError, match="no synapses"):
        synapse_first_order(net, np.zeros((1, 16)), {3: 0.1})


def _forward_kernel_mask(net, x, mask):
    conv = net.layers[0].op
    act = np.tanh if net.activations[0] == "tanh" else (lambda z: z)
    c = act(conv2d_loops(x, conv.weight * mask, net.layers[0].bias, conv.stride, conv.padding))
    pl = pool_loops(c, (2, 2), (2, 2)).reshape(x.shape[0], -1)
    return pl @ net.layers[3].op.weight.T + net.layers[3].bias


@pytest.mark.parametrize("act,scale,rtol", [("identity", 0.6, 3e-3), ("tanh", 0.1, 0.05)])
def test_shared_kernel_synapse_first_order_matches_enumeration(rng, act, scale, rtol):
    """Each of the 18 kernel weights fails with p; enumerate subsets up to 3 crashes (neglected mass < 1e-7).

    Linear conv layer: the first order is exact up to the p(1-p) vs p variance factor; tanh with
    small weights: within 5 %."""
    net = _small(rng, act, scale)
    x = rng.uniform(0, 1, size=(3, 1, 4, 4))
    p = 2e-3
    n = net.layers[0].op.weight.size
    clean = _forward_kernel_mask(net, x, np.ones((2, 1, 3, 3)))
    np.testing.assert_allclose(clean, net.forward(x), atol=1e-12)
    m1 = np.zeros_like(clean); m2 = np.zeros_like(clean); mass = 0.0
    for k in range(4):
        for S in itertools.combinations(range(n), k):
            w = p ** k * (1 - p) ** (n - k)
            mask = np.ones(n); mask[list(S)] = 0
            d = _forward_kernel_mask(net, x, mask.reshape(2, 1, 3, 3)) - clean
            m1 += w * d; m2 += w * d * d; mass += w
    assert 1 - mass < 1e-7
    std = np.sqrt(m2 - m1 ** 2)
    fo = synapse_first_order(net, x, {1: p})
    np.testing.assert_allclose(fo.mean, m1, rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(fo.std, std, rtol=rtol, atol=1e-10)
    # treating each (position, tap) connection as its own site would be wrong for a shared kernel
    G = ns.analysis.bounds  # noqa: F841 (documentation of intent)
    ys, zs = net.forward_all(x)
    W = net.weights[0]
    from neurosim.analysis.bounds import _backward
    _, Jz = _backward(net, zs, lowest_y=None, lowest_z=1)
    per_conn = np.sqrt(p * np.einsum("boi,bi->bo", Jz[1] ** 2, (ys[0] ** 2) @ (W * W).T))
    assert np.max(np.abs(per_conn - std) / std) > 0.1
