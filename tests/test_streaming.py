"""Streamed simulation (issue 11): chips in chunks, summaries per chip, Δ to HDF5 chunk by chunk, bounded memory.

Properties: a streamed run is the same bits as one ``simulate()`` call for
every fault mode, precision and chunk size; the command's statistics do not
depend on the chunk size; the result file equals ``simulate()``'s Δ and
carries checksums that catch a flipped byte; the memory model grows with
``n_inputs * 9`` bytes per chip, not with Δ.
"""
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurosim as ns
from neurosim._resources import simulate_bytes, streamed_simulate_bytes
from neurosim.cli.main import main
from neurosim.errors import CapacityError, FileFormatError
from neurosim.io.mapping_io import load_result
from neurosim.sim.stream import StreamSummary, run_streamed, simulate_stream

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
SPECS = ["neuron:transient:2e-2", "synapse:permanent:2e-3", "neuron:permanent:0.05:group=2",
         "neuron:intermittent:0.05:p_on=0.2:p_off=0.5", "core:permanent:0.05"]


@pytest.fixture(scope="module")
def setup():
    net = ns.load_network(DIGITS)
    x, y = ns.io.load_bundled_data(DIGITS)
    return net, ns.map_network(net, "loihi"), x[:70], y[:70]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_streamed_chunks_equal_one_simulate_call(setup, spec, chunk):
    net, mapping, x, _ = setup
    target = mapping if spec.startswith("core") else net
    ref = ns.simulate(target, x, spec, n_chips=7, seed=11)
    parts = list(simulate_stream(target, x, spec, 7, seed=11, chunk_chips=chunk))
    assert [c0 for c0, _ in parts] == list(range(0, 7, chunk))
    for name in ("delta", "fault_counts", "fault_events"):
        assert np.array_equal(np.concatenate([getattr(r, name) for _, r in parts]), getattr(ref, name)), name
    assert all(np.array_equal(r.clean, ref.clean) for _, r in parts)


def test_first_chip_picks_the_same_chips_of_a_larger_run(setup):
    net, _, x, _ = setup
    ref = ns.simulate(net, x, "synapse:permanent:2e-3", n_chips=9, seed=5)
    part = ns.simulate(net, x, "synapse:permanent:2e-3", n_chips=3, seed=5, first_chip=4)
    assert np.array_equal(part.delta, ref.delta[4:7])
    assert np.array_equal(part.fault_counts, ref.fault_counts[4:7])


def test_summary_is_bit_identical_for_any_chunk_size_and_matches_numpy(setup):
    net, _, x, y = setup
    from neurosim.cli.cmd_simulate import flip_interval

    spec = [ns.parse_fault("neuron:transient:2e-2")]
    a = run_streamed(net, x, spec, 10, seed=2, labels=y, chunk_chips=1, interval=flip_interval)
    b = run_streamed(net, x, spec, 10, seed=2, labels=y, chunk_chips=4, interval=flip_interval)
    c = run_streamed(net, x, spec, 10, seed=2, labels=y, chunk_chips=10, interval=flip_interval)
    for k in ("mean_delta", "std_delta"):
        assert np.array_equal(a[k], b[k]) and np.array_equal(a[k], c[k])
    assert a["linf_quantiles"] == b["linf_quantiles"] == c["linf_quantiles"]
    assert a["flip_rate"] == b["flip_rate"] and a["accuracy"] == b["accuracy"]
    # against plain numpy on the whole Δ (the pre-streaming formulas), to rounding
    r = ns.simulate(net, x, spec, n_chips=10, seed=2, labels=y)
    ci = flip_interval(r.flips, 0.95)  # the chip-clustered interval on the in-memory flips
    assert (a["flip_rate"]["lo"], a["flip_rate"]["hi"]) == (ci["lo"], ci["hi"])
    d = r.delta.reshape(-1, r.delta.shape[2])
    np.testing.assert_allclose(a["mean_delta"], d.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a["std_delta"], d.std(0, ddof=1), rtol=1e-9, atol=1e-15)
    assert a["linf_quantiles"]["max"] == r.linf().max()
    assert a["flip_rate"]["k"] == int(r.flips.sum())
    assert a["accuracy"]["faulty"] == float(np.mean(np.argmax(r.faulty, 2) == y[None]))


def test_cli_simulate_o_writes_the_same_delta_with_checksums(setup, tmp_path, capsys):
    net, _, x, _ = setup
    out = tmp_path / "r.h5"
    assert main(["simulate", str(DIGITS), "--fault", "neuron:transient:2e-2", "--chips", "5", "--seed", "3",
                 "--limit", "70", "-o", str(out)]) == 0
    capsys.readouterr()
    res = load_result(out)
    ref = ns.simulate(net, x, "neuron:transient:2e-2", n_chips=5, seed=3)
    assert np.array_equal(res.delta, ref.delta) and np.array_equal(res.fault_counts, ref.fault_counts)
    assert res.config["n_chips"] == 5 and "first_chip" not in res.config
    with h5py.File(out, "r") as f:
        assert all(f[k].fletcher32 for k in ("delta", "clean", "fault_counts", "fault_events"))
        off = f["delta"].id.get_chunk_info(0).byte_offset
    assert not list(tmp_path.glob(".r.h5.*.tmp"))
    raw = bytearray(out.read_bytes())
    raw[off + 7] ^= 0x10
    out.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="damaged result"):
        load_result(out)


@pytest.mark.parametrize("case", ["spiking", "devices"])
def test_cli_simulate_o_streams_spiking_and_device_runs_in_chunks(setup, tmp_path, capsys, monkeypatch, case):
    """Spiking and device runs take the streamed path too: chunks of 2 chips give one simulate() call's bits."""
    calls = []
    real = ns.sim.stream.simulate_stream

    def spy(*a, **kw):
        kw["chunk_chips"] = 2
        for c0, r in real(*a, **kw):
            calls.append(c0)
            yield c0, r
    monkeypatch.setattr(ns.sim.stream, "simulate_stream", spy)
    out = tmp_path / "r.h5"
    if case == "spiking":
        model = ROOT / "examples" / "digits_snn_lif.h5"
        args, kw, target = ["--ticks", "12"], dict(ticks=12), ns.load_network(model)
    else:
        model = DIGITS
        args, kw, target = ["--profile", "pcm", "--devices", "--age", "1d"], dict(devices=True, age="1d"), None
    x, _ = ns.io.load_bundled_data(model)
    assert main(["simulate", str(model), "--fault", "neuron:permanent:0.05", "--chips", "5", "--seed", "4",
                 "--limit", "6", "-o", str(out), *args]) == 0
    text = capsys.readouterr().out
    assert calls == [0, 2, 4]
    if target is None:
        target = ns.map_network(ns.load_network(model), "pcm")
        assert "device non-idealities" in text
    else:
        assert "T=12 ticks" in text
    ref = ns.simulate(target, x[:6], "neuron:permanent:0.05", n_chips=5, seed=4, **kw)
    res = load_result(out)
    assert np.array_equal(res.delta, ref.delta) and np.array_equal(res.fault_counts, ref.fault_counts)
    assert res.config["n_chips"] == 5 and "first_chip" not in res.config


def test_streamed_memory_model_grows_per_input_not_per_delta():
    sizes = [64, 64, 32, 10]
    full = [simulate_bytes(sizes, 450, n) for n in (10**4, 10**5, 10**6)]
    streamed = [streamed_simulate_bytes(sizes, 450, n) for n in (10**4, 10**5, 10**6)]
    assert full[2] / full[1] == pytest.approx(10, rel=0.05)  # Δ dominates
    per_chip = (streamed[2] - streamed[1]) / 9e5
    assert per_chip < 450 * 10 * 8 / 5  # far less than one chip's Δ (36 KB)
    assert streamed[1] < 1.0 * 2**30  # the acceptance size fits well below 1.5 GB


def test_library_simulate_refuses_an_impossible_size_before_any_work(setup, monkeypatch):
    from neurosim.sim import engine

    def no_work(*a, **k):
        raise AssertionError("work started")

    net, _, x, _ = setup
    monkeypatch.setattr(engine, "_run_rows", no_work)
    with pytest.raises(CapacityError, match=r"simulate_stream.*|needs about .* TB"):
        ns.simulate(net, x, "neuron:transient:1e-3", n_chips=10**9)


def test_stream_summary_flags_non_finite_values(setup):
    net, _, x, _ = setup
    r = ns.simulate(net, x[:3], "neuron:transient:0.1", n_chips=2, seed=0)
    r.delta[1, 2, 3] = np.inf
    s = StreamSummary(2)
    s.add(0, r)
    assert s.result()["non_finite"] == 1
