"""Synaptic ops: the linear part ``op_l`` of a layer (DESIGN.md "Network model").

Every op maps a flat input ``(batch, n_in)`` to a flat output ``(batch, n_out)``;
multi-dimensional activations ``(c, h, w)`` are flattened in C order (channel
major), as ``torch.flatten`` and NIR's ``Flatten`` do, so flattening itself is
the identity on the flat vectors and only changes the shape bookkeeping.

Ops are frozen dataclasses. Each knows its output shape for an input shape,
applies itself to a batch, and can produce its **dense equivalent** ``M`` of
shape ``(n_out, n_in)`` with ``op(y) = y @ M.T`` (a Toeplitz matrix for conv,
``1/k^2`` entries for average pooling). The analysis code (bounds, exact
moments, Jacobians) works on the dense equivalents, so it is exact for every op.

Fault sites (DESIGN.md "Semantics"): a weighted op (dense, conv2d) has one
synapse per stored weight (``n_weights``; a conv kernel weight is one site
serving every output position) and its outputs are neurons; pooling, flatten
and scale are wiring and carry no faults of their own (``weighted = False``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError

DENSE_EQUIVALENT_MAX = 64 * 2**20  # entries (512 MB) of one dense-equivalent matrix


def _pair(name, v, lo):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    try:
        v = tuple(int(a) for a in v)
    except TypeError:
        raise ConfigError(f"'{name}' must be an integer or a pair of integers >= {lo}. Got {v!r}.") from None
    if len(v) != 2 or min(v) < lo:
        raise ConfigError(f"'{name}' must be an integer or a pair of integers >= {lo}. Got {v!r}.")
    return v


def _finite(name, a):
    a = np.array(a, dtype=np.float64, copy=True)
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"'{name}' has {int(np.sum(~np.isfinite(a)))} non-finite values (NaN/inf); clean the model.")
    a.setflags(write=False)
    return a


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _chw(op: str, in_shape):
    if len(in_shape) != 3:
        raise ConfigError(
            f"{op} needs a (channels, height, width) input; got shape {tuple(in_shape)}. "
            "Give the network input_shape=(c, h, w) or remove the Flatten before it."
        )
    return in_shape


def window_index(in_shape, kernel, stride, padding, channels_mixed: bool) -> np.ndarray:
    """Gather table of a 2-D sliding window (im2col index).

    For ``channels_mixed`` (convolution): int64 ``(P, c*kh*kw)``, row ``p``
    (output position ``oh*Wo + ow``) lists the flat input index of every kernel
    tap ``(ci, i, j)`` (C order), or ``-1`` where the tap falls in the zero
    padding. Otherwise (pooling): ``(c, P, kh*kw)``, per channel.
    """
    c, h, w = in_shape
    kh, kw = kernel
    sh, sw = stride
    ph, pw = padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    rows = (np.arange(ho) * sh - ph)[:, None, None, None] + np.arange(kh)[None, None, :, None]
    cols = (np.arange(wo) * sw - pw)[None, :, None, None] + np.arange(kw)[None, None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)  # (ho, wo, kh, kw)
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    pix = np.where(ok, rows * w + cols, -1).reshape(ho * wo, kh * kw)
    ch = np.arange(c)[:, None, None] * (h * w)
    idx = np.where(pix[None] >= 0, pix[None] + ch, -1)  # (c, P, kh*kw)
    if channels_mixed:
        return np.ascontiguousarray(idx.transpose(1, 0, 2).reshape(ho * wo, c * kh * kw)).astype(np.int64)
    return np.ascontiguousarray(idx).astype(np.int64)


def gather(y: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``y[:, idx]`` with ``-1`` entries reading zero (padding)."""
    ext = np.concatenate([y, np.zeros((y.shape[0], 1))], axis=1)
    return ext[:, idx]


@dataclass(frozen=True, eq=False)
class Op:
    """Base class of synaptic ops."""

    kind = "op"
    weighted = False

    def out_shape(self, in_shape) -> tuple:
        raise NotImplementedError

    def apply(self, y: np.ndarray, in_shape) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict:
        """Arrays and scalars that define the op (stored by the native format)."""
        return {}

    def bias_shape(self, in_shape):
        """Shape of this op's bias, or None when the op takes no bias."""
        return None

    def expand_bias(self, b, in_shape) -> np.ndarray:
        """Per-output bias vector ``(n_out,)`` from the stored bias."""
        return np.zeros(_size(self.out_shape(in_shape))) if b is None else np.asarray(b, np.float64).ravel()

    @property
    def n_weights(self) -> int:
        """Stored weights (synapse fault sites); 0 for wiring ops."""
        return 0

    def dense_matrix(self, in_shape) -> np.ndarray:
        """Dense equivalent ``M`` ``(n_out, n_in)`` with ``apply(y) == y @ M.T``."""
        n_in, n_out = _size(in_shape), _size(self.out_shape(in_shape))
        if n_in * n_out > DENSE_EQUIVALENT_MAX:
            raise ConfigError(
                f"The dense equivalent of {self.kind} layer ({n_out} x {n_in}) is too large for the analysis "
                f"(limit {DENSE_EQUIVALENT_MAX} entries); run bounds on a smaller network or simulate instead."
            )
        return self._dense(in_shape, n_in, n_out)

    def _dense(self, in_shape, n_in, n_out):  # generic: apply to the identity basis
        return self.apply(np.eye(n_in), in_shape).T.copy()

    def with_params(self, **kw) -> "Op":
        """A copy with some parameters replaced (e.g. quantised ``weight``)."""
        d = {**self.params(), **kw}
        return type(self)(**d)


@dataclass(frozen=True, eq=False)
class Dense(Op):
    """Fully connected: ``op(y) = W y`` with ``W`` of shape ``(n_out, n_in)``."""

    weight: np.ndarray
    kind = "dense"
    weighted = True

    def __post_init__(self):
        W = _finite("weight", self.weight)
        if W.ndim != 2 or W.size == 0:
            raise ConfigError(f"A dense weight must be a non-empty 2-D array (n_out, n_in). Got shape {W.shape}.")
        object.__setattr__(self, "weight", W)

    def out_shape(self, in_shape):
        if _size(in_shape) != self.weight.shape[1]:
            raise ConfigError(
                f"Dense weight {self.weight.shape} takes {self.weight.shape[1]} inputs but the previous layer has "
                f"{_size(in_shape)} outputs (shape {tuple(in_shape)}). Transpose or fix the weight (shape is (n_out, n_in))."
            )
        return (self.weight.shape[0],)

    def apply(self, y, in_shape):
        return y @ self.weight.T

    def params(self):
        return {"weight": self.weight}

    def bias_shape(self, in_shape):
        return (self.weight.shape[0],)

    @property
    def n_weights(self):
        return int(self.weight.size)

    def _dense(self, in_shape, n_in, n_out):
        return self.weight


@dataclass(frozen=True, eq=False)
class Conv2d(Op):
    """2-D cross-correlation as PyTorch/ONNX/NIR define it.

    ``weight`` ``(c_out, c_in, kh, kw)``; zero ``padding`` ``(ph, pw)`` on
    both sides; ``stride`` ``(sh, sw)``; ``groups = 1``, ``dilation = 1``.
    Output ``(c_out, (h + 2ph - kh)//sh + 1, (w + 2pw - kw)//sw + 1)``.
    """

    weight: np.ndarray
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    kind = "conv2d"
    weighted = True

    def __post_init__(self):
        W = _finite("weight", self.weight)
        if W.ndim != 4 or W.size == 0:
            raise ConfigError(f"A conv2d weight must be a non-empty 4-D array (c_out, c_in, kh, kw). Got shape {W.shape}.")
        object.__setattr__(self, "weight", W)
        object.__setattr__(self, "stride", _pair("stride", self.stride, 1))
        object.__setattr__(self, "padding", _pair("padding", self.padding, 0))

    @property
    def kernel(self):
        return tuple(int(k) for k in self.weight.shape[2:])

    @property
    def matrix(self) -> np.ndarray:
        """The unrolled kernel ``(c_out, c_in*kh*kw)`` (what a crossbar tile holds)."""
        return self.weight.reshape(self.weight.shape[0], -1)

    def out_shape(self, in_shape):
        c, h, w = _chw("conv2d", in_shape)
        co, ci, kh, kw = self.weight.shape
        if c != ci:
            raise ConfigError(
                f"Conv2d weight {self.weight.shape} expects {ci} input channels but its input has {c} (shape {tuple(in_shape)})."
            )
        ho = (h + 2 * self.padding[0] - kh) // self.stride[0] + 1
        wo = (w + 2 * self.padding[1] - kw) // self.stride[1] + 1
        if ho < 1 or wo < 1:
            raise ConfigError(f"Conv2d kernel {(kh, kw)} with padding {self.padding} does not fit input {tuple(in_shape)}.")
        return (co, ho, wo)

    def index(self, in_shape) -> np.ndarray:
        """im2col gather table ``(P, c_in*kh*kw)`` (see :func:`window_index`)."""
        return window_index(in_shape, self.kernel, self.stride, self.padding, True)

    def apply(self, y, in_shape):
        cols = gather(y, self.index(in_shape))  # (B, P, K)
        out = cols @ self.matrix.T  # (B, P, c_out)
        return np.ascontiguousarray(out.transpose(0, 2, 1)).reshape(y.shape[0], -1)

    def params(self):
        return {"weight": self.weight, "stride": self.stride, "padding": self.padding}

    def bias_shape(self, in_shape):
        return (self.weight.shape[0],)

    def expand_bias(self, b, in_shape):
        co, ho, wo = self.out_shape(in_shape)
        if b is None:
            return np.zeros(co * ho * wo)
        return np.repeat(np.asarray(b, np.float64), ho * wo)

    @property
    def n_weights(self):
        return int(self.weight.size)

    def _dense(self, in_shape, n_in, n_out):
        idx = self.index(in_shape)  # (P, K)
        P, Kk = idx.shape
        M = np.zeros((self.weight.shape[0], P, n_in))
        p, k = np.nonzero(idx >= 0)
        M[:, p, idx[p, k]] = self.matrix[:, k]
        return M.reshape(n_out, n_in)


@dataclass(frozen=True, eq=False)
class _Pool(Op):
    kernel: tuple = (2, 2)
    stride: tuple | None = None
    padding: tuple = (0, 0)

    def __post_init__(self):
        object.__setattr__(self, "kernel", _pair("kernel", self.kernel, 1))
        object.__setattr__(self, "stride", self.kernel if self.stride is None else _pair("stride", self.stride, 1))
        object.__setattr__(self, "padding", _pair("padding", self.padding, 0))
        if self.padding != (0, 0):
            raise ConfigError(f"{self.kind} supports padding 0 only. Got {self.padding}; pad the input explicitly.")

    def out_shape(self, in_shape):
        c, h, w = _chw(self.kind, in_shape)
        ho = (h - self.kernel[0]) // self.stride[0] + 1
        wo = (w - self.kernel[1]) // self.stride[1] + 1
        if ho < 1 or wo < 1:
            raise ConfigError(f"{self.kind} kernel {self.kernel} does not fit input {tuple(in_shape)}.")
        return (c, ho, wo)

    def index(self, in_shape):
        return window_index(in_shape, self.kernel, self.stride, self.padding, False)  # (c, P, k)

    def _factor(self):
        return 1.0

    def apply(self, y, in_shape):
        g = gather(y, self.index(in_shape))  # (B, c, P, k)
        return (g.sum(axis=3) * self._factor()).reshape(y.shape[0], -1)

    def params(self):
        return {"kernel": self.kernel, "stride": self.stride, "padding": self.padding}

    def _dense(self, in_shape, n_in, n_out):
        idx = self.index(in_shape).reshape(n_out, -1)
        M = np.zeros((n_out, n_in))
        M[np.repeat(np.arange(n_out), idx.shape[1]), idx.ravel()] = self._factor()
        return M


@dataclass(frozen=True, eq=False)
class AvgPool2d(_Pool):
    """Average pooling (padding 0): each output is the mean of its ``kh x kw`` window."""

    kind = "avgpool2d"

    def _factor(self):
        return 1.0 / (self.kernel[0] * self.kernel[1])


@dataclass(frozen=True, eq=False)
class SumPool2d(_Pool):
    """Sum pooling (padding 0), NIR's ``SumPool2d``."""

    kind = "sumpool2d"


@dataclass(frozen=True, eq=False)
class Flatten(Op):
    """Reshape ``(c, h, w)`` to ``(c*h*w,)`` in C order; the identity on flat vectors."""

    kind = "flatten"

    def out_shape(self, in_shape):
        return (_size(in_shape),)

    def apply(self, y, in_shape):
        return y.copy()

    def _dense(self, in_shape, n_in, n_out):
        return np.eye(n_in)


@dataclass(frozen=True, eq=False)
class Scale(Op):
    """Element-wise scaling ``op(y) = s * y`` (NIR ``Scale``); ``s`` has the input's shape or broadcasts to it."""

    factor: np.ndarray = field(default_factory=lambda: np.ones(1))
    kind = "scale"

    def __post_init__(self):
        object.__setattr__(self, "factor", _finite("factor", self.factor))

    def _full(self, in_shape):
        try:
            return np.broadcast_to(self.factor, tuple(in_shape)).ravel()
        except ValueError:
            raise ConfigError(
                f"Scale factor of shape {self.factor.shape} does not broadcast to the input shape {tuple(in_shape)}."
            ) from None

    def out_shape(self, in_shape):
        self._full(in_shape)
        return tuple(in_shape)

    def apply(self, y, in_shape):
        return y * self._full(in_shape)

    def params(self):
        return {"factor": self.factor}

    def _dense(self, in_shape, n_in, n_out):
        return np.diag(self._full(in_shape))


OPS = {c.kind: c for c in (Dense, Conv2d, AvgPool2d, SumPool2d, Flatten, Scale)}
