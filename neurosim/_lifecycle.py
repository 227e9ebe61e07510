"""Worker processes die with their parent: a Linux parent-death signal plus a parent-pid watchdog.

The executors start workers inside :func:`children_bound`, which puts the
parent's pid in the environment variable :data:`ENV_PARENT` and ignores SIGINT
(children inherit both). A child calls :func:`bind_from_env` as the very first
thing ``import neurosim`` does, before numpy or numba load, so even a worker
still importing when its parent is killed (``kill -9``) goes with it:

* ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (Linux, via ctypes): the kernel kills the
  worker when its parent exits;
* a daemon thread checks ``os.getppid()`` every :data:`WATCHDOG_INTERVAL_S`
  seconds and exits the worker once it has been re-parented (other systems, and
  the short window before the death signal is armed).

SIGINT stays ignored in workers: Ctrl-C is the parent's to handle (it stops its
workers and prints one line), so workers print no tracebacks of their own.
This module imports nothing heavy.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

#: Environment variable holding the parent pid that a starting worker binds to.
ENV_PARENT = "NEUROSIM_WORKER_PARENT_PID"
#: Seconds between checks of the parent-pid watchdog.
WATCHDOG_INTERVAL_S = 0.25
_PR_SET_PDEATHSIG = 1
_BOUND = []


def set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError, TypeError):
        return False


def _watch(parent_pid: int, interval_s: float):
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(interval_s)


def bind_to_parent(parent_pid: int | None = None, interval_s: float = WATCHDOG_INTERVAL_S):
    """Make the calling process die with ``parent_pid`` (default: its current parent); idempotent."""
    parent_pid = os.getppid() if parent_pid is None else int(parent_pid)
    if _BOUND:
        return
    _BOUND.append(parent_pid)
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid, interval_s), name="neurosim-parent-watchdog",
                     daemon=True).start()


def bind_from_env():
    """Bind to the parent named by :data:`ENV_PARENT`, if this process is one of its direct children.

    The variable is removed from this process's environment so that processes
    it starts in turn are not bound to their grandparent.
    """
    raw = os.environ.pop(ENV_PARENT, None)
    if not raw:
        return
    try:
        pid = int(raw)
    except ValueError:
        return
    if pid == os.getpid():
        return
    if pid != os.getppid():  # started by PID, which died while this process was starting: go too
        os._exit(1)
    bind_to_parent(pid)


@contextlib.contextmanager
def children_bound():
    """Processes started inside the block bind to this one (see module docstring) and ignore SIGINT."""
    os.environ[ENV_PARENT] = str(os.getpid())
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        yield
    finally:
        os.environ.pop(ENV_PARENT, None)
        if main:
            signal.signal(signal.SIGINT, old)
