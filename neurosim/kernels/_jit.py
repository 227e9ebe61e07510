"""The one place that owns numba options (nothing else imports numba).

``cache=True`` when numba can write its cache (``NUMBA_CACHE_DIR`` or the
package's ``__pycache__``), else ``cache=False``; ``nogil=True`` so kernels run
in parallel threads; ``error_model="numpy"``; no fastmath (it would drop NaN/inf
semantics). Compilation is lazy: nothing compiles at import.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numba


def _cache_writable() -> bool:
    d = os.environ.get("NUMBA_CACHE_DIR")
    target = Path(d) if d else Path(__file__).parent / "__pycache__"
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target):
            pass
        return True
    except OSError:
        return False


CACHE = _cache_writable()


def jit(fn=None, **kw):
    """``numba.njit`` with the project's options."""
    opts = dict(cache=CACHE, nogil=True, error_model="numpy")
    opts.update(kw)
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)
