r"""The paper's fault-tolerance regulariser, Eq. 1, in torch (every term).

Main paper Eq. 1 (arXiv:1902.01686 v3, Sec. 5), with the short version's
weight-wise form of the λ term and its ``‖W‖₂²`` (``004_*``, Eq. 1):

.. math::

    \hat{\mathcal L}(W) = \mathcal L(W)
      + \lambda \sum_{i=1}^{n_l} \Big(\frac{\partial \mathcal L}{\partial y_l^i}\, y_l^i\Big)^2
      + \lambda_w \sum_i \Big(\frac{\partial \mathcal L}{\partial w_i}\Big)^2 w_i^2
      + \mu \Big(\frac{\max_i W_l^i}{\min_i W_l^i}\Big)^2
      + \psi\cdot \mathrm{smooth}(W_l)
      + \nu \|W\|_\infty .

* ``R1`` (λ): ``≈ Var Δ / p_l`` (Theorem 1's first-order variance; the
  paper: "R1 ≈ Var∆/p_l"), per example and averaged over the batch.
  ``target="loss"`` uses ``y_{L+1} = ℓ`` (the paper's loss layer);
  ``target="output"`` sums b3's ``Var Δ_o / p`` over the outputs ``o``
  (``Σ_o Σ_i (∂y_{L,o}/∂y_l^i · y_l^i)²``, one backward pass per output).
  Its gradient is a Hessian-vector product (footnote 10): torch builds it
  by double back-propagation (``create_graph=True``).
* ``R_w`` (λ_w): the short version's ``Σ_i (∂L/∂w_i)² w_i²`` over all
  weights (the first-order synapse-crash variance of the loss), also a
  Hessian-vector product.
* ``R2`` (μ): ``(max_i W_l^i / min_i W_l^i)²`` with ``W_l^i = Σ_j |W_l^{ij}|``
  (Proposition 3's balance; ``R2 = 1/q²``), summed over the regularised layers.
* ``R3`` (ψ = (ψ_d, ψ_s)): ``smooth(W) = C1 + C2 + C3`` (supplementary,
  "Explicit regularization"): ``C1 = Σ_ij |W^{ij} - W^{i+1,j}|`` (adjacent
  output neurons), ``C2 = n_0/n_1 Σ_ij |W^{ij} - W^{i,j+1}|`` (adjacent
  inputs), ``C3 = Σ_ij |(G * W)^{ij} - W^{ij}|`` with ``G`` a Gaussian kernel
  (σ = 1 neuron) along the output-neuron axis. ψ_d weighs the numerical
  derivatives C1 + C2, ψ_s the smoothing term C3 — the paper's
  "ψ = (10⁻⁴, 10⁻²) for derivatives and smoothing respectively".
* ν: ``Σ_l ‖W_l‖_∞`` (max absolute row sum), the main paper's norm; the
  short version's ``‖W‖₂²`` is available as ``nu_l2``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import _torch

torch = _torch.require()

__all__ = ["RegParams", "regularized_loss", "balance_ratio", "smoothness", "r1_variance"]


@dataclass
class RegParams:
    """Regularisation parameters of Eq. 1 (0 switches a term off).

    ``layers`` are the weight matrices (1-based, ``W_1..W_L``) the μ and ψ
    terms act on; ``crash_layers`` the neuron layers (0 = input) whose
    variance the λ term penalises.
    """

    lam: float = 0.0
    lam_w: float = 0.0
    mu: float = 0.0
    psi: tuple = (0.0, 0.0)
    nu: float = 0.0
    nu_l2: float = 0.0
    target: str = "loss"
    layers: tuple = (1,)
    crash_layers: tuple = (1,)
    terms: dict = field(default_factory=dict)

    def to_dict(self):
        return {"lambda": self.lam, "lambda_w": self.lam_w, "mu": self.mu, "psi": list(self.psi), "nu": self.nu,
                "nu_l2": self.nu_l2, "target": self.target, "layers": list(self.layers),
                "crash_layers": list(self.crash_layers)}


def balance_ratio(W):
    r"""``R2 = (max_i W^i / min_i W^i)²`` with ``W^i = Σ_j |W^{ij}|`` (rows): ``1/q²`` of Proposition 3."""
    m = W.abs().sum(dim=1)
    return (m.max() / m.min()) ** 2


def _gauss_kernel(dtype, sigma=1.0, radius=3):
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def smoothness(W):
    r"""``(C1 + C2, C3)`` of ``smooth(W)`` (see the module docstring); ``W`` is ``(n_1, n_0)``."""
    n1, n0 = W.shape
    c1 = (W[1:, :] - W[:-1, :]).abs().sum() if n1 > 1 else W.new_zeros(())
    c2 = (n0 / n1) * (W[:, 1:] - W[:, :-1]).abs().sum() if n0 > 1 else W.new_zeros(())
    g = _gauss_kernel(W.dtype)
    r = (g.numel() - 1) // 2
    # convolve each column (along the output-neuron axis), replicate padding at the ends
    x = W.t().unsqueeze(1)  # (n0, 1, n1)
    xp = torch.nn.functional.pad(x, (r, r), mode="replicate")
    sm = torch.nn.functional.conv1d(xp, g.view(1, 1, -1)).squeeze(1).t()
    c3 = (sm - W).abs().sum()
    return c1 + c2, c3


def r1_variance(model, x, y, crash_layers, target="loss", create_graph=True):
    r"""``R1 = mean_k Σ_l Σ_i (∂f/∂y_l^i · y_l^i)²`` (``≈ Var Δ / p``, Theorem 1), ``f`` = loss or each output.

    Differentiable (``create_graph=True``): its gradient is the Hessian-vector
    product of footnote 10.
    """
    out, acts = model.forward_with_activations(x)
    hs = [acts[l] for l in crash_layers]
    if target == "loss":
        loss = torch.nn.functional.cross_entropy(out, y, reduction="sum")
        grads = torch.autograd.grad(loss, hs, create_graph=create_graph)
        return sum(((g * h) ** 2).sum() for g, h in zip(grads, hs)) / x.shape[0]
    if target != "output":
        raise ValueError(target)
    total = out.new_zeros(())
    for o in range(out.shape[1]):
        grads = torch.autograd.grad(out[:, o].sum(), hs, create_graph=create_graph, retain_graph=True)
        total = total + sum(((g * h) ** 2).sum() for g, h in zip(grads, hs))
    return total / x.shape[0]


def regularized_loss(model, x, y, reg: RegParams, crash_p: float = 0.0, generator=None):
    r"""Eq. 1 on a batch: ``(L̂, {term: value})``.

    ``crash_p > 0`` trains with crash injection: unscaled dropout (no
    ``1/(1-p)`` rescaling, the supplementary's "unscaled version of
    dropout") at rate ``crash_p`` on ``reg.crash_layers`` in the data term.
    """
    out = model(x, crash_p=crash_p, crash_layers=reg.crash_layers, generator=generator)
    base = torch.nn.functional.cross_entropy(out, y)
    total = base
    terms = {"loss": float(base.detach())}
    Ws = model.weights()
    if reg.lam:
        r1 = r1_variance(model, x, y, reg.crash_layers, reg.target)
        total = total + reg.lam * r1
        terms["R1"] = float(r1.detach())
    if reg.lam_w:
        loss_all = torch.nn.functional.cross_entropy(model(x), y)
        gw = torch.autograd.grad(loss_all, Ws, create_graph=True)
        rw = sum(((g * w) ** 2).sum() for g, w in zip(gw, Ws))
        total = total + reg.lam_w * rw
        terms["R_w"] = float(rw.detach())
    if reg.mu:
        r2 = sum(balance_ratio(Ws[l - 1]) for l in reg.layers)
        total = total + reg.mu * r2
        terms["R2"] = float(r2.detach())
    if reg.psi[0] or reg.psi[1]:
        parts = [smoothness(Ws[l - 1]) for l in reg.layers]
        d = sum(p[0] for p in parts)
        s = sum(p[1] for p in parts)
        total = total + reg.psi[0] * d + reg.psi[1] * s
        terms["R3"] = float((d + s).detach())
    if reg.nu:
        ninf = sum(w.abs().sum(dim=1).max() for w in Ws)
        total = total + reg.nu * ninf
        terms["norm_inf"] = float(ninf.detach())
    if reg.nu_l2:
        n2 = sum((w ** 2).sum() for w in Ws)
        total = total + reg.nu_l2 * n2
        terms["norm_l2sq"] = float(n2.detach())
    return total, terms
