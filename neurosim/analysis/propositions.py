r"""The paper's Propositions 3 and 5 as tail bounds, and the network's δ0.

Split out of :mod:`neurosim.analysis.tails` (which re-exports every name
here); references and decisions are those of that module's docstring.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .tails import ChebyshevTail, _probability, chebyshev_tail, kl_bernoulli

# --------------------------------------------------------------------------- Proposition 3 (paper)
def weight_mass(net, layer: int) -> np.ndarray:
    r"""``W_l^i = Σ_j |W_l^{ij}|`` for the neurons ``i`` of layer ``l`` (Definition 3).

    For ``l >= 1`` this is the row sum of ``|W_l|`` (``W_l`` is
    ``n_l × n_{l-1}``): the paper's formula, literally. The input layer
    ``l = 0`` has no incoming matrix; there the outgoing masses
    ``Σ_j |W_1^{ji}|`` (columns of ``W_1``) are used — the weights a crash
    of input ``i`` removes.
    """
    L = net.n_layers
    if int(layer) != layer or not 0 <= layer <= L:
        raise ConfigError(f"'layer' must be an integer in 0..{L}. Got {layer!r}.")
    if layer == 0:
        return np.abs(net.weights[0]).sum(axis=0)
    return np.abs(net.weights[layer - 1]).sum(axis=1)


def weight_balancedness(masses) -> float:
    r"""The largest ``q`` for which the vector ``masses`` is q-balanced: ``min_i |x_i| / max_i |x_i|``.

    A vector ``x ≠ 0`` is q-balanced if ``min |x_i| >= q · max |x_i|``
    (Notations, Proposition 3 / Assumption 3 of the short version). 0 for
    the zero vector.
    """
    m = np.abs(np.asarray(masses, dtype=np.float64)).ravel()
    if m.size == 0 or not np.all(np.isfinite(m)):
        raise ConfigError(f"'masses' must be a non-empty finite vector. Got shape {m.shape}.")
    top = float(m.max())
    return 0.0 if top == 0.0 else float(m.min() / top)


def default_alpha(p: float) -> float:
    r"""Default ``α`` of Proposition 3: ``e² · p`` (capped below 1).

    From the supplementary's analysis of Algorithm 1 (Sec. 6.1, item 2): for
    ``α >= e² p``, ``log(α/p) >= 2`` and ``d_KL(α ‖ p) ≳ α``. The paper
    leaves ``α > p`` free; pass another value to :func:`proposition3_tail`.
    """
    p = _probability("p", p)
    return float(min(math.e ** 2 * p, 0.5 * (1.0 + p))) if p < 1 else 1.0


@dataclass(frozen=True)
class Proposition3Tail:
    """Proposition 3 on one layer.

    Attributes
    ----------
    n : int
        Neurons ``n_l``.
    p : float
        Crash probability ``p_l``.
    alpha : float
        Threshold fraction ``α > p`` of the weight mass.
    q : float
        Balance ``min_i W^i / max_i W^i`` of the masses.
    delta0 : float
        ``exp(-n q d_KL(α ‖ p))`` (1 when ``α <= p`` or ``q = 0``): the bound
        on ``P{‖U_l‖_1 >= α ‖W_l‖_1}``.
    """

    n: int
    p: float
    alpha: float
    q: float
    delta0: float


def proposition3_tail(masses, p: float, alpha: float | None = None) -> Proposition3Tail:
    r"""Proposition 3: tail of the crashed weight mass of one layer.

    With independent crashes ``ξ_i ~ Be(p)`` and the q-balanced masses
    ``W^i`` (:func:`weight_mass`), ``‖U_l‖_1 = Σ_i ξ_i W^i`` and

    .. math::

        \delta_0 = P\{\|U_l\|_1 \ge \alpha \|W_l\|_1\}
        \le \exp\big(-n_l\, q\, d_{KL}(\alpha \,\|\, p_l)\big), \qquad \alpha > p_l .

    For ``q = 1`` this is the Chernoff bound on ``Bin(n, p)``
    (:func:`crash_count_tail`). The test suite checks the inequality against
    exact enumeration on random mass vectors.

    Parameters
    ----------
    masses : array_like, shape (n,)
        ``W^i`` (any non-negative vector; absolute values are taken).
    p : float
        Crash probability in ``[0, 1]``.
    alpha : float, optional
        In ``(p, 1)``; default :func:`default_alpha`.
    """
    m = np.abs(np.asarray(masses, dtype=np.float64)).ravel()
    q = weight_balancedness(m)
    p = _probability("p", p)
    a = default_alpha(p) if alpha is None else _probability("alpha", alpha, open_interval=True)
    if a <= p or q == 0.0:
        d0 = 1.0
    else:
        d0 = float(min(1.0, math.exp(-m.size * q * float(kl_bernoulli(a, p)))))
    return Proposition3Tail(int(m.size), float(p), float(a), q, d0)


# --------------------------------------------------------------------------- Proposition 5 (paper)
@dataclass(frozen=True)
class Proposition5Tail:
    """Proposition 5: ``δ = δ0 + Var Δ / t²``, ``t = ε - |E Δ|``.

    Attributes
    ----------
    delta : numpy.ndarray
        Per component ``min(1, δ0 + Var/t²)`` (1 where ``t <= 0``).
    delta_any : numpy.ndarray or float
        For ``‖Δ‖_∞``: ``min(1, δ0 + Σ_o Var_o/t_o²)`` over the last axis
        (``δ0`` once: the event it bounds does not depend on the output).
    delta0 : float
        The Proposition 3 term.
    chebyshev : ChebyshevTail
        The ``Var/t²`` part alone.
    """

    delta: np.ndarray
    delta_any: np.ndarray | float
    delta0: float
    chebyshev: ChebyshevTail


def proposition5_tail(mean, std, eps: float, delta0: float = 0.0) -> Proposition5Tail:
    r"""Proposition 5 (supplementary, Sec. 5): ``P(|Δ| >= ε) <= δ0 + Var Δ / (ε - |E Δ|)²``.

    ``δ0`` is Proposition 3's bound on the event that the weight perturbation
    is large (where the Taylor expansion of Theorem 1 is not used); it is
    *added*, never minimised against. The main text's statement omits
    ``δ0``; the supplementary's includes it — we follow the supplementary.
    With the true moments the Chebyshev part alone is already rigorous, so
    the sum is too; with first-order moments (b3, b4) it is approximate.
    """
    d0 = _probability("delta0", delta0)
    cheb = chebyshev_tail(mean, std, eps)
    raw = np.where(cheb.informative, cheb.delta, 1.0)
    d = np.minimum(1.0, d0 + raw)
    d_any = np.minimum(1.0, d0 + raw.sum(axis=-1)) if raw.ndim else d
    return Proposition5Tail(d, d_any, d0, cheb)


def network_delta0(net, p: dict, alpha: float | None = None) -> tuple[float, list]:
    r"""Proposition 3 over every crashing neuron layer, combined by a union bound: ``δ0 = min(1, Σ_l δ0_l)``.

    ``p`` is ``{layer: crash probability}`` (layers with ``p = 0`` are
    skipped). Returns ``(δ0, [Proposition3Tail per layer with its 'layer'])``.
    """
    total, per = 0.0, []
    for layer, rate in sorted(p.items()):
        if rate <= 0:
            continue
        t = proposition3_tail(weight_mass(net, int(layer)), rate, alpha)
        per.append({"layer": int(layer), **t.__dict__})
        total += t.delta0
    return float(min(1.0, total)), per
