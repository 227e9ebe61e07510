"""Command line (profiles, map, simulate): machine-readable output, and bad input -> one line on stderr, exit 2.

Commands run in-process through ``neurosim.cli.main.main(argv)``; one test runs
``python -m neurosim.cli.main`` in a subprocess to check the real exit status.
"""
import json
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from neurosim import list_profiles, load_network, map_network
from neurosim.cli.main import main
from neurosim.io.mapping_io import load_mapping
from conftest import ROOT, tiny_profile_dict
from test_profiles_mapping import dump_toml


def run_cli(argv, capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def strict_json(text):
    """json.loads that refuses NaN/Infinity (not JSON)."""
    def bad(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=bad)


# ----------------------------------------------------------------------------- happy paths
def test_profiles_json_lists_names(capsys):
    """`profiles --json` prints valid JSON whose 'profiles' are the shipped names."""
    code, out, err = run_cli(["profiles", "--json"], capsys)
    assert code == 0, err
    data = strict_json(out)["result"]
    assert sorted(data["profiles"]) == list_profiles()


def test_profiles_text_and_output_file(capsys, tmp_path):
    """Plain `profiles` lists every name; -o writes the same JSON list to a file."""
    code, out, _ = run_cli(["profiles", "-o", tmp_path / "p.json"], capsys)
    assert code == 0
    for n in list_profiles():
        assert n in out
    assert sorted(strict_json((tmp_path / "p.json").read_text())["profiles"]) == list_profiles()


@pytest.mark.parametrize("name", list_profiles())
def test_map_json_every_profile(capsys, digits_path, name):
    """`map MODEL --profile NAME --json` prints valid JSON agreeing with map_network for every shipped profile."""
    code, out, err = run_cli(["map", digits_path, "--profile", name, "--json"], capsys)
    assert code == 0, err
    s = strict_json(out)["result"]
    m = map_network(load_network(digits_path), name)
    assert s["profile"] == name
    assert s["tiles"] == m.n_tiles and s["cores_used"] == m.n_cores and s["chips_used"] == m.n_chips
    assert [l["tiles"] for l in s["layers"]] == [l["tiles"] for l in m.layers]
    assert 0.0 <= s["accuracy"]["mapped"] <= 1.0


def test_map_outputs_json_and_h5(capsys, tmp_path, digits_path):
    """-o x.json writes the JSON report; -o x.h5 writes a mapping that load_mapping reads back."""
    code, _, err = run_cli(["map", digits_path, "--profile", "pcm", "-o", tmp_path / "m.json"], capsys)
    assert code == 0, err
    assert strict_json((tmp_path / "m.json").read_text())["profile"] == "pcm"
    code, _, err = run_cli(["map", digits_path, "--profile", "pcm", "-o", tmp_path / "m.h5"], capsys)
    assert code == 0, err
    m = load_mapping(tmp_path / "m.h5")
    assert m.profile.name == "pcm" and m.network.sizes == (64, 64, 32, 10)


# ----------------------------------------------------------------------------- bad inputs
def _copy_model(tmp_path, digits_path, name="model.h5"):
    p = tmp_path / name
    shutil.copy(digits_path, p)
    return p


def _case(kind, tmp_path, digits_path):
    """Build the bad input for one case: returns (argv tail after the command, needle for stderr)."""
    model, prof = str(digits_path), "ideal"
    extra = []
    if kind == "missing_file":
        model, needle = tmp_path / "absent.h5", "absent.h5"
    elif kind == "truncated":
        model = _copy_model(tmp_path, digits_path, "trunc.h5")
        with open(model, "r+b") as f:
            f.truncate(model.stat().st_size // 2)
        needle = "trunc.h5"
    elif kind == "not_hdf5":
        model = tmp_path / "junk.h5"
        model.write_bytes(b"\x00garbage" * 100)
        needle = "junk.h5"
    elif kind == "foreign_hdf5":
        model = tmp_path / "foreign.h5"
        with h5py.File(model, "w") as f:
            f["x"] = np.arange(4)
        needle = "foreign.h5"
    elif kind == "nan_weights":
        model = _copy_model(tmp_path, digits_path, "nan.h5")
        with h5py.File(model, "r+") as f:
            f["layers/000/weight"][3, 5] = np.nan
        needle = "NaN"
    elif kind == "shape_mismatch":
        model = _copy_model(tmp_path, digits_path, "shape.h5")
        with h5py.File(model, "r+") as f:
            W = f["layers/001/weight"][()]
            del f["layers/001/weight"]
            f["layers/001/weight"] = W[:, :-1]
        needle = "W_2"
    elif kind == "unknown_profile":
        prof, needle = "no_such_chip", "no_such_chip"
    elif kind == "malformed_toml":
        prof = tmp_path / "broken.toml"
        prof.write_text("[chip\nname = 'x'\n")
        needle = "broken.toml"
    elif kind == "out_of_range_profile":
        prof = tmp_path / "range.toml"
        prof.write_text(dump_toml(tiny_profile_dict(core__crossbar_rows=0)))
        needle = "core.crossbar_rows"
    elif kind == "too_large":
        prof = tmp_path / "small.toml"
        prof.write_text(dump_toml(tiny_profile_dict(chip__cores_per_chip=1)))
        needle = "max_chips"
    elif kind == "bad_inputs_shape":
        npy = tmp_path / "x.npy"
        np.save(npy, np.zeros((5, 3)))
        extra, needle = ["--inputs", npy], "shape"
    elif kind == "missing_inputs":
        extra, needle = ["--inputs", tmp_path / "nope.npy"], "nope.npy"
    else:
        raise AssertionError(kind)
    return [model, "--profile", prof] + extra, needle


BAD = ["missing_file", "truncated", "not_hdf5", "foreign_hdf5", "nan_weights", "shape_mismatch", "unknown_profile",
       "malformed_toml", "out_of_range_profile", "too_large", "bad_inputs_shape", "missing_inputs"]


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", ["map", "simulate"])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, digits_path, kind, command):
    """Bad input: exit 2, exactly one stderr line naming the problem, no traceback, no output file left."""
    tail, needle = _case(kind, tmp_path, digits_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / ("r.h5" if command == "simulate" else "r.json")
    argv = [command] + tail + ["-o", target]
    if command == "simulate":
        argv += ["--fault", "synapse:transient:0.01", "--chips", "2", "--limit", "5"]
    code, out, err = run_cli(argv, capsys)
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and needle in lines[0], lines[0]
    assert lines[0].startswith(f"neurosim {command}: error:")
    assert list(outdir.iterdir()) == [], "partial output left behind"


@pytest.mark.parametrize("fault", ["synapse:sometimes:0.1", "synapse:transient:1.5", "core:permanent:0.1",
                                   "neuron:permanent:0.1:layers=9", "synapse:intermittent:0.1"])
def test_simulate_bad_fault_spec(capsys, tmp_path, digits_path, fault):
    """A bad --fault (unknown mode, rate > 1, core fault without --profile, layer out of range, missing p_on) -> exit 2, one line."""
    target = tmp_path / "r.h5"
    code, _, err = run_cli(["simulate", digits_path, "--fault", fault, "--chips", "2", "--limit", "3",
                            "-o", target], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not target.exists()


def test_simulate_json_and_result_file(capsys, tmp_path, digits_path):
    """`simulate --json -o r.h5` prints valid JSON and writes a result whose Δ equals the library's."""
    from neurosim import simulate
    from neurosim.io import load_bundled_data
    from neurosim.io.mapping_io import load_result

    code, out, err = run_cli(["simulate", digits_path, "--fault", "neuron:permanent:0.05", "--chips", "3",
                              "--limit", "20", "--seed", "7", "--json", "-o", tmp_path / "r.h5", "--threads", "1"],
                             capsys)
    assert code == 0, err
    s = strict_json(out)["result"]
    assert s["n_chips"] == 3 and s["n_inputs"] == 20 and s["seed"] == 7
    res = load_result(tmp_path / "r.h5")
    x, _ = load_bundled_data(digits_path)
    lib = simulate(load_network(digits_path), x[:20], "neuron:permanent:0.05", n_chips=3, seed=7)
    assert np.array_equal(res.delta, lib.delta) and np.array_equal(res.fault_counts, lib.fault_counts)


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_map_rejects_bad_limit(capsys, tmp_path, digits_path, limit):
    """`map --limit N` with N < 1 is bad input: exit 2 naming --limit (not silently ignored), no output file."""
    target = tmp_path / "r.json"
    code, out, err = run_cli(["map", digits_path, "--profile", "ideal", "--limit", limit, "-o", target], capsys)
    assert code == 2, (code, out[:200], err)
    assert "--limit" in err and len(err.strip().splitlines()) == 1
    assert not target.exists()


def test_output_folder_must_exist(capsys, tmp_path, digits_path):
    """-o into a missing folder or onto a directory: exit 2 before any work, one line."""
    for cmd in (["map", digits_path, "--profile", "ideal"], ["profiles"]):
        for o in (tmp_path / "no" / "x.json", tmp_path):
            code, _, err = run_cli(cmd + ["-o", o], capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_argparse_error_exit_2(capsys):
    """Unknown option / bad int: argparse's own exit status 2 with a one-line error."""
    code, _, err = run_cli(["map", "x.h5", "--profile", "ideal", "--max-chips", "many"], capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("neurosim map: error:")


def test_subprocess_exit_status(tmp_path):
    """A real process: `python -m neurosim.cli.main map <missing>` exits 2 with one stderr line, no traceback."""
    target = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "neurosim.cli.main", "map", str(tmp_path / "missing.h5"),
                           "--profile", "ideal", "-o", str(target)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "missing.h5" in lines[0], proc.stderr
    assert proc.stdout == "" and not target.exists()
