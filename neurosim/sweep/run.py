"""Running a sweep: the per-point work and :func:`run_sweep` (resume, background writer, final rename)."""
from __future__ import annotations

import collections
import contextlib
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..network import Network
from ..sim.engine import simulate, simulation_network
from ..sim.progress import progress_bar
from .grid import SweepContext, point_seed, raw_rows, with_rate
from .store import (
    _Assembly, _Parts, _cleanup_root, _config_diff, _inspect_existing, _lock, _n_layers, _write_attrs, _write_static,
    _write_summary, config_hash, sweep_config,
)
from .summary import summarize, summary_fields


def simulate_point(ctx: SweepContext, index: int, threads=None, progress=None):
    """Stage 1 of a point: the simulation (:class:`~neurosim.sim.SimResult`)."""
    p, s, r = ctx.grid.point(index)
    spec = with_rate(ctx.grid.specs[s], ctx.grid.rates[r])
    return simulate(ctx.targets[p], ctx.x, [spec], n_chips=ctx.n_chips, seed=point_seed(ctx.seed, index),
                    threads=threads, progress=progress, **getattr(ctx, "spiking", {}))


def finish_point(ctx: SweepContext, index: int, res) -> dict:
    """Stage 2 of a point: summary statistics and the raw-Δ rows kept (plain arrays)."""
    spec = ctx.grid.specs[ctx.grid.point(index)[1]]
    summ = summarize(res.delta, res.clean, res.fault_counts[:, 0, :], res.fault_events[:, 0, :],
                     ctx.levels, ctx.confidence, group=int(getattr(spec, "group", 1) or 1))
    rows = raw_rows(ctx, index)
    flat = res.delta.reshape(ctx.rows_per_point, -1)
    raw = flat if rows.size == flat.shape[0] else flat[rows]
    return {"index": int(index), "summary": summ, "raw_delta": np.ascontiguousarray(raw), "raw_row": rows}


def run_point(ctx: SweepContext, index: int, threads=None, progress=None) -> dict:
    """Simulate grid point ``index`` and return its summary and raw Δ (plain arrays)."""
    return finish_point(ctx, index, simulate_point(ctx, index, threads=threads, progress=progress))


class PointTask:
    """The work of one point, as executors see it (module-level, pickles by reference).

    ``task(ctx, i, threads, progress)`` runs the whole point; executors that
    pipeline in one process call ``task.simulate`` and ``task.finish`` separately.
    """

    simulate = staticmethod(simulate_point)
    finish = staticmethod(finish_point)

    def __call__(self, ctx, index, threads=None, progress=None):
        return run_point(ctx, index, threads=threads, progress=progress)


_point_task = PointTask()


# ============================================================================ the sweep
@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did."""

    path: str
    n_points: int
    n_computed: int
    n_reused: int
    status: str
    executor: str
    elapsed_s: float
    replaced_previous: bool = False
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def run_sweep(ctx: SweepContext, out, net: Network | None = None, labels=None, executor=None, force: bool = False,
              progress: bool | None = None, flush_interval_s: float = 2.0) -> SweepOutcome:
    """Run (or resume) the sweep ``ctx`` into the HDF5 file ``out``.

    Parameters
    ----------
    ctx : SweepContext
        From :func:`build_context`.
    out : path
        Sweep file. If it exists with the same configuration, completed points
        are reused; with another configuration it is refused unless ``force``,
        in which case it is replaced only once the new sweep is complete.
    net : Network
        The float network (for the configuration); default: taken from ``ctx``.
    labels : array or None
        Class labels of ``ctx.x`` (stored).
    executor : executor from :mod:`neurosim.sweep.executors` or None (in-process)
    progress : bool or None
        tqdm bar on stderr (None: only when stderr is a terminal).
    flush_interval_s : float
        Minimum seconds between rewrites of the partial ``out`` file.
    """
    from ..io.h5util import atomic_h5
    from .executors import SerialExecutor

    t0 = time.perf_counter()
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"Output folder '{parent}' does not exist; create it or choose another -o path.")
    if out.is_dir():
        raise ConfigError(f"Output '{out}' is a directory; give a file name to -o.")
    if net is None:
        t = ctx.targets[0]
        net = t.network if isinstance(t, ChipMapping) else t
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (ctx.n_inputs,):
            raise ConfigError(f"'labels' must have shape ({ctx.n_inputs},). Got {labels.shape}.")
    config = sweep_config(net, ctx.grid, ctx.targets, ctx.x, labels, ctx.n_chips, ctx.seed, ctx.raw_samples,
                          ctx.max_chips, ctx.levels, ctx.confidence)
    if getattr(ctx, "spiking", None):
        config["spiking"] = dict(ctx.spiking)  # T and dt are part of the configuration (rate sweeps: no key)
    chash = config_hash(config)
    N = ctx.grid.n_points
    notes = []
    existing = None
    if out.exists():
        existing = _inspect_existing(out)
        if existing[0] != config and not force:
            diff = ", ".join(_config_diff(existing[0], config)) or "configuration"
            raise ConfigError(
                f"'{out}' holds a sweep with a different configuration (differs in: {diff}; "
                f"{existing[2]} of its points complete); re-run with its arguments to resume, choose another -o, "
                f"or add --force to replace it once the new sweep completes."
            )
    same = existing is not None and existing[0] == config
    parts = _Parts(out, chash)
    if same and existing[1] == "complete":
        if parts.dir.is_dir():  # killed between the final rename and the clean-up
            with _lock(parts.root, out):
                shutil.rmtree(parts.dir, ignore_errors=True)
            _cleanup_root(parts.root)
        return SweepOutcome(str(out), N, 0, N, "complete", "none", time.perf_counter() - t0, notes=notes)
    executor = executor or SerialExecutor()
    O = simulation_network(ctx.targets[0]).n_out
    fields = summary_fields(ctx.n_chips, O, _n_layers(ctx.targets[0]) + 1, len(ctx.levels))
    replaced = existing is not None and not same
    with _lock(parts.root, out) as root_created:
        parts.dir.mkdir(parents=True, exist_ok=True)
        for stale in list(parts.dir.glob("*.tmp")) + list(parent.glob(f".{out.name}.*.tmp")):
            with contextlib.suppress(OSError):
                stale.unlink()
        done, broken = parts.scan(N, fields)
        for b in broken:
            notes.append(f"discarded unreadable part file '{b}' (its point is recomputed)")
            with contextlib.suppress(OSError):
                b.unlink()
        n_reused = len(done)
        todo = [i for i in range(N) if i not in done]
        cleans = [simulate(t, ctx.x, [], n_chips=1, seed=0, threads=1).clean for t in ctx.targets]
        owns_out = existing is None or same  # may partial states be written into OUT?

        def fill(f, status, n_complete):
            _write_attrs(f, config, chash, status, N, n_complete)
            _write_static(f, ctx, labels, cleans)
            _write_summary(f, ctx, done)

        def write_partial():
            with atomic_h5(out) as f:
                fill(f, "partial", len(done))

        try:
            executor.start()
        except BaseException:
            if root_created and not any(parts.dir.iterdir()):
                with contextlib.suppress(OSError):
                    parts.dir.rmdir()
                _cleanup_root(parts.root)
            raise
        bar = progress_bar(N * ctx.rows_per_point, f"sweep[{executor.name}]", progress, n_reused * ctx.rows_per_point)
        # One background thread writes part files (crash-safe record) and the raw Δ into the
        # assembling final file, overlapping the next simulations. A point counts as done only
        # once its part file has been renamed into place.
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurosim-sweep-writer")
        assembly = None
        pending = collections.deque()
        state = {"computed": 0, "flush": time.monotonic()}

        def store(result):
            parts.write(result, fields)
            assembly.put(result["index"], result["raw_delta"], result["raw_row"])

        def copy_reused():
            for i in sorted(done):
                assembly.put(i, *parts.read_raw(i))

        def settle(block: bool):
            while pending and (block or len(pending) > 2 or pending[0][1].done()):
                i, fut, summ = pending.popleft()
                fut.result()
                done[i] = summ
                state["computed"] += 1
                if not executor.reports_rows:
                    bar.update(ctx.rows_per_point)
                bar.set_postfix_str(f"{len(done)}/{N} points", refresh=False)
                if owns_out and time.monotonic() - state["flush"] >= flush_interval_s and len(done) < N:
                    write_partial()
                    state["flush"] = time.monotonic()

        try:
            if owns_out:
                write_partial()
            assembly = writer.submit(_Assembly, parts.dir / "assembly.h5.tmp", ctx, O).result()
            reused_copy = writer.submit(copy_reused)
            on_rows = bar.update if executor.reports_rows else None
            for i, result in executor.run(_point_task, ctx, todo, on_rows):
                pending.append((i, writer.submit(store, result), result["summary"]))
                del result
                settle(block=False)
            settle(block=True)
            reused_copy.result()
            # every point is done: add the summaries and move the assembled file onto OUT
            writer.submit(assembly.finish, out, lambda f: fill(f, "complete", N)).result()
        except BaseException:
            with contextlib.suppress(BaseException):
                settle(block=True)  # keep every point already computed
            if owns_out and state["computed"]:
                with contextlib.suppress(Exception):
                    write_partial()
            if assembly is not None:
                writer.submit(assembly.discard).result()
            raise
        finally:
            writer.shutdown(wait=True)
            bar.close()
            executor.close()
        shutil.rmtree(parts.dir, ignore_errors=True)
        others = [p for p in parts.root.iterdir() if p.is_dir()] if parts.root.is_dir() else []
        if replaced:
            for p in others:
                shutil.rmtree(p, ignore_errors=True)
            notes.append(f"replaced the previous sweep in '{out}' ({existing[2]} points complete) as asked by --force")
        elif others:
            notes.append(f"'{parts.root}' still holds partial results of another configuration; left untouched")
    _cleanup_root(parts.root)
    return SweepOutcome(str(out), N, state["computed"], n_reused, "complete", executor.name,
                        time.perf_counter() - t0, replaced_previous=replaced, notes=notes)
