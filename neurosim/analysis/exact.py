r"""Exact moments of the output error by enumerating crash subsets.

For independent neuron crashes with probabilities ``p = {layer: rate}`` the
output error ``Δ_S = y_L(S dead) - y_L`` of each crash subset ``S`` has
probability

.. math::

    w_S = \prod_{l} p_l^{|S \cap \text{layer } l|}\,(1 - p_l)^{n_l - |S \cap \text{layer } l|},

so ``E Δ = Σ_S w_S Δ_S`` and ``Var Δ = Σ_S w_S (Δ_S - E Δ)^2`` exactly. This is
the slow reference the first-order bounds (b3, b4) are checked against.
Subsets are enumerated in chunks and pushed through the network together,
vectorised over inputs and subsets.
"""
from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..network import Network
from .bounds import _check_rates, _forward_from

__all__ = ["ExactMoments", "exact_moments"]

_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class ExactMoments:
    """Moments of ``Δ = y_faulty - y_clean`` from crash-subset enumeration.

    Attributes
    ----------
    mean : numpy.ndarray
        ``E Δ``, shape ``(n_inputs, n_out)``. With ``max_crashes`` set, the
        sum over the enumerated subsets only (the others count as ``Δ = 0``),
        so the true mean differs by at most ``neglected_mass * max |Δ|``.
    std : numpy.ndarray
        ``sqrt(Var Δ)`` with the same convention, shape ``(n_inputs, n_out)``.
    neglected_mass : float
        Probability of the subsets that were not enumerated (more than
        ``max_crashes`` crashes); 0.0 for a full enumeration.
    n_subsets : int
        Number of subsets enumerated.
    n_neurons : int
        Number of neurons that can crash (layers with a positive rate).
    """

    mean: np.ndarray
    std: np.ndarray
    neglected_mass: float
    n_subsets: int
    n_neurons: int


def _count_subsets(n: int, max_crashes: int | None) -> int:
    if max_crashes is None or max_crashes >= n:
        return 2 ** n
    return sum(math.comb(n, k) for k in range(max_crashes + 1))


def _mask_chunks(n: int, max_crashes: int | None, chunk: int):
    """Yield boolean crash masks ``(c, n)``, every subset exactly once."""
    if max_crashes is None or max_crashes >= n:
        bits = np.arange(n, dtype=np.int64)
        for start in range(0, 2 ** n, chunk):
            ints = np.arange(start, min(start + chunk, 2 ** n), dtype=np.int64)
            yield ((ints[:, None] >> bits) & 1).astype(bool)
        return
    for k in range(max_crashes + 1):
        combos = itertools.combinations(range(n), k)
        while True:
            block = list(itertools.islice(combos, chunk))
            if not block:
                break
            mask = np.zeros((len(block), n), dtype=bool)
            if k:
                mask[np.arange(len(block))[:, None], np.array(block)] = True
            yield mask


def exact_moments(net: Network, x, p, max_crashes: int | None = None,
                  max_subsets: int = 1_000_000) -> ExactMoments:
    r"""Exact mean and standard deviation of the error under neuron crashes.

    .. math::

        \mathbb E\Delta = \sum_S w_S\,\Delta_S, \qquad
        \operatorname{Var}\Delta = \sum_S w_S\,(\Delta_S - \mathbb E\Delta)^2,

    over all subsets ``S`` of the neurons of the layers in ``p`` (weights
    ``w_S`` in the module docstring). Moments of chunks are merged with the
    pairwise (Chan et al.) update, so no ``E Δ² - (E Δ)²`` cancellation.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer (0 = input .. L = output): crash probability}``.
        Layers with rate 0 are skipped.
    max_crashes : int or None
        Enumerate only subsets with at most this many crashes and report the
        probability of the rest in ``neglected_mass``. None: all ``2^n`` subsets.
    max_subsets : int
        Refuse (ConfigError) to enumerate more subsets than this.

    Returns
    -------
    ExactMoments
        ``mean`` and ``std`` of shape ``(n_inputs, n_out)`` and ``neglected_mass``.

    Raises
    ------
    ConfigError
        On a bad ``p``/``max_crashes`` or when the enumeration would exceed ``max_subsets``.
    """
    p = _check_rates(net, p)
    if max_crashes is not None and (
        isinstance(max_crashes, bool) or not isinstance(max_crashes, numbers.Integral) or max_crashes < 0
    ):
        raise ConfigError(f"'max_crashes' must be None or an integer >= 0. Got {max_crashes!r}.")
    ys, _ = net.forward_all(x)
    y_out = ys[-1]
    batch, n_out = y_out.shape
    layers = [l for l, r in p.items() if r > 0]
    sizes = [net.sizes[l] for l in layers]
    n = int(sum(sizes))
    n_sub = _count_subsets(n, max_crashes)
    if n_sub > max_subsets:
        where = ", ".join(f"layer {l}: {s}" for l, s in zip(layers, sizes))
        raise ConfigError(
            f"exact_moments would enumerate {n_sub:.3g} crash subsets of {n} neurons ({where}), "
            f"above max_subsets={max_subsets}. Set max_crashes (e.g. max_crashes=2) for a truncated "
            f"enumeration, crash fewer layers, or raise max_subsets."
        )
    if n == 0:
        z = np.zeros_like(y_out)
        return ExactMoments(z, z.copy(), 0.0, 1, 0)

    probs = np.concatenate([np.full(s, p[l]) for l, s in zip(layers, sizes)])
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    width = max(net.sizes[layers[0]:])
    chunk = max(1, _CHUNK_ELEMENTS // (batch * width))

    total_w = 0.0
    mean = np.zeros_like(y_out)
    m2 = np.zeros_like(y_out)
    count = 0
    for mask in _mask_chunks(n, max_crashes, chunk):
        count += mask.shape[0]
        w = np.where(mask, probs, 1.0 - probs).prod(axis=1)
        wc = float(w.sum())
        if wc == 0.0:
            continue
        keep = (~mask).astype(np.float64)  # 1 = alive
        per_layer = {l: keep[:, None, offsets[k]:offsets[k + 1]] for k, l in enumerate(layers)}
        l0 = layers[0]
        h = ys[l0][None, :, :] * per_layer[l0]
        delta = _forward_from(net, h, l0, per_layer) - y_out  # (c, batch, n_out)
        mc = np.einsum("c,cbo->bo", w, delta) / wc
        dev = delta - mc
        m2c = np.einsum("c,cbo->bo", w, dev * dev)
        # Chan et al. pairwise merge of (weight, mean, M2)
        new_w = total_w + wc
        d = mc - mean
        mean += d * (wc / new_w)
        m2 += m2c + d * d * (total_w * wc / new_w)
        total_w = new_w

    full = max_crashes is None or max_crashes >= n
    neglected = 0.0 if full else max(0.0, 1.0 - total_w)
    # neglected subsets count as Δ = 0: E = W m, E Δ² = M2 + W m², Var = E Δ² - E²
    ex = total_w * mean
    var = m2 + total_w * (1.0 - total_w) * mean * mean
    if full:  # total_w is 1 up to rounding: use the plain weighted moments
        ex, var = mean, m2 / total_w
    return ExactMoments(ex, np.sqrt(np.maximum(var, 0.0)), neglected, count, n)
