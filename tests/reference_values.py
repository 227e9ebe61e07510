"""Plain-numpy references for fault values (dense, slow, obvious; no numba, no engine)."""
from __future__ import annotations

import itertools

import numpy as np

from neurosim import ChipMapping, FaultSpec, parse_fault
from neurosim.chip.quantize import levels
from neurosim.faults import flip_bit
from neurosim.kernels import events as E
from neurosim.kernels.rng import inv_rate
from neurosim.sim import engine as EN
from reference import ACT, csr_rows


def tile_tables(mapping: ChipMapping, layer: int):
    """Per-cell quantisation step and full-scale weight ``n * s`` of ``W_layer``."""
    W = mapping.qnet.weights[layer - 1]
    S = np.empty(W.shape)
    for t in np.flatnonzero(mapping.tile_layer == layer):
        S[mapping.tile_c0[t]:mapping.tile_c1[t], mapping.tile_r0[t]:mapping.tile_r1[t]] = mapping.tile_scale[t]
    return S, S * levels(mapping.profile.weight_bits)


def synapse_value(spec: FaultSpec, W, i, j, mapping=None, layer=None, bit=None):
    """The weight a faulty cell ``W[i, j]`` holds under ``spec`` (rules of neurosim.faults.values)."""
    fv = spec.fault_value
    w = W[i, j]
    if fv.kind == "zero":
        return 0.0
    if fv.kind == "number":
        return fv.number
    if fv.kind == "scale":
        return fv.number * w
    if fv.kind in ("max", "min"):
        if fv.range is not None:
            return fv.range[1] if fv.kind == "max" else fv.range[0]
        _, F = tile_tables(mapping, layer)
        return F[i, j] if fv.kind == "max" else -F[i, j]
    S, _ = tile_tables(mapping, layer)
    q = int(np.rint(w / S[i, j]))
    return flip_bit(q, fv.bit if fv.bit is not None else bit, mapping.profile.weight_bits) * S[i, j]


def forward_values(net, x, neuron_vals=None, synapse_W=None):
    """Outputs with neuron overrides and replaced weight matrices, one input row.

    ``neuron_vals[l]``: dict ``{i: v}`` (layer 0 = inputs); ``synapse_W[l]``: the
    full faulty ``W_l`` (None = clean).
    """
    y = np.array(x, dtype=np.float64)
    neuron_vals = neuron_vals or {}
    synapse_W = synapse_W or {}

    def over(l, y):
        for i, v in neuron_vals.get(l, {}).items():
            y[i] = v
        return y

    y = over(0, y)
    for l in range(1, net.n_layers + 1):
        W = synapse_W.get(l, net.weights[l - 1])
        y = over(l, ACT[net.activations[l - 1]](W @ y + net.biases[l - 1]))
    return y


def regenerate_sites(target, x, specs, seed, n_chips):
    """Per-row faulty sites per spec and slot, from the public event kernels (chip-major rows)."""
    specs = [s if isinstance(s, FaultSpec) else parse_fault(s) for s in specs]
    net = target.qnet if isinstance(target, ChipMapping) else target
    B = x.shape[0]
    chips = np.repeat(np.arange(n_chips, dtype=np.int64), B)
    inputs = np.tile(np.arange(B, dtype=np.int64), n_chips)
    keys = EN.spec_keys(seed, len(specs))
    rows = [[{} for _ in specs] for _ in range(chips.size)]
    for k, s in enumerate(specs):
        for slot in s.resolve_layers(net.n_layers) if s.site != "core" else [0]:
            n_sites = (target.n_cores if s.site == "core" else net.sizes[slot] if s.site == "neuron"
                       else net.weights[slot - 1].size)
            salt, sc = EN._salt(s.site, slot), inv_rate(s.rate)
            if s.mode == "transient":
                ptr, cells = E.transient_events(chips, inputs, keys[k], salt, n_sites, sc)
            elif s.mode == "permanent":
                ptr, cells = E.permanent_events(chips // s.group, keys[k], salt, n_sites, sc)
            else:
                ptr, cells = E.intermittent_events(chips, inputs, keys[k], salt, n_sites, sc, inv_rate(s.p_on),
                                                   inv_rate(s.p_off), s.duty)
            for r, row in enumerate(csr_rows(ptr, cells)):
                rows[r][k][slot] = row.tolist()
    return specs, rows, inputs


def reference_delta_values(target, x, specs, seed, n_chips, sat=None, bit=None):
    """Dense reference of Δ for valued faults: later specs win on shared sites (the engine's rule)."""
    mapping = target if isinstance(target, ChipMapping) else None
    net = mapping.qnet if mapping is not None else target
    specs, rows, inputs = regenerate_sites(target, x, specs, seed, n_chips)
    clean = np.array([forward_values(net, xb) for xb in x])
    out = np.empty((len(rows), net.n_out))
    for r, per_spec in enumerate(rows):
        nv, sw = {}, {}
        dead = set()
        for k, s in enumerate(specs):
            for slot, sites in per_spec[k].items():
                if s.site == "core":
                    dead.update(sites)
                elif s.site == "neuron":
                    fv = s.fault_value
                    v = sat[slot] if fv.kind == "saturated" else (fv.number if fv.kind == "number" else 0.0)
                    nv.setdefault(slot, {}).update({i: v for i in sites})
                else:
                    W0 = net.weights[slot - 1]
                    Wf = sw.setdefault(slot, W0.copy())
                    for c in sites:
                        i, j = divmod(c, W0.shape[1])
                        Wf[i, j] = synapse_value(s, W0, i, j, mapping, slot, bit)
        if dead:  # a dead core holds nothing: its cells and neurons read 0 whatever other specs say
            dc = np.array(sorted(dead))
            for l in range(1, net.n_layers + 1):
                Wf = sw.setdefault(l, net.weights[l - 1].copy())
                Wf[np.isin(mapping.synapse_core(l), dc)] = 0.0
                for i in np.flatnonzero(np.isin(mapping.neuron_core[l - 1], dc)):
                    nv.setdefault(l, {})[int(i)] = 0.0
        out[r] = forward_values(net, x[inputs[r]], nv, sw)
    return (out - clean[inputs]).reshape(n_chips, x.shape[0], net.n_out)


def exact_value_moments(net, x, sites, p):
    """Exact mean and variance of Δ when each site independently holds its value with probability ``p``.

    ``sites``: ``("neuron", l, i, v)`` or ``("synapse", l, i, j, v)``; all ``2^n``
    subsets are enumerated. Returns ``(mean, var, m4)`` of shape ``(n_inputs, n_out)``.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = len(sites)
    subsets = list(itertools.product([False, True], repeat=n))
    clean = np.array([forward_values(net, xb) for xb in x])
    means, vars_, m4s = [], [], []
    for b in range(x.shape[0]):
        ds, ws = [], []
        for sub in subsets:
            k = sum(sub)
            nv, sw = {}, {}
            for on, s in zip(sub, sites):
                if not on:
                    continue
                if s[0] == "neuron":
                    nv.setdefault(s[1], {})[s[2]] = s[3]
                else:
                    sw.setdefault(s[1], net.weights[s[1] - 1].copy())[s[2], s[3]] = s[4]
            ds.append(forward_values(net, x[b], nv, sw) - clean[b])
            ws.append(p ** k * (1 - p) ** (n - k))
        d, w = np.array(ds), np.array(ws)
        mu = w @ d
        c = d - mu
        means.append(mu)
        vars_.append(w @ c ** 2)
        m4s.append(w @ c ** 4)
    return np.array(means), np.array(vars_), np.array(m4s)
