"""Block layout and the clean path of the rate engine (see :mod:`neurosim.sim.engine`).

Rows of work are (chip, input) pairs in chip-major order. A block holds one
chip's consecutive inputs inside one aligned window of :data:`ROW_BLOCK`
inputs (:func:`_blocks`), so input ``i`` always sits at row ``i % ROW_BLOCK``
of a fixed-shape, single-threaded BLAS product; on dense networks blocks of
one chip are merged into spans of several windows (:func:`_spans`) whose
products are still one call per window (:func:`_product`). The clean path
(:func:`_clean_window`, :func:`_clean_rows`) runs those products with no fault
machinery. docs/engine.md explains why this keeps every row's bits
independent of threads, chunking and the number of chips or inputs.
"""
from __future__ import annotations

import numpy as np

from ..kernels import activations as A
from ..network import activate
from .plan import Plan

ROW_BLOCK = 64
SPAN_WINDOWS = 16  # dense networks: a block spans up to this many windows (one product per window; less Python per row)
SPAN_BYTES = 8 * 2**20  # ... and at most this many bytes per layer array of a span


def _activate(name: str, Z):
    """Activation in place on the block's rows (float64 logistic by the numba kernel, else numpy)."""
    if name == "identity":
        return
    if name == "sigmoid" and Z.dtype == np.float64:
        A.sigmoid_rows(Z)
    else:
        activate(name, Z, out=Z)


def _bias_activate(name: str, Z, b, Y):
    """``Z += b`` and ``Y = act(Z)`` (``Y`` may be ``Z``): the bits of ``Z += b; Y[:] = Z; _activate(name, Y)``."""
    if name == "sigmoid" and Z.dtype == np.float64:
        A.bias_sigmoid_rows(Z, b, Y)
        return
    Z += b
    if Y is not Z:
        np.copyto(Y, Z)
    _activate(name, Y)


def _dense_clean(plan: Plan) -> bool:
    """True if the clean pass of ``plan`` can take the window path (:func:`_clean_window`): dense layers, no hooks."""
    return plan.hooks is None and not any(t is not None for t in plan.tables)


def _clean_window(plan: Plan, Y, zs, ys):
    """Clean forward of a span of aligned windows of :data:`ROW_BLOCK` inputs; returns the last layer's ``y`` (a view).

    ``Y`` is the ``(k * ROW_BLOCK, n_in)`` span (input ``i`` at row ``i - w0``
    for the span's first window ``w0``, padding rows zero), ``zs[l]``/``ys[l]`` the ``(k * ROW_BLOCK, n_l)`` arrays that
    receive ``z_l`` and ``y_l`` — the window's rows of the clean caches, or a
    task's scratch (``ys`` may be ``zs``: activations in place). Every product
    is the same single-threaded BLAS call on the same shape and rows as in
    :func:`_run_block` (written in place with ``out=``), so the bits are those
    of the general path; only the copies, the fault bookkeeping and a separate
    bias pass are gone.
    """
    Wt, acts = plan.weights, plan.net.activations
    for l in range(plan.net.n_layers):
        Z = _product(Y, Wt.W[l], zs[l])
        _bias_activate(acts[l], Z, Wt.b[l], ys[l])
        Y = ys[l]
    return Y


def _product(Y, W, out=None):
    """``Y @ W.T`` of a span of whole windows, one single-threaded BLAS call per :data:`ROW_BLOCK` rows.

    Every call has the shape and rows of a one-window block, so a row's bits
    do not depend on how many windows its block spans.
    """
    if out is None:
        out = np.empty((Y.shape[0], W.shape[0]), dtype=np.result_type(Y, W))
    for w in range(0, Y.shape[0], ROW_BLOCK):
        np.matmul(Y[w:w + ROW_BLOCK], W.T, out=out[w:w + ROW_BLOCK])
    return out


def _clean_rows(plan: Plan, x, start: int, stop: int, zstore=None, ystore=None):
    """Clean outputs of inputs ``start..stop`` by windows (:func:`_clean_window`).

    ``zstore``/``ystore`` (optional): the clean caches, with rows up to the end
    of the last window (:func:`_padded`); a window's products are written
    straight into them. Without them the task's scratch blocks are reused.
    """
    B, dt = plan.n_inputs, plan.dtype
    out = np.empty((stop - start, plan.net.n_out), dtype=dt)
    sizes = plan.net.sizes[1:]
    k = _span_windows(plan, stop - start)
    scratch = None if zstore is not None else [np.empty((k * ROW_BLOCK, n), dtype=dt) for n in sizes]
    for b0, b1 in _spans(start, stop, B, k):
        i0, i1 = start + b0, start + b1
        Y = _window_input(x, i0, i1, B)
        w0, w1 = i0 - i0 % ROW_BLOCK, i0 - i0 % ROW_BLOCK + Y.shape[0]
        if zstore is None:
            zs = [z[:w1 - w0] for z in scratch]
            y = _clean_window(plan, Y, zs, zs)
        else:
            y = _clean_window(plan, Y, [z[w0:w1] for z in zstore], [y[w0:w1] for y in ystore])
        out[b0:b1] = y[i0 - w0:i1 - w0]
    return out, []


def _window_input(x, i0: int, i1: int, n_inputs: int):
    """The ``(k * ROW_BLOCK, n_in)`` block of the windows of inputs ``i0..i1``: a view of ``x`` if they fill them.

    Else a zero-padded copy. ``x`` may carry zero rows after its ``n_inputs``
    inputs (:func:`simulate` pads it to whole windows), which then pad the
    last window in place.
    """
    w0 = i0 - i0 % ROW_BLOCK
    w1 = _padded(i1)
    if i0 == w0 and (i1 == w1 or (i1 == n_inputs and x.shape[0] >= w1)) and x.flags.c_contiguous:
        return x[w0:w1]
    Y = np.zeros((w1 - w0, x.shape[1]), dtype=x.dtype)
    Y[i0 - w0:i1 - w0] = x[i0:i1]
    return Y


def _padded(B: int) -> int:
    """``B`` rounded up to whole :data:`ROW_BLOCK` windows (rows of a clean cache for ``B`` inputs)."""
    return -(-B // ROW_BLOCK) * ROW_BLOCK


def _blocks(start: int, stop: int, n_inputs: int):
    """Cut global rows ``start..stop`` (chip-major) into blocks: ``(b0, b1)`` offsets from ``start``.

    A block holds consecutive inputs of one chip within one aligned window
    ``[w * ROW_BLOCK, (w + 1) * ROW_BLOCK)`` of input indices, so input ``i``
    is always row ``i % ROW_BLOCK`` of a fixed-shape product. OpenBLAS's
    float32 kernels round a row differently depending on its position in the
    block (rows 6-11 of every 12 differ from rows 0-5 here); pinning the
    position makes every row's bits independent of chunking, thread count and
    the number of chips or inputs, whatever the BLAS does.
    """
    out = []
    g = start
    while g < stop:
        c, i = divmod(g, n_inputs)
        end = min(stop, c * n_inputs + min(n_inputs, (i // ROW_BLOCK + 1) * ROW_BLOCK))
        out.append((g - start, end - start))
        g = end
    return out


def _span_windows(plan: Plan, rows: int) -> int:
    """Windows per span of a task of ``rows`` rows: :data:`SPAN_WINDOWS`, fewer for wide layers
    (:data:`SPAN_BYTES` per layer array) or small tasks (at most the windows ``rows`` can touch)."""
    per_window = ROW_BLOCK * max(plan.net.sizes) * plan.dtype.itemsize
    return int(max(1, min(SPAN_WINDOWS, SPAN_BYTES // per_window, -(-rows // ROW_BLOCK) + 1)))


def _spans(start: int, stop: int, n_inputs: int, windows: int):
    """:func:`_blocks` merged into spans of one chip's consecutive inputs over at most ``windows`` windows.

    Only for dense networks: every product of a span is still one call per
    window (:func:`_product`) and every other step is row by row, so a row's
    bits are those of its one-window block; the span only shares the Python
    bookkeeping of its windows.
    """
    out = []
    for b0, b1 in _blocks(start, stop, n_inputs):
        if out:
            a0 = start + out[-1][0]
            g1 = start + b1 - 1
            same_chip = a0 // n_inputs == g1 // n_inputs
            if same_chip and (g1 % n_inputs) // ROW_BLOCK - (a0 % n_inputs) // ROW_BLOCK < windows:
                out[-1] = (out[-1][0], b1)
                continue
        out.append((b0, b1))
    return out
