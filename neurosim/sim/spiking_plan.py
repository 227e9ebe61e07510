"""Spiking mode's plan pieces: result type, per-layer tables, fault-event draws (see :mod:`neurosim.sim.spiking`).

A fault spec's events come from the counter-based streams of
:mod:`neurosim.kernels.events`, keyed by (spec key, salt of site and layer,
chip, input) or (..., input * T + tick) with ``scope="tick"``, so every row's
draw is independent of blocking, chunking and thread count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..kernels import events as E
from ..kernels.rng import inv_rate
from ..spiking.network import layer_role
from .engine import SimResult
from .plan import salt as _salt

_ROUTER_SALT = 4 * 4096


@dataclass(eq=False)
class SpikingSimResult(SimResult):
    """:class:`SimResult` of a spiking run, plus ``ticks``, ``dt_s`` and optional spike counts.

    ``spike_counts[l]`` (requested with ``spike_counts=True``): int64
    ``(n_chips, n_inputs, n_l)`` spikes emitted by layer ``l`` over the run
    (layer 0 only for rate-coded inputs); ``clean_spike_counts[l]`` the same
    for the fault-free chip, ``(n_inputs, n_l)``.
    """

    ticks: int = 0
    dt_s: float = 0.0
    spike_counts: dict | None = None
    clean_spike_counts: dict | None = None
    spike_trains: dict | None = None
    clean_spike_trains: dict | None = None


@dataclass(frozen=True)
class _Layer:
    role: str  # "fire", "integrate", "relay"
    kind: int
    WT: np.ndarray
    W: np.ndarray
    b: np.ndarray
    p: dict | None
    subtract: bool
    refractory: int
    delay: int
    shared: tuple | None  # conv: (site_ptr, ci, cj) cells of each stored weight


@dataclass(frozen=True)
class _SPlan:
    net: object
    layers: tuple
    specs: tuple  # (k, spec, key, layers)
    ticks: int
    dt_s: float
    enc_key: np.uint64
    n_inputs: int
    encoding: str
    readout: str
    mapping: object = None  # ChipMapping (core faults) or None


def _shared_cells(op, in_shape):
    """Cells ``(i, j)`` of the dense equivalent served by each stored conv weight, CSR by weight index."""
    idx = op.index(in_shape)  # (P, K)
    P, Kk = idx.shape
    co = op.weight.shape[0]
    p, kk = np.nonzero(idx >= 0)
    sites = (np.arange(co)[:, None] * Kk + kk[None]).ravel()
    ci = (np.arange(co)[:, None] * P + p[None]).ravel()
    cj = np.broadcast_to(idx[p, kk][None], (co, p.size)).ravel()
    order = np.argsort(sites, kind="stable")
    ptr = np.zeros(co * Kk + 1, np.int64)
    np.cumsum(np.bincount(sites, minlength=co * Kk), out=ptr[1:])
    return ptr, np.ascontiguousarray(ci[order], dtype=np.int64), np.ascontiguousarray(cj[order], dtype=np.int64)


def _router_layers(spec, net, encoding):
    fire = [l for l, la in enumerate(net.layers, start=1) if layer_role(la) == "fire"]
    default = tuple(([0] if encoding == "rate" else []) + fire)
    if spec.layers is None:
        return default
    bad = [v for v in spec.layers if v not in default]
    if bad:
        raise ConfigError(f"Router fault layers must be spike-emitting layers {list(default)} (0 only with encoding='rate'). Got {list(spec.layers)}.")
    return spec.layers


def _salt_of(spec, slot):
    return _ROUTER_SALT + slot if spec.site == "router" else _salt(spec.site, slot)


def _draw(spec, key, slot, n_sites, chips, inputs, T):
    """CSR events for a block: per row (per-inference forms) or per (row, tick) (``scope="tick"``)."""
    salt = _salt_of(spec, slot)
    sc = inv_rate(spec.rate)
    if spec.scope == "tick":
        chips = np.repeat(chips, T)
        inputs = (inputs[:, None] * T + np.arange(T, dtype=np.int64)[None]).ravel()
    if spec.mode == "transient":
        return E.transient_events(chips, inputs, key, salt, n_sites, sc)
    if spec.mode == "permanent":
        return E.permanent_events(chips // spec.group, key, salt, n_sites, sc)
    return E.intermittent_events(chips, inputs, key, salt, n_sites, sc, inv_rate(spec.p_on), inv_rate(spec.p_off), spec.duty)


_EMPTY = (np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0))


def _concat_scaled(items, nv):
    """Per-row concatenation of CSR lists with one scale per list -> (ptr, cells, scales)."""
    if not items:
        return np.zeros(nv + 1, np.int64), _EMPTY[1], _EMPTY[2]
    rows = np.concatenate([np.repeat(np.arange(nv), np.diff(p)) for p, _, _ in items])
    cells = np.concatenate([c for _, c, _ in items])
    vals = np.concatenate([np.full(c.size, v) for _, c, v in items])
    order = np.argsort(rows, kind="stable")
    ptr = np.zeros(nv + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=nv), out=ptr[1:])
    return ptr, np.ascontiguousarray(cells[order]), np.ascontiguousarray(vals[order])
