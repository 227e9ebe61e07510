"""Train an MLP with Eq. 1 and crash injection; export it as a :class:`neurosim.Network`.

Deterministic: the same seed gives the same network bit for bit (torch runs
on one thread inside :func:`train_mlp`, float64, full-batch Adam by default).
Crash semantics are the engine's: a crashed neuron's output ``y_l[i]`` is 0
(unscaled dropout, as in the paper's dropout experiment).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..network import Network
from . import _torch
from .regularizer import RegParams, regularized_loss

torch = _torch.require()

__all__ = ["MLP", "TrainConfig", "TrainResult", "train_mlp", "load_digits_split", "to_network"]

_ACTS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


class MLP(torch.nn.Module):
    """Fully connected network ``y_l = φ(W_l y_{l-1} + b_l)``, last layer linear (Definition 1)."""

    def __init__(self, sizes, activation="relu"):
        super().__init__()
        if activation not in _ACTS:
            raise ConfigError(f"'activation' must be one of {', '.join(_ACTS)}. Got {activation!r}.")
        self.activation = activation
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b, dtype=torch.float64)
                                          for a, b in zip(sizes[:-1], sizes[1:]))

    def weights(self):
        return [m.weight for m in self.layers]

    def forward_with_activations(self, x):
        acts = [x]
        h = x
        for k, m in enumerate(self.layers):
            h = m(h)
            if k < len(self.layers) - 1:
                h = _ACTS[self.activation](h)
            acts.append(h)
        return h, acts

    def forward(self, x, crash_p=0.0, crash_layers=(), generator=None):
        h = x
        L = len(self.layers)
        for k, m in enumerate(self.layers):
            if crash_p > 0 and k in crash_layers:  # layer k's outputs feed W_{k+1}
                keep = (torch.rand(h.shape, generator=generator, dtype=h.dtype) >= crash_p).to(h.dtype)
                h = h * keep
            h = m(h)
            if k < L - 1:
                h = _ACTS[self.activation](h)
        return h


@dataclass
class TrainConfig:
    """What :func:`train_mlp` trains. ``crash_p`` = dropout rate ``p_t`` (crash injection)."""

    hidden: tuple = (64,)
    activation: str = "relu"
    epochs: int = 300
    lr: float = 1e-2
    batch: int | None = None  # None = full batch
    crash_p: float = 0.0
    seed: int = 0
    reg: RegParams = field(default_factory=RegParams)

    def validate(self, n_layers: int):
        if not self.hidden or any(int(h) != h or h < 1 for h in self.hidden):
            raise ConfigError(f"'hidden' must be widths >= 1, e.g. 64 or 64,32. Got {self.hidden!r}.")
        if int(self.epochs) != self.epochs or self.epochs < 1:
            raise ConfigError(f"'epochs' must be an integer >= 1. Got {self.epochs!r}.")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"'lr' must be > 0. Got {self.lr!r}.")
        if not 0.0 <= self.crash_p < 1.0:
            raise ConfigError(f"'crash_p' (dropout rate p_t) must be in [0, 1). Got {self.crash_p!r}.")
        r = self.reg
        for name, v in (("lambda", r.lam), ("lambda_w", r.lam_w), ("mu", r.mu), ("nu", r.nu), ("nu_l2", r.nu_l2),
                        ("psi[0]", r.psi[0]), ("psi[1]", r.psi[1])):
            if not (np.isfinite(v) and v >= 0):
                raise ConfigError(f"Regularisation parameter '{name}' must be >= 0. Got {v!r}.")
        if r.target not in ("loss", "output"):
            raise ConfigError(f"'target' of the lambda term must be 'loss' or 'output'. Got {r.target!r}.")
        for l in r.layers:
            if not 1 <= l <= n_layers:
                raise ConfigError(f"Regularised weight layer {l} is out of range 1..{n_layers}.")
        for l in r.crash_layers:
            if not 0 <= l < n_layers:
                raise ConfigError(f"Crash layer {l} is out of range 0..{n_layers - 1} (hidden/input layers).")


@dataclass
class TrainResult:
    net: Network
    train_accuracy: float
    test_accuracy: float
    history: list
    config: dict


def load_digits_split(seed: int = 0, test_size: float = 0.25):
    """scikit-learn's 8×8 digits scaled to [0, 1], split as ``scripts/train_digits.py`` does."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def to_network(model: MLP, name="trained") -> Network:
    Ws = [m.weight.detach().numpy().copy() for m in model.layers]
    bs = [m.bias.detach().numpy().copy() for m in model.layers]
    return Network.from_arrays(Ws, bs, model.activation, name)


@contextlib.contextmanager
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def train_mlp(cfg: TrainConfig, data=None, init: Network | None = None, name="trained") -> TrainResult:
    """Train with Eq. 1 (``cfg.reg``) and crash injection (``cfg.crash_p``).

    ``data = (X_train, X_test, y_train, y_test)``; default
    :func:`load_digits_split` with ``cfg.seed``. ``init`` starts from a
    network's weights (its architecture must match).
    """
    Xtr, Xte, ytr, yte = load_digits_split(cfg.seed) if data is None else data
    n_classes = int(max(ytr.max(), yte.max())) + 1
    sizes = (Xtr.shape[1], *[int(h) for h in cfg.hidden], n_classes)
    cfg.validate(len(sizes) - 1)
    with _one_thread():
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        model = MLP(sizes, cfg.activation)
        if init is not None:
            if tuple(init.sizes) != sizes:
                raise ConfigError(f"'init' network has sizes {init.sizes}, the configuration {sizes}.")
            with torch.no_grad():
                for m, W, b in zip(model.layers, init.weights, init.biases):
                    m.weight.copy_(torch.from_numpy(np.array(W)))
                    m.bias.copy_(torch.from_numpy(np.array(b)))
        xt = torch.from_numpy(np.asarray(Xtr, dtype=np.float64))
        yt = torch.from_numpy(np.asarray(ytr, dtype=np.int64))
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        history = []
        B = xt.shape[0] if cfg.batch is None else int(cfg.batch)
        for epoch in range(int(cfg.epochs)):
            perm = torch.randperm(xt.shape[0], generator=gen) if B < xt.shape[0] else torch.arange(xt.shape[0])
            for s in range(0, xt.shape[0], B):
                idx = perm[s:s + B]
                opt.zero_grad()
                total, terms = regularized_loss(model, xt[idx], yt[idx], cfg.reg, cfg.crash_p, gen)
                total.backward()
                opt.step()
            if epoch == cfg.epochs - 1 or epoch % max(1, cfg.epochs // 10) == 0:
                history.append({"epoch": epoch, "total": float(total.detach()), **terms})
        net = to_network(model, name)
    acc = lambda X, y: float(np.mean(np.argmax(net.forward(X), 1) == y))  # noqa: E731
    conf = {"hidden": list(cfg.hidden), "activation": cfg.activation, "epochs": cfg.epochs, "lr": cfg.lr,
            "batch": cfg.batch, "crash_p": cfg.crash_p, "seed": cfg.seed, "regularizer": cfg.reg.to_dict()}
    return TrainResult(net, acc(Xtr, ytr), acc(Xte, yte), history, conf)
