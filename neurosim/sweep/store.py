r"""The sweep file: configuration, part files, lock, atomic assembly (reading: :mod:`.read`).

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
from pathlib import Path

import h5py
import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError, FileFormatError
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


def _dataset_sha(arr: np.ndarray) -> str:
    """sha256 of a dataset's values (strings by their text, numbers by their bytes)."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "O":
        h = hashlib.sha256(str(arr.shape).encode())
        for v in arr.ravel():
            h.update((v.decode() if isinstance(v, bytes) else str(v)).encode() + b"\0")
        return h.hexdigest()
    return _sha(arr)


def _seal(f, skip=("raw/delta",)):
    """Store a sha256 attribute on every dataset of ``f`` (except ``skip``: per-point checksums)."""
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name not in skip:
            obj.attrs["sha256"] = _dataset_sha(obj[()])
    f.visititems(visit)


def verify_sweep(path, raw: bool = True) -> int:
    """Check every dataset of a sweep file against its stored sha256; return the number checked.

    Raw Δ is checked point by point against ``raw/point_sha256`` (``raw=False`` skips it).
    Raises :class:`~neurosim.errors.FileFormatError` naming the first damaged dataset.
    """
    from ..io.h5util import damaged, open_for_read

    bad = []
    n = [0]

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset) or name == "raw/delta" or bad:
            return
        want = obj.attrs.get("sha256")
        if want is None:
            return
        want = want.decode() if isinstance(want, bytes) else str(want)
        n[0] += 1
        if _dataset_sha(obj[()]) != want:
            bad.append(name)

    with open_for_read(path, SWEEP_KIND, SWEEP_VERSION) as f, damaged(path, "sweep"):
        try:
            f.visititems(visit)
            if raw and not bad and "raw/point_sha256" in f and "raw/delta" in f:
                shas = f["raw/point_sha256"][()]
                d, r = f["raw/delta"], f["raw/row"]
                for i in range(d.shape[0]):
                    want = shas[i].decode() if isinstance(shas[i], bytes) else str(shas[i])
                    if want and _sha(d[i], r[i]) != want:
                        bad.append(f"raw/delta[{i}]")
                        break
                    n[0] += 1
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise FileFormatError(f"'{path}' is a damaged sweep file ({str(exc).splitlines()[0]}); "
                                  "delete it and re-run the sweep.") from None
    if bad:
        raise FileFormatError(f"'{path}': dataset '{bad[0]}' fails its sha256 checksum (the file was altered or "
                              "corrupted on disk); delete it and re-run the sweep (its part files are gone once complete).")
    return n[0]


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
    if grid.devices:  # noise points: JSON of each point's axis values, and each grid point's noise point
        g.create_dataset("devices", data=np.array([json.dumps(d, sort_keys=True) for d in grid.devices], dtype=object),
                         dtype=h5py.string_dtype())
        pt.create_dataset("device", data=np.array([grid.noise(i) for i in range(N)], dtype=np.int64))
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
            for name, data in (("summary_f8", f8), ("summary_i8", i8), ("raw_delta", result["raw_delta"]),
                               ("raw_row", result["raw_row"])):
                ds = f.create_dataset(name, data=data)
                ds.attrs["sha256"] = _sha(data)  # verified on resume (scan) and when copied (read_raw)
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
                    f8, i8 = _verified(f, "summary_f8"), _verified(f, "summary_i8")
                    _verified(f, "raw_delta")
                    _verified(f, "raw_row")
                    summ = unpack_summary(f8, i8, fields)
                done[i] = summ
            except (OSError, ValueError, KeyError, TypeError) as exc:
                broken.append((p, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
        return done, broken

    def read_raw(self, i: int):
        with h5py.File(self.path(i), "r") as f:
            return _verified(f, "raw_delta"), _verified(f, "raw_row")


class ChecksumError(ValueError):
    """A dataset's bytes do not match the sha256 stored with it."""


def _verified(f, name: str) -> np.ndarray:
    """Read dataset ``name`` and check it against its stored sha256 (:class:`ChecksumError` if it differs)."""
    ds = f[name]
    if not isinstance(ds, h5py.Dataset):
        raise KeyError(f"'{name}' is not a dataset")
    data = np.array(ds[()])
    want = ds.attrs.get("sha256")
    want = want.decode() if isinstance(want, bytes) else want
    if want is None:
        raise ChecksumError(f"'{name}' has no sha256 checksum")
    if _sha(data) != want:
        raise ChecksumError(f"checksum mismatch in '{name}' (the file was altered or the disk corrupted it)")
    return data


def _inspect_existing(out: Path):
    """``(config, status, n_complete)`` of an existing sweep file; raises for a foreign/unreadable file."""
    from ..io.h5util import damaged, open_for_read, read_json_attr

    try:
        f = open_for_read(out, SWEEP_KIND, SWEEP_VERSION)
    except FileFormatError as exc:
        raise FileFormatError(f"{exc} It is left untouched (even with --force); choose another -o.") from None
    with f, damaged(out, "sweep"):
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


def _early_alloc():
    """Dataset creation properties with early space allocation (chunk addresses fixed when created)."""
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
    return dcpl


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
        self.shas = [""] * N
        rg = self.f.create_group("raw")
        rg.attrs["rule"] = RAW_SUBSAMPLE_RULE if K < ctx.rows_per_point else "all rows (chip-major)"
        if K > 0:
            chunk_rows = max(1, min(K, (1 << 20) // (8 * n_out)))
            # chunk space allocated at creation: the file's bytes do not depend on the order points complete in
            self.delta = rg.create_dataset("delta", shape=(N, K, n_out), dtype=np.float64, chunks=(1, chunk_rows, n_out),
                                           dcpl=_early_alloc())
            self.row = rg.create_dataset("row", shape=(N, K), dtype=np.int64, chunks=(1, K), dcpl=_early_alloc())
        else:
            self.delta = rg.create_dataset("delta", shape=(N, 0, n_out), dtype=np.float64)
            self.row = rg.create_dataset("row", shape=(N, 0), dtype=np.int64)
            self.delta = self.row = None

    def put(self, i: int, delta: np.ndarray, row: np.ndarray):
        if self.delta is not None:
            self.delta[i] = delta
            self.row[i] = row
            self.shas[i] = _sha(np.asarray(delta, dtype=np.float64), np.asarray(row, dtype=np.int64))

    def finish(self, out: Path, fill):
        fill(self.f)
        if self.delta is not None:
            self.f["raw"].create_dataset("point_sha256", data=np.array(self.shas, dtype=object),
                                         dtype=h5py.string_dtype())
        _seal(self.f)
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
