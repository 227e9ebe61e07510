r"""The sweep file: configuration, part files, lock, atomic assembly, and reading.

Crash safety
------------
The unit of commit is a *part file*: each completed point is written to
``OUT.parts/<config hash>/pNNNNNNN.h5`` (temporary name, fsync, atomic rename).
``OUT`` itself is only ever replaced atomically (rename), so it is readable at
every moment: while the sweep runs it holds the configuration and the summaries
of the points completed so far (``status="partial"``, rewritten at most every
``flush_interval_s``); the complete file (all summaries and raw ``Δ``,
``status="complete"``) is assembled next to the parts while points complete
and renamed onto ``OUT`` at the end, after which the parts are removed. A
killed sweep re-run with the same arguments reuses every part file and
recomputes only the missing points; every value in the final file depends only
on the configuration and the point index, so it equals an uninterrupted
run's. No timestamps are stored.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError, FileFormatError
from ..faults.spec import FaultSpec
from ..network import Network
from .grid import POINT_SEED_RULE, RAW_SUBSAMPLE_RULE, SweepContext, SweepGrid, point_seed, spec_key
from .summary import pack_summary, summary_fields, unpack_summary

SWEEP_KIND = "sweep"
SWEEP_VERSION = 1
_PART_PREFIX = "p"


# ============================================================================ configuration
def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def network_digest(net: Network) -> dict:
    return {"name": net.name, "sizes": list(net.sizes), "activations": list(net.activations),
            "sha256": _sha(*net.weights, *net.biases)}


def sweep_config(net: Network, grid: SweepGrid, targets, x, labels, n_chips, seed, raw_samples,
                 max_chips, levels, confidence) -> dict:
    """The configuration a sweep file is tied to (everything that changes its values)."""
    from .. import __version__

    profs = []
    for name, t in zip(grid.profiles, targets):
        if name is None:
            profs.append(None)
        else:
            d = {k: v for k, v in t.profile.to_dict().items() if k not in ("path", "sources")}
            profs.append({"name": t.profile.name, "sha256": hashlib.sha256(
                json.dumps(d, sort_keys=True, default=str).encode()).hexdigest(),
                "target_sha256": network_digest(t.qnet)["sha256"]})
    return {
        "neurosim_version": __version__,
        "model": network_digest(net),
        "profiles": profs,
        "max_chips": max_chips,
        "faults": [{k: v for k, v in s.to_dict().items() if k != "rate"} for s in grid.specs],
        "fault_keys": [spec_key(s) for s in grid.specs],
        "rates": [float(r) for r in grid.rates],
        "n_chips": int(n_chips),
        "seed": int(seed),
        "inputs": {"n_inputs": int(x.shape[0]), "n_in": int(x.shape[1]), "sha256": _sha(x),
                   "labels_sha256": None if labels is None else _sha(np.asarray(labels))},
        "raw_samples": None if raw_samples is None else int(raw_samples),
        "quantile_levels": [float(q) for q in levels],
        "confidence": float(confidence),
        "point_seed_rule": POINT_SEED_RULE,
        "raw_subsample_rule": RAW_SUBSAMPLE_RULE,
    }


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _config_diff(old: dict, new: dict) -> list:
    keys = sorted(set(old) | set(new))
    return [k for k in keys if old.get(k) != new.get(k)]


# ============================================================================ HDF5 store
def _write_attrs(f, config, chash, status, n_points, n_complete):
    from ..io.h5util import header_attrs, write_json_attr

    for k, v in header_attrs(SWEEP_KIND, SWEEP_VERSION).items():
        f.attrs[k] = v
    write_json_attr(f, "config", config)
    f.attrs["config_sha256"] = chash
    f.attrs["seed"] = str(config["seed"])
    f.attrs["status"] = status
    f.attrs["n_points"] = int(n_points)
    f.attrs["n_complete"] = int(n_complete)


def _write_static(f, ctx: SweepContext, labels, cleans):
    from ..io.mapping_io import write_mapping_group, write_network_group

    grid = ctx.grid
    g = f.create_group("grid")
    g.create_dataset("profiles", data=np.array(["" if p is None else p for p in grid.profiles], dtype=object),
                     dtype=h5py.string_dtype())
    g.create_dataset("specs", data=np.array([spec_key(s) for s in grid.specs], dtype=object),
                     dtype=h5py.string_dtype())
    g.create_dataset("rates", data=np.array(grid.rates, dtype=np.float64))
    N = grid.n_points
    idx = [grid.point(i) for i in range(N)]
    pt = f.create_group("points")
    pt.create_dataset("profile", data=np.array([a for a, _, _ in idx], dtype=np.int64))
    pt.create_dataset("spec", data=np.array([b for _, b, _ in idx], dtype=np.int64))
    pt.create_dataset("rate_index", data=np.array([c for _, _, c in idx], dtype=np.int64))
    pt.create_dataset("rate", data=np.array([grid.rates[c] for _, _, c in idx], dtype=np.float64))
    pt.create_dataset("seed", data=np.array([point_seed(ctx.seed, i) for i in range(N)], dtype=np.uint64))
    inp = f.create_group("inputs")
    inp.create_dataset("x", data=ctx.x)
    if labels is not None:
        inp.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
    tg = f.create_group("targets")
    for k, (name, t) in enumerate(zip(grid.profiles, ctx.targets)):
        gg = tg.create_group(f"{k:03d}")
        gg.attrs["profile"] = "" if name is None else name
        if isinstance(t, ChipMapping):
            gg.attrs["kind"] = "mapping"
            write_mapping_group(gg, t)
        else:
            gg.attrs["kind"] = "network"
            write_network_group(gg.create_group("network"), t)
        gg.create_dataset("clean", data=cleans[k])


def _write_summary(f, ctx: SweepContext, done: dict):
    N = ctx.grid.n_points
    O = ctx.targets[0].qnet.n_out if isinstance(ctx.targets[0], ChipMapping) else ctx.targets[0].n_out
    L = _n_layers(ctx.targets[0])
    fields = summary_fields(ctx.n_chips, O, L + 1, len(ctx.levels))
    complete = np.zeros(N, dtype=bool)
    for i in done:
        complete[i] = True
    f["points"].create_dataset("complete", data=complete)
    sg = f.create_group("summary")
    sg.attrs["quantile_levels"] = np.array(ctx.levels, dtype=np.float64)
    sg.attrs["confidence"] = float(ctx.confidence)
    for name, (shape, dtype, fill) in fields.items():
        arr = np.full((N,) + shape, fill, dtype=dtype)
        for i, summ in done.items():
            arr[i] = summ[name]
        sg.create_dataset(name, data=arr)


def _n_layers(t) -> int:
    return t.qnet.n_layers if isinstance(t, ChipMapping) else t.n_layers


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Parts:
    """The part files of one configuration: ``OUT.parts/<hash[:16]>/pNNNNNNN.h5``."""

    def __init__(self, out: Path, chash: str):
        self.root = out.with_name(out.name + ".parts")
        self.dir = self.root / chash[:16]
        self.chash = chash

    def path(self, i: int) -> Path:
        return self.dir / f"{_PART_PREFIX}{i:07d}.h5"

    def write(self, result: dict, fields: dict):
        i = result["index"]
        final = self.path(i)
        tmp = final.with_name(final.name + ".tmp")
        f8, i8 = pack_summary(result["summary"], fields)
        with h5py.File(tmp, "w") as f:
            f.attrs["config_sha256"] = self.chash
            f.attrs["index"] = i
            f.create_dataset("summary_f8", data=f8)
            f.create_dataset("summary_i8", data=i8)
            f.create_dataset("raw_delta", data=result["raw_delta"])
            f.create_dataset("raw_row", data=result["raw_row"])
        _fsync_file(tmp)
        os.replace(tmp, final)
        _fsync_dir(self.dir)

    def scan(self, n_points: int, fields) -> tuple:
        """Read the summaries of every valid part file -> ``({index: summary}, [broken paths])``."""
        done, broken = {}, []
        if not self.dir.is_dir():
            return done, broken
        for p in sorted(self.dir.glob(f"{_PART_PREFIX}*.h5")):
            try:
                i = int(p.stem[len(_PART_PREFIX):])
                with h5py.File(p, "r") as f:
                    if f.attrs.get("config_sha256") != self.chash or int(f.attrs["index"]) != i or i >= n_points:
                        raise ValueError("foreign part")
                    summ = unpack_summary(f["summary_f8"][()], f["summary_i8"][()], fields)
                    if "raw_delta" not in f or "raw_row" not in f:
                        raise KeyError("raw")
                done[i] = summ
            except (OSError, ValueError, KeyError):
                broken.append(p)
        return done, broken

    def read_raw(self, i: int):
        with h5py.File(self.path(i), "r") as f:
            return np.array(f["raw_delta"][()]), np.array(f["raw_row"][()])


def _inspect_existing(out: Path):
    """``(config, status, n_complete)`` of an existing sweep file; raises for a foreign/unreadable file."""
    from ..io.h5util import open_for_read, read_json_attr

    try:
        f = open_for_read(out, SWEEP_KIND, SWEEP_VERSION)
    except FileFormatError as exc:
        raise FileFormatError(f"{exc} It is left untouched (even with --force); choose another -o.") from None
    with f:
        try:
            config = read_json_attr(f, "config")
            status = f.attrs["status"]
            status = status.decode() if isinstance(status, bytes) else str(status)
            n_complete = int(f.attrs["n_complete"])
        except (KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(f"'{out}' is a damaged sweep file ({exc}); it is left untouched, choose another -o.") from None
    return config, status, n_complete


@contextlib.contextmanager
def _lock(root: Path, out: Path):
    created = not root.exists()
    root.mkdir(exist_ok=True)
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"Another neurosim sweep is writing '{out}' (lock '{root / '.lock'}' is held); wait for it or choose another -o."
            ) from None
        yield created
    finally:
        os.close(fd)


def _cleanup_root(root: Path):
    """Remove ``OUT.parts`` if nothing but the lock file is left."""
    with contextlib.suppress(OSError):
        left = [p for p in root.iterdir() if p.name != ".lock"]
        if not left:
            (root / ".lock").unlink(missing_ok=True)
            root.rmdir()


class _Assembly:
    """The final file, assembled in the background while points complete.

    Lives at ``OUT.parts/<hash>/assembly.h5.tmp`` (a killed run's copy is
    discarded on resume and rebuilt from the part files, which are the only
    crash-safe record). Raw Δ of each point is written into it as soon as the
    point's part file is in place; at the end the summaries are added and the
    file is renamed onto ``OUT``.
    """

    def __init__(self, path: Path, ctx: SweepContext, n_out: int):
        self.path = path
        self.f = h5py.File(path, "w")
        N, K = ctx.grid.n_points, ctx.n_raw
        rg = self.f.create_group("raw")
        rg.attrs["rule"] = RAW_SUBSAMPLE_RULE if K < ctx.rows_per_point else "all rows (chip-major)"
        if K > 0:
            chunk_rows = max(1, min(K, (1 << 20) // (8 * n_out)))
            self.delta = rg.create_dataset("delta", shape=(N, K, n_out), dtype=np.float64, chunks=(1, chunk_rows, n_out))
            self.row = rg.create_dataset("row", shape=(N, K), dtype=np.int64, chunks=(1, K))
        else:
            self.delta = rg.create_dataset("delta", shape=(N, 0, n_out), dtype=np.float64)
            self.row = rg.create_dataset("row", shape=(N, 0), dtype=np.int64)
            self.delta = self.row = None

    def put(self, i: int, delta: np.ndarray, row: np.ndarray):
        if self.delta is not None:
            self.delta[i] = delta
            self.row[i] = row

    def finish(self, out: Path, fill):
        fill(self.f)
        self.f.close()
        self.f = None
        _fsync_file(self.path)
        os.replace(self.path, out)
        _fsync_dir(out.parent if str(out.parent) else Path("."))

    def discard(self):
        with contextlib.suppress(Exception):
            if self.f is not None:
                self.f.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


# ============================================================================ reading
@dataclass(frozen=True, eq=False)
class SweepData:
    """A sweep file in memory (summaries only; raw Δ via :func:`load_raw_delta`)."""

    path: str
    config: dict
    status: str
    profiles: tuple
    specs: tuple
    rates: np.ndarray
    point_profile: np.ndarray
    point_spec: np.ndarray
    point_rate_index: np.ndarray
    point_rate: np.ndarray
    point_seed: np.ndarray
    complete: np.ndarray
    summary: dict
    levels: np.ndarray
    confidence: float
    x: np.ndarray
    labels: np.ndarray | None
    networks: tuple
    """Per profile: the simulated network (the mapping's quantised network, or the float one)."""
    cleans: tuple

    @property
    def n_points(self) -> int:
        return int(self.complete.size)

    def fault_specs(self) -> tuple:
        return tuple(FaultSpec.from_dict({**d, "rate": 0.0}) for d in self.config["faults"])

    def select(self, profile: int, spec: int) -> np.ndarray:
        """Indices of the complete points of (profile, spec), by ascending rate."""
        m = (self.point_profile == profile) & (self.point_spec == spec) & self.complete
        idx = np.flatnonzero(m)
        return idx[np.argsort(self.point_rate[idx], kind="stable")]


def load_sweep(path) -> SweepData:
    """Read a sweep file (complete or partial)."""
    from ..io.h5util import open_for_read, read_json_attr
    from ..io.mapping_io import read_network_group

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f:
        try:
            st = f.attrs["status"]
            status = st.decode() if isinstance(st, bytes) else str(st)
            dec = lambda a: [v.decode() if isinstance(v, bytes) else str(v) for v in a]  # noqa: E731
            sg = f["summary"]
            pts = f["points"]
            nets, cleans = [], []
            for k in sorted(f["targets"].keys()):
                g = f["targets"][k]
                kind = g.attrs["kind"]
                kind = kind.decode() if isinstance(kind, bytes) else str(kind)
                nets.append(read_network_group(g["qnetwork"] if kind == "mapping" else g["network"]))
                cleans.append(np.array(g["clean"][()]))
            return SweepData(
                path=str(path), config=read_json_attr(f, "config"), status=status,
                profiles=tuple(p or None for p in dec(f["grid/profiles"][()])),
                specs=tuple(dec(f["grid/specs"][()])), rates=np.array(f["grid/rates"][()]),
                point_profile=np.array(pts["profile"][()]), point_spec=np.array(pts["spec"][()]),
                point_rate_index=np.array(pts["rate_index"][()]), point_rate=np.array(pts["rate"][()]),
                point_seed=np.array(pts["seed"][()]), complete=np.array(pts["complete"][()]),
                summary={k: np.array(sg[k][()]) for k in sg.keys()},
                levels=np.array(sg.attrs["quantile_levels"]), confidence=float(sg.attrs["confidence"]),
                x=np.array(f["inputs/x"][()]),
                labels=np.array(f["inputs/labels"][()]) if "labels" in f["inputs"] else None,
                networks=tuple(nets), cleans=tuple(cleans),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FileFormatError(f"'{path}' is a damaged sweep file ({exc}); re-run the sweep.") from None


def load_raw_delta(path, index: int):
    """Raw Δ of point ``index`` of a complete sweep file -> ``(delta (K, n_out), row (K,))``.

    ``row = chip * n_inputs + input``; when every row is kept, ``delta`` reshapes
    to ``(n_chips, n_inputs, n_out)``.
    """
    from ..io.h5util import open_for_read

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f:
        if "raw" not in f:
            raise FileFormatError(f"'{path}' is a partial sweep: raw Δ is still in '{path}.parts/'; finish the sweep first.")
        n = f["raw/delta"].shape[0]
        if not 0 <= index < n:
            raise ConfigError(f"Point index must be in 0..{n - 1}. Got {index}.")
        return np.array(f["raw/delta"][index]), np.array(f["raw/row"][index])
