"""Simulation with device non-idealities: exact against numpy for deterministic parts, 5 SE for noise."""
from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns
from neurosim import ConfigError, FaultSpec, map_network, simulate
from neurosim.chip import devices as D
from reference import random_net
from reference_values import forward_values, reference_delta_values


def _fw(net, x, Ws=None):
    Ws = Ws or {}
    return np.array([forward_values(net, xb, synapse_W=Ws) for xb in x])


def test_programming_noise_per_chip_matches_numpy(small_net, rng):
    x = rng.normal(size=(6, 7))
    dev = {"programming": "gaussian", "programming_sigma": 0.05}
    r = simulate(small_net, x, [], n_chips=3, seed=4, devices=dev)
    wmax = D.full_scale(small_net)
    m = D.device_model(dev)
    for c in range(3):
        W = D.chip_weights(small_net.weights, wmax, m, 4, c)
        want = _fw(small_net, x, {l + 1: w for l, w in enumerate(W)}) - _fw(small_net, x)
        np.testing.assert_allclose(r.delta[c], want, rtol=0, atol=1e-12)
    assert not np.allclose(r.delta[0], r.delta[1])
    r2 = simulate(small_net, x, [], n_chips=3, seed=4, devices=dev, threads=2, chunk_rows=2)
    np.testing.assert_array_equal(r.delta, r2.delta)


def test_faults_on_noisy_chips_are_the_same_sites(small_net, tiny_profile, rng):
    """Chip c with devices has exactly the faults chip c has without them (engine run as chip c)."""
    m = map_network(small_net, tiny_profile)
    x = rng.uniform(size=(5, 7))
    specs = ["synapse:permanent:0.3:value=max", "neuron:transient:0.2:value=saturated", "core:permanent:0.1"]
    dev = {"programming": "lognormal", "programming_sigma": 0.1}
    C = 3
    r = simulate(m, x, specs, n_chips=C, seed=6, devices=dev)
    wmax = D.full_scale(m)
    model = D.device_model(dev)
    base = simulate(m, x, specs, n_chips=C, seed=6)
    np.testing.assert_array_equal(r.fault_counts, base.fault_counts)
    for c in range(C):
        W = D.chip_weights(m.qnet.weights, wmax, model, 6, c)
        mc = __import__("dataclasses").replace(m, qnet=m.qnet.with_weights(W))
        sat = [y.max() for y in mc.qnet.forward_all(x)[0]]
        faulty = reference_delta_values(mc, x, specs, 6, C, sat=sat)[c] + _fw(mc.qnet, x)
        np.testing.assert_allclose(r.delta[c], faulty - _fw(m.qnet, x), rtol=0, atol=1e-12)


def test_constant_drift_with_age(small_net, rng):
    x = rng.normal(size=(4, 7))
    dev = {"drift": "constant", "drift_nu": 0.05}
    r = simulate(small_net, x, [], n_chips=2, seed=0, devices=dev, age="30d")
    f = ((30 * 86400.0 + 20.0) / 20.0) ** -0.05
    want = _fw(small_net, x, {l + 1: W * f for l, W in enumerate(small_net.weights)}) - _fw(small_net, x)
    np.testing.assert_allclose(r.delta, np.broadcast_to(want, r.delta.shape), rtol=0, atol=1e-12)
    assert r.config["devices"]["age_s"] == 30 * 86400.0
    young = simulate(small_net, x, [], n_chips=2, seed=0, devices=dev, age="1h")
    assert np.abs(young.delta).mean() < np.abs(r.delta).mean()


def test_read_noise_moments():
    """One linear layer: Δ_i ~ N(0, sum_j (sigma w_max)^2 x_j^2), independent per inference (5 SE)."""
    rng = np.random.default_rng(3)
    net = random_net(rng, [4, 3], [])
    x = rng.uniform(size=(1, 4))
    R = 20_000
    sigma = 0.05
    r = simulate(net, np.repeat(x, R, axis=0), [], n_chips=1, seed=1, devices={"read_sigma": sigma})
    d = r.delta[0]
    wmax = np.max(np.abs(net.weights[0]))
    var = np.full(3, np.sum((sigma * wmax) ** 2 * x[0] ** 2))
    assert np.all(np.abs(d.mean(0)) < 5 * np.sqrt(var / R))
    assert np.all(np.abs(d.var(0) - var) < 5 * var * np.sqrt(2 / R))


def test_adc_dac_are_part_of_the_intended_chip(rng):
    """Without noise Δ = 0 (ADC/DAC are deterministic parts of the chip), and the clean output is the
    numpy forward with the inputs and column sums quantised."""
    net = random_net(rng, [5, 4, 3], "relu")
    x = rng.uniform(size=(30, 5))
    dev = {"adc_bits": 4, "dac_bits": 3}
    r = simulate(net, x, [], seed=0, devices=dev)
    assert np.all(r.delta == 0)
    ys, zs = net.forward_all(x)

    def q(a, bits, lo, hi):
        if lo >= 0:
            st = hi / (2 ** bits - 1)
            return np.rint(np.clip(a, 0, hi) / st) * st
        mm = max(-lo, hi)
        st = mm / (2 ** (bits - 1) - 1)
        return np.rint(np.clip(a, -mm, mm) / st) * st

    y = x
    for l in range(2):
        yin = q(y, 3, ys[l].min(), ys[l].max())
        z = yin @ net.weights[l].T + net.biases[l]
        m = np.abs(zs[l]).max()
        z = q(z, 4, -m, m)
        y = np.maximum(z, 0) if l == 0 else z
    np.testing.assert_allclose(r.clean, y, rtol=0, atol=1e-12)
    f = simulate(net, x, "neuron:permanent:0.5:layers=1", n_chips=2, seed=0, devices=dev)
    assert np.any(f.delta != 0)


def test_pcm_profile_devices_and_age():
    net = ns.load_network("examples/digits_mlp.h5")
    x, _ = ns.io.load_bundled_data("examples/digits_mlp.h5")
    m = map_network(net, "pcm")
    a = simulate(m, x[:50], [], n_chips=2, seed=0, devices=True, age="1h")
    b = simulate(m, x[:50], [], n_chips=2, seed=0, devices=True, age="1y")
    assert np.all(np.isfinite(b.delta)) and np.any(a.delta != 0)
    assert b.config["devices"]["drift"] == "pcm"


@pytest.mark.parametrize("kw, needle", [
    ({"age": "1y"}, "needs device non-idealities"),
    ({"devices": True}, "needs a mapping"),
    ({"devices": {"programming": "wild"}}, "device.programming"),
    ({"devices": {"read_sigma": 0.1}, "age": "1y"}, "only matters with drift"),
    ({"devices": {"read_sigma": 0.1}, "seed": -1}, "'seed'"),
])
def test_device_errors(small_net, rng, kw, needle):
    with pytest.raises(ConfigError, match=needle):
        simulate(small_net, rng.normal(size=(2, 7)), [], **kw)


def test_devices_true_needs_a_device_table(small_net, rng):
    with pytest.raises(ConfigError, match="no \\[device\\] non-idealities"):
        simulate(map_network(small_net, "rram"), rng.uniform(size=(2, 7)), [], devices=True)


def test_cli_devices_and_age(tmp_path, capsys):
    from neurosim.cli.main import main

    rc = main(["simulate", "examples/digits_mlp.h5", "--profile", "pcm", "--devices", "--age", "30d",
               "--chips", "2", "--limit", "20", "--seed", "3", "--json"])
    assert rc == 0
    out = capsys.readouterr().out
    assert '"faults": []' in out
    rc = main(["simulate", "examples/digits_mlp.h5", "--age", "1y", "--fault", "synapse:permanent:0.1",
               "--limit", "5"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "needs device non-idealities" in err and "Traceback" not in err and err.count("\n") == 1
