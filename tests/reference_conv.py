"""Plain-loop references for conv and pooling layers (slow and obvious, no numba, no engine)."""
from __future__ import annotations

import numpy as np

from neurosim.layers import AvgPool2d, Conv2d, Dense, Flatten, Layer, Scale, SumPool2d
from neurosim import Network


def conv2d_loops(x, W, b, stride, padding, kernel_alive=None):
    """Cross-correlation by explicit loops; ``x`` (B, C, H, W); ``kernel_alive`` (optional) masks
    kernel weights per output position: array (P, c_out, c_in, kh, kw) of 0/1 or a (c_out, c_in, kh, kw) mask."""
    B, C, H, Wd = x.shape
    co, ci, kh, kw = W.shape
    sh, sw = stride
    ph, pw = padding
    xp = np.zeros((B, C, H + 2 * ph, Wd + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + Wd] = x
    ho, wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    out = np.zeros((B, co, ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            Wk = W
            if kernel_alive is not None:
                m = kernel_alive if kernel_alive.ndim == 4 else kernel_alive[i * wo + j]
                Wk = W * m
            out[:, :, i, j] = np.einsum("bckl,ockl->bo", win, Wk)
    if b is not None:
        out += np.asarray(b)[None, :, None, None]
    return out


def pool_loops(x, k, stride, mean=True):
    B, C, H, Wd = x.shape
    ho, wo = (H - k[0]) // stride[0] + 1, (Wd - k[1]) // stride[1] + 1
    out = np.zeros((B, C, ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * stride[0]:i * stride[0] + k[0], j * stride[1]:j * stride[1] + k[1]]
            out[:, :, i, j] = win.mean(axis=(2, 3)) if mean else win.sum(axis=(2, 3))
    return out


def tiny_cnn(rng, c_in=1, hw=5, c_mid=2, n_out=3, act="relu", stride=1, padding=1, pool="avg", scale=1.0):
    """conv(3x3) -> act -> pool(2) -> flatten -> dense: a small CNN for the tests."""
    W1 = rng.normal(size=(c_mid, c_in, 3, 3)) * scale / 3
    b1 = rng.normal(size=c_mid) * 0.3
    conv = Conv2d(W1, stride=stride, padding=padding)
    s1 = conv.out_shape((c_in, hw, hw))
    layers = [Layer(conv, b1, act)]
    if pool:
        p = AvgPool2d(2) if pool == "avg" else SumPool2d(2)
        layers.append(Layer(p))
        s1 = p.out_shape(s1)
    layers.append(Layer(Flatten()))
    n = int(np.prod(s1))
    layers.append(Layer(Dense(rng.normal(size=(n_out, n)) * scale / np.sqrt(n)), rng.normal(size=n_out) * 0.3))
    return Network.from_layers(layers, (c_in, hw, hw), name="tiny_cnn")


__all__ = ["conv2d_loops", "pool_loops", "tiny_cnn", "Scale"]
