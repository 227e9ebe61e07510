r"""Failure criteria of a copy and of the median (``--failure``), and their ``||Δ||_∞`` surrogates.

A criterion decides, from an output vector ``y`` and the clean chip's output
``c`` (same mapped, quantised network; labels for ``loss``), whether that
output *fails*:

* ``linf:EPS`` — ``||y - c||_∞ > EPS``.
* ``flip`` — ``argmax y != argmax c`` (ties: the first index, as ``numpy.argmax``).
* ``topk:K`` — the clean top class is not among ``y``'s top ``K``: at least ``K``
  other outputs are ``>= y[argmax c]``.
* ``loss:EPS`` (labels needed) — the loss rises by more than ``EPS`` over the
  clean chip's: cross-entropy of ``softmax(y)`` for ``n_out >= 2``, squared
  error for one output.

Both routes (the tail models of :mod:`.models` and the bound route) reason
about ``||Δ||_∞`` per output and direction. Every criterion has a per-input
*surrogate* threshold ``eps_x`` with

    ``||y - c||_∞ <= eps_x``  ⟹  ``y`` does not fail,

applied to the median as to a copy, so a tail model of
``P(||median - c||_∞ > eps_x)`` is an upper bound on ``P(median fails)``:

* ``linf``: ``eps_x = EPS``.
* ``flip``: ``eps_x = g_1(x)/2`` with ``g_1`` the clean margin (top output
  minus the runner-up): if no output moves by ``g_1/2`` the order of the top
  class and every other is kept. Taken one ulp below ``g_1/2``.
* ``topk:K``: ``eps_x = g_K(x)/2`` with ``g_K`` the ``K``-th smallest gap
  ``c_top - c_o`` (``o ≠ top``): only outputs closer than ``g_K`` can overtake,
  at most ``K - 1`` of them.
* ``loss`` (cross-entropy): ``|CE(y) - CE(c)| <= 2 ||y - c||_∞`` (the label
  logit and the log-sum-exp each move by at most ``||Δ||_∞``), so ``eps_x = EPS/2``;
  squared error: ``(c + Δ - t)² - (c - t)² <= 2 a |Δ| + Δ²`` with
  ``a = |c - t|``, so ``eps_x = sqrt(a² + EPS) - a``.

The surrogate is conservative (it can only over-predict failures); the
verification always measures the criterion itself on the median output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

__all__ = ["Criterion", "parse_failure"]

KINDS = ("linf", "flip", "topk", "loss")


@dataclass(frozen=True)
class Criterion:
    """One failure criterion: ``kind`` in ``linf``/``flip``/``topk``/``loss`` and its parameter."""

    kind: str
    value: float | int | None = None

    @property
    def text(self) -> str:
        if self.kind == "flip":
            return "flip"
        v = self.value
        return f"{self.kind}:{int(v) if self.kind == 'topk' else format(float(v), 'g')}"

    @property
    def needs_labels(self) -> bool:
        return self.kind == "loss"

    def describe(self) -> str:
        v = self.value
        if self.kind == "flip":
            return "a copy fails on an input when argmax y_copy != argmax y_clean (the clean chip's class)"
        if self.kind == "topk":
            return f"a copy fails on an input when the clean chip's class is not among its top {v} outputs"
        if self.kind == "linf":
            return f"a copy fails on an input when ||y_copy - y_clean||_inf > {v:g} (outputs of the mapped, quantised network)"
        return (f"a copy fails on an input when its loss exceeds the clean chip's by more than {v:g} "
                "(cross-entropy of softmax for classifiers, squared error for one output)")

    def check_network(self, n_out: int, labels) -> None:
        """Refuse a criterion the network or the data cannot support (one line, the fix)."""
        if self.kind in ("flip", "topk") and n_out < 2:
            raise ConfigError(f"--failure {self.text} needs at least 2 outputs (a class to flip); the network has "
                              f"{n_out}. Use --failure linf:EPS or loss:EPS.")
        if self.kind == "topk" and not (1 <= int(self.value) < n_out):
            raise ConfigError(f"--failure topk:K needs 1 <= K < n_out = {n_out}. Got K = {self.value}.")
        if self.kind == "loss" and labels is None:
            raise ConfigError("--failure loss:EPS needs labels: use a model file that bundles them, --dataset digits, "
                              "or --labels FILE.")

    # ------------------------------------------------------------------ events
    def fails(self, y, clean, labels=None) -> np.ndarray:
        """Bool ``(..., B)``: output ``y`` (``(..., B, O)``) fails against ``clean`` (``(B, O)``)."""
        y = np.asarray(y, dtype=np.float64)
        c = np.asarray(clean, dtype=np.float64)
        if self.kind == "linf":
            return np.max(np.abs(y - c), axis=-1) > float(self.value)
        top = np.argmax(c, axis=1)
        if self.kind == "flip":
            return np.argmax(y, axis=-1) != top
        if self.kind == "topk":
            yc = np.take_along_axis(y, np.broadcast_to(top[:, None], y.shape[:-1] + (1,)), axis=-1)
            ge = np.count_nonzero(y >= yc, axis=-1) - 1  # others at or above the clean class
            return ge >= int(self.value)
        return (_loss(y, labels) - _loss(c, labels)) > float(self.value)

    def surrogate_eps(self, clean, labels=None) -> np.ndarray:
        """Per-input ``eps_x >= 0``: ``||y - clean||_∞ <= eps_x`` implies ``y`` does not fail (module docstring)."""
        c = np.asarray(clean, dtype=np.float64)
        B, O = c.shape
        if self.kind == "linf":
            return np.full(B, float(self.value))
        if self.kind == "loss":
            if O >= 2:
                return np.full(B, float(self.value) / 2.0)
            a = np.abs(c[:, 0] - np.asarray(labels, dtype=np.float64).reshape(B))
            return np.sqrt(a * a + float(self.value)) - a
        K = 1 if self.kind == "flip" else int(self.value)
        top = np.argmax(c, axis=1)
        gaps = c[np.arange(B), top][:, None] - c
        gaps[np.arange(B), top] = np.inf
        gk = np.sort(gaps, axis=1)[:, K - 1]
        return np.maximum(0.0, np.nextafter(gk / 2.0, 0.0))


def _loss(y, labels):
    """Cross-entropy of softmax(y) at integer labels (n_out >= 2) or squared error (one output): shape ``(..., B)``."""
    y = np.asarray(y, dtype=np.float64)
    lab = np.asarray(labels)
    if y.shape[-1] == 1:
        return (y[..., 0] - lab.astype(np.float64)) ** 2
    m = np.max(y, axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.sum(np.exp(y - m), axis=-1))
    li = np.broadcast_to(lab.astype(np.int64)[:, None], y.shape[:-1] + (1,))
    return lse - np.take_along_axis(y, li, axis=-1)[..., 0]


def parse_failure(text, eps=None) -> Criterion:
    """``'linf:EPS' | 'flip' | 'topk:K' | 'loss:EPS'`` (``None`` with ``eps``: ``linf:eps``) -> :class:`Criterion`."""
    if isinstance(text, Criterion):
        return text
    if text is None:
        if eps is None:
            raise ConfigError("A failure criterion is required: --failure linf:EPS (or flip, topk:K, loss:EPS), "
                              "or --eps EPS.")
        text = f"linf:{eps!r}"
    s = str(text).strip().lower()
    kind, _, arg = s.partition(":")
    if kind not in KINDS:
        raise ConfigError(f"'--failure' must be one of linf:EPS, flip, topk:K, loss:EPS. Got {text!r}.")
    if kind == "flip":
        if arg:
            raise ConfigError(f"'--failure flip' takes no value. Got {text!r}.")
        return Criterion("flip")
    if not arg:
        raise ConfigError(f"'--failure {kind}' needs a value, e.g. --failure {kind}:{'2' if kind == 'topk' else '4.5'}. "
                          f"Got {text!r}.")
    try:
        v = int(arg) if kind == "topk" else float(arg)
    except ValueError:
        raise ConfigError(f"'--failure {kind}:{arg}': the value must be {'an integer' if kind == 'topk' else 'a number'}. "
                          f"Got {arg!r}.") from None
    if kind == "topk" and v < 1:
        raise ConfigError(f"'--failure topk:K' needs K >= 1. Got {v}.")
    if kind != "topk" and not (np.isfinite(v) and v > 0):
        raise ConfigError(f"'--failure {kind}:EPS' needs a finite EPS > 0. Got {arg!r}.")
    if eps is not None and kind == "linf" and float(eps) != v:
        raise ConfigError(f"--eps {eps:g} and --failure {text} disagree; give one of them.")
    return Criterion(kind, v)
