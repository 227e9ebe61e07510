"""Sweeps over device-noise levels (programming σ, read σ, drift age): grid, bit identity with
``simulate(..., devices=)``, resume, report labels, refusal of bad input."""
from pathlib import Path

import numpy as np
import pytest

import neurosim as ns
from neurosim import sweep as S
from neurosim.cli.main import main
from neurosim.errors import ConfigError
from neurosim.io import load_bundled_data
from neurosim.sweep.noise import device_table, noise_points
from sweep_util import InterruptAfter, digest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
PCM = ROOT / "neurosim" / "chip" / "profiles" / "pcm.toml"


@pytest.fixture
def gauss_profile(tmp_path):
    """The pcm profile with Gaussian programming noise and constant drift (models that have a sigma / nu)."""
    text = PCM.read_text().replace('programming = "pcm"', 'programming = "gaussian"\nprogramming_sigma = 0.03')
    text = text.replace('drift = "pcm"', 'drift = "constant"\ndrift_nu = 0.05\ndrift_nu_std = 0.02')
    p = tmp_path / "pcm_gauss.toml"
    p.write_text(text.replace('name = "pcm"', 'name = "pcm_gauss"'))
    return str(p)


@pytest.fixture(scope="module")
def digits():
    net = ns.load_network(DIGITS)
    x, _ = load_bundled_data(DIGITS)
    return net, x[:12]


def _ctx(digits, profile, **kw):
    net, x = digits
    noise = noise_points(kw.pop("programming_sigma", "0,0.05"), kw.pop("read_sigma", "0,0.02"), kw.pop("age", "0,30d"))
    return S.build_context(net, x, profiles=(profile,), faults=["synapse:permanent", "neuron:transient:layers=1"],
                           rates=(0.0, 0.02), n_chips=2, seed=3, devices=noise, **kw)


def test_noise_points_grid_order_and_index(digits, gauss_profile):
    pts = noise_points("0,0.05", "0.02,0", "1y,0")
    assert [tuple(p.values()) for p in pts] == [(a, b, c) for a in (0, 0.05) for b in (0, 0.02)
                                                for c in (0, 365.25 * 86400)]
    ctx = _ctx(digits, gauss_profile)
    g = ctx.grid
    assert g.n_noise == 8 and g.n_points == 8 * 2 * 2
    seen = set()
    for i in range(g.n_points):
        p, s, r = g.point(i)
        d = g.noise(i)
        assert g.index(p, s, r, d) == i
        seen.add((p, d, s, r))
    assert len(seen) == g.n_points
    # no noise axis: the indices of an ideal-device sweep are unchanged
    assert noise_points() == () and noise_points(devices=True) == ({},)
    assert device_table({"programming": "gaussian", "programming_sigma": 0.03}, {"programming_sigma": 0.0}) == \
        {"programming": "none", "programming_sigma": 0.0}


def test_every_noise_point_equals_simulate_with_devices(digits, gauss_profile, tmp_path):
    """Grid point i is bit for bit simulate(mapping, x, [spec], devices=table_d, age=age_d, seed=seed_i)."""
    net, x = digits
    ctx = _ctx(digits, gauss_profile)
    out = tmp_path / "n.h5"
    S.run_sweep(ctx, out, progress=False)
    data = S.load_sweep(out)
    assert data.devices == ctx.grid.devices and data.n_noise == 8
    mapping = ns.map_network(net, gauss_profile, x_sample=x)
    table = mapping.profile.device
    moved = 0
    for i in range(ctx.grid.n_points):
        p, s, r = ctx.grid.point(i)
        d = ctx.grid.noise(i)
        pt = ctx.grid.devices[d]
        assert data.point_device[i] == d
        res = ns.simulate(mapping, x, [S.with_rate(ctx.grid.specs[s], ctx.grid.rates[r])], n_chips=2,
                          seed=S.point_seed(3, i), devices=device_table(table, pt), age=pt["age_s"])
        raw, _ = S.load_raw_delta(out, i)
        np.testing.assert_array_equal(raw.reshape(res.delta.shape), res.delta)
        moved += bool(np.any(res.delta != 0))
        if ctx.grid.rates[r] == 0 and pt["programming_sigma"] == 0 and pt["read_sigma"] == 0 and pt["age_s"] == 0:
            assert not np.any(res.delta)  # no fault, no noise: the intended chip
    assert moved >= ctx.grid.n_points // 2
    # the noise does something: programming noise alone moves the outputs at rate 0
    base = data.summary["rms"]
    i0 = ctx.grid.index(0, 0, 0, 0)
    i_prog = ctx.grid.index(0, 0, 0, ctx.grid.devices.index({"programming_sigma": 0.05, "read_sigma": 0.0, "age_s": 0.0}))
    assert base[i0] == 0.0 < base[i_prog]


def test_noise_sweep_resumes_to_the_same_file(digits, gauss_profile, tmp_path):
    ctx = _ctx(digits, gauss_profile, programming_sigma="0.05", age="1h,1y")
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    S.run_sweep(ctx, ref, progress=False)
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(ctx, out, executor=InterruptAfter(3), progress=False)
    part = S.load_sweep(out)
    assert part.status == "partial" and part.complete.sum() == 3
    o = S.run_sweep(ctx, out, progress=False)
    assert o.n_reused == 3 and o.n_computed == ctx.grid.n_points - 3
    assert digest(out) == digest(ref)
    # another noise grid is another configuration
    other = _ctx(digits, gauss_profile, programming_sigma="0.04", age="1h,1y")
    with pytest.raises(ConfigError, match="devices"):
        S.run_sweep(other, out, progress=False)


def test_noise_report_labels_axes_and_values(tmp_path, gauss_profile, capsys):
    out, rep = tmp_path / "s.h5", tmp_path / "rep"
    assert main(["sweep", str(DIGITS), "--profile", gauss_profile, "--fault", "synapse:permanent", "--rates", "0,0.02",
                 "--programming-sigma", "0,0.05", "--read-sigma", "0.01", "--age", "0,1y", "--chips", "2",
                 "--limit", "10", "-o", str(out)]) == 0
    assert "4 noise point(s)" in capsys.readouterr().out
    assert main(["report", str(out), "-o", str(rep)]) == 0
    md = (rep / "summary.md").read_text()
    assert "programming σ ∈ {0, 0.05}; read σ ∈ {0.01}; age ∈ {0 s, 1 y}" in md
    assert "`synapse:permanent [programming σ 0.05, read σ 0.01, age 1 y]`" in md
    for f in ("noise_p0_programming_sigma.png", "noise_p0_age_s.png", "error_p0_d3_s0_synapse-permanent.png"):
        assert (rep / f).is_file() and (rep / f.replace(".png", ".csv")).is_file()
    assert not (rep / "noise_p0_read_sigma.png").exists()  # one value: no axis to plot


@pytest.mark.parametrize("args, needle", [
    (["--read-sigma", "-0.1"], "'--read-sigma' values are standard deviations"),
    (["--programming-sigma", "0.1,abc"], "'--programming-sigma': 'abc' is not a number"),
    (["--age", "0,ten years"], "'--age': 'ten years' is not a duration"),
    (["--age", "1h,3600"], "'--age' gives 3600.0 twice"),
    (["--age", ","], "'--age' is empty; give a comma list, e.g. --age 0,1h,30d,1y"),
    (["--read-sigma", ""], "'--read-sigma' is empty; give a comma list, e.g. --read-sigma 0,0.01,0.03"),
    (["--read-sigma", "0.01", "--profile", "rram"], "needs a [device] table in profile 'rram'"),
    (["--read-sigma", "0.01"], "needs a chip profile with a [device] table"),
    (["--programming-sigma", "0.01", "--profile", "pcm"], "device.programming = 'pcm'"),
])
def test_bad_noise_axes_are_one_line_exit_2_nothing_written(tmp_path, capsys, args, needle):
    out = tmp_path / "bad.h5"
    rc = main(["sweep", str(DIGITS), "--fault", "synapse:permanent", "--rates", "0.01", "--chips", "2",
               "--limit", "5", "-o", str(out)] + args)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_age_axis_needs_drift(digits, tmp_path):
    text = PCM.read_text().replace('drift = "pcm"', 'drift = "none"')
    p = tmp_path / "nodrift.toml"
    p.write_text(text)
    net, x = digits
    with pytest.raises(ConfigError, match="needs conductance drift"):
        S.build_context(net, x, profiles=(str(p),), faults=["synapse:permanent"], rates=(0.01,),
                        devices=noise_points(age="1h"))


def test_streamed_noise_points_equal_in_memory(digits, gauss_profile):
    """Points of more chips than a chunk run chip chunks with first_chip=: the same bits as in memory."""
    import dataclasses

    from neurosim.sweep import run as R

    ctx = _ctx(digits, gauss_profile, programming_sigma="0.05", read_sigma="0.02", age="1y")
    ctx = dataclasses.replace(ctx, n_chips=3)
    for index in (0, ctx.grid.n_points - 1):
        whole = R.run_point(ctx, index)
        got = R.run_point(dataclasses.replace(ctx, chunk_chips=2), index)
        np.testing.assert_array_equal(got["raw_delta"], whole["raw_delta"])
        for k, v in whole["summary"].items():
            np.testing.assert_array_equal(got["summary"][k], v, err_msg=k)
