"""Docs that run: every code block of README.md and docs/*.md is executed (or skipped by a rule stated here).

- Every fenced block carries a language: ``python``, ``bash``, ``toml`` or ``text``
  (``text`` = program output, synopses with ``[optional]`` brackets, file layouts:
  not code). An untagged block fails the test.
- ``python``: all blocks of one file run in order as one script (later blocks use
  earlier names), in a fresh folder where ``examples/`` and ``scripts/`` point at
  the repository's.
- ``bash``: each block runs with ``bash -euo pipefail`` in such a folder, with this
  Python's ``bin`` first on PATH (``neurosim`` is the installed command), unless a
  line matches one of :data:`SKIP_RULES`, whose reason pytest prints (``-rs``).
- ``toml``: parsed; a ``[[fault]]`` document is loaded with
  ``load_faults_toml`` (against the rram profile, for ``rate = "profile"``) and a
  profile document with ``profile_from_dict``.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
LANGS = ("python", "bash", "toml", "text")
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)

#: (pattern matched against each line of a bash block, reason it is not run here)
SKIP_RULES = [
    (r"scripts/test\.sh", "runs the test suite, which contains this test"),
    (r"scripts/run_example\.sh", "the whole example pipeline at full size (minutes); README's command-line session "
                                 "runs each of its steps at small sizes"),
    (r"^\s*pip install", "installs into the reader's own environment; tests/test_install.py builds the wheel and "
                         "checks a non-editable install instead"),
    (r"scripts/bench_", "a benchmark: minutes of CPU on a shared machine, and its figures are measurements, not "
                        "checks; the numbers are in docs/benchmarks.md with the command"),
    (r"scripts/rram_sa1\.py", "the README's RRAM stuck-at figures at full size (minutes of CPU); the numbers it "
                              "prints are quoted beside the figures"),
    (r"scripts/repro_", "a paper reproduction (minutes of CPU); its printed output is recorded in "
                        "docs/reproductions.md"),
    (r"--chips 1000000\b", "a throughput measurement at full size (10^7 faulty inferences, minutes of CPU); its "
                           "figures are recorded beside it in docs/benchmarks.md"),
]


def _blocks(path: Path):
    text = path.read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        yield m.group(1).strip(), m.group(2), line


ALL = [(p, lang, code, line) for p in DOCS for lang, code, line in _blocks(p)]


def _id(p, line):
    return f"{p.relative_to(ROOT)}:{line}"


def _workdir(tmp_path: Path) -> Path:
    for name in ("examples", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    return tmp_path


def _env():
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env.pop("NEUROSIM_PROFILE_PATH", None)
    return env


def _run(argv, cwd, timeout=900):
    r = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout[-4000:] + r.stderr[-4000:]


def test_docs_exist_and_have_blocks():
    assert (ROOT / "README.md").is_file() and len(DOCS) > 3
    langs = {lang for _, lang, _, _ in ALL}
    assert {"python", "bash", "toml"} <= langs, langs


@pytest.mark.parametrize("path,lang,line", [(p, lang, line) for p, lang, _, line in ALL],
                         ids=[_id(p, line) for p, _, _, line in ALL])
def test_every_block_is_tagged(path, lang, line):
    assert lang in LANGS, (f"{_id(path, line)}: code block tagged {lang!r}; tag it as one of {LANGS} "
                           "(text = output or synopsis, not run)")


PY_FILES = sorted({p for p, lang, _, _ in ALL if lang == "python"})


@pytest.mark.parametrize("path", PY_FILES, ids=[str(p.relative_to(ROOT)) for p in PY_FILES])
def test_python_blocks_run(path, tmp_path):
    parts = [f"# --- {_id(p, line)}\n{code}" for p, lang, code, line in ALL if p == path and lang == "python"]
    script = _workdir(tmp_path) / "doc_blocks.py"
    script.write_text("\n".join(parts), encoding="utf-8")
    code, out = _run([sys.executable, str(script)], tmp_path)
    assert code == 0, f"python blocks of {path.name} failed (exit {code}):\n{out}"


BASH = [(p, code, line) for p, lang, code, line in ALL if lang == "bash"]


def skip_reason(code: str):
    for line in code.splitlines():
        for pattern, reason in SKIP_RULES:
            if re.search(pattern, line):
                return reason
    return None


@pytest.mark.parametrize("path,code,line", BASH, ids=[_id(p, line) for p, _, line in BASH])
def test_bash_block_runs(path, code, line, tmp_path):
    reason = skip_reason(code)
    if reason:
        pytest.skip(f"{_id(path, line)} not run by rule: {reason}")
    script = _workdir(tmp_path) / "block.sh"
    script.write_text(code, encoding="utf-8")
    rc, out = _run(["bash", "-euo", "pipefail", str(script)], tmp_path)
    assert rc == 0, f"bash block {_id(path, line)} failed (exit {rc}):\n{out}"


TOML = [(p, code, line) for p, lang, code, line in ALL if lang == "toml"]


@pytest.mark.parametrize("path,code,line", TOML, ids=[_id(p, line) for p, _, line in TOML])
def test_toml_block_loads(path, code, line, tmp_path):
    from neurosim import load_profile
    from neurosim.chip.profile import profile_from_dict
    from neurosim.faults import load_faults_toml

    doc = tomllib.loads(code)
    if "fault" in doc:
        f = tmp_path / "faults.toml"
        f.write_text(code, encoding="utf-8")
        specs = load_faults_toml(f, profile=load_profile("rram"))
        assert len(specs) == len(doc["fault"])
    elif "chip" in doc:
        assert profile_from_dict(doc, where=_id(path, line)).name == doc["chip"]["name"]
    else:
        pytest.fail(f"{_id(path, line)}: a toml block must be a [[fault]] file or a chip profile")


def test_skip_rules_cover_only_what_they_say():
    # the rules are the only exemptions: each must match some block (no stale rule), and none matches a plain command
    hits = {pattern: False for pattern, _ in SKIP_RULES}
    for _, code, _ in BASH:
        for line in code.splitlines():
            for pattern, _ in SKIP_RULES:
                if re.search(pattern, line):
                    hits[pattern] = True
    assert all(hits.values()), f"skip rules that match no block (remove them): {[k for k, v in hits.items() if not v]}"
    assert skip_reason("neurosim simulate examples/digits_mlp.h5 --fault neuron:transient:0.01") is None
