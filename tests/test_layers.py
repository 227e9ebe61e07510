"""Layer model: conv/pool/flatten/scale ops against plain loops, dense equivalents, validation, native round trip."""
import h5py
import numpy as np
import pytest

import neurosim as ns
from neurosim import ConfigError, FileFormatError, Network
from neurosim.layers import (AvgPool2d, Conv2d, Dense, Flatten, Layer, NeuronModel, Scale, SumPool2d,
                             make_neuron, register_neuron)
from reference_conv import conv2d_loops, pool_loops, tiny_cnn


@pytest.mark.parametrize("stride,padding,k", [(1, 0, (3, 3)), (1, 1, (3, 3)), (2, 1, (3, 2)), ((2, 1), (0, 2), (2, 3))])
def test_conv_matches_loops_and_dense_equivalent(rng, stride, padding, k):
    W = rng.normal(size=(3, 2, *k))
    op = Conv2d(W, stride=stride, padding=padding)
    x = rng.normal(size=(4, 2, 6, 7))
    got = op.apply(x.reshape(4, -1), (2, 6, 7))
    ref = conv2d_loops(x, W, None, op.stride, op.padding)
    assert op.out_shape((2, 6, 7)) == ref.shape[1:]
    np.testing.assert_allclose(got, ref.reshape(4, -1), rtol=0, atol=1e-12)
    M = op.dense_matrix((2, 6, 7))
    np.testing.assert_allclose(x.reshape(4, -1) @ M.T, ref.reshape(4, -1), rtol=0, atol=1e-12)
    # every stored kernel weight appears once per output position whose window covers a real input
    assert np.count_nonzero(M) <= W.size * int(np.prod(ref.shape[2:]))


@pytest.mark.parametrize("cls,mean", [(AvgPool2d, True), (SumPool2d, False)])
@pytest.mark.parametrize("k,s", [(2, None), (3, 2), ((2, 1), (1, 1))])
def test_pool_matches_loops(rng, cls, mean, k, s):
    op = cls(k, s)
    x = rng.normal(size=(3, 2, 6, 5))
    ref = pool_loops(x, op.kernel, op.stride, mean)
    np.testing.assert_allclose(op.apply(x.reshape(3, -1), (2, 6, 5)), ref.reshape(3, -1), atol=1e-13)
    np.testing.assert_allclose(x.reshape(3, -1) @ op.dense_matrix((2, 6, 5)).T, ref.reshape(3, -1), atol=1e-13)


def test_network_forward_matches_loops_and_dense_chain(rng):
    net = tiny_cnn(rng, c_in=2, hw=6, c_mid=3)
    x = rng.normal(size=(5, 2, 6, 6))
    c = np.maximum(conv2d_loops(x, net.layers[0].op.weight, net.layers[0].bias, (1, 1), (1, 1)), 0)
    p = pool_loops(c, (2, 2), (2, 2)).reshape(5, -1)
    ref = p @ net.layers[3].op.weight.T + net.layers[3].bias
    np.testing.assert_allclose(net.forward(x), ref, atol=1e-12)
    np.testing.assert_array_equal(net.forward(x), net.forward(x.reshape(5, -1)))
    h = x.reshape(5, -1)
    for W, b, a in zip(net.weights, net.biases, net.activations):
        h = ns.network.activate(a, h @ W.T + b)
    np.testing.assert_allclose(h, ref, atol=1e-12)
    assert net.sizes == (72, 108, 27, 27, 3)
    assert [net.neuron_sites(l) for l in range(5)] == [72, 108, 0, 0, 3]
    assert [net.synapse_sites(l) for l in range(1, 5)] == [54, 0, 0, 81]
    assert net.n_synapses == 54 + 81


def test_scale_op(rng):
    op = Scale(np.array([2.0, -1.0])[:, None, None])
    x = rng.normal(size=(2, 2, 3, 3))
    np.testing.assert_array_equal(op.apply(x.reshape(2, -1), (2, 3, 3)), (x * op.factor).reshape(2, -1))
    with pytest.raises(ConfigError, match="broadcast"):
        op.out_shape((3, 3, 3))


@pytest.mark.parametrize("case,expect", [
    ("conv_on_flat", "(channels, height, width)"),
    ("channels", "input channels"),
    ("too_big", "does not fit"),
    ("bias_shape", "bias must have shape (2,)"),
    ("pool_bias", "takes no bias"),
    ("nan", "non-finite"),
    ("dense_chain", "takes 7 inputs"),
    ("last_relu", "last layer"),
    ("pool_padding", "padding 0 only"),
    ("stride0", "'stride'"),
    ("input_shape", "input_shape"),
    ("neuron", "Unknown neuron model"),
])
def test_layer_validation(rng, case, expect):
    W = rng.normal(size=(2, 1, 3, 3))
    with pytest.raises(ConfigError) as ei:
        if case == "conv_on_flat":
            Network.from_layers([Layer(Conv2d(W))], (9,))
        elif case == "channels":
            Network.from_layers([Layer(Conv2d(W))], (2, 5, 5))
        elif case == "too_big":
            Network.from_layers([Layer(Conv2d(W))], (1, 2, 2))
        elif case == "bias_shape":
            Network.from_layers([Layer(Conv2d(W), np.zeros(3))], (1, 5, 5))
        elif case == "pool_bias":
            Network.from_layers([Layer(AvgPool2d(2), np.zeros(1))], (1, 4, 4))
        elif case == "nan":
            W[0, 0, 1, 1] = np.nan
            Conv2d(W)
        elif case == "dense_chain":
            Network.from_layers([Layer(Conv2d(W)), Layer(Flatten()), Layer(Dense(np.ones((2, 7))))], (1, 5, 5))
        elif case == "last_relu":
            Network.from_layers([Layer(Conv2d(W), None, "relu")], (1, 5, 5))
        elif case == "pool_padding":
            AvgPool2d(2, padding=1)
        elif case == "stride0":
            Conv2d(W, stride=0)
        elif case == "input_shape":
            Network.from_layers([Layer(Conv2d(W))], (1, 5))
        elif case == "neuron":
            Layer(Flatten(), neuron="softplus")
    msg = str(ei.value)
    assert "\n" not in msg and expect in msg, msg


def test_inputs_shapes(rng):
    net = tiny_cnn(rng)
    with pytest.raises(ConfigError, match=r"\(batch, 1, 5, 5\)"):
        net.forward(np.zeros((2, 3, 5, 5)))
    assert net.forward(np.zeros((1, 5, 5))).shape == (1, 3)


class _Toy(NeuronModel):
    """A parameterised neuron type registered like the spiking models will be."""
    spiking = True


def test_native_round_trip_every_type_bit_exact(rng, tmp_path):
    register_neuron("toy_lif", _Toy)
    layers = [
        Layer(Scale(rng.normal(size=(1, 1, 1)))),
        Layer(Conv2d(rng.normal(size=(3, 1, 3, 2)), stride=(2, 1), padding=(1, 0)), rng.normal(size=3), "tanh"),
        Layer(SumPool2d(2, 1), None, "sigmoid"),
        Layer(AvgPool2d((1, 2))),
        Layer(Flatten()),
        Layer(Dense(rng.normal(size=(4, 9))), rng.normal(size=4), "relu"),
        Layer(Dense(rng.normal(size=(2, 4))), None, make_neuron("toy_lif", {"tau_mem_s": np.array(0.02),
                                                                            "v_threshold": rng.normal(size=2)})),
    ]
    net = Network.from_layers(layers, (1, 7, 5), name="every-type")
    p = tmp_path / "every.h5"
    ns.save_network(net, p)
    back = ns.load_network(p)
    assert back.shapes == net.shapes and back.kinds == net.kinds and back.activations == net.activations
    for a, b in zip(net.layers, back.layers):
        assert type(a.op) is type(b.op)
        for (ka, va), (kb, vb) in zip(a.op.params().items(), b.op.params().items()):
            assert ka == kb and np.array_equal(np.asarray(va), np.asarray(vb))
        assert (a.bias is None) == (b.bias is None) and (a.bias is None or np.array_equal(a.bias, b.bias))
        assert type(a.neuron) is type(b.neuron) and a.neuron.params.keys() == b.neuron.params.keys()
        for k in a.neuron.params:
            assert np.array_equal(a.neuron.params[k], b.neuron.params[k])
    with h5py.File(p) as f:
        assert int(f.attrs["format_version"]) == 2
    with pytest.raises(ConfigError, match="spiking"):
        back.forward(np.zeros((1, 7, 5)))


def test_rate_cnn_round_trip_outputs_bit_exact(rng, tmp_path):
    net = tiny_cnn(rng, c_in=2, hw=6, pool="sum")
    x = rng.normal(size=(3, 2, 6, 6))
    ns.save_network(net, tmp_path / "c.h5", inputs=x, labels=[0, 1, 2])
    back = ns.load_network(tmp_path / "c.h5")
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    xb, yb = ns.io.load_bundled_data(tmp_path / "c.h5")
    np.testing.assert_array_equal(xb, x.reshape(3, -1))


def test_version1_file_still_loads(digits_path):
    with h5py.File(digits_path) as f:
        assert int(f.attrs["format_version"]) == 1
    net = ns.load_network(digits_path)
    assert net.is_dense and net.input_shape == (64,)


def test_unknown_layer_type_in_file(rng, tmp_path):
    p = tmp_path / "x.h5"
    ns.save_network(tiny_cnn(rng), p)
    with h5py.File(p, "r+") as f:
        f["layers/001"].attrs["type"] = "maxpool2d"
    with pytest.raises(FileFormatError, match="maxpool2d"):
        ns.load_network(p)
