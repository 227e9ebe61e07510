"""Mapping conv networks: unrolled kernel tiles, shared vs replicated, utilisation, quantisation, capacity."""
import numpy as np
import pytest

import neurosim as ns
from neurosim import CapacityError, ConfigError, map_network
from neurosim.chip.mapping import tile_matrix
from neurosim.chip.profile import profile_from_dict
from neurosim.chip.quantize import levels
from neurosim.io.mapping_io import load_mapping, save_mapping
from conftest import tiny_profile_dict
from reference_conv import tiny_cnn


@pytest.mark.parametrize("mode", ["shared", "replicated"])
def test_tiles_reassemble_the_quantised_kernel(rng, mode):
    net = tiny_cnn(rng, c_in=2, hw=5, c_mid=3)  # conv 3 x (2*3*3=18 taps), 25 positions
    prof = profile_from_dict(tiny_profile_dict(core__conv_kernels=mode))
    m = map_network(net, prof)
    conv = m.qnet.layers[0].op
    Wm = tile_matrix(conv)
    P = 25
    idx = np.flatnonzero(m.tile_layer == 1)
    n_blocks = int(np.ceil(3 / 2) * np.ceil(18 / 3))
    assert idx.size == (n_blocks * P if mode == "replicated" else n_blocks)
    cover = np.zeros((P if mode == "replicated" else 1,) + Wm.shape, int)
    for t in idx:
        pos = max(m.tile_pos[t], 0)
        cover[pos, m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]] += 1
        blk = Wm[m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]]
        # every weight of a tile is an integer multiple of its step, within the level range
        q = blk / m.tile_scale[t]
        np.testing.assert_allclose(q, np.rint(q), atol=1e-9)
        assert np.max(np.abs(np.rint(q))) <= levels(prof.weight_bits)
        assert np.all(np.abs(blk - tile_matrix(net.layers[0].op)[m.tile_c0[t]:m.tile_c1[t], m.tile_r0[t]:m.tile_r1[t]])
                      <= m.tile_scale[t] / 2 + 1e-12)
    assert np.all(cover == 1)  # every kernel weight in exactly one cell (per position when replicated)
    sc = m.synapse_core(1)
    assert sc.shape == ((P,) if mode == "replicated" else ()) + Wm.shape
    # neurons: every conv output (channel, position) on exactly one core; wiring layers on none
    assert np.all(m.neuron_core[0] >= 0) and m.neuron_core[0].size == 75
    assert np.all(m.neuron_core[1] == -1) and np.all(m.neuron_core[2] == -1)
    tp, npt, nl, ni = m.core_contents()
    held = set(zip(nl.tolist(), ni.tolist()))
    assert {(1, i) for i in range(75)} <= held and not any(l in (2, 3) for l, _ in held)
    x = rng.uniform(size=(3, 2, 5, 5))
    h = x.reshape(3, -1)
    for W, b, a in zip(m.qnet.weights, m.qnet.biases, m.qnet.activations):
        h = ns.network.activate(a, h @ W.T + b)
    np.testing.assert_allclose(m.qnet.forward(x), h, atol=1e-12)
    s = m.summary()
    assert s["conv_kernels"] == mode and s["layers"][0]["positions"] == P
    used = (P if mode == "replicated" else 1) * Wm.size + net.layers[3].op.weight.size
    assert s["cells_used"] == used
    assert s["crossbar_utilisation"] == pytest.approx(used / (m.n_tiles * 6))
    p2 = tmp = None  # noqa: F841


def test_mapping_file_round_trip_conv(rng, tmp_path):
    net = tiny_cnn(rng)
    m = map_network(net, "truenorth")
    save_mapping(m, tmp_path / "m.h5")
    b = load_mapping(tmp_path / "m.h5")
    assert b.conv_kernels == "replicated" and np.array_equal(b.tile_pos, m.tile_pos)
    x = rng.uniform(size=(2, 1, 5, 5))
    np.testing.assert_array_equal(b.qnet.forward(x), m.qnet.forward(x))
    assert b.qnet.kinds == net.kinds


def test_capacity_error_names_replication(rng):
    net = tiny_cnn(rng, c_in=2, hw=6, c_mid=4)
    d = tiny_profile_dict(core__conv_kernels="replicated", chip__cores_per_chip=20)
    with pytest.raises(CapacityError) as ei:
        map_network(net, profile_from_dict(d))
    msg = str(ei.value)
    assert "\n" not in msg and "max_chips=" in msg and "conv_kernels='shared'" in msg
    shared = map_network(net, profile_from_dict(tiny_profile_dict()), conv_kernels="shared")
    assert shared.n_cores < map_network(net, profile_from_dict(tiny_profile_dict()), max_chips=1,
                                        conv_kernels="replicated").n_cores
    with pytest.raises(ConfigError, match="conv_kernels"):
        map_network(net, "loihi", conv_kernels="tiled")
    with pytest.raises(ConfigError, match="core.conv_kernels"):
        profile_from_dict(tiny_profile_dict(core__conv_kernels="both"))


def test_map_refuses_foreign_objects_with_fix():
    with pytest.raises(ConfigError, match="from_torch"):
        map_network(object(), "loihi")
