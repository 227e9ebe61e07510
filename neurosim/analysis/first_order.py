r"""First-order mean and variance for synapse crashes, and the first-order loss change.

Split out of :mod:`neurosim.analysis.bounds` (which re-exports both functions);
the semantics (crash = weight or output set to 0, no rescaling; Δ at the
output) and the paper references are those of that module's docstring.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..network import Network, activation_derivative
from .bounds import BoundResult, _backward, _check_rates

# --------------------------------------------------------------------------- synapses
def synapse_first_order(net: Network, x, p_syn) -> BoundResult:
    r"""First-order mean and variance of the error for synapse crashes.

    A crashed synapse ``(i, j)`` of ``W_l`` drops the term ``W_l[i,j] y_{l-1}[j]``
    from ``z_l[i]``. With ``G_l = ∂y_L/∂z_l`` (from the same backward pass as b3),

    .. math::

        \mathbb E\Delta \approx -\sum_l p_l \sum_{i,j} G_l[:, i]\, W_l[i,j]\, y_{l-1}[j]
            = -\sum_l p_l\, G_l\,(z_l - b_l), \qquad
        \operatorname{Var}\Delta \approx \sum_l p_l \sum_i G_l[:, i]^2\,
            \big(W_l^{\circ 2} y_{l-1}^{\circ 2}\big)_i ,

    the synapse analogue of Theorem 1 (``p``, not ``p(1-p)``, in the variance).
    In a conv2d layer one stored kernel weight ``w_k`` serves every output
    position (shared kernel), so a site's first-order effect is the sum over
    the positions it serves, ``g_k = w_k Σ_pos G_l[:, (c, pos)] y_{l-1}[idx(pos, k)]``,
    and ``Var Δ ≈ p_l Σ_k g_k²`` (the mean is unchanged: it is linear in the sites).

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    p_syn : dict
        ``{weight matrix l (1-based, W_l): crash probability}``.

    Returns
    -------
    BoundResult
        ``mean`` and ``std`` of shape ``(n_inputs, n_out)``.
    """
    p_syn = _check_rates(net, p_syn, name="p_syn", site="synapse")
    ys, zs = net.forward_all(x)
    mean = np.zeros_like(ys[-1])
    var = np.zeros_like(ys[-1])
    active = [l for l, r in p_syn.items() if r > 0]
    if active:
        _, Jz = _backward(net, zs, lowest_y=None, lowest_z=active[0])
        for l in active:
            G, W = Jz[l], net.weights[l - 1]
            mean -= p_syn[l] * np.einsum("boi,bi->bo", G, zs[l - 1] - net.biases[l - 1])
            op = net.layers[l - 1].op
            if op.kind == "conv2d":
                from ..layers import gather

                cols = gather(ys[l - 1], op.index(net.shapes[l - 1]))  # (B, P, K)
                Gc = G.reshape(G.shape[0], G.shape[1], op.weight.shape[0], cols.shape[1])  # (B, O, c_out, P)
                g = np.einsum("bocp,bpk->bock", Gc, cols) * op.matrix[None, None]
                var += p_syn[l] * np.sum(g * g, axis=(2, 3))
            else:
                var += p_syn[l] * np.einsum("boi,bi->bo", G * G, (ys[l - 1] ** 2) @ (W * W).T)
    return BoundResult(
        "synapse", mean, np.sqrt(var),
        "synapse crashes, first order: E Δ = -Σ p G W y, Var Δ = Σ p (G W y)², G = ∂y_L/∂z_l",
    )


# --------------------------------------------------------------------------- loss level
def _loss_and_grad(y: np.ndarray, targets, loss: str):
    """Per-example loss and ``∂loss/∂y_L``."""
    n, n_out = y.shape
    if loss == "mse":
        t = np.asarray(targets, dtype=np.float64)
        if t.shape != y.shape:
            raise ConfigError(f"'targets' for loss='mse' must have shape {y.shape}. Got {t.shape}.")
        r = y - t
        return (r * r).mean(axis=1), 2.0 * r / n_out
    if loss == "crossentropy":
        t = np.asarray(targets)
        if t.ndim == 1:
            if t.shape[0] != n or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() >= n_out:
                raise ConfigError(
                    f"Integer 'targets' must be {n} class labels in 0..{n_out - 1}. Got shape {t.shape}."
                )
            t = np.eye(n_out)[t]
        t = np.asarray(t, dtype=np.float64)
        if t.shape != y.shape:
            raise ConfigError(
                f"'targets' for loss='crossentropy' must be labels ({n},) or probabilities {y.shape}. Got {t.shape}."
            )
        zmax = y.max(axis=1, keepdims=True)
        logz = np.log(np.exp(y - zmax).sum(axis=1, keepdims=True)) + zmax
        logsm = y - logz
        value = -(t * logsm).sum(axis=1)
        return value, np.exp(logsm) * t.sum(axis=1, keepdims=True) - t
    raise ConfigError(f"'loss' must be 'mse' or 'crossentropy'. Got {loss!r}.")


def loss_first_order(net: Network, x, targets, p, loss: str = "mse", site: str = "synapse") -> BoundResult:
    r"""First-order change of the loss under crashes (Additional Proposition 9).

    For synapse crashes with probability ``p_l`` in ``W_l`` (``site="synapse"``):

    .. math::

        \mathbb E\,\Delta\mathcal L \approx -\sum_l p_l\,
            \langle \nabla_{W_l}\mathcal L,\, W_l\rangle, \qquad
        \operatorname{Var}\Delta\mathcal L \approx \sum_l p_l
            \sum_{i,j} \big(\partial_{W_l[i,j]}\mathcal L\; W_l[i,j]\big)^2 ,

    with the per-example gradient; ``⟨∇_{W_l} L, W_l⟩ = Σ_i (∂L/∂z_l[i]) (z_l[i] - b_l[i])``.
    For neuron crashes (``site="neuron"``, layers ``0..L``) the same with
    ``⟨∇_{y_l} L, y_l⟩``.

    Parameters
    ----------
    net : Network
    x : array_like, shape (n_inputs, n_in)
    targets : array_like
        ``(n_inputs, n_out)`` for ``"mse"``; class labels ``(n_inputs,)`` or
        probabilities ``(n_inputs, n_out)`` for ``"crossentropy"``.
    p : dict
        ``{layer: crash probability}``; weight matrices ``1..L`` for synapses,
        neuron layers ``0..L`` for neurons.
    loss : {"mse", "crossentropy"}
        ``mse``: ``mean_o (y_o - t_o)^2``; ``crossentropy``: ``-Σ_o t_o log softmax(y)_o``.
    site : {"synapse", "neuron"}

    Returns
    -------
    BoundResult
        ``mean`` and ``std`` of shape ``(n_inputs,)``.
    """
    if site not in ("synapse", "neuron"):
        raise ConfigError(f"'site' must be 'synapse' or 'neuron'. Got {site!r}.")
    p = _check_rates(net, p, site=site)
    ys, zs = net.forward_all(x)
    _, dy = _loss_and_grad(ys[-1], targets, loss)
    n = ys[0].shape[0]
    mean, var = np.zeros(n), np.zeros(n)
    active = [l for l, r in p.items() if r > 0]
    lowest = min(active) if active else net.n_layers + 1
    g = dy  # ∂L/∂y_l, walking down
    for l in range(net.n_layers, lowest - 1, -1):
        if site == "neuron" and l in active:
            t = g * ys[l]
            mean -= p[l] * t.sum(axis=1)
            var += p[l] * (t * t).sum(axis=1)
        if l == 0:
            break
        gz = g * activation_derivative(net.activations[l - 1], zs[l - 1])  # ∂L/∂z_l
        W = net.weights[l - 1]
        if site == "synapse" and l in active:
            mean -= p[l] * (gz * (zs[l - 1] - net.biases[l - 1])).sum(axis=1)
            var += p[l] * ((gz * gz) * ((ys[l - 1] ** 2) @ (W * W).T)).sum(axis=1)
        g = gz @ W
    return BoundResult(
        "loss", mean, np.sqrt(var),
        f"{site} crashes, loss '{loss}': E ΔL = -Σ p <∇L, param>, Var ΔL = Σ p (∂L·param)² (Additional Proposition 9)",
    )
