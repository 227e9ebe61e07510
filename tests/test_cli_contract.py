"""One command line: help for every option, one JSON envelope, JSON errors, shared conventions (docs/cli.md).

The parsers are walked (every sub-command, every option); the envelope and the
error shape are checked by running every command for real, at small sizes, on
the bundled example and on a saved mapping of it.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from neurosim.cli.main import COMMANDS, build_parser, main
from conftest import DIGITS, need_torch

ENVELOPE = {"command", "neurosim_version", "model", "profile", "seed", "result"}
RANDOM = {"simulate", "compare", "sweep", "plan", "train", "certify"}          # commands that draw random numbers
LONG = {"simulate", "compare", "sweep", "plan"}            # commands that take long enough for a progress bar
FIGURES = {"compare", "report"}


def _subparsers():
    ap = build_parser()
    (sub,) = [a for a in ap._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices


def _options(p):
    return {s: a for a in p._actions for s in a.option_strings}


def test_every_command_registered():
    assert set(_subparsers()) == set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help(name):
    p = _subparsers()[name]
    missing = [a.dest for a in p._actions if not isinstance(a, argparse._HelpAction)
               and (not a.help or a.help == argparse.SUPPRESS or len(a.help.strip()) < 12)]
    assert not missing, f"'neurosim {name}': options without help text: {missing}"
    assert p.format_help()  # the help renders (no bad % in help strings)


@pytest.mark.parametrize("name", COMMANDS)
def test_output_says_file_or_folder(name):
    o = _options(_subparsers()[name]).get("-o")
    assert o is not None, f"'neurosim {name}' has no -o"
    assert ("file" in o.help) != ("folder" in o.help), f"-o of {name} must say file or folder: {o.help!r}"


@pytest.mark.parametrize("name", COMMANDS)
def test_seed_progress_json_figures_where_they_belong(name):
    opts = _options(_subparsers()[name])
    assert "--json" in opts
    assert ("--seed" in opts) == (name in RANDOM), f"--seed on '{name}' must exist iff it draws random numbers"
    if name in LONG:
        assert isinstance(opts["--progress"], argparse.BooleanOptionalAction) and "--no-progress" in opts
    assert ("--format" in opts) == ("--dpi" in opts) == (name in FIGURES)
    if "--chips" in opts:
        assert "default" in opts["--chips"].help and ":" in opts["--chips"].help  # the default says why


def test_bounds_takes_fault_and_keeps_shorthand():
    opts = _options(_subparsers()["bounds"])
    assert {"--fault", "--faults", "--p", "--layer"} <= set(opts)


# ----------------------------------------------------------------------------- running every command
def _run(argv, capsys):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _strict(text):
    def bad(c):
        raise ValueError(f"non-JSON constant {c}")
    return json.loads(text, parse_constant=bad)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    assert main(["map", str(DIGITS), "--profile", "rram", "--limit", "40", "-o", str(d / "mapping.h5")]) == 0
    assert main(["sweep", str(d / "mapping.h5"), "--fault", "neuron:transient:layers=1", "--rates", "0,1e-2",
                 "--chips", "3", "--limit", "20", "-o", str(d / "s.h5")]) == 0
    assert main(["plan", str(DIGITS), "--profile", "rram", "--fault", "synapse:permanent:profile", "--eps", "4.5",
                 "--delta", "1e-2", "--chips", "30", "--groups", "3", "--limit", "20", "--no-progress",
                 "-o", str(d / "plan")]) == 0
    return d


def _commands(d):
    m, mp = str(DIGITS), str(d / "mapping.h5")
    return {
        "profiles": ["profiles"],
        "map": ["map", m, "--profile", "pcm", "--limit", "30"],
        "simulate": ["simulate", mp, "--fault", "synapse:transient:1e-3", "--chips", "3", "--limit", "20"],
        "bounds": ["bounds", mp, "--fault", "neuron:transient:0.01:layers=1", "--limit", "20"],
        "compare": ["compare", m, "--fault", "neuron:transient:0.01:layers=1", "--chips", "20", "--limit", "10",
                    "-o", d / "cmp"],
        "sweep": ["sweep", mp, "--fault", "neuron:transient:layers=1", "--rates", "0,1e-2", "--chips", "3",
                  "--limit", "20", "-o", d / "s.h5"],
        "report": ["report", d / "s.h5", "-o", d / "rep"],
        "plan": ["plan", "--check", d / "plan", "--no-rerun"],
        "convert": ["convert", m, "--ticks", "10", "--limit", "20", "-o", d / "snn.h5"],
        "train": ["train", "--hidden", "8", "--epochs", "2", "-o", d / "trained.h5"],
        "certify": ["certify", "--eps", "1.0", "--delta", "1e-2", "--p", "0.01", "--complexity", "1000",
                    "--hidden", "8", "--epochs", "2", "--max-iterations", "1", "--verify-groups", "0",
                    "-o", d / "cert"],
    }


@pytest.mark.parametrize("name", COMMANDS)
def test_json_envelope_is_the_same_for_every_command(name, work, capsys):
    if name in TORCH_COMMANDS:
        need_torch()
    code, out, err = _run(_commands(work)[name] + ["--json"], capsys)
    assert code == 0, err
    doc = _strict(out)
    assert set(doc) == ENVELOPE, f"{name}: keys {sorted(doc)}"
    assert doc["command"] == name and isinstance(doc["result"], dict) and doc["result"]
    from neurosim import __version__

    assert doc["neurosim_version"] == __version__
    assert (doc["seed"] is None) == (name not in RANDOM)  # plan --check reports the checked plan's seed
    if name in ("simulate", "bounds", "sweep"):  # a saved mapping carries its profile
        assert doc["profile"] in ("rram", ["rram"]) and doc["model"].endswith("mapping.h5")


BAD = {
    "profiles": ["profiles", "-o", "/nonexistent-dir/p.json"],
    "map": ["map", DIGITS, "--profile", "no-such-chip"],
    "simulate": ["simulate", DIGITS, "--fault", "synapse:transient:1.5"],
    "bounds": ["bounds", DIGITS, "--fault", "synapse:transient:0.1"],
    "compare": ["compare", DIGITS, "--fault", "neuron:transient:0.01", "--chips", "1", "-o", "/tmp/never-made"],
    "sweep": ["sweep", DIGITS, "--fault", "neuron:transient", "--rates", "1e-3:1e-1:x", "-o", "/tmp/never.h5"],
    "report": ["report", "/no/such/sweep.h5", "-o", "/tmp/never-rep"],
    "plan": ["plan", DIGITS, "--profile", "rram", "--fault", "neuron:transient:0.01", "--eps", "-1", "--delta",
             "1e-3", "-o", "/tmp/never-plan"],
    "convert": ["convert", DIGITS, "--ticks", "0", "-o", "/tmp/never-snn.h5"],
    "train": ["train", "--epochs", "0", "-o", "/tmp/never-trained.h5"],
    "certify": ["certify", "--eps", "-1", "--delta", "1e-3", "--p", "0.01", "--complexity", "1000",
                "-o", "/tmp/never-cert"],
}
TORCH_COMMANDS = {"train", "certify"}


@pytest.mark.parametrize("name", COMMANDS)
def test_json_errors_are_json(name, capsys):
    code, out, err = _run(BAD[name] + ["--json"], capsys)
    assert code == 2
    doc = _strict(out)
    assert {"error", "parameter", "fix"} <= set(doc) and doc["command"] == name
    assert doc["error"] and "\n" not in doc["error"] and err.strip()  # the one line still goes to stderr
    assert doc["fix"], f"{name}: no fix in {doc}"


def test_argparse_errors_are_json_too(capsys):
    code, out, err = _run(["simulate", DIGITS, "--chips", "many", "--json"], capsys)
    assert code == 2
    doc = _strict(out)
    assert doc["parameter"] == "--chips" and "invalid int" in doc["error"] and doc["fix"]
    code, out, err = _run(["simulate", DIGITS, "--chips", "many"], capsys)  # without --json: no JSON
    assert code == 2 and out == "" and "--chips" in err


# ----------------------------------------------------------------------------- real properties of the conventions
def test_saved_mapping_gives_the_same_simulation_as_the_profile(work, tmp_path, capsys):
    base = ["--fault", "synapse:permanent:profile", "--fault", "neuron:transient:1e-2", "--chips", "4", "--seed", "5",
            "--json"]
    code, a, err = _run(["simulate", work / "mapping.h5"] + base, capsys)
    assert code == 0, err
    code, b, err = _run(["simulate", DIGITS, "--profile", "rram", "--limit", "40"] + base, capsys)
    assert code == 0, err
    ra, rb = _strict(a)["result"], _strict(b)["result"]
    assert ra["mean_delta"] == rb["mean_delta"] and ra["linf_quantiles"] == rb["linf_quantiles"]


def test_saved_mapping_refuses_a_contradicting_profile(work, capsys):
    code, out, err = _run(["simulate", work / "mapping.h5", "--profile", "pcm", "--fault", "neuron:transient:0.1"],
                          capsys)
    assert code == 2 and "rram" in err and "--profile" in err


def test_inputs_npz_with_labels_equal_bundled_data(tmp_path, capsys):
    from neurosim.io import load_bundled_data

    x, y = load_bundled_data(DIGITS)
    np.savez(tmp_path / "d.npz", x=x[:30], labels=y[:30])
    np.save(tmp_path / "x.npy", x[:30])
    np.save(tmp_path / "y.npy", y[:30])
    base = ["simulate", DIGITS, "--fault", "neuron:transient:0.05", "--chips", "3", "--json"]
    runs = [base + ["--limit", "30"], base + ["--inputs", tmp_path / "d.npz"],
            base + ["--inputs", tmp_path / "x.npy", "--labels", tmp_path / "y.npy"]]
    res = []
    for argv in runs:
        code, out, err = _run(argv, capsys)
        assert code == 0, err
        res.append(_strict(out)["result"])
    assert res[0]["accuracy"] == res[1]["accuracy"] == res[2]["accuracy"]
    assert res[0]["mean_delta"] == res[1]["mean_delta"] == res[2]["mean_delta"]
    np.save(tmp_path / "bad.npy", y[:29])
    code, _, err = _run(base + ["--inputs", tmp_path / "x.npy", "--labels", tmp_path / "bad.npy"], capsys)
    assert code == 2 and "(30,)" in err


def test_bounds_fault_equals_the_shorthand(capsys):
    code, a, _ = _run(["bounds", DIGITS, "--fault", "neuron:transient:0.02:layers=1", "--limit", "15", "--json"],
                      capsys)
    code2, b, _ = _run(["bounds", DIGITS, "--p", "0.02", "--layer", "1", "--limit", "15", "--json"], capsys)
    assert code == code2 == 0
    assert _strict(a)["result"] == _strict(b)["result"]
    code, a, _ = _run(["bounds", DIGITS, "--fault", "neuron:permanent:0.02:layers=1,2", "--limit", "15", "--json"],
                      capsys)
    code2, b, _ = _run(["bounds", DIGITS, "--p", "0.02", "--layer", "1", "--p", "0.02", "--layer", "2", "--limit",
                        "15", "--json"], capsys)
    assert code == code2 == 0 and _strict(a)["result"] == _strict(b)["result"]
