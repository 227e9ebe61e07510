r"""First-order moments of the output error for stuck-at-value faults (project's own derivation).

Generalises b3 (Theorem 1 of arXiv:1902.01686, crash = value 0) and the
synapse first-order prediction to any fault value.

Neurons. A faulty neuron ``i`` of layer ``l`` holds ``v`` instead of ``y_l[i]``;
to first order in the changes, with ``J_l = ∂y_L/∂y_l`` and independent
faults of probability ``p_l``,

.. math::

    \mathbb E\Delta \approx \sum_l p_l \sum_i J_l[:, i]\,(v - y_l[i]), \qquad
    \operatorname{Var}\Delta \approx \sum_l p_l \sum_i J_l[:, i]^2\,(v - y_l[i])^2 ,

(``v = 0`` gives b3: ``-p Σ g_i``, ``g_i = J y_i``). ``saturated`` takes
``v`` = the layer's largest clean activation over the evaluation inputs, as
the engine does.

Synapses. A faulty cell ``W_l[i, j]`` holds ``V_ij`` (possibly random: a
bit flip picks its bit uniformly); with ``G_l = ∂y_L/∂z_l``,
``M1 = E[V - W]`` and ``M2 = E[(V - W)^2]`` (element-wise),

.. math::

    \mathbb E\Delta \approx \sum_l p_l\, G_l\,(M1_l\, y_{l-1}), \qquad
    \operatorname{Var}\Delta \approx \sum_l p_l\, G_l^{\circ 2}\,(M2_l\, y_{l-1}^{\circ 2}) .

As for b3, the mean is exact when one layer is faulty and everything after
it is linear; there the exact variance is the first-order one minus
``p^2 Σ (J d)^2`` (we keep ``p``, not ``p(1-p)``, like b3). Several specs add
(first-order superposition, Additional Proposition 7). When several specs hit
the same layer their sites are taken as disjoint (the overlap is second order).
"""
from __future__ import annotations

import numpy as np

from ..chip.mapping import ChipMapping
from ..chip.quantize import levels
from ..errors import ConfigError
from ..faults.spec import check_for_chip
from ..faults.values import flip_bit
from .bounds import BoundResult, _backward

__all__ = ["value_first_order", "synapse_value_moments", "saturation_levels_of", "fep_value_bound"]


def saturation_levels_of(net, x) -> np.ndarray:
    """``max_b max_i y_l[b, i]`` for l = 0..L on the inputs ``x`` (the engine's ``saturated`` value)."""
    ys, _ = net.forward_all(x)
    return np.array([float(np.max(y)) for y in ys])


def _tile_step(mapping: ChipMapping, layer: int) -> np.ndarray:
    W = mapping.qnet.weights[layer - 1]
    S = np.empty(W.shape)
    for t in np.flatnonzero(mapping.tile_layer == layer):
        S[mapping.tile_c0[t]:mapping.tile_c1[t], mapping.tile_r0[t]:mapping.tile_r1[t]] = mapping.tile_scale[t]
    return S


def synapse_value_moments(spec, W, mapping=None, layer=None):
    """``(M1, M2)``: mean and mean square of ``V - W`` per cell of ``W`` under ``spec``'s value."""
    fv = spec.fault_value
    if fv.kind == "zero":
        return -W, W * W
    if fv.kind == "number" or (fv.kind in ("max", "min") and fv.range is not None):
        v = fv.number if fv.kind == "number" else (fv.range[1] if fv.kind == "max" else fv.range[0])
        d = v - W
        return d, d * d
    if fv.kind == "scale":
        d = (fv.number - 1.0) * W
        return d, d * d
    if mapping is None:
        raise ConfigError(f"Fault '{spec.to_text()}' needs the chip mapping for its value; pass mapping=.")
    S = _tile_step(mapping, layer)
    bits = mapping.profile.weight_bits
    if fv.kind in ("max", "min"):
        d = (1.0 if fv.kind == "max" else -1.0) * levels(bits) * S - W
        return d, d * d
    Q = np.rint(W / S).astype(np.int64)
    ks = [fv.bit] if fv.bit is not None else list(range(bits))
    m1 = np.zeros(W.shape)
    m2 = np.zeros(W.shape)
    flip = np.vectorize(flip_bit, otypes=[np.int64])
    for k in ks:
        d = (flip(Q, k, bits) - Q) * S
        m1 += d / len(ks)
        m2 += d * d / len(ks)
    return m1, m2


def value_first_order(target, x, faults) -> BoundResult:
    """First-order mean and std of Δ for neuron and synapse faults with any values (module docstring).

    Parameters
    ----------
    target : Network or ChipMapping
        A mapping is needed for ``max``/``min`` without a range and ``bitflip``.
    x : array (n_inputs, n_in)
        Evaluation inputs (also define the ``saturated`` levels).
    faults : list of FaultSpec
        Neuron and synapse specs; intermittent ones count with rate ``rate * duty``.
        Core faults are not covered (raise).

    Returns
    -------
    BoundResult named ``"values"``: ``mean``, ``std`` of shape ``(n_inputs, n_out)``.
    """
    mapping = target if isinstance(target, ChipMapping) else None
    net = mapping.qnet if mapping is not None else target
    bits = mapping.profile.weight_bits if mapping is not None else None
    ys, zs = net.forward_all(x)
    sat = [float(np.max(y)) for y in ys]
    mean = np.zeros_like(ys[-1])
    var = np.zeros_like(ys[-1])
    nl, sl = [], []
    for s in faults:
        if s.site not in ("neuron", "synapse"):
            raise ConfigError(f"value_first_order covers neuron and synapse faults; '{s.to_text()}' is a {s.site} fault.")
        check_for_chip(s, bits)
        rate = s.rate * (s.duty if s.mode == "intermittent" else 1.0)
        if rate <= 0:
            continue
        for l in s.resolve_layers(net.n_layers):
            (nl if s.site == "neuron" else sl).append((s, l, rate))
    if not nl and not sl:
        return BoundResult("values", mean, np.zeros_like(mean), "first-order stuck-at-value moments (no faults)")
    low_y = min((l for _, l, _ in nl), default=None)
    low_z = min((l for _, l, _ in sl), default=None)
    Jy, Jz = _backward(net, zs, lowest_y=low_y, lowest_z=low_z)
    for s, l, p in nl:
        fv = s.fault_value
        v = sat[l] if fv.kind == "saturated" else (fv.number if fv.kind == "number" else 0.0)
        d = v - ys[l]
        J = Jy[l]
        mean += p * np.einsum("bon,bn->bo", J, d)
        var += p * np.einsum("bon,bn->bo", J * J, d * d)
    for s, l, p in sl:
        W = net.weights[l - 1]
        m1, m2 = synapse_value_moments(s, W, mapping, l)
        G = Jz[l]
        yp = ys[l - 1]
        mean += p * np.einsum("boi,bi->bo", G, yp @ m1.T)
        var += p * np.einsum("boi,bi->bo", G * G, (yp * yp) @ m2.T)
    return BoundResult(
        "values", mean, np.sqrt(var),
        "first-order stuck-at-value moments: E Δ = Σ p J (v - y) (neurons), Σ p G (E[V-W] y) (synapses); "
        "Var with squares (project's own derivation, generalising b3)",
    )


def fep_value_bound(net, failures, value, x):
    r"""Fep worst-case bound on ``||Δ||_∞`` when ``failures[l]`` neurons of layer ``l`` hold ``value``.

    The Byzantine form of :func:`neurosim.analysis.fep_bound` ("When Neurons
    Fail", El Mhamdi & Guerraoui 2017): a failed neuron's error is
    ``|v - y_l[i]| <= |v| + R_l``, so the capacity is ``C = |v|`` (``saturated``:
    the layer's largest clean activation on ``x``, the largest over the failing
    layers); ``v = 0`` is the crash form. ``x`` gives the ranges ``R_l``.
    """
    from ..faults.values import FaultValue, parse_value
    from .fep import fep_bound

    fv = value if isinstance(value, FaultValue) else parse_value(value, "neuron", f"neuron:{value}")
    if fv.kind == "zero":
        return fep_bound(net, failures, mode="crash", x=x)
    if fv.kind == "saturated":
        sat = saturation_levels_of(net, x)
        cap = max(abs(sat[int(l)]) for l, f in dict(failures).items() if f) if any(dict(failures).values()) else 1.0
    else:
        cap = abs(fv.number)
    return fep_bound(net, failures, mode="byzantine", capacity=max(cap, 1e-300), x=x)
