"""Output-path guard: refuse an output that cannot be written before any computation starts.

:func:`check_output` checks, in this order: the path is not a folder when a
file is expected (nor a file when a folder is expected); its folder exists
(for a folder output: it or its parent exists, so it can be created); the
folder accepts new files (probed by creating and removing a temporary file,
which also catches read-only mounts and root-owned folders); and the disk has
room for the estimated output. Every refusal is one
:class:`~neurosim.errors.ConfigError` (or :class:`~neurosim.errors.CapacityError`
for disk space) line naming ``-o``, the path and the fix.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ._resources import fmt_bytes
from .errors import CapacityError, ConfigError

#: Free space kept on the disk on top of the estimated output.
DISK_MARGIN_BYTES = 16 * 2**20


def _probe_writable(folder: Path, name: str, what: str):
    try:
        fd, tmp = tempfile.mkstemp(prefix=".neurosim-probe.", suffix=".tmp", dir=folder)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"{what} '{name}' cannot be written: folder '{folder}' does not accept new files ({reason}); "
            f"choose a writable -o path."
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def check_output(path, kind: str = "file", estimate_bytes: float = 0, what: str = "Output"):
    """Check that ``path`` can receive an output of ``kind`` ("file" or "dir"); return it as a Path.

    ``estimate_bytes``: expected size of what will be written (0 skips the disk check).
    ``None`` passes through (no output requested).
    """
    if path is None:
        return None
    if kind not in ("file", "dir"):
        raise ValueError(f"kind must be 'file' or 'dir', not {kind!r}")
    p = Path(path)
    if not str(path).strip():
        raise ConfigError(f"{what} path '-o' is empty; give a {'file name' if kind == 'file' else 'folder'}.")
    if kind == "file" and p.is_dir():
        raise ConfigError(f"{what} '{p}' is a directory; give a file name to -o.")
    if kind == "dir" and p.exists() and not p.is_dir():
        raise ConfigError(f"{what} folder '{p}' exists and is a file; choose a new -o folder.")
    parent = p.parent if str(p.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise ConfigError(f"{what} '{p}' cannot be created: '{parent}' is a file, not a folder; choose another -o path.")
    if not parent.is_dir():
        raise ConfigError(f"Output folder '{parent}' does not exist; create it or choose another -o path.")
    _probe_writable(parent, str(p), what)
    if kind == "dir" and p.is_dir():
        _probe_writable(p, str(p), what)
    if estimate_bytes and estimate_bytes > 0:
        try:
            free = shutil.disk_usage(parent).free
        except OSError:
            free = None
        if free is not None and estimate_bytes + DISK_MARGIN_BYTES > free:
            raise CapacityError(
                f"{what} '{p}' needs about {fmt_bytes(estimate_bytes)} of disk space but '{parent}' has "
                f"{fmt_bytes(free)} free; free some space, choose another -o folder, or write less "
                f"(fewer --chips, --raw-samples)."
            )
    return p
