"""Sweeps: grid, statistics, crash-safe resume, executors, refusal of bad input, report.

The kill test runs ``neurosim sweep`` in a subprocess, SIGKILLs it once a few
points are on disk, resumes with the same command and compares the result with
an uninterrupted run, dataset by dataset and attribute by attribute.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurosim as ns
from neurosim.cli.main import main
from neurosim.errors import ConfigError, FileFormatError
from neurosim.io import load_bundled_data
from neurosim import sweep as S
from neurosim.sweep.executors import DaskExecutor, ProcessExecutor, SerialExecutor, make_executor
from sweep_util import InterruptAfter, digest

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"


# ----------------------------------------------------------------------------- helpers
def h5_tree(path):
    """{name: (attrs, value or None)} for every object of an HDF5 file."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs = {k: _plain(v) for k, v in obj.attrs.items()}
            val = obj[()] if isinstance(obj, h5py.Dataset) else None
            out[name] = (attrs, val)
        out["/"] = ({k: _plain(v) for k, v in f.attrs.items()}, None)
        f.visititems(visit)
    return out


def _plain(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def assert_same_file(a, b):
    ta, tb = h5_tree(a), h5_tree(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        (aa, va), (ab, vb) = ta[name], tb[name]
        assert aa == ab, f"attributes of {name} differ"
        if va is not None:
            va, vb = np.asarray(va), np.asarray(vb)
            assert va.dtype == vb.dtype and va.shape == vb.shape, name
            if va.dtype.kind == "f":
                assert np.array_equal(va, vb, equal_nan=True), f"dataset {name} differs"
            else:
                assert np.array_equal(va, vb), f"dataset {name} differs"


@pytest.fixture(scope="module")
def digits():
    net = ns.load_network(DIGITS)
    x, y = load_bundled_data(DIGITS)
    return net, x[:60], y[:60]


def small_ctx(digits, **kw):
    net, x, y = digits
    args = dict(faults=["neuron:transient", "synapse:permanent:0:layers=1"], rates=S.parse_rates("1e-3:1e-1:3"),
                n_chips=4, seed=7)
    args.update(kw)
    return S.build_context(net, x, **args)


def sweep_cli(*extra, out, rates="1e-3:1e-1:3", chips=4, faults=("neuron:transient", "synapse:permanent")):
    argv = ["sweep", str(DIGITS), "--rates", rates, "--chips", str(chips), "--limit", "60", "-o", str(out), "--json",
            "--no-progress"]
    for f in faults:
        argv += ["--fault", f]
    return argv + list(extra)


# ----------------------------------------------------------------------------- grid
def test_parse_rates_log_grid_and_list():
    r = S.parse_rates("1e-4:1e-1:13")
    assert len(r) == 13 and r[0] == 1e-4 and r[-1] == 1e-1
    assert np.allclose(np.diff(np.log10(r)), 0.25)
    assert S.parse_rates("0.1, 0, 0.01") == (0.0, 0.01, 0.1)
    assert S.parse_rates("0.5:0.5:1") == (0.5,)


@pytest.mark.parametrize("text, needle", [
    ("", "empty"), ("1e-3:1e-1:0", "empty grid"), ("0.1,1.5", "[0, 1]"), ("-0.1", "[0, 1]"),
    ("0:0.1:3", "(0, 1]"), ("1e-3:2:3", "(0, 1]"), ("0.1,0.1", "twice"), ("a,b", "not a number"),
    ("1e-3:1e-1", "LO:HI:N"), ("nan", "[0, 1]"),
])
def test_parse_rates_rejects(text, needle):
    with pytest.raises(ConfigError, match=None) as exc:
        S.parse_rates(text)
    assert needle in str(exc.value)


def test_grid_points_seeds_and_rate_replacement(digits):
    ctx = small_ctx(digits, profiles=(None,))
    g = ctx.grid
    assert g.n_points == 6
    assert [g.point(i) for i in range(6)] == [(0, s, r) for s in range(2) for r in range(3)]
    assert all(g.index(*g.point(i)) == i for i in range(6))
    # the seed depends on (seed, index) only
    seeds = [S.point_seed(7, i) for i in range(6)]
    assert len(set(seeds)) == 6 and seeds == [S.point_seed(7, i) for i in range(6)]
    assert S.point_seed(8, 0) != seeds[0]
    # the spec's own rate is ignored and replaced
    assert S.parse_sweep_fault("neuron:transient:0.3") == S.parse_sweep_fault("neuron:transient")
    assert S.with_rate(g.specs[1], 0.25).rate == 0.25 and S.spec_key(g.specs[1]) == "synapse:permanent:layers=1"
    with pytest.raises(ConfigError, match="twice"):
        small_ctx(digits, faults=["neuron:transient", "neuron:transient:0.5"])
    with pytest.raises(ConfigError, match="empty"):
        small_ctx(digits, faults=[])
    with pytest.raises(ConfigError, match="mapping"):
        small_ctx(digits, faults=["core:permanent"])


# ----------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("zero_frac", [0.0, 0.7, 0.97, 1.0])
def test_quantiles_match_numpy(rng, zero_frac):
    a = rng.standard_normal((2001, 5))
    a[rng.random(a.shape) < zero_frac] = 0.0
    lv = S.QUANTILE_LEVELS
    assert np.array_equal(S.quantiles(a, lv), np.quantile(a, lv, axis=0))
    one = a[:1]
    assert np.array_equal(S.quantiles(one, lv), np.quantile(one, lv, axis=0))


def test_summarize_against_plain_numpy(rng):
    C, B, O = 6, 40, 4
    delta = rng.standard_normal((C, B, O)) * (rng.random((C, B, 1)) < 0.3)
    clean = rng.standard_normal((B, O))
    fc = rng.integers(0, 5, size=(C, 3))
    s = S.summarize(delta, clean, fc, fc, confidence=0.9)
    flat = delta.reshape(-1, O)
    assert np.allclose(s["mean"], flat.mean(0)) and np.allclose(s["std"], flat.std(0))
    assert np.isclose(s["rms"], np.sqrt(np.mean(delta ** 2)))
    linf = np.abs(delta).max(2)
    assert np.isclose(s["linf_mean"], linf.mean())
    assert np.array_equal(s["linf_quantiles"], np.quantile(linf.ravel(), S.QUANTILE_LEVELS))
    flips = np.argmax(delta + clean, 2) != np.argmax(clean, 1)
    assert s["flip_count"] == flips.sum() and s["flip_trials"] == C * B
    from scipy.stats import beta, t
    k, n = int(flips.sum()), C * B
    assert np.allclose(s["flip_ci"], [beta.ppf(0.05, k, n - k + 1), beta.ppf(0.95, k + 1, n - k)])
    cm = delta.mean(1)
    half = t.ppf(0.95, C - 1) * cm.std(0, ddof=1) / np.sqrt(C)
    assert np.allclose(s["mean_ci"], [cm.mean(0) - half, cm.mean(0) + half])
    assert s["faults_per_chip"] == fc.sum(1).mean()
    # groups of chips sharing permanent faults: intervals over group means
    g = S.summarize(delta, clean, fc, fc, confidence=0.9, group=2)
    gm = cm.reshape(3, 2, O).mean(1)
    half = t.ppf(0.95, 2) * gm.std(0, ddof=1) / np.sqrt(3)
    assert np.allclose(g["mean_ci"], [gm.mean(0) - half, gm.mean(0) + half])


def test_rate_zero_point_has_no_error(digits, tmp_path):
    ctx = small_ctx(digits, rates=(0.0, 0.05))
    S.run_sweep(ctx, tmp_path / "z.h5", progress=False)
    d = S.load_sweep(tmp_path / "z.h5")
    zero = d.point_rate == 0.0
    assert np.all(d.summary["rms"][zero] == 0) and np.all(d.summary["flip_count"][zero] == 0)
    assert np.all(d.summary["rms"][~zero] > 0)
    delta, row = S.load_raw_delta(tmp_path / "z.h5", int(np.flatnonzero(zero)[0]))
    assert np.all(delta == 0) and np.array_equal(row, np.arange(4 * 60))


def test_point_matches_direct_simulation_and_raw_subsample(digits, tmp_path):
    net, x, y = digits
    full = small_ctx(digits)
    S.run_sweep(full, tmp_path / "full.h5", progress=False)
    sub = small_ctx(digits, raw_samples=50)
    S.run_sweep(sub, tmp_path / "sub.h5", progress=False)
    i = 4
    p, s, r = full.grid.point(i)
    res = ns.simulate(net, x, [S.with_rate(full.grid.specs[s], full.grid.rates[r])], n_chips=4,
                      seed=S.point_seed(7, i))
    d_full, row_full = S.load_raw_delta(tmp_path / "full.h5", i)
    assert np.array_equal(d_full.reshape(res.delta.shape), res.delta)
    d_sub, row_sub = S.load_raw_delta(tmp_path / "sub.h5", i)
    assert d_sub.shape == (50, 10) and np.all(np.diff(row_sub) > 0)
    assert np.array_equal(d_sub, d_full[row_sub])
    assert np.array_equal(row_sub, S.raw_rows(sub, i))  # deterministic rule
    # summaries do not depend on the subsample
    a, b = S.load_sweep(tmp_path / "full.h5"), S.load_sweep(tmp_path / "sub.h5")
    assert all(np.array_equal(a.summary[k], b.summary[k], equal_nan=a.summary[k].dtype.kind == "f")
               for k in a.summary)


# ----------------------------------------------------------------------------- resume after SIGKILL
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, capsys):
    out = tmp_path / "killed.h5"
    argv = sweep_cli(out=out, rates="1e-3:1e-1:30", chips=200)
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    proc = subprocess.Popen([sys.executable, "-m", "neurosim.cli.main", *argv], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts_root = Path(str(out) + ".parts")
    seen_readable = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            parts = list(parts_root.glob("*/p*.h5"))
            if out.exists():  # readable at every moment
                d = S.load_sweep(out)
                assert d.status == "partial"
                seen_readable += 1
            if len(parts) >= 3:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        else:
            pytest.fail("the sweep did not complete 3 points in time")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen_readable > 0
    d = S.load_sweep(out)  # still readable after the kill
    assert d.status == "partial" and d.complete.sum() < d.n_points
    # resume with the same command
    assert main(argv) == 0
    info = json.loads(capsys.readouterr().out)["result"]
    assert info["n_reused"] >= 3 and info["n_reused"] + info["n_computed"] == 60
    assert not parts_root.exists()
    ref = tmp_path / "ref.h5"
    assert main(sweep_cli(out=ref, rates="1e-3:1e-1:30", chips=200)) == 0
    capsys.readouterr()
    assert_same_file(out, ref)
    assert S.load_sweep(out).status == "complete"


def test_broken_part_file_is_recomputed(digits, tmp_path):
    ctx = small_ctx(digits)
    ref = tmp_path / "ref.h5"
    S.run_sweep(ctx, ref, progress=False)

    out = tmp_path / "out.h5"
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(ctx, out, executor=InterruptAfter(3), progress=False)
    d = S.load_sweep(out)
    assert d.status == "partial" and d.complete.sum() == 3
    parts = sorted(Path(str(out) + ".parts").glob("*/p*.h5"))
    assert len(parts) == 3
    parts[0].write_bytes(b"not hdf5")  # damaged part: recomputed
    (parts[0].parent / "p0000005.h5.tmp").write_bytes(b"half written")  # stale temporary: removed
    o = S.run_sweep(ctx, out, progress=False)
    assert o.n_reused == 2 and o.n_computed == 4 and any("unreadable" in n for n in o.notes)
    assert_same_file(out, ref)


# ----------------------------------------------------------------------------- executors
def test_process_and_dask_executors_match_in_process(digits, tmp_path):
    ctx = small_ctx(digits)
    S.run_sweep(ctx, tmp_path / "serial.h5", executor=SerialExecutor(pipeline=False), progress=False)
    S.run_sweep(ctx, tmp_path / "pipelined.h5", executor=SerialExecutor(), progress=False)
    S.run_sweep(ctx, tmp_path / "proc.h5", executor=ProcessExecutor(2), progress=False)
    o = S.run_sweep(ctx, tmp_path / "dask.h5", executor=DaskExecutor(local_workers=2, processes=False),
                    progress=False)
    assert o.executor == "dask-local" and o.n_computed == 6
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        o = S.run_sweep(ctx, tmp_path / "sched.h5", executor=DaskExecutor(address=cluster.scheduler_address),
                        progress=False)
    assert o.executor == "dask"
    for name in ("pipelined", "proc", "dask", "sched"):
        assert_same_file(tmp_path / "serial.h5", tmp_path / f"{name}.h5")


def test_make_executor_choices():
    assert isinstance(make_executor(), SerialExecutor)
    assert isinstance(make_executor(workers=3), ProcessExecutor)
    assert isinstance(make_executor(dask_local=2), DaskExecutor)
    with pytest.raises(ConfigError):
        make_executor(workers=0)
    with pytest.raises(ConfigError, match="one executor"):
        make_executor(workers=2, dask="tcp://x:1")


# ----------------------------------------------------------------------------- configuration changes
def test_different_configuration_is_refused_then_forced(tmp_path, capsys):
    out = tmp_path / "s.h5"
    assert main(sweep_cli(out=out)) == 0
    capsys.readouterr()
    before = digest(out)
    # same command again: nothing to do, file untouched
    assert main(sweep_cli(out=out)) == 0
    assert json.loads(capsys.readouterr().out)["result"]["n_computed"] == 0 and digest(out) == before
    # other rates: refused with one line, file intact
    assert main(sweep_cli(out=out, rates="1e-2,0.2")) == 2
    err = capsys.readouterr().err.strip()
    assert "different configuration" in err and "rates" in err and "--force" in err and "\n" not in err
    assert digest(out) == before
    # --force: replaced once the new sweep is complete
    assert main(sweep_cli("--force", out=out, rates="1e-2,0.2")) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["result"]["replaced_previous"] and "replaced" in captured.err
    d = S.load_sweep(out)
    assert list(d.rates) == [1e-2, 0.2] and d.status == "complete"


def test_interrupted_forced_run_keeps_old_results(digits, tmp_path):
    out = tmp_path / "s.h5"
    S.run_sweep(small_ctx(digits), out, progress=False)
    before = digest(out)
    new = small_ctx(digits, seed=99)

    with pytest.raises(ConfigError, match="different configuration"):
        S.run_sweep(new, out, progress=False)
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(new, out, force=True, executor=InterruptAfter(2), progress=False)
    assert digest(out) == before  # the old, complete sweep is untouched
    o = S.run_sweep(new, out, force=True, progress=False)
    assert o.n_reused == 2 and o.replaced_previous
    ref = tmp_path / "ref.h5"
    S.run_sweep(new, ref, progress=False)
    assert_same_file(out, ref)


# ----------------------------------------------------------------------------- bad arguments
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["empty-rates", "no-fault", "rate>1", "foreign", "garbage", "unreachable"])
def test_bad_arguments_one_line_exit_2_results_intact(tmp_path, capsys, case):
    out = tmp_path / "s.h5"
    extra, faults, rates = [], ("neuron:transient",), "1e-3:1e-1:3"
    if case == "foreign":
        out = tmp_path / "net.h5"
        ns.save_network(ns.load_network(DIGITS), out)
    elif case == "garbage":
        out.write_bytes(b"\x00garbage" * 100)
    else:
        assert main(sweep_cli(out=out, faults=faults)) == 0  # existing results
        capsys.readouterr()
    before = digest(out)
    if case == "empty-rates":
        rates = ""
    elif case == "no-fault":
        faults = ()
    elif case == "rate>1":
        rates = "0.1,1.5"
    elif case == "unreachable":
        # --force with a new configuration gets as far as starting the executor; the old file must survive
        extra, rates = ["--dask", f"tcp://127.0.0.1:{_free_port()}", "--force"], "1e-3,0.5"
    t0 = time.monotonic()
    rc = main(sweep_cli(*extra, out=out, faults=faults, rates=rates))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("neurosim sweep: error:") and "\n" not in err and "Traceback" not in err
    assert digest(out) == before
    assert not Path(str(out) + ".parts").exists()
    assert list(tmp_path.glob(".*.tmp")) == []
    if case == "unreachable":
        assert "Dask scheduler" in err and time.monotonic() - t0 < 30


def test_unreachable_scheduler_for_a_new_file(tmp_path, capsys):
    out = tmp_path / "new.h5"
    rc = main(sweep_cli("--dask", f"tcp://127.0.0.1:{_free_port()}", out=out))
    assert rc == 2 and "Cannot reach the Dask scheduler" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_faults_toml_without_rates(tmp_path, capsys):
    toml = tmp_path / "f.toml"
    toml.write_text('[[fault]]\nsite = "neuron"\nmode = "permanent"\nlayers = [1]\n\n'
                    '[[fault]]\nsite = "synapse"\nmode = "transient"\nrate = 0.5\n')
    out = tmp_path / "s.h5"
    assert main(sweep_cli("--faults", str(toml), out=out, faults=("neuron:transient",))) == 0
    info = json.loads(capsys.readouterr().out)["result"]
    assert info["grid"]["faults"] == ["neuron:transient", "neuron:permanent:layers=1", "synapse:transient"]
    toml.write_text("[[fault]]\nsite = \"neuron\"\nmode = \"sometimes\"\n")
    assert main(sweep_cli("--faults", str(toml), out=tmp_path / "t.h5")) == 2
    assert "mode" in capsys.readouterr().err and not (tmp_path / "t.h5").exists()


def test_load_sweep_rejects_foreign_files(tmp_path):
    with pytest.raises(FileFormatError, match="not a neurosim sweep file"):
        S.load_sweep(DIGITS)
    (tmp_path / "x.h5").write_bytes(b"nope")
    with pytest.raises(FileFormatError, match="not a readable HDF5"):
        S.load_sweep(tmp_path / "x.h5")


# ----------------------------------------------------------------------------- report
def test_report_writes_pngs_and_summary(tmp_path, capsys):
    out = tmp_path / "s.h5"
    argv = sweep_cli("--profile", "rram", out=out, chips=6,
                     faults=("neuron:transient", "neuron:permanent:layers=1", "synapse:permanent", "core:permanent"))
    assert main(argv) == 0
    capsys.readouterr()
    rep = tmp_path / "rep"
    assert main(["report", str(out), "-o", str(rep), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)["result"]
    names = sorted(Path(f).name for f in info["figures"])
    assert names == sorted([
        "error_p0_s0_neuron-transient.png", "error_p0_s1_neuron-permanent-layers-1.png",
        "error_p0_s2_synapse-permanent.png", "error_p0_s3_core-permanent.png", "rms_p0.png", "flips_p0.png"])
    for f in info["figures"]:
        assert Path(f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and Path(f).stat().st_size > 10_000
    md = (rep / "summary.md").read_text()
    for n in names:
        assert f"]({n})" in md
    assert info["bounds"]["rram / neuron:transient"] == "b3/b4 overlaid"
    assert info["bounds"]["rram / synapse:permanent"] == "no bound for this fault site"
    assert "| rate |" in md and info["status"] == "complete"
    assert list(rep.glob(".*")) == []


def test_report_on_partial_sweep_and_bad_input(digits, tmp_path, capsys):
    ctx = small_ctx(digits)

    out = tmp_path / "p.h5"
    with pytest.raises(KeyboardInterrupt):
        S.run_sweep(ctx, out, executor=InterruptAfter(2), progress=False)
    assert main(["report", str(out), "-o", str(tmp_path / "rep")]) == 0
    assert "Partial sweep" in (tmp_path / "rep" / "summary.md").read_text()
    capsys.readouterr()
    assert main(["report", str(DIGITS), "-o", str(tmp_path / "rep2")]) == 2
    err = capsys.readouterr().err
    assert "not a neurosim sweep file" in err and not (tmp_path / "rep2").exists()
