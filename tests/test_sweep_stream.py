"""Streamed sweep points (issue 11): summaries accumulated chunk by chunk, the same bits as in memory.

A point of more chips than one chunk is simulated chunk by chunk
(``simulate(..., first_chip=c)``) and summarised by
:class:`neurosim.sweep.stream.PointStats` without ever holding its Δ; exact
quantiles re-simulate the chunks. These tests assert that the streamed file
equals the in-memory one byte for byte for any chunk size, executor and
collect budget, that quantiles equal ``np.quantile``, and that no simulate
call of a streamed point covers more than one chunk.
"""
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from neurosim import sweep as S
from neurosim.io import load_bundled_data, load_network
from neurosim.sweep import run as R
from neurosim.sweep import stream as ST
from sweep_util import digest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"


@pytest.fixture(scope="module")
def ctx():
    net = load_network(DIGITS)
    x, _ = load_bundled_data(DIGITS)
    return S.build_context(net, x[:20], faults=["neuron:transient", "synapse:permanent", "neuron:intermittent:p_on=0.1:p_off=0.5"],
                           rates=[1e-2, 2e-1], n_chips=7, seed=11, raw_samples=25)


def test_streamed_sweep_file_equals_the_in_memory_one_byte_for_byte(ctx, tmp_path):
    assert not R.streams(ctx)  # 7 chips fit one default chunk: the in-memory reference
    S.run_sweep(ctx, tmp_path / "mem.h5", progress=False)
    ref = digest(tmp_path / "mem.h5")
    for k in (1, 3, 6):
        c = dataclasses.replace(ctx, chunk_chips=k)
        assert R.streams(c)
        S.run_sweep(c, tmp_path / f"chunk{k}.h5", progress=False)
        assert digest(tmp_path / f"chunk{k}.h5") == ref, k
    c = dataclasses.replace(ctx, chunk_chips=2)
    S.run_sweep(c, tmp_path / "proc.h5", executor=S.ProcessExecutor(2), progress=False)
    assert digest(tmp_path / "proc.h5") == ref
    S.run_sweep(c, tmp_path / "threads.h5", executor=S.SerialExecutor(threads=1, pipeline=False), progress=False)
    assert digest(tmp_path / "threads.h5") == ref


def test_streamed_point_equals_in_memory_summary_exactly(ctx, monkeypatch):
    """Every summary field, bit for bit, including after forced quantile refinement (collect budget 0)."""
    for index in range(ctx.grid.n_points):
        mem = R.run_point(ctx, index)
        for k, budget in ((1, None), (4, 0), (5, 3)):
            if budget is not None:
                monkeypatch.setattr(ST, "COLLECT_BUDGET", budget)
            got = R.run_point(dataclasses.replace(ctx, chunk_chips=k), index)
            monkeypatch.undo()
            assert sorted(got["summary"]) == sorted(mem["summary"])
            for name, v in mem["summary"].items():
                assert np.array_equal(np.asarray(got["summary"][name]), np.asarray(v), equal_nan=True), (index, k, name)
            assert np.array_equal(got["raw_row"], mem["raw_row"]) and np.array_equal(got["raw_delta"], mem["raw_delta"])


def test_streamed_point_never_simulates_more_than_one_chunk(ctx, monkeypatch):
    seen = []
    real = R.simulate

    def spy(*a, **kw):
        seen.append((kw["n_chips"], kw.get("first_chip", 0)))
        return real(*a, **kw)

    monkeypatch.setattr(R, "simulate", spy)
    R.run_point(dataclasses.replace(ctx, chunk_chips=3), 1)
    assert seen and max(n for n, _ in seen) <= 3
    first = [c for _, c in seen[:3]]
    assert first == [0, 3, 6]  # the first pass covers the chips in order; re-scans repeat the same chunks


@pytest.mark.parametrize("budget", [ST.COLLECT_BUDGET, 7, 0])
def test_point_stats_quantiles_equal_numpy(budget, monkeypatch):
    """Exact order statistics by counting (any budget: collect or refine to single keys) vs np.quantile."""
    monkeypatch.setattr(ST, "COLLECT_BUDGET", budget)
    rng = np.random.default_rng(5)
    C, B, O = 9, 31, 3
    d = rng.standard_normal((C, B, O)) * (rng.random((C, B, 1)) < 0.5)
    d[:, :, 1] *= 1e-300  # tiny magnitudes, down to subnormals: all keys share few top bits
    d[2, :, 2] = 0.25     # ties
    clean = rng.standard_normal((B, O))
    fc = rng.integers(0, 3, (C, 2))
    s = S.summarize(d, clean, fc, fc, chunk_chips=2)
    flat = d.reshape(-1, O)
    assert np.array_equal(s["quantiles"], np.quantile(flat, S.QUANTILE_LEVELS, axis=0))
    assert np.array_equal(s["linf_quantiles"], np.quantile(np.abs(d).max(2).ravel(), S.QUANTILE_LEVELS))
    assert np.allclose(s["std"], flat.std(0), rtol=1e-12) and np.allclose(s["mean"], flat.mean(0), rtol=1e-12)


def test_float_keys_preserve_order():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.standard_normal(500) * 10.0 ** rng.integers(-300, 300, 500), [np.inf, -np.inf, 5e-324,
                                                                                              -5e-324]])
    k = ST.float_keys(v)
    assert np.array_equal(np.argsort(k, kind="stable"), np.argsort(v, kind="stable"))
    assert np.array_equal(ST.key_values(k), v)


def test_streamed_point_memory_estimate_does_not_grow_with_delta(ctx):
    """A streamed point's estimate grows by the per-chip accumulators only (~300 B/chip), not by its Δ."""
    one, two = (dataclasses.replace(ctx, n_chips=n, raw_samples=1000) for n in (1_000_000, 2_000_000))
    assert R.streams(one) and R.streams(two)
    per_chip = (R.sweep_point_bytes(two) - R.sweep_point_bytes(one)) / 1_000_000
    assert per_chip <= 400  # (3 n_out + 5 + 2 n_slots) * 8 bytes; Δ alone is n_inputs * n_out * 8 per chip
    assert R.sweep_point_bytes(one) < 2**30
    in_memory = dataclasses.replace(one, chunk_chips=2_000_000)
    assert not R.streams(in_memory) and R.sweep_point_bytes(in_memory) > 10 * R.sweep_point_bytes(one)


def test_spiking_points_stream_like_rate_points():
    """Spiking mode takes first_chip too: streamed chunks are distinct chips, the same bits as in memory."""
    net = load_network(ROOT / "examples" / "digits_snn_if.h5")
    x, _ = load_bundled_data(ROOT / "examples" / "digits_snn_if.h5")
    c = S.build_context(net, x[:4], faults=["neuron:permanent"], rates=[0.1], n_chips=3, seed=2,
                        spiking={"ticks": 5})
    one = dataclasses.replace(c, chunk_chips=1)
    assert R.streams(one) and not R.streams(c)
    a, b = R.run_point(c, 0), R.run_point(one, 0)
    for name, v in a["summary"].items():
        assert np.array_equal(np.asarray(b["summary"][name]), np.asarray(v), equal_nan=True), name
    assert len({tuple(r) for r in a["summary"]["fault_counts"].tolist()}) > 1  # distinct chips, not one repeated
