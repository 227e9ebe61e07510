"""The bad-input catalogue (issue 11): every command and the public API, as a hostile but realistic user.

Each command-line case runs ``neurosim`` in-process in a scratch folder and
asserts the contract of DESIGN.md: exit code 2, exactly one line on stderr
naming the problem, no traceback, nothing left behind in the folder, and
existing outputs byte for byte untouched. Each API case asserts a
:class:`~neurosim.errors.NeurosimError` (never another exception) whose
message is one line. Cases that must be refused before any work (sizes,
paths) run with the engine's row function replaced by one that fails, so a
refusal that came only after simulating would show.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import neurosim as ns
from neurosim.cli.main import main
from neurosim.sim import engine
from neurosim.errors import NeurosimError

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
F = "neuron:transient:0.01"


# ----------------------------------------------------------------------------- scratch files
def _copy_model(d: Path, name: str, edit) -> str:
    p = d / name
    shutil.copy(DIGITS, p)
    with h5py.File(p, "r+") as f:
        edit(f)
    return name


def _replace(f, path, **kw):
    del f[path]
    f.create_dataset(path, **kw)


def _huge_layer(f):
    del f["layers/000/weight"]
    f["layers/000"].create_dataset("weight", shape=(10**6, 10**6), dtype="f8", chunks=(1, 1024))  # nothing stored


def _make_files(d: Path):
    """Every bad (and one good) file the cases refer to, by name, inside the scratch folder ``d``."""
    shutil.copy(DIGITS, d / "model.h5")
    _copy_model(d, "fv_empty.h5", lambda f: f.attrs.__setitem__("format_version", ""))
    _copy_model(d, "fv_float.h5", lambda f: f.attrs.__setitem__("format_version", "1.0"))
    _copy_model(d, "fv_word.h5", lambda f: f.attrs.__setitem__("format_version", "one"))
    _copy_model(d, "fv_future.h5", lambda f: f.attrs.__setitem__("format_version", 99))
    _copy_model(d, "fv_missing.h5", lambda f: f.attrs.__delitem__("format_version"))
    _copy_model(d, "wrong_type.h5", lambda f: f.attrs.__setitem__("neurosim_type", "sweep"))
    _copy_model(d, "struct_w.h5", lambda f: _replace(
        f, "layers/000/weight", data=np.zeros((64, 64), dtype=[("a", "f8"), ("b", "i4")])))
    _copy_model(d, "group_w.h5", lambda f: (f["layers/000"].__delitem__("weight"),
                                            f["layers/000"].create_group("weight")))
    _copy_model(d, "str_w.h5", lambda f: _replace(f, "layers/000/weight", data=np.array(["x"] * 4, dtype="S1")))
    _copy_model(d, "labels_only.h5", lambda f: f["data"].__delitem__("inputs"))
    _copy_model(d, "float_labels.h5", lambda f: _replace(f, "data/labels", data=np.full(450, 0.5)))
    _copy_model(d, "huge_w.h5", lambda f: [_replace(f, f"layers/{k}/weight", data=np.full(f[f"layers/{k}/weight"].shape, 1e300))
                                           for k in sorted(f["layers"])])
    _copy_model(d, "huge_layer.h5", _huge_layer)
    _copy_model(d, "no_layers.h5", lambda f: f.__delitem__("layers"))
    _copy_model(d, "bad_act.h5", lambda f: f["layers/000"].attrs.__setitem__("activation", "swish"))
    (d / "text.h5").write_text("this is not HDF5\n")
    (d / "trunc.h5").write_bytes(DIGITS.read_bytes()[:2000])
    (d / "empty.h5").write_bytes(b"")
    (d / "a_dir").mkdir()
    (d / "full_dir").mkdir()
    (d / "full_dir" / "keep.txt").write_text("keep")
    (d / "plainfile").write_text("not a folder")
    np.save(d / "x0.npy", np.zeros((0, 64)))
    np.save(d / "xstr.npy", np.array([["a"] * 64] * 3))
    np.save(d / "xwide.npy", np.zeros((3, 65)))
    np.save(d / "xnan.npy", np.full((3, 64), np.nan))
    np.save(d / "x3d.npy", np.zeros((3, 8, 8, 1)))
    np.save(d / "xobj.npy", np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True)
    np.save(d / "xstruct.npy", np.zeros(3, dtype=[("a", "f8", (64,))]))
    (d / "x.txt").write_text("1 2 3\n")
    np.save(d / "xok.npy", np.zeros((3, 64)))
    np.save(d / "lab_bad.npy", np.array([0.5, 1.5, 2.5]))
    (d / "layers_str.toml").write_text('[[fault]]\nsite = "neuron"\nmode = "transient"\nrate = 0.01\nlayers = "12"\n')
    (d / "layers_float.toml").write_text('[[fault]]\nsite = "neuron"\nmode = "permanent"\nrate = 0.01\nlayers = [1.7]\n')
    (d / "group_float.toml").write_text('[[fault]]\nsite = "neuron"\nmode = "permanent"\nrate = 0.01\ngroup = 2.9\n')
    (d / "rate_str.toml").write_text('[[fault]]\nsite = "neuron"\nmode = "transient"\nrate = "high"\n')
    (d / "syntax.toml").write_text('[[fault]\nsite = "neuron"\n')
    (d / "nofault.toml").write_text('title = "nothing here"\n')
    (d / "badprof.toml").write_text("name = \n")
    (d / "negprof.toml").write_text('name = "neg"\ncrossbar_rows = -4\ncrossbar_cols = 8\n')
    (d / "existing.h5").write_bytes(b"precious result, must survive")
    return {p.name for p in d.iterdir()}


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NUMBA_CACHE_DIR", os.environ.get("NUMBA_CACHE_DIR", str(tmp_path / ".nb")))
    names = _make_files(tmp_path)
    return tmp_path, names


def _snapshot(d: Path) -> dict:
    out = {}
    for p in sorted(d.rglob("*")):
        if ".nb" in p.parts:
            continue
        out[str(p.relative_to(d))] = p.read_bytes() if p.is_file() else None
    return out


# ----------------------------------------------------------------------------- the command-line catalogue
M = "model.h5"
SIM = ["simulate", M, "--fault", F, "--chips", "2"]
SWEEP = ["sweep", M, "--fault", "neuron:transient", "--rates", "1e-2,1e-1", "--chips", "2", "-o", "s.h5"]
CLI_CASES = {
    # model files
    "missing model": ["simulate", "nope.h5", "--fault", F],
    "model is a folder": ["simulate", "a_dir", "--fault", F],
    "model is text": ["simulate", "text.h5", "--fault", F],
    "model truncated": ["simulate", "trunc.h5", "--fault", F],
    "model empty file": ["simulate", "empty.h5", "--fault", F],
    "format_version empty": ["simulate", "fv_empty.h5", "--fault", F],
    "format_version 1.0": ["simulate", "fv_float.h5", "--fault", F],
    "format_version one": ["simulate", "fv_word.h5", "--fault", F],
    "format_version 99": ["simulate", "fv_future.h5", "--fault", F],
    "format_version missing": ["map", "fv_missing.h5"],
    "model of another type": ["map", "wrong_type.h5"],
    "structured-dtype weight": ["simulate", "struct_w.h5", "--fault", F],
    "weight stored as a group": ["simulate", "group_w.h5", "--fault", F],
    "string weight": ["bounds", "str_w.h5", "--p", "0.01"],
    "/data labels without inputs": ["simulate", "labels_only.h5", "--fault", F],
    "/data float labels": ["simulate", "float_labels.h5", "--fault", F],
    "no /layers": ["map", "no_layers.h5"],
    "unknown activation": ["simulate", "bad_act.h5", "--fault", F],
    "huge declared layer (simulate)": ["simulate", "huge_layer.h5", "--fault", F],
    "huge declared layer (map)": ["map", "huge_layer.h5"],
    "weights 1e300 (simulate)": ["simulate", "huge_w.h5", "--fault", F, "--chips", "2"],
    "weights 1e300 (sweep)": ["sweep", "huge_w.h5", "--fault", "neuron:transient", "--rates", "0.1", "--chips", "2",
                              "-o", "s.h5"],
    # inputs
    "inputs 0 rows (simulate)": SIM + ["--inputs", "x0.npy"],
    "inputs 0 rows (map)": ["map", M, "--profile", "loihi", "--inputs", "x0.npy"],
    "inputs 0 rows (bounds)": ["bounds", M, "--p", "0.01", "--inputs", "x0.npy"],
    "inputs strings": SIM + ["--inputs", "xstr.npy"],
    "inputs wrong width": SIM + ["--inputs", "xwide.npy"],
    "inputs NaN": SIM + ["--inputs", "xnan.npy"],
    "inputs 4-d": SIM + ["--inputs", "x3d.npy"],
    "inputs pickled objects": SIM + ["--inputs", "xobj.npy"],
    "inputs structured": SIM + ["--inputs", "xstruct.npy"],
    "inputs missing": SIM + ["--inputs", "nope.npy"],
    "inputs .txt": SIM + ["--inputs", "x.txt"],
    "labels without inputs": SIM + ["--labels", "lab_bad.npy"],
    "labels not integers": SIM + ["--inputs", "xok.npy", "--labels", "lab_bad.npy"],
    "--limit 0": SIM + ["--limit", "0"],
    "--limit -3": SIM + ["--limit", "-3"],
    "--limit text": SIM + ["--limit", "ten"],
    # fault specs
    "no fault": ["simulate", M],
    "unknown site": ["simulate", M, "--fault", "axon:transient:0.1"],
    "unknown mode": ["simulate", M, "--fault", "neuron:sometimes:0.1"],
    "rate above 1": ["simulate", M, "--fault", "neuron:transient:1.5"],
    "rate negative": ["simulate", M, "--fault", "neuron:transient:-0.1"],
    "rate nan": ["simulate", M, "--fault", "neuron:transient:nan"],
    "rate word": ["simulate", M, "--fault", "neuron:transient:abc"],
    "spec too short": ["simulate", M, "--fault", "neuron"],
    "layers=1.7": ["simulate", M, "--fault", "neuron:permanent:0.1:layers=1.7"],
    "layers out of range": ["simulate", M, "--fault", "neuron:permanent:0.1:layers=9"],
    "group=2.9": ["simulate", M, "--fault", "neuron:permanent:0.1:group=2.9"],
    "group=0": ["simulate", M, "--fault", "neuron:permanent:0.1:group=0"],
    "group on transient": ["simulate", M, "--fault", "neuron:transient:0.1:group=2"],
    "unknown parameter": ["simulate", M, "--fault", "neuron:transient:0.1:foo=1"],
    "parameter without =": ["simulate", M, "--fault", "neuron:transient:0.1:layers"],
    "core fault without profile": ["simulate", M, "--fault", "core:transient:0.1"],
    "TOML layers = \"12\"": ["simulate", M, "--faults", "layers_str.toml"],
    "TOML layers = [1.7]": ["simulate", M, "--faults", "layers_float.toml"],
    "TOML group = 2.9": ["simulate", M, "--faults", "group_float.toml"],
    "TOML rate = \"high\"": ["simulate", M, "--faults", "rate_str.toml"],
    "TOML syntax error": ["simulate", M, "--faults", "syntax.toml"],
    "TOML without faults": ["simulate", M, "--faults", "nofault.toml"],
    "TOML missing": ["simulate", M, "--faults", "nope.toml"],
    "sweep TOML layers = \"12\"": SWEEP[:2] + ["--faults", "layers_str.toml", "--rates", "0.1", "-o", "s.h5"],
    # profiles
    "unknown profile": ["map", M, "--profile", "no-such-chip"],
    "broken profile TOML": ["map", M, "--profile", "badprof.toml"],
    "negative crossbar": ["map", M, "--profile", "negprof.toml"],
    "--max-chips 0": ["map", M, "--profile", "loihi", "--max-chips", "0"],
    # numbers and sizes
    "--chips 0": ["simulate", M, "--fault", F, "--chips", "0"],
    "--chips -1": ["simulate", M, "--fault", F, "--chips", "-1"],
    "--chips 1e12 (simulate)": ["simulate", M, "--fault", F, "--chips", "1000000000000"],
    "--chips 1e12 (sweep)": SWEEP[:-4] + ["--chips", "1000000000000", "-o", "s.h5"],
    "--chips 1e5 sweep over --max-memory": SWEEP[:-4] + ["--chips", "100000", "--max-memory", "1G", "-o", "s.h5"],
    "--chips 1e9 compare": ["compare", M, "--fault", F, "--chips", "1000000000", "-o", "cmp"],
    "--chips 1e9 plan": ["plan", M, "--fault", F, "--eps", "1", "--delta", "1e-3", "--chips", "1000000000",
                         "-o", "plan"],
    "--max-memory word": SIM + ["--max-memory", "lots"],
    "--max-memory 0": SIM + ["--max-memory", "0"],
    "--max-memory tiny": SIM + ["--max-memory", "1K"],
    "--threads 0": SIM + ["--threads", "0"],
    "--confidence 1.5": SIM + ["--confidence", "1.5"],
    "--seed -1": SIM + ["--seed", "-1"],
    "--seed word": SIM + ["--seed", "x"],
    "bounds --p 1.5": ["bounds", M, "--p", "1.5"],
    "plan --delta 2": ["plan", M, "--fault", F, "--eps", "1", "--delta", "2", "-o", "plan"],
    "plan --eps -1": ["plan", M, "--fault", F, "--eps", "-1", "--delta", "1e-3", "-o", "plan"],
    "compare --chips 1": ["compare", M, "--fault", F, "--chips", "1", "-o", "cmp"],
    # output paths
    "simulate -o /sys": SIM + ["-o", "/sys/x.h5"],
    "simulate -o /proc": SIM + ["-o", "/proc/x.h5"],
    "simulate -o missing folder": SIM + ["-o", "missing/x.h5"],
    "simulate -o a folder": SIM + ["-o", "a_dir"],
    "simulate -o under a file": SIM + ["-o", "plainfile/x.h5"],
    "map -o /sys": ["map", M, "--profile", "loihi", "-o", "/sys/m.json"],
    "bounds -o /sys": ["bounds", M, "--p", "0.01", "-o", "/sys/b.json"],
    "profiles -o /sys": ["profiles", "-o", "/sys/p.json"],
    "compare -o /sys": ["compare", M, "--fault", F, "-o", "/sys/c"],
    "compare -o non-empty folder": ["compare", M, "--fault", F, "-o", "full_dir"],
    "compare -o a file": ["compare", M, "--fault", F, "-o", "existing.h5"],
    "sweep -o /sys": SWEEP[:-2] + ["-o", "/sys/s.h5"],
    "sweep -o a folder": SWEEP[:-2] + ["-o", "a_dir"],
    "sweep -o a foreign file": SWEEP[:-2] + ["-o", "existing.h5"],
    "sweep -o a model file": SWEEP[:-2] + ["-o", "model.h5"],
    "report -o /sys": ["report", "model.h5", "-o", "/sys/r"],
    "plan -o /sys": ["plan", M, "--fault", F, "--eps", "1", "--delta", "1e-3", "-o", "/sys/p"],
    "plan -o a file": ["plan", M, "--fault", F, "--eps", "1", "--delta", "1e-3", "-o", "existing.h5"],
    # sweep-specific
    "report of a model": ["report", "model.h5", "-o", "rep"],
    "report of a missing file": ["report", "nope.h5", "-o", "rep"],
    "--rates LO:HI": SWEEP[:5] + ["1e-3:1e-1"] + SWEEP[6:],
    "--rates above 1": SWEEP[:5] + ["0.5,2"] + SWEEP[6:],
    "--rates word": SWEEP[:5] + ["many"] + SWEEP[6:],
    "--workers 0": SWEEP + ["--workers", "0"],
    "--dask without port": SWEEP + ["--dask", "tcp://localhost"],
    "--dask and --workers": SWEEP + ["--dask", "tcp://h:1", "--workers", "2"],
    "--raw-samples -1": SWEEP + ["--raw-samples", "-1"],
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_cli_bad_input_is_one_line_exit_2_nothing_left_behind(case, scratch, capsys, monkeypatch):
    d, _ = scratch
    before = _snapshot(d)
    if _before_any_work(case):  # sizes and paths are refused before the engine runs a single row
        monkeypatch.setattr(engine, "_run_rows", _no_work)
    try:
        rc = main(list(CLI_CASES[case]))
    except SystemExit as exc:  # argparse's own refusals (one line, exit 2)
        rc = exc.code
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2, f"{case}: exit {rc}, stderr {err!r}"
    assert len(lines) == 1, f"{case}: stderr is not one line: {err!r}"
    assert "Traceback" not in err and "Error:" not in lines[0].split("error:", 1)[0]
    assert lines[0].startswith("neurosim"), lines[0]
    assert "work started" not in err, f"{case}: refused only after simulating"
    assert _snapshot(d) == before, f"{case}: files changed: {set(_snapshot(d)) ^ set(before)}"


def _before_any_work(case: str) -> bool:
    return any(t in case for t in ("1e12", "1e9", "1e5", "/sys", "/proc", "folder", "a file", "huge declared"))


def _no_work(*a, **k):
    raise AssertionError("work started")


def test_sweep_resume_with_other_arguments_leaves_the_file_untouched(scratch, capsys):
    d, _ = scratch
    assert main(SWEEP) == 0
    before = _snapshot(d)
    rc = main(SWEEP[:-4] + ["--chips", "3", "-o", "s.h5"])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "--force" in err
    assert _snapshot(d) == before


def test_a_second_sweep_on_a_locked_file_is_refused(scratch, capsys):
    d, _ = scratch
    root = d / "s.h5.parts"
    root.mkdir()
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running sweep holds
        rc = main(SWEEP)
        err = capsys.readouterr().err
        assert rc == 2 and "Another neurosim sweep" in err and len(err.strip().splitlines()) == 1
        assert not (d / "s.h5").exists()
    finally:
        os.close(fd)


def test_non_finite_faulty_outputs_are_flagged_never_silent(scratch, capsys):
    # clean outputs finite, faulty ones not: a stuck value of 1e300 overflows the next layer
    d, _ = scratch
    net = ns.load_network(DIGITS)
    x = ns.io.load_bundled_data(DIGITS)[0][:5]
    from neurosim.sim.stream import StreamSummary

    res = ns.simulate(net, x, "neuron:transient:0.0", n_chips=2, seed=0)
    res.delta[0, 0, 0] = np.nan  # what an overflowing fault value produces
    s = StreamSummary(2)
    s.add(0, res)
    assert s.result()["non_finite"] == 1


# ----------------------------------------------------------------------------- the API catalogue
def _net():
    return ns.load_network(DIGITS)


def _x():
    return ns.io.load_bundled_data(DIGITS)[0][:4]


API_CASES = {
    "FaultSpec group=2.9": lambda: ns.FaultSpec("neuron", "permanent", 0.1, group=2.9),
    "FaultSpec group='2'x": lambda: ns.FaultSpec("neuron", "permanent", 0.1, group="2x"),
    "FaultSpec group=True": lambda: ns.FaultSpec("neuron", "permanent", 0.1, group=True),
    "FaultSpec layers=[1.7]": lambda: ns.FaultSpec("neuron", "permanent", 0.1, layers=[1.7]),
    "FaultSpec layers='12'": lambda: ns.FaultSpec("neuron", "permanent", 0.1, layers="12"),
    "FaultSpec layers=[]": lambda: ns.FaultSpec("neuron", "permanent", 0.1, layers=[]),
    "FaultSpec layers=[None]": lambda: ns.FaultSpec("neuron", "permanent", 0.1, layers=[None]),
    "FaultSpec rate=True": lambda: ns.FaultSpec("neuron", "transient", True),
    "FaultSpec rate=nan": lambda: ns.FaultSpec("neuron", "transient", float("nan")),
    "FaultSpec rate='x'": lambda: ns.FaultSpec("neuron", "transient", "x"),
    "simulate n_chips=0": lambda: ns.simulate(_net(), _x(), F, n_chips=0),
    "simulate n_chips=2.5": lambda: ns.simulate(_net(), _x(), F, n_chips=2.5),
    "simulate n_chips=1e12": lambda: ns.simulate(_net(), _x(), F, n_chips=10**12),
    "simulate x empty": lambda: ns.simulate(_net(), np.zeros((0, 64)), F),
    "simulate x strings": lambda: ns.simulate(_net(), np.array([["a"] * 64]), F),
    "simulate x structured": lambda: ns.simulate(_net(), np.zeros(2, dtype=[("a", "f8", (64,))]), F),
    "simulate x object": lambda: ns.simulate(_net(), np.array([[object()] * 64]), F),
    "simulate seed=-1": lambda: ns.simulate(_net(), _x(), F, seed=-1),
    "simulate first_chip=-1": lambda: ns.simulate(_net(), _x(), F, first_chip=-1),
    "simulate threads=0": lambda: ns.simulate(_net(), _x(), F, threads=0),
    "simulate weights 1e300": lambda: ns.simulate(
        ns.Network.from_arrays([w * 1e300 for w in _net().weights], _net().biases, _net().activations), _x(), F),
    "simulate_stream chunk_chips=0": lambda: list(__import__("neurosim.sim.stream", fromlist=["x"]).simulate_stream(
        _net(), _x(), F, 3, chunk_chips=0)),
    "Network NaN weight": lambda: ns.Network.from_arrays([np.full((2, 2), np.nan)], [np.zeros(2)], ["identity"]),
    "Network.forward 0 rows": lambda: _net().forward(np.zeros((0, 64))),
    "load_network format ''": lambda: ns.load_network("fv_empty.h5"),
    "load_network structured weight": lambda: ns.load_network("struct_w.h5"),
    "load_network group weight": lambda: ns.load_network("group_w.h5"),
    "load_network huge layer": lambda: ns.load_network("huge_layer.h5"),
    "load_bundled_data labels only": lambda: ns.io.load_bundled_data("labels_only.h5"),
    "parse_size word": lambda: __import__("neurosim._resources", fromlist=["x"]).parse_size("lots"),
    "check_output /sys": lambda: __import__("neurosim._paths", fromlist=["x"]).check_output("/sys/x.h5"),
    "check_output dir as file": lambda: __import__("neurosim._paths", fromlist=["x"]).check_output("a_dir"),
    "check_dask_address no port": lambda: ns.sweep.check_dask_address("tcp://localhost"),
    "run_sweep n_chips=1e12": lambda: ns.sweep.run_sweep(
        ns.sweep.build_context(_net(), _x(), faults=["neuron:transient"], rates=[0.1], n_chips=10**12), "s.h5"),
    "load_sweep of a model": lambda: ns.sweep.load_sweep("model.h5"),
    "verify_sweep of a text file": lambda: ns.sweep.verify_sweep("text.h5"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input_raises_a_one_line_neurosim_error(case, scratch, monkeypatch):
    d, _ = scratch
    before = _snapshot(d)
    if "1e12" in case or "huge layer" in case:  # refused from the sizes, before any row is simulated
        monkeypatch.setattr(engine, "_run_rows", _no_work)
    with pytest.raises(NeurosimError) as info:
        API_CASES[case]()
    assert "\n" not in str(info.value).strip(), str(info.value)
    assert _snapshot(d) == before


def test_catalogue_size():
    assert len(CLI_CASES) + len(API_CASES) >= 80
