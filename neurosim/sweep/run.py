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
    _Assembly, _Parts, _cleanup_root, _seal, _config_diff, _inspect_existing, _lock, _n_layers, _write_attrs, _write_static,
    _write_summary, config_hash, sweep_config,
)
from .summary import summarize, summary_fields


def _chunk_chips(ctx: SweepContext) -> int:
    """Chips per chunk of a point (``ctx.chunk_chips``, default about 16 MB of Δ); never changes a result."""
    from .._resources import stream_chunk_chips

    c = getattr(ctx, "chunk_chips", None)
    return int(c) if c else stream_chunk_chips(ctx.n_inputs, simulation_network(ctx.targets[0]).n_out)


def streams(ctx: SweepContext) -> bool:
    """Whether points are run chunk by chunk (more chips than one chunk): Δ is never held whole.

    Rate and spiking mode alike: ``simulate(..., first_chip=c)`` gives exactly
    chips ``c..c+m-1`` of the whole point.
    """
    return ctx.n_chips > _chunk_chips(ctx)


class _Streamed:
    """Stage 1 of a streamed point: nothing simulated yet, :func:`finish_point` runs the chunks."""

    def __init__(self, threads, progress):
        self.threads, self.progress = threads, progress


def _point_args(ctx: SweepContext, index: int):
    p, s, r = ctx.grid.point(index)
    spec = with_rate(ctx.grid.specs[s], ctx.grid.rates[r])
    return ctx.targets[p], spec, point_seed(ctx.seed, index)


def simulate_point(ctx: SweepContext, index: int, threads=None, progress=None):
    """Stage 1 of a point: the simulation (:class:`~neurosim.sim.SimResult`); deferred when the point streams."""
    if streams(ctx):
        return _Streamed(threads, progress)
    target, spec, seed = _point_args(ctx, index)
    with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN in Δ are counted (summary 'non_finite') and flagged
        return simulate(target, ctx.x, [spec], n_chips=ctx.n_chips, seed=seed,
                        threads=threads, progress=progress, **ctx.sim_kwargs(index))


def _group(ctx: SweepContext, index: int) -> int:
    spec = ctx.grid.specs[ctx.grid.point(index)[1]]
    return int(getattr(spec, "group", 1) or 1)


def finish_point(ctx: SweepContext, index: int, res) -> dict:
    """Stage 2 of a point: summary statistics and the raw-Δ rows kept (plain arrays)."""
    if isinstance(res, _Streamed):
        return stream_point(ctx, index, res.threads, res.progress)
    summ = summarize(res.delta, res.clean, res.fault_counts[:, 0, :], res.fault_events[:, 0, :],
                     ctx.levels, ctx.confidence, group=_group(ctx, index), chunk_chips=_chunk_chips(ctx))
    rows = raw_rows(ctx, index)
    flat = res.delta.reshape(ctx.rows_per_point, -1)
    raw = flat if rows.size == flat.shape[0] else flat[rows]
    return {"index": int(index), "summary": summ, "raw_delta": np.ascontiguousarray(raw), "raw_row": rows}


def stream_point(ctx: SweepContext, index: int, threads=None, progress=None) -> dict:
    """A point run chunk by chunk (:class:`~neurosim.sweep.stream.PointStats`): the same bits as in memory.

    Only one chunk of Δ is held at a time; the raw-Δ rows kept are gathered
    chunk by chunk. Exact quantiles may re-simulate the chunks (same seed, same
    bits; typically once more), without progress reports.
    """
    from .stream import PointStats

    target, spec, seed = _point_args(ctx, index)
    C, B, step = ctx.n_chips, ctx.n_inputs, _chunk_chips(ctx)
    kw = ctx.sim_kwargs(index)

    def chunks(prog):
        for c0 in range(0, C, step):
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite Δ: counted and flagged, not warned
                res = simulate(target, ctx.x, [spec], n_chips=min(step, C - c0), seed=seed, threads=threads,
                               progress=prog, first_chip=c0, **kw)
            yield c0, res

    rows = raw_rows(ctx, index)
    raw, stats = None, None
    for c0, res in chunks(progress):
        d = res.delta
        if stats is None:
            stats = PointStats(C, B, d.shape[2], res.clean, res.fault_counts.shape[2])
            raw = np.empty((rows.size, d.shape[2]), dtype=d.dtype)
        stats.add(c0, d, res.fault_counts[:, 0, :], res.fault_events[:, 0, :])
        a, b = np.searchsorted(rows, [c0 * B, (c0 + d.shape[0]) * B])
        raw[a:b] = d.reshape(-1, d.shape[2])[rows[a:b] - c0 * B]
        del res, d
    summ = stats.result(ctx.levels, ctx.confidence, lambda: (r.delta for _, r in chunks(None)), group=_group(ctx, index))
    return {"index": int(index), "summary": summ, "raw_delta": raw, "raw_row": rows}


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


# ============================================================================ resources
def _parallel(executor, ctx=None) -> int:
    """Points simulated at the same time on this machine by ``executor``."""
    if getattr(executor, "address", None):
        return 1  # a remote cluster: its workers' memory is theirs
    return int(getattr(executor, "workers", None) or getattr(executor, "local_workers", None) or 1) + \
        (1 if getattr(executor, "pipeline", False) and not (ctx is not None and streams(ctx)) else 0)


def sweep_point_bytes(ctx: SweepContext) -> float:
    """Peak bytes of one point: its raw rows plus, in memory, the simulation and its statistics (~3 Δ-sized
    temporaries), or, streamed, one chunk (~6 Δ-sized arrays) and the per-chip accumulators."""
    from .._resources import F8, _engine_work, simulate_bytes, spiking_simulate_bytes
    from .stream import point_stats_bytes

    net = simulation_network(ctx.targets[0])
    raw = 3.0 * ctx.n_raw * net.n_out * F8
    ticks = (getattr(ctx, "spiking", None) or {}).get("ticks")
    delta = ctx.n_inputs * net.n_out * F8  # per chip
    if streams(ctx):
        chunk = _chunk_chips(ctx)
        work = spiking_simulate_bytes(net.sizes, ctx.n_inputs, chunk, ticks) if ticks else _engine_work(net.sizes, ctx.n_inputs)
        return 6.0 * chunk * delta + point_stats_bytes(ctx.n_chips, net.n_out, net.n_layers + 1) + raw + work
    if ticks:  # spiking mode: its own working set (outputs, Δ, clean trains kept for reuse, blocks of 256 rows)
        return spiking_simulate_bytes(net.sizes, ctx.n_inputs, ctx.n_chips, ticks) + 3.0 * ctx.n_chips * delta + raw
    return simulate_bytes(net.sizes, ctx.n_inputs, ctx.n_chips, 1, summaries=3) + raw


def sweep_disk_bytes(ctx: SweepContext) -> float:
    """Bytes a sweep writes at most: raw Δ twice (part files and the final file) plus the summaries."""
    from .._resources import F8

    net = simulation_network(ctx.targets[0])
    per_point = ctx.n_raw * (net.n_out + 1) * F8 + ctx.n_chips * (net.n_layers + 1) * 2 * F8 + 4096
    return 2.0 * ctx.grid.n_points * per_point


def check_sweep_memory(ctx: SweepContext, executor=None):
    """Refuse a sweep whose points cannot fit in memory (:func:`neurosim._resources.check_memory`)."""
    from .._resources import F8, check_memory

    k = _parallel(executor, ctx)
    est = sweep_point_bytes(ctx)
    raw = 3.0 * ctx.n_raw * simulation_network(ctx.targets[0]).n_out * F8
    fix = "use fewer --chips per point (more points or seeds instead), fewer --workers, or --limit fewer inputs"
    if raw > 0.5 * est:  # mostly the raw rows kept: the summaries stream and need none
        fix = "keep fewer raw Δ rows with --raw-samples K (the summaries need none), " + fix
    check_memory(k * est, f"A sweep point of {ctx.n_chips} chips x {ctx.n_inputs} inputs" + (f" ({k} at a time)" if k > 1 else ""),
                 fix)


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
    non_finite: dict = field(default_factory=dict)
    """``{point index: count}`` of the points whose Δ holds inf or NaN (summary field ``non_finite``)."""

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

    from .._paths import check_output

    t0 = time.perf_counter()
    executor = executor or SerialExecutor()
    check_sweep_memory(ctx, executor)
    out = check_output(out, "file", estimate_bytes=sweep_disk_bytes(ctx))
    parent = out.parent if str(out.parent) else Path(".")
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
    if ctx.grid.devices:
        config["devices"] = [dict(d) for d in ctx.grid.devices]  # noise points (ideal-device sweeps: no key)
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
        from .read import load_sweep

        nf = load_sweep(out, verify=False).summary.get("non_finite")
        return SweepOutcome(str(out), N, 0, N, "complete", "none", time.perf_counter() - t0, notes=notes,
                            non_finite={} if nf is None else {i: int(v) for i, v in enumerate(nf) if v > 0})
    O = simulation_network(ctx.targets[0]).n_out
    fields = summary_fields(ctx.n_chips, O, _n_layers(ctx.targets[0]) + 1, len(ctx.levels))
    replaced = existing is not None and not same
    # clean outputs first: a network whose outputs overflow is refused before anything is written
    cleans = [simulate(t, ctx.x, [], n_chips=1, seed=0, threads=1, **getattr(ctx, "spiking", {})).clean
              for t in ctx.targets]
    with _lock(parts.root, out) as root_created:
        parts.dir.mkdir(parents=True, exist_ok=True)
        for stale in list(parts.dir.glob("*.tmp")) + list(parent.glob(f".{out.name}.*.tmp")):
            with contextlib.suppress(OSError):
                stale.unlink()
        done, broken = parts.scan(N, fields)
        for b, why in broken:
            notes.append(f"discarded corrupted or unreadable part file '{b}' ({why}); its point is recomputed")
            with contextlib.suppress(OSError):
                b.unlink()
        n_reused = len(done)
        todo = [i for i in range(N) if i not in done]
        owns_out = existing is None or same  # may partial states be written into OUT?

        def fill(f, status, n_complete):
            _write_attrs(f, config, chash, status, N, n_complete)
            _write_static(f, ctx, labels, cleans)
            _write_summary(f, ctx, done)

        def write_partial():
            with atomic_h5(out) as f:
                fill(f, "partial", len(done))
                _seal(f)

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
                        time.perf_counter() - t0, replaced_previous=replaced, notes=notes, non_finite=_non_finite(done))


def _non_finite(summaries: dict) -> dict:
    """``{index: count}`` of the points with a non-finite Δ (count > 0), by index."""
    return {int(i): int(v["non_finite"]) for i, v in sorted(summaries.items()) if int(v["non_finite"]) > 0}
