"""Streamed simulation: chips in chunks, summaries accumulated per chip, Δ written to HDF5 chunk by chunk.

:func:`simulate_stream` runs ``n_chips`` chips as consecutive chunks of
``chunk_chips`` chips (``simulate(..., first_chip=c)``); each row's Δ is the
same bits as in one big :func:`~neurosim.sim.simulate` call, so the chunk size
never changes a result. :class:`StreamSummary` keeps only per-chip quantities
(per-output sums and centred sums of squares, ``||Δ||_∞`` and flip flags per
(chip, input), fault counts), so its statistics are bit-identical for any
chunking, and :class:`ResultWriter` appends each chunk's Δ to a result file
(the format of :func:`neurosim.io.mapping_io.save_result`, with Fletcher32
checksums on every dataset). Peak memory: one chunk of Δ plus
``n_inputs * 9`` bytes per chip (see :func:`neurosim._resources.streamed_simulate_bytes`).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from .._resources import stream_chunk_chips
from ..io import h5util
from ..io.mapping_io import RESULT_VERSION
from .engine import simulate, simulation_network


def simulate_stream(target, x, faults, n_chips: int, seed=None, threads=None, chunk_chips: int | None = None,
                    progress=None, labels=None, **sim_kw):
    """Yield ``(first_chip, SimResult)`` for consecutive chunks of chips of one run.

    Same arguments as :func:`~neurosim.sim.simulate` plus ``chunk_chips`` (default:
    about 16 MB of Δ per chunk); other keywords (e.g. ``precision``) go to ``simulate``.
    ``seed=None`` draws one entropy for the whole run.
    """
    from .._validate import integer

    n_chips = integer(n_chips, "n_chips", 1)
    net = simulation_network(target)
    x = net.check_inputs(x)
    if chunk_chips is None:
        chunk_chips = stream_chunk_chips(x.shape[0], net.n_out)
    chunk_chips = integer(chunk_chips, "chunk_chips", 1)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    for c0 in range(0, n_chips, chunk_chips):
        m = min(chunk_chips, n_chips - c0)
        yield c0, simulate(target, x, faults, n_chips=m, seed=seed, threads=threads, progress=progress,
                           labels=labels, first_chip=c0, **sim_kw)


def count_non_finite(a: np.ndarray) -> int:
    """Entries of ``a`` that are inf or NaN (a fault value like 1e300 can overflow the outputs)."""
    return int(a.size - np.count_nonzero(np.isfinite(a)))


class StreamSummary:
    """Per-chip accumulators of a streamed run; :meth:`result` gives the ``simulate`` command's summary."""

    def __init__(self, n_chips: int, labels=None):
        self.n_chips = int(n_chips)
        self.labels = None if labels is None else np.asarray(labels)
        self._init = False

    def _setup(self, res):
        C = self.n_chips
        _, B, O = res.delta.shape
        self.B, self.O = B, O
        self.clean = res.clean
        self.faults = res.faults
        self.seed = res.seed
        self.chip_sum = np.zeros((C, O))
        self.chip_m2 = np.zeros((C, O))
        self.linf = np.zeros((C, B))
        self.flips = np.zeros((C, B), dtype=np.bool_) if O >= 2 else None
        self.correct = np.zeros(C, dtype=np.int64)
        self.counts = np.zeros((C,) + res.fault_counts.shape[1:], dtype=np.int64)
        self.events = np.zeros_like(self.counts)
        self.non_finite = 0
        self._init = True

    def add(self, c0: int, res):
        """Fold chips ``c0 .. c0 + res.n_chips - 1`` of the run into the accumulators."""
        with np.errstate(all="ignore"):  # inf/NaN are counted in non_finite and reported, not warned about
            self._add(c0, res)

    def _add(self, c0: int, res):
        if not self._init:
            self._setup(res)
        d = res.delta
        c1 = c0 + d.shape[0]
        s = d.sum(axis=1)
        self.chip_sum[c0:c1] = s
        self.chip_m2[c0:c1] = np.square(d - (s / self.B)[:, None, :]).sum(axis=1)
        np.abs(d).max(axis=2, out=self.linf[c0:c1])
        self.non_finite += count_non_finite(d)
        self.counts[c0:c1] = res.fault_counts
        self.events[c0:c1] = res.fault_events
        if self.flips is not None:
            top = np.argmax(d + self.clean[None], axis=2)
            self.flips[c0:c1] = top != np.argmax(self.clean, axis=1)[None]
            if self.labels is not None:
                self.correct[c0:c1] = np.count_nonzero(top == self.labels[None], axis=1)

    def result(self, confidence: float = 0.95, interval=None) -> dict:
        """Mean and std of Δ per output, ``||Δ||_∞`` quantiles, flip rate, accuracy.

        ``interval(flips, confidence) -> dict`` with at least ``lo`` and ``hi`` (the CLI passes a
        chip-clustered interval; passed in because ``sim`` does not import ``analysis``) adds the
        flip rate's interval, computed from the ``(chips, inputs)`` flip flags.
        """
        with np.errstate(all="ignore"):
            return self._result(confidence, interval)

    def _result(self, confidence: float, interval) -> dict:
        C, B = self.n_chips, self.B
        n = C * B
        mean = self.chip_sum.sum(axis=0) / n
        m2 = self.chip_m2.sum(axis=0) + B * np.square(self.chip_sum / B - mean[None]).sum(axis=0)
        out = {
            "n_chips": C, "n_inputs": B, "samples": n, "seed": self.seed,
            "faults": [s.to_dict() for s in self.faults],
            "mean_delta": mean, "std_delta": np.sqrt(m2 / (n - 1)) if n > 1 else np.zeros(self.O),
            "linf_quantiles": dict(zip(["q50", "q90", "q99", "max"],
                                       np.quantile(self.linf.ravel(), [0.5, 0.9, 0.99, 1.0],
                                                   overwrite_input=True))),
            "faults_per_chip": {s.label + (f"#{k}" if k else ""): float(self.counts[:, k].sum(1).mean())
                                for k, s in enumerate(self.faults)},
            "non_finite": int(self.non_finite),
        }
        if self.flips is not None:
            k = int(np.count_nonzero(self.flips))
            ci = interval(self.flips, confidence) if interval is not None else {"lo": np.nan, "hi": np.nan}
            out["flip_rate"] = {"k": k, "n": n, "rate": k / n, "confidence": confidence, **ci}
            if self.labels is not None:
                out["accuracy"] = {"clean": float(np.mean(np.argmax(self.clean, 1) == self.labels)),
                                   "faulty": float(self.correct.sum() / n)}
        return out


class ResultWriter:
    """Write a result file chunk by chunk (temporary file in the target folder, renamed by :meth:`close`).

    Layout and attributes as :func:`~neurosim.io.mapping_io.save_result`; every
    dataset carries an HDF5 Fletcher32 checksum, verified by HDF5 on every read.
    """

    def __init__(self, path, n_chips: int):
        import h5py

        self.path = Path(path)
        self.n_chips = int(n_chips)
        parent = self.path.parent if str(self.path.parent) else Path(".")
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=parent)
        os.close(fd)
        os.chmod(self.tmp, 0o666 & ~h5util._UMASK)
        self.f = h5py.File(self.tmp, "w")
        self.delta = None

    def add(self, c0: int, res):
        if self.delta is None:
            _, B, O = res.delta.shape
            dt = res.delta.dtype  # float32 or float64, as the run's precision (stored as computed)
            rows = max(1, min(self.n_chips, (1 << 20) // max(1, B * O * dt.itemsize)))
            self.delta = self.f.create_dataset("delta", shape=(self.n_chips, B, O), dtype=dt,
                                               chunks=(rows, B, O), compression="gzip", shuffle=True, fletcher32=True)
        self.delta[c0:c0 + res.n_chips] = res.delta

    def finish(self, summ: StreamSummary, config: dict, labels=None, extra: dict | None = None):
        """Write the summary datasets and ``config`` (the whole run's: no ``first_chip``, all chips), then rename."""
        header_attrs, write_json_attr = h5util.header_attrs, h5util.write_json_attr
        f = self.f
        for k, v in header_attrs("result", RESULT_VERSION).items():
            f.attrs[k] = v
        f.create_dataset("clean", data=summ.clean, fletcher32=True)
        f.create_dataset("fault_counts", data=summ.counts, fletcher32=True)
        f.create_dataset("fault_events", data=summ.events, fletcher32=True)
        if labels is not None:
            f.create_dataset("labels", data=np.asarray(labels), fletcher32=True)
        f.attrs["seed"] = str(summ.seed)
        write_json_attr(f, "config", config)
        write_json_attr(f, "faults", [s.to_dict() for s in summ.faults])
        write_json_attr(f, "extra", extra or {})
        f.close()
        self.f = None
        os.replace(self.tmp, self.path)

    def discard(self):
        if self.f is not None:
            try:
                self.f.close()
            except Exception:  # noqa: BLE001 - clean-up after another error
                pass
            self.f = None
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


def run_streamed(target, x, faults, n_chips: int, seed=None, threads=None, out=None, labels=None, progress=None,
                 chunk_chips: int | None = None, confidence: float = 0.95, extra=None, interval=None,
                 config_out: dict | None = None, **sim_kw) -> dict:
    """Simulate in chunks; return the summary (``StreamSummary.result``) and write Δ to ``out`` if given.

    Works in every mode ``simulate`` has (rate, spiking, device non-idealities: all take
    ``first_chip``). ``out`` appears complete or not at all (written to a temporary file,
    renamed at the end). ``config_out``, if given, receives the run's configuration
    (``SimResult.config``: ticks, devices...).
    """
    summ = StreamSummary(n_chips, labels)
    writer = ResultWriter(out, n_chips) if out is not None else None
    config = None
    try:
        for c0, res in simulate_stream(target, x, faults, n_chips, seed=seed, threads=threads,
                                       chunk_chips=chunk_chips, progress=progress, labels=labels, **sim_kw):
            summ.add(c0, res)
            if writer is not None:
                writer.add(c0, res)
            config = res.config
            del res
        result = summ.result(confidence, interval)
        config = {k: v for k, v in config.items() if k != "first_chip"} | {"n_chips": n_chips}  # the whole run's
        if config_out is not None:
            config_out.update(config)
        if writer is not None:
            writer.finish(summ, config, labels, extra=(extra or {}) | {"summary": _plain(result)})
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    return result


def _plain(s):
    import json

    return json.loads(json.dumps(h5util.to_jsonable(s)))
