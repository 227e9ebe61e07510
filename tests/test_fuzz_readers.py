"""Property-based fuzzing (hypothesis) of every reader a user feeds files or text to.

Readers: the model file (:func:`neurosim.load_network`, bundled data), chip
profiles (:func:`neurosim.load_profile` on a path), fault specs (text form
:func:`neurosim.parse_fault`, TOML :func:`neurosim.faults.load_faults_toml`) and
sweep files (:func:`neurosim.sweep.load_sweep`, :func:`neurosim.sweep.verify_sweep`).
Inputs: arbitrary bytes, and valid files with random bytes overwritten
(HDF5) or random edits (TOML, text). Property: the reader returns normally or
raises a :class:`~neurosim.errors.NeurosimError` — never any other exception.
Example counts are bounded (``FUZZ_EXAMPLES``, default 40 per reader) so CI
stays fast; ``NEUROSIM_FUZZ_EXAMPLES=2000`` runs a long campaign
(docs/reliability.md records one).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import neurosim as ns  # noqa: E402
from neurosim.errors import NeurosimError  # noqa: E402
from neurosim.faults import load_faults_toml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_mlp.h5"
FUZZ_EXAMPLES = int(os.environ.get("NEUROSIM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_DIR = Path(tempfile.mkdtemp(prefix="neurosim-fuzz-"))


def _sweep_file() -> bytes:
    p = _DIR / "valid_sweep.h5"
    if not p.exists():
        net = ns.load_network(DIGITS)
        x = ns.io.load_bundled_data(DIGITS)[0][:6]
        ctx = ns.sweep.build_context(net, x, faults=["neuron:transient"], rates=[0.01, 0.1], n_chips=2, seed=1)
        ns.sweep.run_sweep(ctx, p, progress=False)
    return p.read_bytes()


def _profile_text() -> str:
    from neurosim.chip.profile import list_profiles

    name = list_profiles()[0]
    prof = ns.load_profile(name)
    return Path(prof.path).read_text() if getattr(prof, "path", None) else 'name = "x"\n'


FAULT_TOML = ('[[fault]]\nsite = "neuron"\nmode = "permanent"\nrate = 0.01\nlayers = [1, 2]\ngroup = 2\n'
              '[[fault]]\nsite = "synapse"\nmode = "intermittent"\nrate = 0.05\np_on = 0.1\np_off = 0.5\n')


def _write(data: bytes, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(suffix=suffix, dir=_DIR)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b)


def _only_neurosim_errors(fn, path):
    try:
        fn(path)
    except NeurosimError:
        pass
    finally:
        Path(path).unlink(missing_ok=True)


EDITS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=24)


# ----------------------------------------------------------------------------- model files
def _read_model(p):
    net = ns.load_network(p)
    ns.io.load_bundled_data(p)
    return net


@FUZZ
@given(st.binary(max_size=4096))
def test_model_reader_on_arbitrary_bytes(data):
    _only_neurosim_errors(_read_model, _write(data, ".h5"))


@FUZZ
@given(EDITS)
def test_model_reader_on_mutated_valid_files(edits):
    _only_neurosim_errors(_read_model, _write(_mutate(DIGITS.read_bytes(), edits), ".h5"))


@FUZZ
@given(st.integers(0, 2**31), st.integers(1, 64))
def test_model_reader_on_truncated_files(cut, _):
    data = DIGITS.read_bytes()
    _only_neurosim_errors(_read_model, _write(data[: cut % len(data)], ".h5"))


# ----------------------------------------------------------------------------- profiles
@FUZZ
@given(st.binary(max_size=2048))
def test_profile_reader_on_arbitrary_bytes(data):
    _only_neurosim_errors(ns.load_profile, _write(data, ".toml"))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**31), st.sampled_from(list('=[]"\n#.-0123456789eE ,{}xa'))),
                min_size=1, max_size=12))
def test_profile_reader_on_mutated_valid_profiles(edits):
    text = list(_profile_text())
    for pos, ch in edits:
        text[pos % len(text)] = ch
    _only_neurosim_errors(ns.load_profile, _write("".join(text).encode(), ".toml"))


# ----------------------------------------------------------------------------- fault specs
@FUZZ
@given(st.text(max_size=80))
def test_fault_text_parser_on_arbitrary_text(text):
    try:
        ns.parse_fault(text)
    except NeurosimError:
        pass


@FUZZ
@given(st.lists(st.sampled_from(["neuron", "synapse", "core", "router", "permanent", "transient", "intermittent",
                                 "0.1", "1e-3", "-1", "nan", "inf", "2", "layers=1,2", "layers=1.7", "group=2.9",
                                 "group=3", "value=max", "p_on=0.1", "p_off=2", "duty=0.5", "", "=", "x=y"]),
                min_size=1, max_size=7))
def test_fault_text_parser_on_spec_like_text(parts):
    try:
        ns.parse_fault(":".join(parts))
    except NeurosimError:
        pass


@FUZZ
@given(st.binary(max_size=1024))
def test_fault_toml_reader_on_arbitrary_bytes(data):
    _only_neurosim_errors(load_faults_toml, _write(data, ".toml"))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 2**31), st.sampled_from(list('=[]"\n#.-0123456789 ,{}abc'))),
                min_size=1, max_size=10))
def test_fault_toml_reader_on_mutated_valid_files(edits):
    text = list(FAULT_TOML)
    for pos, ch in edits:
        text[pos % len(text)] = ch
    _only_neurosim_errors(load_faults_toml, _write("".join(text).encode(), ".toml"))


# ----------------------------------------------------------------------------- sweep files
def _read_sweep(p):
    ns.sweep.verify_sweep(p)
    ns.sweep.load_sweep(p)


@FUZZ
@given(st.binary(max_size=4096))
def test_sweep_reader_on_arbitrary_bytes(data):
    _only_neurosim_errors(_read_sweep, _write(data, ".h5"))


@FUZZ
@given(EDITS)
def test_sweep_reader_on_mutated_valid_files(edits):
    _only_neurosim_errors(_read_sweep, _write(_mutate(_sweep_file(), edits), ".h5"))


def test_mutations_of_the_sweep_file_are_caught_not_ignored():
    """A byte flipped in a dataset's stored data is reported (checksums), not read back as a valid sweep."""
    import h5py

    data = _sweep_file()
    p = _write(data, ".h5")
    with h5py.File(p, "r") as f:
        off = f["summary/rms"].id.get_offset()
    b = bytearray(data)
    b[off] ^= 0x40
    p.write_bytes(bytes(b))
    with pytest.raises(NeurosimError, match="checksum"):
        _read_sweep(p)
