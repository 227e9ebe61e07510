"""Install anywhere: profiles as package data, user profile folders, metadata per Python, a non-editable wheel.

The wheel test builds the project (no build isolation: setuptools comes with the
``dev`` extra), installs it with ``--target`` into a temporary folder and runs
``neurosim`` from ``/tmp`` with that folder alone on ``sys.path``: profile names
must resolve to files inside the installed package.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from neurosim import ConfigError, list_profiles, load_profile
from neurosim.chip.profile import PROFILE_DIR, PROFILE_PATH_ENV, profile_sources
from conftest import ROOT, tiny_profile_dict
from test_profiles_mapping import dump_toml

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SHIPPED = {"ideal", "loihi", "pcm", "rram", "truenorth"}


# ----------------------------------------------------------------------------- package data
def test_profiles_live_in_the_package_and_hwprofiles_only_points_there():
    assert PROFILE_DIR == ROOT / "neurosim" / "chip" / "profiles"
    assert SHIPPED <= {p.stem for p in PROFILE_DIR.glob("*.toml")}
    stray = sorted(p.name for p in (ROOT / "hwprofiles").iterdir() if p.name != "README.md")
    assert not stray, f"hwprofiles/ holds {stray}: move profiles to neurosim/chip/profiles/ (the package ships only those)"
    assert "neurosim/chip/profiles" in (ROOT / "hwprofiles" / "README.md").read_text(encoding="utf-8")


def test_profile_sources_name_where_each_profile_comes_from(monkeypatch):
    monkeypatch.delenv(PROFILE_PATH_ENV, raising=False)
    srcs = profile_sources()
    assert [e["name"] for e in srcs] == list_profiles() == sorted(e["name"] for e in srcs)
    for e in srcs:
        assert e["source"] == "shipped" and Path(e["path"]).parent == PROFILE_DIR and e["shadows"] is None
        assert load_profile(e["name"]).path == e["path"]


def test_user_profile_folder_by_environment_variable(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "mychip.toml").write_text(dump_toml(tiny_profile_dict(chip__name="mychip")), encoding="utf-8")
    (b / "mychip.toml").write_text(dump_toml(tiny_profile_dict(chip__name="other", core__crossbar_rows=9)),
                                   encoding="utf-8")
    (b / "rram.toml").write_text(dump_toml(tiny_profile_dict(chip__name="rram", core__crossbar_rows=7)),
                                 encoding="utf-8")
    monkeypatch.setenv(PROFILE_PATH_ENV, os.pathsep.join([str(a), str(b)]))
    assert "mychip" in list_profiles()
    assert load_profile("mychip").crossbar_rows == 3          # first folder wins
    assert load_profile("rram").crossbar_rows == 7            # a user profile shadows the shipped one ...
    entry = {e["name"]: e for e in profile_sources()}["rram"]
    assert entry["source"] == "user" and entry["shadows"] == str(PROFILE_DIR / "rram.toml")  # ... visibly
    monkeypatch.setenv(PROFILE_PATH_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=PROFILE_PATH_ENV):
        list_profiles()


def test_profiles_command_shows_sources(tmp_path, monkeypatch, capsys):
    from neurosim.cli.main import main

    (tmp_path / "mine.toml").write_text(dump_toml(tiny_profile_dict(chip__name="mine")), encoding="utf-8")
    monkeypatch.setenv(PROFILE_PATH_ENV, str(tmp_path))
    assert main(["profiles", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["result"]
    assert res["sources"]["mine"] == {"source": "user", "path": str(tmp_path / "mine.toml"), "shadows": None}
    assert res["sources"]["rram"]["source"] == "shipped"
    assert main(["profiles"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^mine .* user .*mine\.toml$", out, re.M) and re.search(r"^rram .* shipped ", out, re.M)


# ----------------------------------------------------------------------------- metadata
def test_metadata_supports_python_311_to_313_with_markers():
    proj = PYPROJECT["project"]
    assert proj["requires-python"] == ">=3.11"
    assert proj["license"] == "MIT" and proj["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    extras = proj["optional-dependencies"]
    spiking = " ".join(extras["spiking"])
    for ver, py in (("2.9.0", "=='3.11'"), ("2.10.1", "=='3.12'"), ("2.11.0", ">='3.13'")):
        assert f"brian2=={ver}; python_version{py}" in spiking
    assert extras["torch"] == ["torch==2.13.0; python_version=='3.11'"]
    assert extras["nir"] == ["nir==1.0.8"]
    dev = " ".join(extras["dev"])
    assert "pytest" in dev and "hypothesis" in dev
    for extra in extras:
        if extra != "dev":
            assert extra in dev, f"the dev extra (what the suite installs) must pull the '{extra}' extra"


def test_optional_dependencies_installed():
    """A missing optional dependency in the test environment is a CI bug, not a skip (torch: Python 3.11 only)."""
    import importlib

    for mod in ("brian2", "nir", "onnx", "hypothesis", "setuptools"):
        importlib.import_module(mod)
    if sys.version_info[:2] == (3, 11):
        importlib.import_module("torch")


def test_brian2_is_the_newest_for_this_python():
    from importlib.metadata import version

    want = {(3, 11): "2.9.0", (3, 12): "2.10.1", (3, 13): "2.11.0"}.get(sys.version_info[:2])
    assert want is None or version("brian2") == want


# ----------------------------------------------------------------------------- a real non-editable install
@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out),
                        str(ROOT)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (whl,) = out.glob("neurosim_faults-*.whl")
    return whl, r.stdout + r.stderr


def test_wheel_builds_without_warnings_and_ships_profiles_and_license(wheel):
    whl, log = wheel
    noise = [l for l in log.splitlines() if re.search(r"deprecat|SetuptoolsWarning|BuildBackendWarning|license", l, re.I)
             and "Location 'file:" not in l]
    assert not noise, "build warnings:\n" + "\n".join(noise)
    names = set(zipfile.ZipFile(whl).namelist())
    for n in SHIPPED:
        assert f"neurosim/chip/profiles/{n}.toml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "scripts/", "hwprofiles/", "examples/")) for n in names)


def test_non_editable_install_finds_profiles_by_name_from_anywhere(wheel, tmp_path):
    whl, _ = wheel
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target", str(target),
                        str(whl)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    code = ("import sys, json; from neurosim.cli.main import main; import neurosim;"
            "print(neurosim.__file__); sys.exit(main(['map', sys.argv[1], '--profile', 'rram', '--json']))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", PROFILE_PATH_ENV)}
    env["PYTHONPATH"] = str(target)
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "examples" / "digits_mlp.h5")], cwd="/tmp", env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    first, rest = r.stdout.split("\n", 1)
    assert first.startswith(str(target)), f"imported {first}, not the installed copy"
    doc = json.loads(rest)
    assert doc["profile"] == "rram" and doc["result"]["tiles"] >= 1
    r = subprocess.run([sys.executable, "-c", "from neurosim.chip.profile import profile_sources as s; "
                        "import json; print(json.dumps(s()))"], cwd="/tmp", env=env, capture_output=True, text=True)
    srcs = json.loads(r.stdout)
    assert SHIPPED <= {e["name"] for e in srcs}
    assert all(e["path"].startswith(str(target)) for e in srcs)
