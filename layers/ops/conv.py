"""2-d convolution (cross-correlation, NCHW) by batched im2col, with its rules.

`conv2d(x, w)` computes, for x (N, C, H, W) and w (O, C/groups, kh, kw),

    y[n, o, i, j] = sum_{c, p, q} x_pad[n, g(o)*C/groups + c,
                                        i*sh + p*dh, j*sw + q*dw] * w[o, c, p, q]

with `flipped=True` meaning the kernel is flipped first (true convolution,
Flux's `Conv`). The two adjoints are kernels of their own, each with a rule
written in terms of the other two, so gradients of gradients work:

    conv2d            -> (conv2d_data_grad, conv2d_filter_grad)
    conv2d_data_grad  -> (conv2d,           conv2d_filter_grad)
    conv2d_filter_grad-> (conv2d_data_grad, conv2d)

Each kernel is linear in each of its two array arguments, which is also its
forward mode (`multilinear`): second derivatives (`grad` of `grad`, `hessian`,
a gradient penalty) push forward-mode Duals through them.
"""

from __future__ import annotations

import functools

import numpy as np

from zygopy import array_module, rule
from zygopy.forward import Dual, dual, primal, tangent


def multilinear(n):
    """Decorator for a kernel linear in each of its first `n` positional
    arguments: called with forward-mode Duals there, it runs on their
    primals, and its tangent is the sum over the Dual arguments of the kernel
    with that argument's tangent in its place (the product rule)."""

    def decorate(fn):
        @functools.wraps(fn)
        def kernel(*args, **kwargs):
            if not any(type(a) is Dual for a in args[:n]):
                return fn(*args, **kwargs)
            primals = [primal(a) for a in args[:n]]
            rest = args[n:]
            out = None
            for i, a in enumerate(args[:n]):
                t = tangent(a)
                if t is not None:
                    term = fn(*primals[:i], t, *primals[i + 1:], *rest, **kwargs)
                    out = term if out is None else out + term
            return dual(fn(*primals, *rest, **kwargs), out)

        return kernel

    return decorate


def pair(v, name="value"):
    """`3 -> (3, 3)`; a 2-tuple stays as it is."""
    if isinstance(v, (int, np.integer)):
        return (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    return v


def positive(v, name="value", where=None):
    """`pair(v)` with both entries at least 1 (a kernel, a stride, a dilation);
    `where` names the layer in the error."""
    p = pair(v, name)
    if min(p) < 1:
        raise ValueError(f"{where + ': ' if where else ''}{name} must be at least 1, "
                         f"got {v!r}")
    return p


def pads(pad, kernel=None, dilation=(1, 1)):
    """Normalise padding to `(top, bottom, left, right)`.

    pad: an int, `(ph, pw)`, `(top, bottom, left, right)`, or "same" (output
    size = input size at stride 1; needs `kernel`).
    """
    if isinstance(pad, str):
        if pad.lower() != "same" or kernel is None:
            raise ValueError(f'pad must be an int, a tuple or "same", got {pad!r}')
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return tuple(out)
    if isinstance(pad, (int, np.integer)):
        p = (int(pad),) * 4
    elif len(pad) == 2:
        p = (int(pad[0]), int(pad[0]), int(pad[1]), int(pad[1]))
    elif len(pad) == 4:
        p = tuple(int(a) for a in pad)
    else:
        raise ValueError(f"pad must have 1, 2 or 4 entries, got {pad}")
    if min(p) < 0:
        raise ValueError(f"negative padding is not supported, got {pad}")
    return p


def conv_output_size(size, kernel, stride=1, pad=(0, 0), dilation=1):
    """Output length along one axis: `(size + lo + hi - d*(k-1) - 1) // s + 1`."""
    return (size + pad[0] + pad[1] - dilation * (kernel - 1) - 1) // stride + 1


def pad_nchw(x, p, value=0.0):
    """x padded on H and W by `p = (top, bottom, left, right)` (a copy if any)."""
    if not any(p):
        return x
    xp = array_module(x)
    return xp.pad(
        x, ((0, 0), (0, 0), (p[0], p[1]), (p[2], p[3])), constant_values=value
    )


def windows(xp_, kernel, stride, dilation, out_hw):
    """A strided view (N, C, Ho, Wo, kh, kw) of the windows of a padded input."""
    xp = array_module(xp_)
    n, c = xp_.shape[:2]
    s = xp_.strides
    shape = (n, c, out_hw[0], out_hw[1], kernel[0], kernel[1])
    strides = (
        s[0],
        s[1],
        s[2] * stride[0],
        s[3] * stride[1],
        s[2] * dilation[0],
        s[3] * dilation[1],
    )
    read_only = {"writeable": False} if xp is np else {}  # CuPy's view has no flag
    return xp.lib.stride_tricks.as_strided(xp_, shape, strides, **read_only)


def col2im(cols, padded_hw, stride, dilation, p, out_hw):
    """Adjoint of `windows` + crop: sum (N, C, Ho, Wo, kh, kw) onto (N, C, H, W)."""
    xp = array_module(cols)
    n, c, ho, wo, kh, kw = cols.shape
    out = xp.zeros((n, c) + tuple(padded_hw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            r, q = i * dilation[0], j * dilation[1]
            out[
                :,
                :,
                r : r + stride[0] * (ho - 1) + 1 : stride[0],
                q : q + stride[1] * (wo - 1) + 1 : stride[1],
            ] += cols[:, :, :, :, i, j]
    return out[:, :, p[0] : padded_hw[0] - p[1], p[2] : padded_hw[1] - p[3]]


def _setup(x_shape, w_shape, stride, pad, dilation, groups):
    """Check shapes; return normalised stride, pads, dilation and (Ho, Wo)."""
    _, c, h, w = x_shape
    o, cg, kh, kw = w_shape
    if c != cg * groups or o % groups:
        raise ValueError(
            f"conv2d: input (N, C, H, W) = {tuple(x_shape)} and weight "
            f"(O, C/groups, kh, kw) = {tuple(w_shape)} do not match for "
            f"groups={groups}: need C == {cg}*{groups} and O divisible by groups"
        )
    s, d = positive(stride, "stride", "conv2d"), positive(dilation, "dilation", "conv2d")
    p = pads(pad, (kh, kw), d)
    out = (
        conv_output_size(h, kh, s[0], p[0:2], d[0]),
        conv_output_size(w, kw, s[1], p[2:4], d[1]),
    )
    if min(out) < 1:
        raise ValueError(
            f"conv2d: kernel {(kh, kw)} (dilation {d}) is larger than the "
            f"padded input {(h + p[0] + p[1], w + p[2] + p[3])}"
        )
    return s, p, d, out


def _flip(w, flipped):
    return w[:, :, ::-1, ::-1] if flipped else w


@multilinear(2)
def conv2d(x, w, *, stride=1, pad=0, dilation=1, groups=1, flipped=False):
    """Cross-correlate x (N, C, H, W) with w (O, C/groups, kh, kw) -> (N, O, Ho, Wo)."""
    xp = array_module(x, w)
    s, p, d, out = _setup(x.shape, w.shape, stride, pad, dilation, groups)
    w = _flip(w, flipped)
    cols = windows(pad_nchw(x, p), w.shape[2:], s, d, out)
    cg, og = w.shape[1], w.shape[0] // groups
    ys = [
        xp.tensordot(
            cols[:, g * cg : (g + 1) * cg],
            w[g * og : (g + 1) * og],
            axes=([1, 4, 5], [1, 2, 3]),
        )
        for g in range(groups)
    ]
    y = ys[0] if groups == 1 else xp.concatenate(ys, axis=-1)
    return xp.ascontiguousarray(y.transpose(0, 3, 1, 2))


@multilinear(2)
def conv2d_data_grad(
    dy, w, *, x_shape, stride=1, pad=0, dilation=1, groups=1, flipped=False
):
    """Adjoint of `conv2d` in x: dy (N, O, Ho, Wo), w -> dx of shape `x_shape`.

    Also the forward pass of a transposed convolution."""
    xp = array_module(dy, w)
    s, p, d, out = _setup(x_shape, w.shape, stride, pad, dilation, groups)
    w = _flip(w, flipped)
    og = w.shape[0] // groups
    parts = [
        xp.tensordot(
            dy[:, g * og : (g + 1) * og], w[g * og : (g + 1) * og], axes=([1], [0])
        )
        for g in range(groups)
    ]
    dcols = parts[0] if groups == 1 else xp.concatenate(parts, axis=3)
    dcols = dcols.transpose(0, 3, 1, 2, 4, 5)  # (N, C, Ho, Wo, kh, kw)
    hw = (x_shape[2] + p[0] + p[1], x_shape[3] + p[2] + p[3])
    return xp.ascontiguousarray(col2im(dcols, hw, s, d, p, out))


@multilinear(2)
def conv2d_filter_grad(
    x, dy, *, w_shape, stride=1, pad=0, dilation=1, groups=1, flipped=False
):
    """Adjoint of `conv2d` in w: x (N, C, H, W), dy (N, O, Ho, Wo) -> dw (`w_shape`)."""
    xp = array_module(x, dy)
    s, p, d, out = _setup(x.shape, w_shape, stride, pad, dilation, groups)
    cols = windows(pad_nchw(x, p), w_shape[2:], s, d, out)
    cg, og = w_shape[1], w_shape[0] // groups
    parts = [
        xp.tensordot(
            dy[:, g * og : (g + 1) * og],
            cols[:, g * cg : (g + 1) * cg],
            axes=([0, 2, 3], [0, 2, 3]),
        )
        for g in range(groups)
    ]
    dw = parts[0] if groups == 1 else xp.concatenate(parts, axis=0)
    return xp.ascontiguousarray(_flip(dw, flipped))


@rule(conv2d)
def conv2d_rule(x, w, **cfg):
    y = conv2d(x, w, **cfg)

    def conv2d_pullback(dy):
        return (
            conv2d_data_grad(dy, w, x_shape=x.shape, **cfg),
            conv2d_filter_grad(x, dy, w_shape=w.shape, **cfg),
        )

    return y, conv2d_pullback


@rule(conv2d_data_grad)
def conv2d_data_grad_rule(dy, w, *, x_shape, **cfg):
    dx = conv2d_data_grad(dy, w, x_shape=x_shape, **cfg)

    def conv2d_data_grad_pullback(g):
        return conv2d(g, w, **cfg), conv2d_filter_grad(g, dy, w_shape=w.shape, **cfg)

    return dx, conv2d_data_grad_pullback


@rule(conv2d_filter_grad)
def conv2d_filter_grad_rule(x, dy, *, w_shape, **cfg):
    dw = conv2d_filter_grad(x, dy, w_shape=w_shape, **cfg)

    def conv2d_filter_grad_pullback(g):
        return conv2d_data_grad(dy, g, x_shape=x.shape, **cfg), conv2d(x, g, **cfg)

    return dw, conv2d_filter_grad_pullback
