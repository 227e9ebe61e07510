r"""Worst-case Forward Error Propagation (Fep) bound for a fixed number of failures.

After El Mhamdi & Guerraoui, "When Neurons Fail" (IPDPS 2017): a bound on the
output error when ``f_l`` neurons of layer ``l`` fail, whichever they are and
for every input, built from the topology only — layer widths ``N_l``, the
largest weight magnitude ``w_l = max_{ij} |W_l[i,j]|``, the Lipschitz
constants ``K_l`` of the activations and the range of a failed neuron's error.
The paper's Fep has the same structure (a sum over failing layers of
``f_l × capacity × Π (N_k - f_k) K w_k`` over the layers downstream); the
exact constants below are derived here, for our semantics, and are what the
tests check (we could not check the paper's own statement).

Derivation. Let ``E_l`` bound ``||Δ_l||_1`` (sum of the errors of the
neurons of layer ``l``). A failed neuron's error is at most ``c_l``; a healthy
neuron ``i`` of layer ``l >= 1`` has
``|Δ_l[i]| <= K_l Σ_j |W_l[i,j]| |Δ_{l-1}[j]| <= K_l w_l E_{l-1}``. Hence

.. math::

    E_l \le f_l c_l + (N_l - f_l)\,K_l w_l\,E_{l-1}, \qquad E_{-1} = 0,

and at the (linear) output

.. math::

    \|\Delta_L\|_\infty \le \max\big(c_L\,[f_L > 0],\; w_L E_{L-1}\big),
    \qquad
    w_L E_{L-1} = \sum_{l<L} f_l\, c_l\, w_L \prod_{k=l+1}^{L-1} (N_k - f_k) K_k w_k .

Error of a failed neuron: crash (output forced to 0): ``c_l = R_l``, a bound
on the clean output ``|y_l|``; Byzantine (any value of magnitude at most the
capacity ``C``): ``c_l = C + R_l``. ``R_l`` is 1 for sigmoid and tanh layers;
for other layers (input, relu, identity) it is taken from data, ``x``.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..network import Network
from .bounds import LIPSCHITZ

__all__ = ["FepResult", "fep_bound"]

_RANGE = {"sigmoid": 1.0, "tanh": 1.0}


@dataclass(frozen=True)
class FepResult:
    """Worst-case bound on ``||Δ||_∞`` for a fixed failure pattern.

    Attributes
    ----------
    bound : float
        Upper bound on ``max_o |Δ_o|`` over all failure sets with the given
        counts (and all inputs, or all inputs in ``x`` when ranges come from data).
    per_layer : dict
        ``{layer: contribution}``: the term ``f_l c_l w_L Π (N_k - f_k) K_k w_k``
        of each failing layer below the output (the output-layer term is ``c_L``).
    error_range : dict
        ``{layer: c_l}``: largest error of one failed neuron of that layer.
    mode : str
        ``"crash"`` or ``"byzantine"``.
    """

    bound: float
    per_layer: dict
    error_range: dict
    mode: str


def _check_failures(net: Network, failures) -> dict:
    if not isinstance(failures, Mapping):
        raise ConfigError(
            f"'failures' must be a dict {{layer: count}}. Got {type(failures).__name__}. Pass e.g. {{1: 2}}."
        )
    out = {}
    L = net.n_layers
    for layer, count in failures.items():
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral) or not 0 <= layer <= L:
            raise ConfigError(
                f"Layer {layer!r} in 'failures' is out of range: neuron layers are 0 (input) .. {L} (output). "
                f"Use a layer index in 0..{L}."
            )
        n_l = net.sizes[int(layer)]
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or not 0 <= count <= n_l:
            raise ConfigError(
                f"failures[{layer}] must be an integer count in 0..{n_l} (width of layer {layer}). Got {count!r}."
            )
        out[int(layer)] = int(count)
    return out


def fep_bound(net: Network, failures, mode: str = "crash", capacity: float = 1.0,
              K: float | None = None, x=None) -> FepResult:
    r"""Forward Error Propagation bound on ``||Δ||_∞`` ("When Neurons Fail").

    .. math::

        \|\Delta\|_\infty \le \max\Big(c_L [f_L>0],\;
            \sum_{l<L} f_l\, c_l\, w_L \prod_{k=l+1}^{L-1} (N_k - f_k)\, K_k\, w_k\Big)

    (derivation in the module docstring), with ``w_k = max |W_k|``, ``N_k``
    the width of layer ``k``, ``K_k`` the Lipschitz constant of its
    activation, and ``c_l = R_l`` (crash) or ``C + R_l`` (Byzantine).

    Parameters
    ----------
    net : Network
    failures : dict
        ``{neuron layer (0 = input .. L = output): number of failed neurons}``.
    mode : {"crash", "byzantine"}
        Crash: output forced to 0. Byzantine: output replaced by any value in
        ``[-capacity, capacity]``.
    capacity : float
        Synaptic transmission capacity ``C > 0`` (Byzantine mode only).
    K : float or None
        One Lipschitz constant for every hidden activation, as in the paper;
        None uses each layer's own (relu, tanh, identity 1; logistic 1/4).
        A value below the true constant voids the bound.
    x : array_like or None
        Inputs ``(n_inputs, n_in)``. When given, ``R_l = max |y_l|`` over
        these inputs (the bound then holds for these inputs); required for
        failing layers whose outputs are not bounded by their activation
        (input, relu, identity, output).

    Returns
    -------
    FepResult
    """
    if mode not in ("crash", "byzantine"):
        raise ConfigError(f"'mode' must be 'crash' or 'byzantine'. Got {mode!r}.")
    cap = float(capacity)
    if not (np.isfinite(cap) and cap > 0):
        raise ConfigError(f"'capacity' must be a finite number > 0. Got {capacity!r}.")
    if K is not None:
        K = float(K)
        if not (np.isfinite(K) and K >= 0):
            raise ConfigError(f"'K' must be None or a finite Lipschitz constant >= 0. Got {K!r}.")
    f = _check_failures(net, failures)
    L = net.n_layers
    ys = net.forward_all(x)[0] if x is not None else None

    c = {}
    for l, count in f.items():
        if count == 0:
            continue
        act = net.activations[l - 1] if l >= 1 else "input"
        if ys is not None:
            r = float(np.max(np.abs(ys[l])))
        elif act in _RANGE:
            r = _RANGE[act]
        else:
            raise ConfigError(
                f"Layer {l} ({act}) has no bounded output range; pass inputs x=... so the range "
                f"of its outputs is taken from data."
            )
        c[l] = r if mode == "crash" else cap + r

    w = [float(np.max(np.abs(W))) for W in net.weights]  # w[k-1] = max |W_k|
    N = net.sizes
    Ks = [LIPSCHITZ[a] if (K is None or k == L) else K for k, a in enumerate(net.activations, start=1)]
    per_layer = {}
    total = 0.0
    for l, cl in c.items():
        if l == L:
            continue
        term = f[l] * cl * w[L - 1]
        for k in range(l + 1, L):
            term *= (N[k] - f.get(k, 0)) * Ks[k - 1] * w[k - 1]
        per_layer[l] = term
        total += term
    bound = max(total, c.get(L, 0.0))
    if L in c:
        per_layer[L] = c[L]
    return FepResult(float(bound), per_layer, c, mode)
