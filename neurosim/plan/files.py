"""Deployment plan files: ``PLAN_DIR/plan.json`` + ``PLAN_DIR/plan.h5`` (versioned).

See ``docs/plan-format.md`` for every field. In short:

* ``plan.json`` — the human- and machine-readable plan (R, q from both routes,
  tails, verification, mapping totals, hashes). Its last field ``digest``
  holds the SHA-256 of the canonical JSON of every other field
  (``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
  allow_nan=False)`` in UTF-8), and ``files["plan.h5"]`` the SHA-256 of
  ``plan.h5`` and of each of its datasets.
* ``plan.h5`` (``neurosim_type="plan"``) — the per-replica mapping with the
  quantised weights (one ``/mapping`` group: all replicas are identical), the
  evaluation inputs, the clean outputs and the raw per (chip, input) outcomes
  behind every number in ``plan.json``.

The digests detect accidental or naive edits (and truncation), not a
deliberate forgery: anyone can recompute a SHA-256. Sign the folder if that
matters.

Writing is all-or-nothing: both files go to a temporary folder next to
``PLAN_DIR``, which is renamed to ``PLAN_DIR`` at the end; an existing
non-empty ``PLAN_DIR`` is refused.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import ConfigError, FileFormatError
from ..io.h5util import atomic_dir, check_new_dir, header_attrs, open_for_read, to_jsonable
from ..io.mapping_io import read_mapping_group, write_mapping_group

PLAN_VERSION = 1
JSON_NAME = "plan.json"
H5_NAME = "plan.h5"
MD_NAME = "plan.md"
KIND = "plan"
FORMAT = "neurosim-plan"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

__all__ = [
    "PLAN_VERSION", "JSON_NAME", "H5_NAME", "PlanCheckError", "LoadedPlan",
    "sha256_file", "weights_sha256", "dataset_sha256", "canonical_json", "content_digest",
    "model_info", "check_output_dir", "write_plan", "read_plan",
]


class PlanCheckError(FileFormatError):
    """A plan folder is damaged, tampered with, or does not reproduce."""


# --------------------------------------------------------------------------- hashing
def sha256_file(path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_sha256(arr) -> str:
    """SHA-256 of an array: ``dtype.str + "|" + shape + "|"`` in ASCII, then the C-order bytes."""
    a = np.ascontiguousarray(np.asarray(arr))
    h = hashlib.sha256(f"{a.dtype.str}|{tuple(int(s) for s in a.shape)}|".encode("ascii"))
    h.update(a.tobytes())
    return h.hexdigest()


def weights_sha256(net) -> str:
    """SHA-256 of a network's content, independent of the file it came from.

    Per layer ``l = 1..L`` in order: the activation name in UTF-8 and ``"|"``,
    then ``dataset_sha256`` of ``W_l`` and of ``b_l`` (float64) as ASCII hex.
    """
    h = hashlib.sha256()
    for W, b, a in zip(net.weights, net.biases, net.activations):
        h.update(f"{a}|".encode())
        h.update(dataset_sha256(np.asarray(W, dtype=np.float64)).encode("ascii"))
        h.update(dataset_sha256(np.asarray(b, dtype=np.float64)).encode("ascii"))
    return h.hexdigest()


def canonical_json(doc: dict) -> bytes:
    """Canonical UTF-8 JSON: sorted keys, no whitespace, no NaN/inf."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def content_digest(doc: dict) -> str:
    """SHA-256 of the canonical JSON of ``doc`` without its ``digest`` field."""
    body = {k: v for k, v in doc.items() if k != "digest"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def model_info(path, net) -> dict:
    """``model`` block of plan.json: where the model came from and its two hashes."""
    p = Path(path)
    return {"path": str(path), "abspath": str(p.resolve()), "sha256_file": sha256_file(p),
            "sha256_weights": weights_sha256(net), "name": net.name, "sizes": list(net.sizes),
            "activations": list(net.activations)}


# --------------------------------------------------------------------------- writing
def check_output_dir(out) -> Path:
    """Refuse an existing non-empty (or non-folder) PLAN_DIR and a missing parent, before any work."""
    return check_new_dir(out, "Plan")


def _write_h5(path: Path, plan) -> None:
    with h5py.File(path, "w") as f:
        for k, v in header_attrs(KIND, PLAN_VERSION).items():
            f.attrs[k] = v
        f.attrs["R"] = int(plan.doc["replicas"]["R"])
        f.attrs["replicas_identical"] = True
        g = f.create_group("mapping")
        g.attrs["replicas"] = "every replica uses this mapping (identical chips; faults differ per chip)"
        write_mapping_group(g, plan.mapping)
        for name, arr in sorted(plan.arrays.items()):
            f.create_dataset(name, data=np.asarray(arr))


def _h5_hashes(f) -> dict:
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = dataset_sha256(obj[()])

    f.visititems(visit)
    return dict(sorted(out.items()))


def write_plan(plan, out_dir) -> dict:
    """Write ``plan`` (a :class:`~neurosim.plan.PlanBuild`) to ``out_dir``; returns the final document.

    Both files are written into a temporary folder next to ``out_dir`` that
    is renamed at the end: either the complete plan appears or nothing.
    """
    with atomic_dir(out_dir, "Plan") as tmp:
        doc = dict(plan.doc)
        doc["format"] = FORMAT
        doc["format_version"] = PLAN_VERSION
        doc.pop("digest", None)
        doc.pop("files", None)
        h5 = tmp / H5_NAME
        _write_h5(h5, plan)
        with h5py.File(h5, "r") as f:
            ds = _h5_hashes(f)
        doc["inputs"] = dict(doc.get("inputs", {}), sha256=dataset_sha256(plan.inputs))
        doc = to_jsonable(doc)
        files = {H5_NAME: {"sha256": sha256_file(h5), "datasets": ds,
                           "dataset_hash": "sha256(dtype.str|shape| + C-order bytes)"}}
        files.update(_write_deliverables(tmp, plan, doc))
        doc["files"] = files
        doc["digest"] = {"algorithm": "sha256",
                         "scope": "canonical JSON (sorted keys, no whitespace, UTF-8) of every field except 'digest'",
                         "value": content_digest(doc)}
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        (tmp / JSON_NAME).write_text(text, encoding="utf-8")
    return doc


def _write_deliverables(tmp: Path, plan, doc: dict) -> dict:
    """plan.md, acceptance/ and programming/ (``docs/plan-format.md``); returns their ``files`` entries."""
    from .criteria import parse_failure
    from .deliver import ACCEPT_FILE, write_acceptance, write_programming
    from .summary_md import render_plan_md

    crit = parse_failure(doc["target"]["criterion"])
    write_acceptance(tmp / ACCEPT_FILE, plan.inputs, plan.arrays["clean"], plan.labels, crit,
                     plan.arrays["surrogate_eps"], doc["acceptance"])
    names = [ACCEPT_FILE] + write_programming(tmp / "programming", plan.mapping, doc["replicas"]["R"])
    (tmp / MD_NAME).write_text(render_plan_md(doc), encoding="utf-8")
    return {n: {"sha256": sha256_file(tmp / n)} for n in [MD_NAME] + names}


def check_deliverable_hashes(d: Path, doc: dict) -> list:
    """Problems with the files plan.json lists besides plan.h5 (missing, changed, unlisted)."""
    probs = []
    listed = {k for k in doc["files"] if k != H5_NAME}
    for name in sorted(listed):
        p = d / name
        if not p.is_file():
            probs.append(f"'{name}' is missing")
        elif sha256_file(p) != doc["files"][name]["sha256"]:
            probs.append(f"'{name}' was modified after the plan was written (SHA-256 differs)")
    for sub in ("acceptance", "programming"):
        for p in sorted((d / sub).glob("*")) if (d / sub).is_dir() else []:
            if f"{sub}/{p.name}" not in listed:
                probs.append(f"'{sub}/{p.name}' is not part of the plan")
    return probs


# --------------------------------------------------------------------------- reading
@dataclass
class LoadedPlan:
    """A plan read back: ``doc`` (plan.json), ``arrays`` (plan.h5 datasets by path), ``mapping``."""

    path: Path
    doc: dict
    arrays: dict
    mapping: object
    h5_hashes: dict = field(default_factory=dict)
    h5_sha256: str = ""

    @property
    def inputs(self) -> np.ndarray:
        return self.arrays["inputs/x"]

    @property
    def labels(self):
        return self.arrays.get("inputs/labels")


_NUM = (int, float)
# (dotted path, allowed types, extra check or None, what it must be)
_SCHEMA = [
    ("format", str, lambda v: v == FORMAT, f"'{FORMAT}'"),
    ("format_version", int, lambda v: 1 <= v <= PLAN_VERSION, f"an integer in 1..{PLAN_VERSION}"),
    ("neurosim_version", str, None, "a string"),
    ("model", dict, None, "an object"),
    ("model.path", str, None, "a string"),
    ("model.sha256_file", str, lambda v: bool(_HEX64.match(v)), "64 hex digits"),
    ("model.sha256_weights", str, lambda v: bool(_HEX64.match(v)), "64 hex digits"),
    ("model.sizes", list, None, "a list"),
    ("profile", dict, None, "an object"),
    ("profile.name", str, None, "a string"),
    ("faults", list, lambda v: len(v) > 0, "a non-empty list"),
    ("inputs", dict, None, "an object"),
    ("inputs.n_inputs", int, lambda v: v >= 1, "an integer >= 1"),
    ("inputs.sha256", str, lambda v: bool(_HEX64.match(v)), "64 hex digits"),
    ("target.eps", (int, float, type(None)), lambda v: v is None or v > 0, "a number > 0 or null"),
    ("target.criterion", str, None, "a string"),
    ("verdict", str, lambda v: v in ("meets_target", "not_confirmed", "infeasible", "fails_target"),
     "one of meets_target, not_confirmed, infeasible, fails_target"),
    ("verdict_detail", dict, None, "an object"),
    ("target.delta", _NUM, lambda v: 0 < v < 1, "a number in (0, 1)"),
    ("target.confidence", _NUM, lambda v: 0 < v < 1, "a number in (0, 1)"),
    ("target.aggregation", str, lambda v: v == "component-wise median", "'component-wise median'"),
    ("seed", int, lambda v: v >= 0, "an integer >= 0"),
    ("replicas.R", int, lambda v: v >= 1 and v % 2 == 1, "an odd integer >= 1"),
    ("replicas.rule", str, lambda v: v in ("componentwise", "copywise"), "'componentwise' or 'copywise'"),
    ("replicas.tail", _NUM, lambda v: 0 <= v <= 1, "a probability"),
    ("replicas.tail_point", _NUM, lambda v: 0 <= v <= 1, "a probability"),
    ("replicas.tails_at_R", dict, None, "an object"),
    ("replicas.R_by_model", dict, None, "an object"),
    ("replicas.paper.R", int, None, "an integer"),
    ("replicas.paper.valid", bool, lambda v: v is False, "false"),
    ("replicas.paper.note", str, None, "a string"),
    ("q.simulation.n_chips", int, lambda v: v >= 2, "an integer >= 2"),
    ("q.simulation.q", _NUM, lambda v: 0 <= v <= 1, "a probability"),
    ("q.simulation.q_upper", _NUM, lambda v: 0 <= v <= 1, "a probability"),
    ("q.simulation.seeds", list, None, "a list"),
    ("q.simulation.chips_per_call", int, lambda v: v >= 1, "an integer >= 1"),
    ("q.bound.available", bool, None, "a boolean"),
    ("verification.independent.groups", int, lambda v: v >= 1, "an integer >= 1"),
    ("verification.independent.R", int, None, "an integer"),
    ("verification.independent.chips_per_call", int, lambda v: v >= 1, "an integer >= 1"),
    ("verification.independent.median_failures.k", int, lambda v: v >= 0, "an integer >= 0"),
    ("verification.independent.median_failures.n", int, lambda v: v >= 1, "an integer >= 1"),
    ("verification.independent.consistent", bool, None, "a boolean"),
    ("verification.common_cause", (dict, type(None)), None, "an object or null"),
    ("mapping.per_replica", dict, None, "an object"),
    ("mapping.replicas_identical", bool, None, "a boolean"),
    ("mapping.totals.chips", int, None, "an integer"),
    ("mapping.totals.cores", int, None, "an integer"),
    ("mapping.totals.synapses", int, None, "an integer"),
    ("files.plan.h5.sha256", str, lambda v: bool(_HEX64.match(v)), "64 hex digits"),
    ("files.plan.h5.datasets", dict, None, "an object"),
    ("digest.algorithm", str, lambda v: v == "sha256", "'sha256'"),
    ("digest.value", str, lambda v: bool(_HEX64.match(v)), "64 hex digits"),
]


def _get(doc, dotted):
    cur = doc
    parts = dotted.split(".")
    i = 0
    while i < len(parts):
        key = parts[i]
        # file names contain a dot ("plan.h5")
        if i + 1 < len(parts) and isinstance(cur, dict) and f"{key}.{parts[i + 1]}" in cur:
            key = f"{key}.{parts[i + 1]}"
            i += 1
        if not isinstance(cur, dict) or key not in cur:
            raise KeyError(dotted)
        cur = cur[key]
        i += 1
    return cur


def validate_schema(doc) -> list:
    """Problems (one line each) with the structure of a plan.json document; empty when valid."""
    if not isinstance(doc, dict):
        return ["plan.json must hold a JSON object"]
    problems = []
    for path, types, extra, what in _SCHEMA:
        try:
            v = _get(doc, path)
        except KeyError:
            problems.append(f"field '{path}' is missing")
            continue
        t = types if isinstance(types, tuple) else (types,)
        ok = isinstance(v, t) and not (isinstance(v, bool) and bool not in t)
        if ok and extra is not None:
            try:
                ok = bool(extra(v))
            except Exception:  # noqa: BLE001 - a malformed value is a schema problem
                ok = False
        if not ok:
            problems.append(f"field '{path}' must be {what}; got {v!r}"[:200])
    if doc.get("spiking") is not None:
        from .spiking import problems as spiking_problems

        problems += spiking_problems(doc["spiking"])
    if not problems:
        from ..faults.spec import FaultSpec

        for i, d in enumerate(doc["faults"]):
            try:
                FaultSpec.from_dict(d)
            except (ConfigError, TypeError, AttributeError) as exc:
                problems.append(f"faults[{i}] is not a valid fault spec: {exc}")
    return problems


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanCheckError(f"'{path}' is missing; a plan folder holds {JSON_NAME} and {H5_NAME}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanCheckError(f"'{path}' is unreadable ({exc}).") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanCheckError(f"'{path}' is not valid JSON ({exc}); the plan is damaged.") from None


def read_plan(plan_dir, verify_hashes: bool = True) -> LoadedPlan:
    """Read a plan folder; with ``verify_hashes`` check the schema, the digest and every plan.h5 hash.

    Raises :class:`PlanCheckError` (a :class:`~neurosim.errors.FileFormatError`)
    with one line on the first problem.
    """
    d = Path(plan_dir)
    if not d.is_dir():
        raise FileFormatError(f"Plan folder not found: '{d}'. Pass the folder written by 'neurosim plan -o'.")
    doc = _read_json(d / JSON_NAME)
    if verify_hashes:
        probs = validate_schema(doc)
        if probs:
            raise PlanCheckError(f"'{d / JSON_NAME}' does not follow the plan format: {probs[0]}"
                                 + (f" (and {len(probs) - 1} more)" if len(probs) > 1 else ""))
        if content_digest(doc) != doc["digest"]["value"]:
            raise PlanCheckError(f"'{d / JSON_NAME}' was modified after it was written: its content digest does not "
                                 "match digest.value.")
    h5p = d / H5_NAME
    with open_for_read(h5p, KIND, PLAN_VERSION) as f:
        try:
            hashes = _h5_hashes(f)
            arrays = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset) and not name.startswith("mapping/"):
                    arrays[name] = np.array(obj[()])

            f.visititems(visit)
            mapping = read_mapping_group(f["mapping"])
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise PlanCheckError(f"'{h5p}' is damaged ({exc}); re-create the plan.") from None
    file_hash = sha256_file(h5p)
    if verify_hashes:
        want = doc["files"][H5_NAME]
        wds = want["datasets"]
        missing = sorted(set(wds) - set(hashes))
        extra = sorted(set(hashes) - set(wds))
        changed = sorted(k for k in set(wds) & set(hashes) if wds[k] != hashes[k])
        if missing or extra or changed:
            parts = []
            if changed:
                parts.append("changed dataset(s) " + ", ".join(changed))
            if missing:
                parts.append("missing dataset(s) " + ", ".join(missing))
            if extra:
                parts.append("unexpected dataset(s) " + ", ".join(extra))
            raise PlanCheckError(f"'{h5p}' does not match plan.json: " + "; ".join(parts) + ".")
        if file_hash != want["sha256"]:
            raise PlanCheckError(f"'{h5p}' was modified after it was written (file SHA-256 differs; every dataset "
                                 "matches, so attributes or layout changed).")
        if dataset_sha256(arrays.get("inputs/x", np.zeros(0))) != doc["inputs"]["sha256"]:
            raise PlanCheckError(f"'{h5p}': the stored inputs do not match inputs.sha256 of plan.json.")
    return LoadedPlan(d, doc, arrays, mapping, hashes, file_hash)


def _version() -> str:
    from .. import __version__

    return __version__
