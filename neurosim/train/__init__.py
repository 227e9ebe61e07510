"""Training with the paper's fault-tolerance regulariser (Eq. 1) and crash injection (optional: torch).

``pip install -e '.[train]'`` (``torch==2.13.0``, CPU, Python 3.11). The
core of neurosim stays numpy; this package imports torch on first use.

* :mod:`neurosim.train.regularizer` — every term of Eq. 1 (λ with its
  Hessian-vector-product gradient, λ_w, μ, ψ, ν);
* :mod:`neurosim.train.trainer` — an MLP trained on scikit-learn's digits
  (or given arrays) with Eq. 1 and unscaled dropout at rate ``p_t``
  (crash injection), exported as a :class:`neurosim.Network`.
"""
from __future__ import annotations

__all__ = ["RegParams", "TrainConfig", "TrainResult", "train_mlp", "regularized_loss", "load_digits_split"]


def __getattr__(name):
    if name in ("RegParams", "regularized_loss"):
        from . import regularizer

        return getattr(regularizer, name)
    if name in ("TrainConfig", "TrainResult", "train_mlp", "load_digits_split"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)
