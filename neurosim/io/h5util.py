"""Shared HDF5 helpers: atomic writes, header attributes, clear open errors."""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from ..errors import FileFormatError


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import (changing the umask is process-wide)


def header_attrs(kind: str, format_version: int) -> dict:
    """Attributes every neurosim HDF5 file carries (NIR-style self-description)."""
    from .. import __version__

    return {
        "neurosim_type": kind,
        "format_version": int(format_version),
        "neurosim_version": __version__,
    }


def open_for_read(path, kind: str, max_version: int) -> h5py.File:
    """Open ``path`` read-only and check that it is a neurosim file of ``kind``.

    Raises :class:`FileFormatError` with one line for a missing file, a non-HDF5 or
    truncated file, a file of another type, or a newer format version.
    """
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"File not found: '{p}'. Check the path.")
    if p.is_dir():
        raise FileFormatError(f"'{p}' is a directory; expected a neurosim HDF5 {kind} file.")
    try:
        f = h5py.File(p, "r")
    except READ_ERRORS as exc:
        raise FileFormatError(
            f"'{p}' is not a readable HDF5 file (truncated or another format): {_first_line(exc)}."
        ) from None
    try:
        with damaged(p, kind):
            return _check_header(f, p, kind, max_version)
    except BaseException:
        with contextlib.suppress(Exception):
            f.close()
        raise


#: What h5py (and the JSON/NumPy decoding of its contents) raises on a damaged file.
READ_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError, UnicodeError,
               OverflowError, MemoryError)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def damaged(path, kind: str = "neurosim"):
    """Turn any low-level read error inside the block into one :class:`FileFormatError` line.

    neurosim's own errors pass through unchanged (they already say what is wrong).
    """
    from ..errors import NeurosimError

    try:
        yield
    except NeurosimError:
        raise
    except READ_ERRORS as exc:
        raise FileFormatError(f"'{path}' is a damaged {kind} file ({_first_line(exc)}); re-create it with neurosim.") from None


def _check_header(f, p, kind, max_version):
    found = f.attrs.get("neurosim_type")
    if isinstance(found, bytes):
        found = found.decode()
    if found != kind:
        f.close()
        raise FileFormatError(
            f"'{p}' is not a neurosim {kind} file (its type is {found!r}); pass a file written by neurosim."
        )
    if "format_version" not in f.attrs:
        f.close()
        raise FileFormatError(f"'{p}' has no format_version attribute; it was not written by neurosim. Re-create it with neurosim.")
    raw = f.attrs["format_version"]
    version = _as_version(raw)
    if version is None:
        f.close()
        raise FileFormatError(
            f"'{p}' has format_version {raw!r}; it must be an integer 1..{max_version}. Re-create the file with neurosim."
        )
    if not 1 <= version <= max_version:
        f.close()
        raise FileFormatError(
            f"'{p}' has {kind} format version {version}; this neurosim reads versions 1..{max_version}. Upgrade neurosim."
        )
    return f


def _as_version(raw):
    """An HDF5 ``format_version`` attribute as an int, or None if it is not a whole number (e.g. "", "1.0", "one")."""
    if isinstance(raw, np.ndarray):
        if raw.size != 1:
            return None
        raw = raw.reshape(()).item()
    if isinstance(raw, (bool, np.bool_)):
        return None
    if isinstance(raw, (int, np.integer)):
        return int(raw)
    if isinstance(raw, bytes):
        try:
            raw = raw.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def read_array(group, name: str, path, what: str = "dataset", numeric: bool = True) -> np.ndarray:
    """Read dataset ``group[name]`` as float64 after checking it is a plain numeric dataset that fits in memory.

    Refuses (one :class:`FileFormatError` line) a missing entry, a group where a
    dataset is expected, structured / string / compound dtypes, and (via the
    memory model) an array too large to load.
    """
    from .._resources import check_memory

    if name not in group:
        raise FileFormatError(f"'{path}': {what} '{group.name.rstrip('/')}/{name}' is missing; re-create the file with neurosim.")
    ds = group[name]
    where = f"'{path}': {what} '{ds.name}'"
    if not isinstance(ds, h5py.Dataset):
        raise FileFormatError(f"{where} is a group, not a dataset; re-create the file with neurosim.")
    dt = ds.dtype
    if numeric and (dt.fields is not None or dt.kind not in "biuf" or dt.subdtype is not None):
        raise FileFormatError(f"{where} has dtype {dt} but must hold plain numbers (float or int); re-create the file with neurosim.")
    check_memory(float(ds.size) * max(8, dt.itemsize), f"Reading {where} of shape {ds.shape}",
                 "the file declares an array larger than this machine can hold; check that it is the intended model")
    try:
        return np.array(ds[()], dtype=np.float64) if numeric else np.array(ds[()])
    except (OSError, ValueError, TypeError) as exc:
        raise FileFormatError(f"{where} cannot be read ({str(exc).splitlines()[0]}); the file is damaged.") from None


@contextlib.contextmanager
def atomic_h5(path, **h5kw):
    """Write an HDF5 file atomically: a temporary file in the same folder, renamed on success.

    Nothing is left at ``path`` (and an existing file there is untouched) if the
    block raises.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise FileFormatError(f"Output folder '{parent}' does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
    try:
        with h5py.File(tmp, "w", **h5kw) as f:
            yield f
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def to_jsonable(obj):
    """Plain-JSON version of ``obj``: numpy scalars and arrays to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def write_json_attr(obj, name: str, value) -> None:
    """Store a JSON-serialisable value as a string attribute."""
    obj.attrs[name] = json.dumps(value, sort_keys=True)


def read_json_attr(obj, name: str, default=None):
    raw = obj.attrs.get(name)
    if raw is None:
        return default
    if isinstance(raw, bytes):
        raw = raw.decode()
    return json.loads(raw)


def check_new_dir(path, what: str = "Output") -> Path:
    """Refuse an existing non-empty (or non-folder) output folder and a missing parent, before any work."""
    from ..errors import ConfigError

    out = Path(path)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{what} folder '{out}' exists and is not empty; choose a new -o folder.")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Parent folder of '{out}' does not exist; create it first.")
    from .._paths import check_output

    check_output(out, "dir", what=what)  # writable (probed), before any work
    return out


@contextlib.contextmanager
def atomic_dir(path, what: str = "Output"):
    """Fill a new folder atomically: yields a temporary sibling folder renamed to ``path`` on success.

    Either the complete folder appears or nothing does (an empty existing
    folder at ``path`` is replaced).
    """
    import shutil

    out = check_new_dir(path, what)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp creates 0700; give the folder the usual mode, as its files have
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
