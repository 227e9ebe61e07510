r"""First-order bounds on the output error of a network with crashed parts.

The four bounds of El Mhamdi, Guerraoui, Kucharavy & Volodin, "The
Probabilistic Fault Tolerance of Neural Networks in the Continuous Limit"
(arXiv:1902.01686), with the semantics of the authors' code
(LPD-EPFL/nn-fault-tolerance, see /work/shared/REFERENCE.md):

* a crash of neuron ``i`` of layer ``l`` (0 = input, ``L`` = output) sets
  ``y_l[i] = 0`` after the activation, without any ``1/(1-p)`` rescaling;
* every neuron of layer ``l`` crashes independently with probability
  ``p[l]``; several layers may crash at once and their first-order moments
  add (superposition, "Additional Proposition 7");
* ``Δ = y_faulty - y_clean`` at the output ``y_L``.

Proposition and equation numbers are the paper's (v3, main text and
supplementary), checked against its extracted text (``docs/theory.md``).
b2 (Additional Proposition 2) bounds ``E|Δ_o|`` rigorously at any ``p``; b1
as implemented bounds ``‖E Δ‖_q`` to first order (the paper's Additional
Proposition 1 bounds ``E‖Δ‖``; see ``docs/theory.md``).

Everything here is plain numpy, vectorised over inputs: derivatives are
obtained by one backward pass that carries the full Jacobian
``∂y_L/∂y_l`` of shape ``(n_inputs, n_out, n_l)`` (no autodiff library).
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..network import Network, activate, activation_derivative

__all__ = [
    "BoundResult",
    "LIPSCHITZ",
    "bounds",
    "b1_bound",
    "b2_bound",
    "b3_bound",
    "b4_bound",
    "output_jacobians",
    "synapse_first_order",
    "loss_first_order",
]

#: Lipschitz constant of each activation (sigmoid is the logistic 1/(1+e^-z)).
LIPSCHITZ = {"relu": 1.0, "sigmoid": 0.25, "tanh": 1.0, "identity": 1.0}

#: Largest temporary array (elements) built by the batched single-crash passes.
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class BoundResult:
    """Mean and standard deviation of the output error predicted by one bound.

    Attributes
    ----------
    name : str
        Short name: ``"b1"``, ``"b2"``, ``"b3"``, ``"b4"``, ``"synapse"`` or ``"loss"``.
    mean : numpy.ndarray
        Predicted ``E Δ`` (b3, b4, synapse, loss: signed) or an upper bound on
        ``|E Δ|`` (b1, b2: non-negative). Shape ``(n_inputs, n_out)``, or
        ``(n_inputs,)`` for loss-level results.
    std : numpy.ndarray or None
        Predicted ``sqrt(Var Δ)``, same shape as ``mean``; None where the
        bound gives no variance (b1).
    description : str
        One line saying what the numbers are and where they come from.
    """

    name: str
    mean: np.ndarray
    std: np.ndarray | None
    description: str


# --------------------------------------------------------------------------- validation
def _check_rates(net: Network, p, name: str = "p", site: str = "neuron", wiring_ok: bool = False) -> dict:
    """Validate ``{layer: rate}`` and return it as ``{int: float}`` sorted by layer.

    Neuron layers run ``0..L`` (0 = input); synapse layers (weight matrices)
    run ``1..L``.
    """
    if not isinstance(p, Mapping):
        raise ConfigError(
            f"'{name}' must be a dict {{layer: rate}}. Got {type(p).__name__} {p!r}. "
            f"Pass e.g. {{1: 1e-3}}."
        )
    L = net.n_layers
    lo, kind = (0, "neuron layers are 0 (input)") if site == "neuron" else (1, "weight matrices are 1")
    out = {}
    for layer, rate in p.items():
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise ConfigError(
                f"Keys of '{name}' must be integer layer indices. Got {layer!r}. Use e.g. {{1: 1e-3}}."
            )
        layer = int(layer)
        if not lo <= layer <= L:
            raise ConfigError(
                f"Layer {layer} in '{name}' is out of range: {kind} .. {L} (output) for this network. "
                f"Use a layer index in {lo}..{L}."
            )
        try:
            r = float(rate)
        except (TypeError, ValueError):
            raise ConfigError(
                f"Rate {name}[{layer}] must be a number in [0, 1]. Got {rate!r}."
            ) from None
        if not (np.isfinite(r) and 0.0 <= r <= 1.0):
            raise ConfigError(
                f"Rate {name}[{layer}] must be a probability in [0, 1]. Got {rate!r}. "
                f"Pass e.g. 1e-3."
            )
        if site == "neuron" and layer > 0 and not wiring_ok and net.neuron_sites(layer) == 0:
            raise ConfigError(
                f"Layer {layer} in '{name}' is a {net.layers[layer - 1].op.kind} layer (wiring) and has no neurons "
                "that can fail; put the rate on the conv/dense layer before it."
            )
        if site == "synapse" and not wiring_ok and net.synapse_sites(layer) == 0:
            raise ConfigError(
                f"Layer {layer} in '{name}' is a {net.layers[layer - 1].op.kind} layer (wiring) and has no synapses; "
                "use a dense or conv2d layer index."
            )
        out[layer] = r
    return dict(sorted(out.items()))


def _lipschitz(name: str) -> float:
    return LIPSCHITZ[name]


# --------------------------------------------------------------------------- helpers
def _forward_from(net: Network, h: np.ndarray, start: int, masks: dict | None = None) -> np.ndarray:
    """Propagate layer-``start`` outputs ``h`` (``(..., n_start)``) to the output.

    ``masks[k]`` (broadcastable to ``(..., n_k)``) multiplies ``y_k`` after the
    activation for ``k > start``; the caller applies any mask of layer ``start``.
    """
    for k in range(start + 1, net.n_layers + 1):
        W = net.weights[k - 1]
        lead = h.shape[:-1]
        z = (np.ascontiguousarray(h).reshape(-1, W.shape[1]) @ W.T).reshape(*lead, W.shape[0])
        z += net.biases[k - 1]
        h = activate(net.activations[k - 1], z, out=z)
        if masks is not None and k in masks:
            h = h * masks[k]
    return h


def _backward(net: Network, zs, lowest_y: int | None, lowest_z: int | None = None):
    r"""Jacobians of the output w.r.t. layer outputs and pre-activations.

    Runs one backward pass carrying the whole Jacobian,
    ``∂y_L/∂y_{l-1} = (∂y_L/∂y_l · diag σ_l'(z_l)) W_l``, each product being a
    single GEMM of shape ``(n_inputs·n_out, n_l) @ (n_l, n_{l-1})``.

    Returns
    -------
    Jy : dict
        ``{l: ∂y_L/∂y_l}`` of shape ``(n_inputs, n_out, n_l)`` for ``l >= lowest_y``.
    Jz : dict
        ``{l: ∂y_L/∂z_l}`` of the same layout for ``l >= lowest_z``.
    """
    L = net.n_layers
    batch, n_out = zs[-1].shape
    lowest_y = L if lowest_y is None else lowest_y
    lowest_z = L + 1 if lowest_z is None else max(lowest_z, 1)
    stop = min(lowest_y + 1, lowest_z)
    J = np.broadcast_to(np.eye(n_out), (batch, n_out, n_out))
    Jy = {L: J}
    Jz = {}
    for l in range(L, stop - 1, -1):
        act = net.activations[l - 1]
        if act == "identity":
            G = J
        else:
            G = J * activation_derivative(act, zs[l - 1])[:, None, :]
        if l >= lowest_z:
            Jz[l] = G
        if l - 1 >= stop or l - 1 >= lowest_y:
            W = net.weights[l - 1]
            G2 = np.ascontiguousarray(G).reshape(batch * n_out, W.shape[0])
            J = (G2 @ W).reshape(batch, n_out, W.shape[1])
            if l - 1 >= lowest_y:
                Jy[l - 1] = J
    return Jy, Jz


def output_jacobians(net: Network, x, layers) -> dict:
    r"""Jacobians :math:`\partial y_L / \partial y_l` for the given neuron layers.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    layers : iterable of int
        Neuron layers ``l`` in ``0..L``.

    Returns
    -------
    dict
        ``{l: J_l}`` with ``J_l[b, o, i] = ∂y_L[o]/∂y_l[i]`` at input ``b``,
        shape ``(n_inputs, n_out, n_l)``. ``J_L`` is the identity.
    """
    layers = sorted(_check_rates(net, {int(l): 0.0 for l in layers}, name="layers", wiring_ok=True))
    ys, zs = net.forward_all(x)
    if not layers:
        return {}
    Jy, _ = _backward(net, zs, lowest_y=layers[0])
    return {l: np.array(Jy[l]) for l in layers}


def _zeros(x_batch: int, n_out: int) -> np.ndarray:
    return np.zeros((x_batch, n_out))


# --------------------------------------------------------------------------- b3
def b3_bound(net: Network, x, p) -> BoundResult:
    r"""Taylor (first-order) mean and standard deviation of the error: bound b3.

    Theorem 1 / Additional Corollary 2 of arXiv:1902.01686 (checked against
    the paper; remainder ``Θ±(1) D12 r²`` for the mean and ``r³`` for the
    variance, ``r = p + 1/n_l``, not computed). For crashes at layer ``l`` with probability ``p_l``,

    .. math::

        g_{l,i} = \frac{\partial y_L}{\partial y_l[i]}\, y_l[i], \qquad
        \mathbb E\Delta \approx -\sum_l p_l \sum_i g_{l,i}, \qquad
        \operatorname{Var}\Delta \approx \sum_l p_l \sum_i g_{l,i}^2 ,

    with ``p`` (not ``p(1-p)``) in the variance, as in the authors' code.
    Layers add (Additional Proposition 7). The mean is exact for networks
    whose layers after ``l`` are linear, when one layer crashes; the exact
    variance there is ``(1 - p)`` times this one.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer: crash probability}``, layers ``0..L``.

    Returns
    -------
    BoundResult
        ``mean`` and ``std`` of shape ``(n_inputs, n_out)``.
    """
    p = _check_rates(net, p)
    ys, zs = net.forward_all(x)
    batch, n_out = ys[-1].shape
    mean = _zeros(batch, n_out)
    var = _zeros(batch, n_out)
    active = [l for l, r in p.items() if r > 0]
    if active:
        Jy, _ = _backward(net, zs, lowest_y=active[0])
        for l in active:
            J, y = Jy[l], ys[l]
            mean -= p[l] * np.einsum("bon,bn->bo", J, y)
            var += p[l] * np.einsum("bon,bn->bo", J * J, y * y)
    return BoundResult(
        "b3", mean, np.sqrt(var),
        "b3: first-order Taylor E Δ = -Σ p g_i, Var Δ = Σ p g_i², g_i = (∂y_L/∂y_l[i]) y_l[i] (Theorem 1)",
    )


# --------------------------------------------------------------------------- b4
def _single_crash_sums(net: Network, ys, l: int):
    """``Σ_i d_i`` and ``Σ_i d_i²`` over single crashes of each neuron of layer ``l``.

    ``d_i = y_L(neuron i of layer l dead) - y_L``; the crash is applied as a
    rank-one change of ``z_{l+1}`` and the rest of the network is run in
    batches of neurons.
    """
    L = net.n_layers
    y_l = ys[l]
    batch = y_l.shape[0]
    if l == L:  # a dead output neuron: d_i = -y_L[i] e_i
        return -y_l, y_l * y_l
    W = net.weights[l]  # W_{l+1}, shape (n_{l+1}, n_l)
    z_next = y_l @ W.T + net.biases[l]
    y_out = ys[-1]
    s1 = np.zeros_like(y_out)
    s2 = np.zeros_like(y_out)
    width = max(net.sizes[l + 1:])
    chunk = max(1, _CHUNK_ELEMENTS // (batch * width))
    for i0 in range(0, y_l.shape[1], chunk):
        idx = slice(i0, min(i0 + chunk, y_l.shape[1]))
        # z_{l+1} with neuron i removed: (c, batch, n_{l+1})
        z = z_next[None, :, :] - y_l[:, idx].T[:, :, None] * W[:, idx].T[:, None, :]
        h = activate(net.activations[l], z, out=z)
        d = _forward_from(net, h, l + 1) - y_out
        s1 += d.sum(axis=0)
        s2 += np.einsum("cbo,cbo->bo", d, d)
    return s1, s2


def b4_bound(net: Network, x, p) -> BoundResult:
    r"""Single-crash mean and standard deviation of the error: bound b4.

    The exact effect of crashing one neuron at a time replaces the Taylor term
    of b3 (authors' code, ``get_bound_b4``):

    .. math::

        d_{l,i} = y_L(\text{neuron } i \text{ of layer } l \text{ dead}) - y_L, \qquad
        \mathbb E\Delta \approx \sum_l p_l \sum_i d_{l,i}, \qquad
        \operatorname{Var}\Delta \approx \sum_l p_l \sum_i d_{l,i}^2 .

    Both are exact to first order in ``p`` (the ``O(p^2)`` terms come from
    pairs of crashes). Cost: one partial forward pass per neuron, batched.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer: crash probability}``.

    Returns
    -------
    BoundResult
        ``mean`` and ``std`` of shape ``(n_inputs, n_out)``.
    """
    p = _check_rates(net, p)
    ys, _ = net.forward_all(x)
    mean = np.zeros_like(ys[-1])
    var = np.zeros_like(ys[-1])
    for l, rate in p.items():
        if rate > 0:
            s1, s2 = _single_crash_sums(net, ys, l)
            mean += rate * s1
            var += rate * s2
    return BoundResult(
        "b4", mean, np.sqrt(var),
        "b4: single-crash differences d_i, E Δ = Σ p d_i, Var Δ = Σ p d_i² (first order in p)",
    )


# --------------------------------------------------------------------------- b2
def b2_bound(net: Network, x, p) -> BoundResult:
    r"""Absolute-value propagation bound b2 (Additional Proposition 2).

    For crashes at layer ``l``, the authors' code computes
    ``p |W_L|…|W_{l+1}| y_l`` and ``sqrt(p (W_L∘W_L)…(W_{l+1}∘W_{l+1}) (y_l∘y_l))``.
    Here each hidden activation ``σ_k`` between ``l`` and ``L`` contributes its
    Lipschitz constant ``K_k`` (relu, tanh, identity: 1; logistic: 1/4), and
    ``|y_l|`` replaces ``y_l`` so the bound holds for signed activations:

    .. math::

        |\mathbb E\Delta| \lesssim \sum_l p_l\, K_{L-1}\cdots K_{l+1}\,
            |W_L|\cdots|W_{l+1}|\, |y_l|, \qquad
        \operatorname{Var}\Delta \lesssim \sum_l p_l\, K_{L-1}^2\cdots K_{l+1}^2\,
            W_L^{\circ 2}\cdots W_{l+1}^{\circ 2}\, y_l^{\circ 2}.

    The first line bounds the b3 mean (|J| ≤ Π K |W| entrywise); the second
    is the b3 variance with every path weight replaced by its absolute value,
    which is how the paper states it (not a strict bound on the b3 variance,
    since cross terms between paths are dropped). With the authors'
    ``sigmoid(4z)`` (Lipschitz 1) and our logistic applied to ``4 W``, the two
    coincide.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer: crash probability}``.

    Returns
    -------
    BoundResult
        Non-negative ``mean`` (bound on ``|E Δ|``) and ``std``, shape ``(n_inputs, n_out)``.
    """
    p = _check_rates(net, p)
    ys, _ = net.forward_all(x)
    mean = np.zeros_like(ys[-1])
    var = np.zeros_like(ys[-1])
    for l, rate in p.items():
        if rate == 0:
            continue
        m, s = np.abs(ys[l]), ys[l] ** 2
        for k in range(l + 1, net.n_layers + 1):
            W, K = net.weights[k - 1], _lipschitz(net.activations[k - 1])
            m = K * (m @ np.abs(W).T)
            s = K * K * (s @ (W * W).T)
        mean += rate * m
        var += rate * s
    return BoundResult(
        "b2", mean, np.sqrt(var),
        "b2: p Π K |W| |y_l| (bound on E|Δ| at any p) and sqrt(p Π K² W∘W y_l∘y_l) (Additional Proposition 2)",
    )


# --------------------------------------------------------------------------- b1
_NORMS = {1: 1, 2: 2, "1": 1, "2": 2, "inf": np.inf, np.inf: np.inf}


def b1_bound(net: Network, x, p, norm="min") -> BoundResult:
    r"""Norm-product bound b1 (Proposition 2 / Additional Proposition 1).

    .. math::

        |\mathbb E\Delta_o| \le \|\mathbb E\Delta\|_q \lesssim \sum_l p_l
            \Big(\prod_{k=l+1}^{L} K_k \|W_k\|_q\Big)\, \|y_l\|_q ,

    with ``‖W‖_q`` the matrix norm induced by the vector ``q``-norm
    (``q = 1``: max column sum, ``2``: spectral, ``inf``: max row sum) and
    ``K_k`` the Lipschitz constant of the activation of layer ``k``. It bounds
    the first-order mean ``-p J y_l`` since ``‖J‖_q ≤ Π K_k ‖W_k‖_q``. The
    scalar is broadcast to every output component (each ``|E Δ_o|`` is at
    most the ``q``-norm of the vector).

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer: crash probability}``.
    norm : {1, 2, "inf", numpy.inf, "min"}
        Which norm; ``"min"`` (default) takes, per input, the smallest of the
        three bounds (all three are valid, so is their minimum).

    Returns
    -------
    BoundResult
        Non-negative ``mean`` of shape ``(n_inputs, n_out)``; ``std`` is None.
    """
    if norm == "min":
        res = [b1_bound(net, x, p, q).mean for q in (1, 2, np.inf)]
        return BoundResult("b1", np.minimum.reduce(res), None,
                           "b1: min over q in {1, 2, inf} of p Π K ||W||_q ||y_l||_q (Proposition 2)")
    if isinstance(norm, bool) or norm not in _NORMS:
        raise ConfigError(f"'norm' must be one of 1, 2, 'inf' or 'min'. Got {norm!r}.")
    q = _NORMS[norm]
    p = _check_rates(net, p)
    ys, _ = net.forward_all(x)
    total = np.zeros(ys[0].shape[0])
    for l, rate in p.items():
        if rate == 0:
            continue
        factor = 1.0
        for k in range(l + 1, net.n_layers + 1):
            factor *= _lipschitz(net.activations[k - 1]) * np.linalg.norm(net.weights[k - 1], ord=q)
        total += rate * factor * np.linalg.norm(ys[l], ord=q, axis=1)
    mean = np.broadcast_to(total[:, None], ys[-1].shape).copy()
    qname = "inf" if q == np.inf else str(q)
    return BoundResult("b1", mean, None,
                       f"b1: p Π K ||W||_{qname} ||y_l||_{qname}, first-order bound on ||E Δ|| (Proposition 2)")


# --------------------------------------------------------------------------- all four
def bounds(net: Network, x, p, norm="min") -> dict:
    """The four bounds b1..b4 for neuron crashes ``p = {layer: rate}``.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p : dict
        ``{neuron layer (0 = input .. L = output): crash probability}``.
    norm : {1, 2, "inf", "min"}
        Norm of b1, see :func:`b1_bound`.

    Returns
    -------
    dict
        ``{"b1": BoundResult, "b2": ..., "b3": ..., "b4": ...}``; each ``mean``
        and ``std`` has shape ``(n_inputs, n_out)`` (b1's ``std`` is None).
    """
    return {
        "b1": b1_bound(net, x, p, norm=norm),
        "b2": b2_bound(net, x, p),
        "b3": b3_bound(net, x, p),
        "b4": b4_bound(net, x, p),
    }


# kept importable from here; defined in .first_order
from .first_order import (  # noqa: E402  (after the names it imports)
    loss_first_order,
    synapse_first_order,
)
