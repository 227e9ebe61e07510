"""Import a fitted scikit-learn ``MLPClassifier`` / ``MLPRegressor``."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..network import Network

_SK_ACT = {"relu": "relu", "logistic": "sigmoid", "tanh": "tanh", "identity": "identity"}


def from_sklearn(model, name: str | None = None) -> Network:
    """Convert a fitted ``MLPClassifier``/``MLPRegressor`` into a :class:`Network`.

    scikit-learn stores ``coefs_[l]`` as ``(n_in, n_out)``; neurosim uses
    ``(n_out, n_in)``, so each matrix is transposed. The output activation
    (softmax/logistic for classifiers) is dropped: the network returns logits,
    whose argmax is the predicted class (for binary classifiers, the single
    logit's sign).
    """
    coefs = getattr(model, "coefs_", None)
    if coefs is None:
        raise ConfigError(
            f"'model' must be a fitted scikit-learn MLPClassifier/MLPRegressor. Got {type(model).__name__} without coefs_; call fit() first."
        )
    act = getattr(model, "activation", "relu")
    if act not in _SK_ACT:
        raise ConfigError(f"scikit-learn activation {act!r} is not supported; use one of {sorted(_SK_ACT)}.")
    weights = [np.asarray(W, dtype=np.float64).T for W in coefs]
    biases = [np.asarray(b, dtype=np.float64) for b in model.intercepts_]
    acts = [_SK_ACT[act]] * (len(weights) - 1) + ["identity"]
    return Network.from_arrays(weights, biases, acts, name=name or type(model).__name__)
