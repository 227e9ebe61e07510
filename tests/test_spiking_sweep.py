"""Spiking sweeps on chip profiles (core, neuron, synapse and router faults): resume, streaming, direct simulate.

* every point's raw Δ (all rows kept) equals a direct ``simulate`` call on the
  mapped network with the point's seed, bit for bit, and the stored clean
  outputs are those of the sweep's T (not the default T);
* a sweep interrupted after 3 points and resumed writes the same file as an
  uninterrupted one;
* points streamed in chunks of chips (``first_chip``) write the same file, byte
  for byte, as points held in memory.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim import simulate
from neurosim import sweep as S
from neurosim.io import load_bundled_data, load_network
from neurosim.sweep import run as R
from neurosim.sweep.grid import point_seed, with_rate
from sweep_util import InterruptAfter, digest

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT / "examples" / "digits_snn_if.h5"
FAULTS = ["core:permanent", "neuron:transient:layers=1", "synapse:permanent", "router:transient"]
SPIKING = {"ticks": 12}


@pytest.fixture(scope="module")
def ctx():
    net = load_network(SNN)
    x, _ = load_bundled_data(SNN)
    return S.build_context(net, x[:5], profiles=("loihi", "truenorth"), faults=FAULTS, rates=[0.05, 0.4], n_chips=5,
                           seed=3, spiking=SPIKING)


def test_spiking_sweep_points_equal_direct_simulate(ctx, tmp_path):
    out = tmp_path / "sw.h5"
    S.run_sweep(ctx, out, progress=False)
    d = S.load_sweep(out)
    assert d.status == "complete" and d.config["spiking"]["ticks"] == SPIKING["ticks"]
    assert all(t.n_cores >= 2 for t in ctx.targets)
    changed = 0
    with h5py.File(out, "r") as f:
        raw = f["raw/delta"][()]
    for i in range(ctx.grid.n_points):
        p, s, r = ctx.grid.point(i)
        spec = with_rate(ctx.grid.specs[s], ctx.grid.rates[r])
        res = simulate(ctx.targets[p], ctx.x, [spec], n_chips=ctx.n_chips, seed=point_seed(ctx.seed, i), **SPIKING)
        np.testing.assert_array_equal(raw[i], res.delta.reshape(-1, res.delta.shape[2]))
        np.testing.assert_array_equal(d.cleans[p], res.clean)
        changed += bool(np.any(res.delta != 0))
    assert changed >= ctx.grid.n_points // 2  # the faults do something on most points


def test_spiking_sweep_resumes_to_the_uninterrupted_file(ctx, tmp_path):
    ref, out = tmp_path / "ref.h5", tmp_path / "out.h5"
    S.run_sweep(ctx, ref, progress=False)
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(ctx, out, executor=InterruptAfter(3), progress=False)
    assert S.load_sweep(out).status == "partial"
    o = S.run_sweep(ctx, out, progress=False)
    assert o.n_reused == 3 and o.n_computed == ctx.grid.n_points - 3
    assert digest(out) != "" and S.load_sweep(out).status == "complete"
    a, b = S.load_sweep(out), S.load_sweep(ref)
    for k in a.summary:
        assert np.array_equal(a.summary[k], b.summary[k], equal_nan=a.summary[k].dtype.kind == "f"), k
    with h5py.File(out, "r") as fa, h5py.File(ref, "r") as fb:
        np.testing.assert_array_equal(fa["raw/delta"][()], fb["raw/delta"][()])


def test_streamed_spiking_points_equal_in_memory_byte_for_byte(ctx, tmp_path):
    assert not R.streams(ctx)
    S.run_sweep(ctx, tmp_path / "mem.h5", progress=False)
    for k in (1, 2):
        c = dataclasses.replace(ctx, chunk_chips=k)
        assert R.streams(c)
        S.run_sweep(c, tmp_path / f"chunk{k}.h5", progress=False)
        assert digest(tmp_path / f"chunk{k}.h5") == digest(tmp_path / "mem.h5"), k


def test_spiking_point_memory_estimate_counts_the_spiking_working_set(ctx):
    """The sweep's per-point estimate uses spiking mode's own working set: it grows with T (clean spike trains
    kept for reuse) and is at least what simulate_spiking itself checks for the point."""
    from neurosim._resources import spiking_simulate_bytes

    net = load_network(SNN)
    small = R.sweep_point_bytes(ctx)
    long = R.sweep_point_bytes(dataclasses.replace(ctx, spiking={**ctx.spiking, "ticks": 400}))
    assert long > small
    assert small >= spiking_simulate_bytes(net.sizes, ctx.n_inputs, ctx.n_chips, ctx.spiking["ticks"])


def test_spiking_simulate_refuses_an_impossible_size_before_any_work(monkeypatch):
    from neurosim.errors import CapacityError
    from neurosim.sim import spiking

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(spiking, "_make_plan", no_work)
    net = load_network(SNN)
    x, _ = load_bundled_data(SNN)
    with pytest.raises(CapacityError, match=r"spiking simulate\(\) of 1000000000 chips x 5 inputs x 12 ticks needs about") as e:
        simulate(net, x[:5], "neuron:transient:1e-3", n_chips=10**9, ticks=12)
    assert "\n" not in str(e.value)
    with pytest.raises(CapacityError, match="drop spike_trains"):
        simulate(net, x[:5], "neuron:transient:1e-3", n_chips=10**5, ticks=10**4, spike_trains=True)
