"""2-d max and mean pooling (NCHW) with their rules.

Max pooling is a gather of the window maxima, `gather_windows(x, idx)`, whose
adjoint `scatter_windows` sums cotangents back to those positions; each is
the other's pullback, so higher derivatives work. Mean pooling is linear and
its adjoint `meanpool2d_adjoint` likewise pairs with it. Padding counts as
-inf for max pooling and as 0 (included in the count) for mean pooling.
"""

from __future__ import annotations

import numpy as np

from zygopy import array_module, nondifferentiable, rule
from zygopy.forward import primal

from .conv import (
    col2im,
    conv_output_size,
    multilinear,
    pad_nchw,
    pads,
    positive,
    windows,
)


def _setup(shape, kernel, stride, pad):
    k = positive(kernel, "kernel", "pooling")
    s = k if stride is None else positive(stride, "stride", "pooling")
    p = pads(pad, k)
    out = (
        conv_output_size(shape[2], k[0], s[0], p[0:2]),
        conv_output_size(shape[3], k[1], s[1], p[2:4]),
    )
    if min(out) < 1 or max(p[0], p[1]) >= k[0] or max(p[2], p[3]) >= k[1]:
        raise ValueError(
            f"pooling: window {k} with padding {p} does not fit the input "
            f"(N, C, H, W) = {tuple(shape)}"
        )
    return k, s, p, out


def maxpool_indices(x, *, kernel, stride=None, pad=0):
    """Flat indices into H*W of each window's maximum: ints of shape (N, C, Ho, Wo)."""
    x = primal(x)  # (of a forward-mode Dual: where its maxima are)
    xp = array_module(x)
    k, s, p, out = _setup(x.shape, kernel, stride, pad)
    cols = windows(pad_nchw(x, p, -np.inf), k, s, (1, 1), out)
    a = cols.reshape(cols.shape[:4] + (-1,)).argmax(axis=-1)
    rows = xp.arange(out[0]).reshape(-1, 1) * s[0] + a // k[1] - p[0]
    colz = xp.arange(out[1]).reshape(1, -1) * s[1] + a % k[1] - p[2]
    if any(p):  # a padding cell is first only where every input cell of the window is
        # -inf: the nearest input cell (in the window, -inf too) stands for it
        rows = xp.clip(rows, 0, x.shape[2] - 1)
        colz = xp.clip(colz, 0, x.shape[3] - 1)
    return rows * x.shape[3] + colz


nondifferentiable(maxpool_indices)


@multilinear(1)
def gather_windows(x, idx):
    """`y[n, c, i, j] = x[n, c].ravel()[idx[n, c, i, j]]`; x (N, C, H, W)."""
    xp = array_module(x)
    n, c = x.shape[:2]
    flat = xp.take_along_axis(x.reshape(n, c, -1), idx.reshape(n, c, -1), axis=2)
    return flat.reshape(idx.shape)


@multilinear(1)
def scatter_windows(dy, idx, *, shape):
    """Adjoint of `gather_windows`: add dy into zeros of `shape` at `idx`."""
    xp = array_module(dy)
    n, c, h, w = shape
    offsets = (xp.arange(n * c).reshape(n, c, 1, 1) * (h * w) + idx).ravel()
    out = xp.bincount(offsets, weights=dy.ravel(), minlength=n * c * h * w)
    return out.astype(dy.dtype).reshape(shape)


@rule(gather_windows)
def gather_windows_rule(x, idx):
    def gather_windows_pullback(dy):
        return scatter_windows(dy, idx, shape=x.shape), None

    return gather_windows(x, idx), gather_windows_pullback


@rule(scatter_windows)
def scatter_windows_rule(dy, idx, *, shape):
    def scatter_windows_pullback(g):
        return gather_windows(g, idx), None

    return scatter_windows(dy, idx, shape=shape), scatter_windows_pullback


def maxpool2d(x, *, kernel, stride=None, pad=0):
    """Maximum over windows: x (N, C, H, W) -> (N, C, Ho, Wo); stride = kernel."""
    return gather_windows(x, maxpool_indices(x, kernel=kernel, stride=stride, pad=pad))


@rule(maxpool2d)
def maxpool2d_rule(x, *, kernel, stride=None, pad=0):
    idx = maxpool_indices(x, kernel=kernel, stride=stride, pad=pad)

    def maxpool2d_pullback(dy):
        return (scatter_windows(dy, idx, shape=x.shape),)

    return gather_windows(x, idx), maxpool2d_pullback


@multilinear(1)
def meanpool2d(x, *, kernel, stride=None, pad=0):
    """Mean over windows (zero padding counted): x (N, C, H, W) -> (N, C, Ho, Wo)."""
    k, s, p, out = _setup(x.shape, kernel, stride, pad)
    cols = windows(pad_nchw(x, p), k, s, (1, 1), out)
    return cols.sum(axis=(4, 5)) / (k[0] * k[1])


@multilinear(1)
def meanpool2d_adjoint(dy, *, shape, kernel, stride=None, pad=0):
    """Adjoint of `meanpool2d`: spread dy / (kh*kw) over each window -> `shape`."""
    xp = array_module(dy)
    k, s, p, out = _setup(shape, kernel, stride, pad)
    cols = xp.broadcast_to((dy / (k[0] * k[1]))[..., None, None], dy.shape + k)
    hw = (shape[2] + p[0] + p[1], shape[3] + p[2] + p[3])
    return xp.ascontiguousarray(col2im(cols, hw, s, (1, 1), p, out))


@rule(meanpool2d)
def meanpool2d_rule(x, **cfg):
    def meanpool2d_pullback(dy):
        return (meanpool2d_adjoint(dy, shape=x.shape, **cfg),)

    return meanpool2d(x, **cfg), meanpool2d_pullback


@rule(meanpool2d_adjoint)
def meanpool2d_adjoint_rule(dy, *, shape, **cfg):
    def meanpool2d_adjoint_pullback(g):
        return (meanpool2d(g, **cfg),)

    return meanpool2d_adjoint(dy, shape=shape, **cfg), meanpool2d_adjoint_pullback
