"""Reliability of sweeps (issue 11): workers die with their parent, Ctrl-C on Dask, Dask addresses, integrity.

The process tests start ``neurosim sweep`` in its own session (process group),
so every process it starts can be found by its group id, and kill it the way a
user or a scheduler would (SIGKILL of the parent, SIGINT to the group as a
terminal's Ctrl-C does).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim import sweep as S
from neurosim._lifecycle import ENV_PARENT
from neurosim.cli.main import main
from neurosim.errors import ConfigError, FileFormatError
from neurosim.io import load_bundled_data, load_network
from neurosim.sweep.executors import DaskExecutor, check_dask_address

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"


def _group(pgid: int) -> list:
    """Pids of the live processes in process group ``pgid`` (zombies excluded)."""
    out = subprocess.run(["ps", "-eo", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    pids = []
    for line in out.splitlines():
        pid, pg, stat = line.split()[:3]
        if int(pg) == pgid and not stat.startswith("Z"):
            pids.append(int(pid))
    return pids


def _start_sweep(tmp_path, out, *extra, chips="200", rates="1e-3:1e-1:8"):
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    argv = ["sweep", str(DIGITS), "--fault", "neuron:transient", "--rates", rates, "--chips", chips,
            "-o", str(out), "--json", *extra]
    proc = subprocess.Popen([sys.executable, "-m", "neurosim.cli.main", *argv], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, text=True)
    return proc, argv


def _wait(cond, timeout_s, proc):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended early (rc {proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    return False


def _reap(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pid in _group(proc.pid):  # never leave anything of ours behind, even when a test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _kill9_expect_no_process_left(proc):
    """kill -9 the sweep's parent; every process of its group must be gone within 5 s."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t0 = time.monotonic()
    while _group(proc.pid) and time.monotonic() - t0 < 5.0:
        time.sleep(0.05)
    left = _group(proc.pid)
    assert left == [], f"processes still alive 5 s after kill -9 of the parent: {left}"


def _resume_and_expect_complete(argv, out, capsys, min_reused):
    """Re-run the same command: committed points are reused and the 8-point sweep completes."""
    assert main(argv[:]) == 0
    info = json.loads(capsys.readouterr().out)
    info = info.get("result", info)
    assert info["n_reused"] >= min_reused and info["n_reused"] + info["n_computed"] == 8
    assert S.load_sweep(out).status == "complete"


def test_kill9_of_a_workers_2_sweep_leaves_no_process_and_resumes(tmp_path, capsys):
    out = tmp_path / "w.h5"
    proc, argv = _start_sweep(tmp_path, out, "--workers", "2")
    parts = Path(str(out) + ".parts")
    try:
        # two workers (and the resource tracker) running, at least one point committed
        assert _wait(lambda: len(_group(proc.pid)) >= 3 and len(list(parts.glob("*/p*.h5"))) >= 1, 180, proc), \
            "the sweep did not start its workers in time"
        _kill9_expect_no_process_left(proc)
    finally:
        _reap(proc)
    # resume with the same command: the committed points are reused, the result is complete
    _resume_and_expect_complete(argv, out, capsys, min_reused=1)


@pytest.mark.parametrize("when", ["start-up", "mid-run"])
def test_kill9_of_a_dask_local_sweep_leaves_no_process_and_resumes(tmp_path, capsys, when):
    """Like --workers: the LocalCluster's worker processes die with the parent, also before their first task."""
    pytest.importorskip("distributed")
    out = tmp_path / "d.h5"
    proc, argv = _start_sweep(tmp_path, out, "--dask-local", "2", chips="300")
    parts = Path(str(out) + ".parts")
    try:
        if when == "start-up":  # the two worker processes exist (no point has been sent to them yet)
            started = _wait(lambda: len(_group(proc.pid)) >= 3, 240, proc)
        else:
            started = _wait(lambda: len(_group(proc.pid)) >= 3 and len(list(parts.glob("*/p*.h5"))) >= 1, 240, proc)
        assert started, "the Dask sweep did not start its workers in time"
        _kill9_expect_no_process_left(proc)
    finally:
        _reap(proc)
    _resume_and_expect_complete(argv, out, capsys, min_reused=int(when == "mid-run"))


def test_ctrl_c_on_dask_local_prints_one_line_and_stops_every_worker(tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "d.h5"
    proc, _ = _start_sweep(tmp_path, out, "--dask-local", "2", chips="300")
    try:
        assert _wait(out.exists, 180, proc), "the Dask sweep did not start in time"
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
        _, err = proc.communicate(timeout=60)
        lines = [ln for ln in err.splitlines() if ln.strip() and "leaked semaphore" not in ln
                 and "warnings.warn" not in ln]
        assert proc.returncode == 130, err
        assert lines == ["neurosim sweep: interrupted"], err
        assert "Traceback" not in err
        t0 = time.monotonic()
        while _group(proc.pid) and time.monotonic() - t0 < 10.0:
            time.sleep(0.1)
        assert _group(proc.pid) == []
    finally:
        _reap(proc)
    assert S.load_sweep(out).status == "partial"  # what was computed is kept


@pytest.mark.parametrize("address", [
    "tcp://localhost", "tcp://localhost:", "tcp://localhost:0", "tcp://localhost:99999", "localhost",
    "http://host:8786", "tcp://:8786", "tcp://host:87a6", " ", "tcp://ho st:8786",
])
def test_malformed_dask_addresses_are_refused_before_connecting(address, capsys):
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="--dask"):
        DaskExecutor(address=address)
    assert time.monotonic() - t0 < 1.0
    rc = main(["sweep", str(DIGITS), "--fault", "neuron:transient", "--rates", "0.1", "--chips", "2",
               "--dask", address, "-o", "never.h5"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--dask" in err and "Traceback" not in err
    assert not Path("never.h5").exists() and not Path("never.h5.parts").exists()


def test_wellformed_dask_addresses_normalise():
    assert check_dask_address("10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert check_dask_address("tls://sched.example:8786") == "tls://sched.example:8786"
    assert check_dask_address("tcp://[::1]:8786") == "tcp://[::1]:8786"


def test_bind_from_env_exits_an_orphan_and_is_not_inherited(tmp_path):
    # a child told to bind to a pid that is not its parent (its parent died while it started) exits at import
    env = dict(os.environ, **{ENV_PARENT: "1" if os.getppid() != 1 else "2"})
    r = subprocess.run([sys.executable, "-c", "import neurosim; print('alive')"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 1 and "alive" not in r.stdout
    # a bound child removes the variable, so its own children are not bound to their grandparent
    code = ("import os, subprocess, sys; os.environ['%s'] = str(os.getpid()); "
            "r = subprocess.run([sys.executable, '-c', 'import os, neurosim; print(os.environ.get(\"%s\"))'], "
            "capture_output=True, text=True); print(r.stdout.strip())") % (ENV_PARENT, ENV_PARENT)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "None", r.stderr


# ----------------------------------------------------------------------------- integrity
@pytest.fixture(scope="module")
def small(tmp_path_factory):
    net = load_network(DIGITS)
    x, _ = load_bundled_data(DIGITS)
    ctx = S.build_context(net, x[:20], faults=["neuron:transient"], rates=[1e-2, 1e-1], n_chips=3, seed=4)
    ref = tmp_path_factory.mktemp("ref") / "ref.h5"
    S.run_sweep(ctx, ref, progress=False)
    return ctx, ref


def _flip_data_byte(path, dataset, offset_in_data=3):
    """Flip one byte inside the stored bytes of ``dataset`` (contiguous layout) of an HDF5 file."""
    with h5py.File(path, "r") as f:
        off = f[dataset].id.get_offset()
    assert off is not None
    with open(path, "r+b") as fh:
        fh.seek(off + offset_in_data)
        b = fh.read(1)
        fh.seek(off + offset_in_data)
        fh.write(bytes([b[0] ^ 0xFF]))


def test_corrupted_part_file_is_recomputed_with_a_note(small, tmp_path):
    ctx, ref = small

    class Stop(Exception):
        pass

    from neurosim.sweep.executors import SerialExecutor

    class StopAfterAll(SerialExecutor):
        def run(self, fn, ctx, indices, on_rows=None):
            yield from super().run(fn, ctx, indices, on_rows)
            raise Stop  # every part written, the final file not assembled

    out = tmp_path / "s.h5"
    with pytest.raises(Stop):
        S.run_sweep(ctx, out, executor=StopAfterAll(pipeline=False), progress=False)
    part = sorted(Path(str(out) + ".parts").glob("*/p*.h5"))[1]
    _flip_data_byte(part, "raw_delta")
    o = S.run_sweep(ctx, out, progress=False)
    assert o.n_computed == 1 and o.n_reused == ctx.grid.n_points - 1
    assert any("checksum mismatch" in n and part.name in n for n in o.notes), o.notes
    a, b = S.load_sweep(out), S.load_sweep(ref)
    for k in a.summary:
        assert np.array_equal(a.summary[k], b.summary[k], equal_nan=a.summary[k].dtype.kind == "f")
    for i in range(ctx.grid.n_points):
        assert np.array_equal(S.load_raw_delta(out, i)[0], S.load_raw_delta(ref, i)[0])


@pytest.mark.parametrize("dataset", ["summary/mean", "raw/delta", "inputs/x"])
def test_flipped_bytes_in_a_sweep_file_are_reported_by_verify_and_report(small, tmp_path, dataset, capsys):
    _, ref = small
    bad = tmp_path / "bad.h5"
    bad.write_bytes(ref.read_bytes())
    assert S.verify_sweep(bad) > 0
    with h5py.File(bad, "r") as f:
        chunked = f[dataset].chunks is not None
    if chunked:  # raw/delta is chunked: flip a byte of its first chunk
        with h5py.File(bad, "r") as f:
            off = f[dataset].id.get_chunk_info(0).byte_offset
        with open(bad, "r+b") as fh:
            fh.seek(off + 5)
            b = fh.read(1)
            fh.seek(off + 5)
            fh.write(bytes([b[0] ^ 0x55]))
    else:
        _flip_data_byte(bad, dataset)
    with pytest.raises(FileFormatError, match="checksum|damaged"):
        S.verify_sweep(bad)
    rc = main(["report", str(bad), "-o", str(tmp_path / "rep")])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "rep").exists()


def test_sweep_files_are_byte_identical_across_executors(tmp_path):
    """docs/sweeps.md: "bit-identical files" — the bytes, not only the datasets (chunks allocated at creation)."""
    import hashlib

    from neurosim.sweep.executors import ProcessExecutor

    net = load_network(DIGITS)
    x, _ = load_bundled_data(DIGITS)
    ctx = S.build_context(net, x[:30], faults=["neuron:transient", "synapse:permanent"], rates=[1e-3, 1e-2, 1e-1],
                          n_chips=4, seed=3)
    runs = {"serial": None, "processes": ProcessExecutor(2),
            "dask-threads": DaskExecutor(local_workers=2, processes=False)}
    digests = {}
    for name, ex in runs.items():
        S.run_sweep(ctx, tmp_path / f"{name}.h5", executor=ex, progress=False)
        digests[name] = hashlib.sha256((tmp_path / f"{name}.h5").read_bytes()).hexdigest()
    assert len(set(digests.values())) == 1, digests


def test_output_folders_get_the_umask_mode_like_their_files(small, tmp_path):
    """plan/compare/report folders were created 0700 (mkdtemp) while their files followed the umask."""
    from neurosim.io.h5util import _UMASK, atomic_dir

    _, ref = small
    assert main(["report", str(ref), "-o", str(tmp_path / "rep")]) == 0
    with atomic_dir(tmp_path / "plain") as d:
        (d / "f.txt").write_text("x")
    for folder in (tmp_path / "rep", tmp_path / "plain"):
        mode = folder.stat().st_mode & 0o777
        assert mode == 0o777 & ~_UMASK, oct(mode)
