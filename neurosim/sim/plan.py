"""The per-call plan of :func:`neurosim.simulate`: what to run, at which precision, with which streams.

A :class:`Plan` bundles the network (weights in the working precision), the
optional chip mapping (core contents, tile grids), the resolved fault specs
with their stream keys, and the number of inputs. Everything that depends only
on the network or mapping — weight copies in float32, transposed weights,
core tables — is computed once per (network or mapping, precision) and cached
(weak references: the cache dies with the network). Network weights are
read-only arrays (``Network.from_arrays``), so a cached copy cannot go stale.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from ..chip.mapping import ChipMapping
from ..errors import ConfigError
from ..faults.spec import as_specs
from ..kernels import events as E
from ..kernels.rng import inv_rate
from ..network import Network
from . import conv as CV

PRECISIONS = {"float64": np.float64, "float32": np.float32}
DEFAULT_PRECISION = "float64"
_SITE_CODE = {"neuron": 1, "synapse": 2, "core": 3}


class Weights:
    """A network's weights and biases in one precision; transposes made on first use and kept.

    ``W[l]`` is the dense layer's matrix, or ``None`` for conv2d and wiring
    layers (their dense equivalents are never built here: conv layers run from
    :class:`~neurosim.sim.conv.ConvTables`); ``b[l]`` is the per-neuron bias of
    every layer.
    """

    def __init__(self, net: Network, dtype):
        self.dtype = np.dtype(dtype)
        same = self.dtype == np.float64
        Ws = [la.op.weight if la.op.kind == "dense" else None for la in net.layers]
        self.W = tuple(None if W is None else W if same else np.ascontiguousarray(W, dtype=self.dtype) for W in Ws)
        self.b = tuple(b if same else np.ascontiguousarray(b, dtype=self.dtype) for b in net.biases)
        self._WT = [None] * len(self.W)

    def WT(self, l: int) -> np.ndarray:
        """``W_l.T`` as a C-contiguous array (0-based ``l``): rows are the fan-out columns of ``W_l``."""
        if self._WT[l] is None:
            self._WT[l] = np.ascontiguousarray(self.W[l].T)
        return self._WT[l]


_WEIGHTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CORES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def tables_for(net: Network, mapping, dtype) -> tuple:
    """Cached per-layer conv/wiring tables (see :func:`neurosim.sim.conv.layer_tables`) per target and precision."""
    per = _TABLES.setdefault(mapping if mapping is not None else net, {})
    key = np.dtype(dtype).name
    if key not in per:
        per[key] = CV.layer_tables(net, mapping, dtype)
    return per[key]


def weights_for(net: Network, dtype) -> Weights:
    """Cached :class:`Weights` of ``net`` in ``dtype`` (one per network and precision)."""
    per = _WEIGHTS.setdefault(net, {})
    key = np.dtype(dtype).name
    if key not in per:
        per[key] = Weights(net, dtype)
    return per[key]


def _core_tables(mapping: ChipMapping):
    """Cached ``(core_contents, tile_grids)`` of a mapping (see :func:`make_plan`)."""
    got = _CORES.get(mapping)
    if got is None:
        grids = []
        p = mapping.profile
        for l, la in enumerate(mapping.qnet.layers, start=1):
            if la.op.kind != "dense":  # conv layers use per-cell cores (ConvTables.cell_core); wiring has no tiles
                grids.append(None)
                continue
            W = la.op.weight
            idx = np.flatnonzero(mapping.tile_layer == l)
            n_cb, n_rb = math.ceil(W.shape[0] / p.crossbar_cols), math.ceil(W.shape[1] / p.crossbar_rows)
            grids.append(np.ascontiguousarray(mapping.tile_core[idx].reshape(n_cb, n_rb)))
        got = (mapping.core_contents(), tuple(grids))
        _CORES[mapping] = got
    return got


@dataclass(frozen=True)
class Plan:
    """Everything one :func:`simulate` call needs besides the inputs.

    Attributes
    ----------
    net : Network
        The network run (a mapping's quantised one).
    weights : Weights
        Its weights in the working precision.
    mapping : ChipMapping or None
    core_data : tuple or None
        ``(tile_ptr, neuron_ptr, neuron_layer, neuron_index)`` of the mapping.
    tile_grids : tuple or None
        Per layer, the ``(n_cb, n_rb)`` grid of core ids of its tiles (None for conv and wiring layers).
    specs : tuple
        ``(k, spec, key, layers)`` per fault spec (``key``: the spec's stream key).
    n_inputs : int
    tables : tuple
        Per layer: ``None`` (dense), :class:`~neurosim.sim.conv.ConvTables`
        (conv2d, in the working precision) or :class:`~neurosim.sim.conv.Wiring` (pooling, flatten, scale).
    """

    net: Network
    weights: Weights
    mapping: ChipMapping | None
    core_data: tuple | None
    tile_grids: tuple | None
    specs: tuple
    n_inputs: int
    tables: tuple = ()
    values: object = None
    """:class:`neurosim.sim.values.ValueTables` of the specs (fault values), None for the clean pass."""
    sat: object = None
    """Saturation level per neuron layer (``saturated`` faults), set after the clean pass."""
    hooks: object = None
    """:class:`neurosim.sim.devices.DeviceHooks` (ADC/DAC, read noise) or None."""

    @property
    def dtype(self):
        return self.weights.dtype

    def clean(self) -> "Plan":
        """The same plan without faults or mapping (the clean pass)."""
        return Plan(self.net, self.weights, None, None, None, (), self.n_inputs, self.tables)

    def n_sites(self, spec, slot: int) -> int:
        """Number of sites of ``spec``'s kind in layer slot ``slot``."""
        if spec.site == "core":
            return self.mapping.n_cores
        return CV.site_count(self.net, self.tables, spec.site, slot)


def simulation_network(target) -> Network:
    """The network the engine runs for ``target``: a mapping's quantised network, or the network itself."""
    if isinstance(target, ChipMapping):
        return target.qnet
    if isinstance(target, Network):
        return target
    raise ConfigError(f"simulate() needs a neurosim.Network or ChipMapping. Got {type(target).__name__}.")


def check_precision(precision) -> np.dtype:
    """``"float32"``/``"float64"`` (or the numpy types) -> dtype, else a ConfigError."""
    if any(precision is t for t in (np.float32, np.float64)):
        precision = np.dtype(precision).name
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ConfigError(f"'precision' must be one of {', '.join(map(repr, PRECISIONS))}. Got {precision!r}.")
    return np.dtype(PRECISIONS[precision])


def spec_keys(entropy: int, n: int) -> list:
    """One 64-bit stream key per fault spec, from ``SeedSequence(entropy).spawn``-style keys."""
    return [np.random.SeedSequence(entropy, spawn_key=(k,)).generate_state(1, np.uint64)[0] for k in range(n)]


def make_plan(target, faults, seed, n_inputs, precision=DEFAULT_PRECISION):
    """Build the :class:`Plan` of one call; returns ``(plan, entropy)``."""
    net = simulation_network(target)
    mapping = target if isinstance(target, ChipMapping) else None
    dtype = check_precision(precision)
    if not net.is_rate:
        raise ConfigError(
            f"Network {net.name!r} has spiking neuron models; the rate engine cannot run it (use the spiking mode)."
        )
    tables = tables_for(net, mapping, dtype)
    specs = as_specs(faults)
    if any(s.site == "core" for s in specs) and mapping is None:
        raise ConfigError(
            "Core faults need a mapping: pass neurosim.map_network(net, profile) instead of the bare network (--profile on the command line)."
        )
    if seed is None:
        entropy = int(np.random.SeedSequence().entropy)
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"'seed' must be a non-negative integer or None. Got {seed!r}.")
        entropy = int(seed)
    keys = spec_keys(entropy, len(specs))
    resolved = tuple((k, s, keys[k], s.resolve_layers(net.n_layers)) for k, s in enumerate(specs))
    CV.check_spec_layers(net, tables, resolved)
    core_data = tile_grids = None
    if mapping is not None:
        core_data, tile_grids = _core_tables(mapping)
    from .values import value_tables

    vt = value_tables(specs, keys, target)
    return Plan(net, weights_for(net, dtype), mapping, core_data, tile_grids, resolved, n_inputs, tables, vt), entropy


def salt(site: str, layer: int) -> int:
    """Stream salt of a site kind and layer slot."""
    return _SITE_CODE[site] * 4096 + layer


def events(spec, key, slot, n_sites, chips, inputs):
    """Per-row CSR ``(ptr, cells)`` of the sites of ``spec`` faulty in each (chip, input) row."""
    s_ = salt(spec.site, slot)
    sc = inv_rate(spec.rate)
    if spec.mode == "transient":
        return E.transient_events(chips, inputs, key, s_, n_sites, sc)
    if spec.mode == "permanent":
        return E.permanent_events(chips // spec.group, key, s_, n_sites, sc)
    return E.intermittent_events(chips, inputs, key, s_, n_sites, sc, inv_rate(spec.p_on),
                                 inv_rate(spec.p_off), spec.duty)


def chip_events(spec, key, slot, n_sites, chips):
    """Permanent ``spec`` on rows of ``chips``: ``(seg_ptr, fptr, cells)``, one fault list per run of equal chips."""
    return E.permanent_segments(chips // spec.group, key, salt(spec.site, slot), n_sites, inv_rate(spec.rate))
