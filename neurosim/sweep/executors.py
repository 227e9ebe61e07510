"""Where sweep points run: in-process, a local process pool, or a Dask cluster.

Every executor has the same small interface, used by
:func:`neurosim.sweep.run_sweep`:

``start()``
    Acquire resources (processes, a cluster connection); raise
    :class:`~neurosim.errors.ConfigError` with one line if that is impossible
    (e.g. an unreachable scheduler, after a short timeout).
``run(fn, ctx, indices, on_rows)``
    Yield ``(index, fn(ctx, index, ...))`` for every index, in completion order.
    ``ctx`` is shipped once per worker, not once per task.
``close()``
    Release everything (idempotent).

A point's result depends only on ``(ctx, index)`` (its seed is derived from the
sweep seed and the index), so every executor gives bit-identical results.

Numba's on-disk cache: worker processes import neurosim afresh. If the parent
has no ``NUMBA_CACHE_DIR`` and cannot write the package's ``__pycache__``, the
executors point workers at ``$TMPDIR/neurosim-numba-<uid>`` so that they compile
each kernel once, not once per worker.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile

from ..errors import ConfigError

#: Seconds to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT_S = 5.0


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def worker_numba_env():
    """Give spawned workers a writable, shared numba cache directory (see module docstring)."""
    from ..kernels import _jit

    if os.environ.get("NUMBA_CACHE_DIR") or _jit.CACHE:
        yield
        return
    d = os.path.join(tempfile.gettempdir(), f"neurosim-numba-{os.getuid()}")
    os.environ["NUMBA_CACHE_DIR"] = d
    try:
        yield
    finally:
        os.environ.pop("NUMBA_CACHE_DIR", None)


class SerialExecutor:
    """Run points one after the other in this process (each simulation uses its own threads).

    With ``pipeline=True`` (default) and a task that has ``simulate`` and
    ``finish`` stages, the statistics of point ``i`` are computed by a helper
    thread while point ``i + 1`` simulates; results are the same.
    """

    name = "in-process"
    reports_rows = True

    def __init__(self, threads=None, pipeline: bool = True):
        self.threads = threads
        self.pipeline = pipeline

    def start(self):
        pass

    def run(self, fn, ctx, indices, on_rows=None):
        sim, fin = getattr(fn, "simulate", None), getattr(fn, "finish", None)
        if not self.pipeline or sim is None or fin is None:
            for i in indices:
                yield i, fn(ctx, i, self.threads, on_rows)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurosim-sweep-stats") as post:
            prev = None
            for i in indices:
                fut = post.submit(fin, ctx, i, sim(ctx, i, self.threads, on_rows))
                if prev is not None:
                    yield prev[0], prev[1].result()
                prev = (i, fut)
            if prev is not None:
                yield prev[0], prev[1].result()

    def close(self):
        pass

    def describe(self) -> dict:
        return {"executor": self.name, "threads": self.threads}


# --------------------------------------------------------------------------- worker lifecycle
from .._lifecycle import bind_to_parent, children_bound  # noqa: E402


# --------------------------------------------------------------------------- processes
_WORKER = {}


def _init_worker(fn, ctx, threads, parent_pid=None):
    bind_to_parent(parent_pid)
    _WORKER.update(fn=fn, ctx=ctx, threads=threads)


def _call_worker(i):
    w = _WORKER
    return i, w["fn"](w["ctx"], i, w["threads"], None)


class ProcessExecutor:
    """A pool of ``workers`` local processes (``spawn`` start method).

    Each worker receives the context once (pool initializer) and then only
    point indices. Each simulation in a worker uses ``threads`` threads
    (default ``max(1, n_cpus // workers)``).
    """

    name = "processes"
    reports_rows = False

    def __init__(self, workers: int, threads=None):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"'--workers' must be an integer >= 1. Got {workers!r}.")
        self.workers = workers
        self.threads = threads if threads is not None else max(1, _cpu_count() // workers)
        self._pool = None
        self._env = None

    def start(self):
        pass  # the pool needs the context: it starts in run()

    def run(self, fn, ctx, indices, on_rows=None):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        indices = list(indices)
        if not indices:
            return
        self._env = worker_numba_env()
        self._env.__enter__()
        self._pool = ProcessPoolExecutor(max_workers=min(self.workers, len(indices)),
                                         mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_init_worker, initargs=(fn, ctx, self.threads, os.getpid()))
        with children_bound():  # workers start with the first submits: bound to this process, SIGINT ignored
            futures = [self._pool.submit(_call_worker, i) for i in indices]
        for fut in as_completed(futures):
            yield fut.result()

    def close(self):
        pool, self._pool = self._pool, None
        if pool is not None:
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # processes this executor started; stop any still busy
                with contextlib.suppress(Exception):
                    if p.is_alive():
                        p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.join(timeout=5)
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def describe(self) -> dict:
        return {"executor": self.name, "workers": self.workers, "threads": self.threads}


# --------------------------------------------------------------------------- Dask
def _dask_task(fn, ctx, i):
    """Run one point on a Dask worker with a thread budget of its share of the machine."""
    threads = 1
    with contextlib.suppress(Exception):
        from distributed import get_worker

        threads = max(1, _cpu_count() // max(1, int(get_worker().state.nthreads)))
    return i, fn(ctx, i, threads, None)


_DASK_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})/?$")


def check_dask_address(address) -> str:
    """``PROTOCOL://HOST:PORT`` (or ``HOST:PORT``, protocol tcp) with a port in 1..65535, checked before connecting."""
    text = str(address).strip() if isinstance(address, str) else None
    if not text:
        raise ConfigError(f"'--dask' needs a scheduler address like tcp://HOST:8786. Got {address!r}.")
    if text.startswith("inproc://") and len(text) > len("inproc://"):  # a scheduler in this process (tests)
        return text
    m = _DASK_ADDRESS.match(text)
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise ConfigError(
            f"'--dask' must be a scheduler address PROTOCOL://HOST:PORT with a port in 1..65535, e.g. "
            f"tcp://10.0.0.5:8786. Got {address!r}; add the port the scheduler prints when it starts."
        )
    return text if m.group(1) else f"tcp://{text}"


class DaskExecutor:
    """A Dask distributed cluster: an existing scheduler (``address``) or a new ``LocalCluster``.

    Parameters
    ----------
    address : str or None
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``. Connecting gives up
        after :data:`DASK_CONNECT_TIMEOUT_S` seconds.
    local_workers : int or None
        Start a ``LocalCluster`` with this many workers (one thread each).
    processes : bool
        LocalCluster workers as processes (default) or threads of this process.
    """

    reports_rows = False

    def __init__(self, address: str | None = None, local_workers: int | None = None, processes: bool = True,
                 timeout_s: float = DASK_CONNECT_TIMEOUT_S):
        if (address is None) == (local_workers is None):
            raise ConfigError("Give exactly one of a Dask scheduler address (--dask) or a local worker count (--dask-local).")
        if local_workers is not None and (isinstance(local_workers, bool) or not isinstance(local_workers, int)
                                          or local_workers < 1):
            raise ConfigError(f"'--dask-local' must be an integer >= 1. Got {local_workers!r}.")
        if address is not None:
            address = check_dask_address(address)
        self.address = address
        self.local_workers = local_workers
        self.processes = processes
        self.timeout_s = timeout_s
        self.client = None
        self.cluster = None
        self._env = None
        self.name = "dask" if address is not None else "dask-local"

    def start(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("The Dask executor needs 'dask[distributed]'; pip install 'dask[distributed]'.") from None
        for name in ("distributed", "distributed.comm", "distributed.client", "distributed.worker",
                     "distributed.nanny", "distributed.scheduler", "distributed.core", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        self._env = worker_numba_env()
        self._env.__enter__()
        try:
            if self.address is not None:
                try:
                    self.client = Client(self.address, timeout=f"{self.timeout_s}s", set_as_default=False)
                except (OSError, TimeoutError, ValueError) as exc:
                    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise ConfigError(
                        f"Cannot reach the Dask scheduler at '{self.address}' within {self.timeout_s:g} s ({msg}); "
                        f"check the address or start one with 'dask scheduler'."
                    ) from None
            else:
                with children_bound():  # Ctrl-C is the parent's: workers stay quiet and die with it
                    self.cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=1,
                                                processes=self.processes, dashboard_address=None,
                                                # no dashboard; the scheduler's small HTTP server on a free
                                                # loopback port, so two sweeps at once never fight over 8787
                                                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                                silence_logs=logging.CRITICAL)
                self.client = Client(self.cluster, set_as_default=False)
        except BaseException:
            self.close()
            raise

    def run(self, fn, ctx, indices, on_rows=None):
        from distributed import as_completed

        indices = list(indices)
        if not indices:
            return
        [ctx_f] = self.client.scatter([ctx], broadcast=True, hash=False)
        futures = [self.client.submit(_dask_task, fn, ctx_f, i, pure=False) for i in indices]
        try:
            for fut in as_completed(futures, loop=self.client.loop):
                res = fut.result()
                fut.release()
                yield res
        finally:
            with contextlib.suppress(Exception):
                self.client.cancel(futures)

    def close(self):
        client, self.client = self.client, None
        cluster, self.cluster = self.cluster, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def describe(self) -> dict:
        d = {"executor": self.name}
        if self.address is not None:
            d["address"] = self.address
        else:
            d["workers"] = self.local_workers
        return d


def make_executor(workers: int | None = None, dask: str | None = None, dask_local: int | None = None,
                  threads=None):
    """Executor for the command-line options ``--workers`` / ``--dask`` / ``--dask-local``."""
    given = [n for n, v in (("--workers", workers), ("--dask", dask), ("--dask-local", dask_local)) if v is not None]
    if len(given) > 1:
        raise ConfigError(f"Choose one executor; got {' and '.join(given)}.")
    if dask is not None:
        return DaskExecutor(address=dask)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local)
    if workers is None or workers == 1:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
            raise ConfigError(f"'--workers' must be an integer >= 1. Got {workers!r}.")
        return SerialExecutor(threads=threads)
    return ProcessExecutor(workers, threads=threads)
