"""Worker threads and single-threaded BLAS for the engines, set up once per process.

Starting a ``ThreadPoolExecutor`` and scanning the loaded BLAS libraries with
threadpoolctl cost 2-6 ms per ``simulate()`` call (measured: 4 ms of a 24 ms
call at width 256), a fixed cost the clean numpy forward does not pay. The
pools here are made on first use, one per thread count, and reused; a forked
child starts with none (its parent's threads do not exist in it). With one
thread the tasks run inline. Results never depend on this: every task's output
is a function of its rows only (see :mod:`neurosim.sim.engine`).
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_POOLS: dict[int, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()
_CONTROLLER = None


def _forget_after_fork():
    global _CONTROLLER
    _POOLS.clear()
    _CONTROLLER = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def thread_map(threads: int, fn, items):
    """``map(fn, items)`` on ``threads`` threads (results in order); inline for one thread.

    The tasks must not call :func:`thread_map` themselves (the pool is shared).
    """
    if threads <= 1:
        return map(fn, items)
    with _LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = _POOLS[threads] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"neurosim-{threads}")
    return pool.map(fn, items)


def single_threaded_blas():
    """Context manager: BLAS on one thread (the engines thread over fixed-shape blocks themselves)."""
    global _CONTROLLER
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")
