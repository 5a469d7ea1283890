"""Convolution and pooling layers over NCHW images (batch, channels, height, width).

The kernels and their hand-written rules live in `layers.ops`; these classes
only hold parameters and call them, so their `__call__` is plain code for
zygopy. Only 2-d (images) is supported.
"""

from __future__ import annotations

import numpy as np

from zygopy import array_module, nondifferentiable

from .activations import identity
from .basic import _act_suffix, _short_repr, check_size, show
from .init import glorot_uniform, zeros
from .ops.conv import conv2d, conv2d_data_grad, pads, pair, positive
from .ops.pool import maxpool2d, meanpool2d


def _options(layer, defaults):
    """`, stride=2, pad=1` for the options of `layer` that differ from `defaults`."""
    return "".join(
        f", {k}={getattr(layer, k)!r}"
        for k, v in defaults.items()
        if getattr(layer, k) != v
    )


def check_window(layer, input_shape, kernel, pad, dilation=1, *, pool=False):
    """Raise a ValueError naming `layer` unless its window (the kernel,
    dilated) fits the padded input; a pooling window (`pool`) must also
    overlap the input: padding smaller than the window."""
    k, d = pair(kernel), pair(dilation)
    p = pads(pad, k, d)
    if pool and (max(p[0], p[1]) >= k[0] or max(p[2], p[3]) >= k[1]):
        raise ValueError(f"{_short_repr(layer)}: padding {p} must be smaller than the "
                         f"window {k} (input of shape {tuple(input_shape)})")
    h, w = input_shape[2] + p[0] + p[1], input_shape[3] + p[2] + p[3]
    span = tuple(d[i] * (k[i] - 1) + 1 for i in range(2))
    if span[0] > h or span[1] > w:
        raise ValueError(
            f"{_short_repr(layer)}: the window {span} is larger than the padded input {(h, w)} "
            f"(input of shape {tuple(input_shape)}, padding {p})"
        )


def _channels(layer, in_ch, out_ch, activation, groups):
    """(in, out, activation) from either call form, checked against `groups`."""
    if isinstance(in_ch, tuple):  # Conv(k, (in, out), activation) or activation=
        if len(in_ch) != 2:
            raise ValueError(f"{layer}: channels are a pair (in, out), got {in_ch!r}")
        if out_ch is not None:  # the activation, given by position
            if activation is not identity:
                raise TypeError(f"{layer}: the activation is given twice, by position "
                                f"({out_ch!r}) and by keyword ({activation!r})")
            activation = out_ch
        in_ch, out_ch = in_ch
    for what, n in (("in_ch", in_ch), ("out_ch", out_ch)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{layer}: {what} must be a positive int, got {n!r}")
    if not callable(activation):
        raise TypeError(f"{layer}: the activation must be a function, got {activation!r}")
    if in_ch % groups or out_ch % groups:
        raise ValueError(f"{layer}: channels {in_ch} => {out_ch} are not divisible "
                         f"by groups={groups}")
    return in_ch, out_ch, activation


_CONV_DEFAULTS = dict(stride=1, pad=0, dilation=1, groups=1)


class Conv:
    """`y = activation(conv(x, weight) + bias)`: 2-d cross-correlation (NCHW).

    y[n, o, i, j] = bias[o]
        + sum_{c,p,q} x_pad[n, c, i*s + p*d, j*s + q*d] * weight[o, c, p, q]

    Arguments: `Conv(kernel, in_ch, out_ch, activation=identity, *, stride=1,
    pad=0, dilation=1, groups=1, bias=True, flipped=False, init=glorot_uniform)`
    (also `Conv(kernel, (in_ch, out_ch), activation)`). kernel, stride and
    dilation: an int or (h, w); pad: an int, (ph, pw), (top, bottom, left,
    right) or "same". weight: (out_ch, in_ch / groups, kh, kw); bias
    (out_ch,). `flipped=True` flips the kernel (true convolution, Flux's
    `Conv`). Input (N, in_ch, H, W) -> (N, out_ch, Ho, Wo) with
    `Ho = (H + pads - dilation*(kh - 1) - 1) // stride + 1`.

    >>> c = Conv((3, 3), 3, 10)
    >>> c
    Conv((3, 3), 3 => 10)  # 280 parameters
    >>> c(np.zeros((2, 3, 8, 8), np.float32)).shape
    (2, 10, 6, 6)
    """

    def __init__(
        self,
        kernel,
        in_ch,
        out_ch=None,
        activation=identity,
        *,
        stride=1,
        pad=0,
        dilation=1,
        groups=1,
        bias=True,
        flipped=False,
        init=glorot_uniform,
    ):
        in_ch, out_ch, activation = _channels("Conv", in_ch, out_ch, activation, groups)
        kh, kw = positive(kernel, "kernel", "Conv")
        positive(stride, "stride", "Conv")
        positive(dilation, "dilation", "Conv")
        self.weight = init(out_ch, in_ch // groups, kh, kw)
        self.bias = zeros(out_ch) if bias is True else (None if bias is False else bias)
        self.activation = activation
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.pad, self.flipped = pad, flipped
        pads(pad, (kh, kw), pair(dilation))  # validate now, not at the first call

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        check_size(
            self,
            "input channels (axis 1)",
            self.weight.shape[1] * self.groups,
            x.shape[1],
            x.shape,
            self.weight.shape,
        )
        check_window(self, x.shape, self.weight.shape[2:], self.pad, self.dilation)
        y = conv2d(
            x,
            self.weight,
            stride=self.stride,
            pad=self.pad,
            dilation=self.dilation,
            groups=self.groups,
            flipped=self.flipped,
        )
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return self.activation(y)

    def __repr__(self):
        o, cg, kh, kw = self.weight.shape
        extra = _options(self, _CONV_DEFAULTS) + (
            ", flipped=True" if self.flipped else ""
        )
        extra += "" if self.bias is not None else ", bias=False"
        return show(
            self,
            f"Conv(({kh}, {kw}), {cg * self.groups} => {o}"
            f"{_act_suffix(self.activation)}{extra})",
        )


def _transpose_shape(x, out_ch, kernel, stride, pad, dilation, output_pad):
    """The shape of the (virtual) conv input whose output has x's spatial size."""
    s, d, op = pair(stride), pair(dilation), pair(output_pad)
    p = pads(pad, kernel, d)
    h = (x.shape[2] - 1) * s[0] - p[0] - p[1] + d[0] * (kernel[0] - 1) + 1 + op[0]
    w = (x.shape[3] - 1) * s[1] - p[2] - p[3] + d[1] * (kernel[1] - 1) + 1 + op[1]
    return (x.shape[0], out_ch, h, w)


nondifferentiable(_transpose_shape, check_window)


class ConvTranspose:
    """`y = activation(conv_transpose(x, weight) + bias)`: the adjoint of Conv in x.

    Arguments as for Conv, plus `output_pad` (extra rows/columns at the
    bottom/right to pick one of the sizes a strided Conv maps to the same
    output). weight: (in_ch, out_ch / groups, kh, kw) (PyTorch's layout).
    Input (N, in_ch, H, W) -> (N, out_ch, Ho, Wo) with
    `Ho = (H - 1)*stride - pads + dilation*(kh - 1) + 1 + output_pad`.

    >>> t = ConvTranspose(3, 4, 2, stride=2)
    >>> t(np.zeros((1, 4, 5, 5), np.float32)).shape
    (1, 2, 11, 11)
    """

    def __init__(
        self,
        kernel,
        in_ch,
        out_ch=None,
        activation=identity,
        *,
        stride=1,
        pad=0,
        dilation=1,
        groups=1,
        output_pad=0,
        bias=True,
        init=glorot_uniform,
    ):
        in_ch, out_ch, activation = _channels("ConvTranspose", in_ch, out_ch, activation,
                                              groups)
        self.kernel = positive(kernel, "kernel", "ConvTranspose")
        s = positive(stride, "stride", "ConvTranspose")
        d = positive(dilation, "dilation", "ConvTranspose")
        op = pair(output_pad, "output_pad")
        if min(op) < 0 or any(o >= max(a, b) for o, a, b in zip(op, s, d)):
            raise ValueError(f"ConvTranspose: output_pad must be at least 0 and smaller "
                             f"than the stride or the dilation, got output_pad="
                             f"{output_pad!r} with stride={stride!r}, dilation={dilation!r}")
        pads(pad, self.kernel, d)  # validate now, not at the first call
        self.weight = init(in_ch, out_ch // groups, *self.kernel)
        self.bias = zeros(out_ch) if bias is True else (None if bias is False else bias)
        self.activation = activation
        self.stride, self.pad, self.dilation = stride, pad, dilation
        self.groups, self.output_pad = groups, output_pad

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        check_size(
            self,
            "input channels (axis 1)",
            self.weight.shape[0],
            x.shape[1],
            x.shape,
            self.weight.shape,
        )
        shape = _transpose_shape(
            x,
            self.weight.shape[1] * self.groups,
            self.kernel,
            self.stride,
            self.pad,
            self.dilation,
            self.output_pad,
        )
        y = conv2d_data_grad(
            x,
            self.weight,
            x_shape=shape,
            stride=self.stride,
            pad=self.pad,
            dilation=self.dilation,
            groups=self.groups,
        )
        if self.bias is not None:
            y = y + self.bias.reshape(1, -1, 1, 1)
        return self.activation(y)

    def __repr__(self):
        i, og, kh, kw = self.weight.shape
        extra = _options(self, dict(_CONV_DEFAULTS, output_pad=0))
        extra += "" if self.bias is not None else ", bias=False"
        return show(
            self,
            f"ConvTranspose(({kh}, {kw}), {i} => {og * self.groups}"
            f"{_act_suffix(self.activation)}{extra})",
        )


class MaxPool:
    """`y[n, c, i, j] = max of x[n, c] over window (i, j)`; padding counts as -inf.

    `MaxPool(window, *, stride=window, pad=0)`: (N, C, H, W) -> (N, C, Ho, Wo).

    >>> MaxPool((2, 2))(np.zeros((1, 3, 6, 6), np.float32)).shape
    (1, 3, 3, 3)
    """

    def __init__(self, window, *, stride=None, pad=0):
        name = type(self).__name__
        self.window = positive(window, "window", name)
        self.stride = self.window if stride is None else positive(stride, "stride", name)
        self.pad = pad

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        check_window(self, x.shape, self.window, self.pad, pool=True)
        return maxpool2d(x, kernel=self.window, stride=self.stride, pad=self.pad)

    def __repr__(self):
        extra = "" if self.stride == self.window else f", stride={self.stride}"
        extra += f", pad={self.pad!r}" if self.pad != 0 else ""
        return f"{type(self).__name__}({self.window}{extra})"


class MeanPool(MaxPool):
    """`y[n, c, i, j] = mean of x[n, c] over window (i, j)`; zero padding is counted.

    `MeanPool(window, *, stride=window, pad=0)`: (N, C, H, W) -> (N, C, Ho, Wo).
    """

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        check_window(self, x.shape, self.window, self.pad, pool=True)
        return meanpool2d(x, kernel=self.window, stride=self.stride, pad=self.pad)


class GlobalMaxPool:
    """`y[n, c, 0, 0] = max_{h,w} x[n, c, h, w]`: (N, C, H, W) -> (N, C, 1, 1)."""

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        return np.max(x, axis=(2, 3), keepdims=True)

    def __repr__(self):
        return "GlobalMaxPool()"


class GlobalMeanPool:
    """`y[n, c, 0, 0] = mean_{h,w} x[n, c, h, w]`: (N, C, H, W) -> (N, C, 1, 1)."""

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        return np.mean(x, axis=(2, 3), keepdims=True)

    def __repr__(self):
        return "GlobalMeanPool()"


def adaptive_matrix(n_in, n_out, dtype, like=None):
    """(n_out, n_in) averaging matrix: row i averages [i n / m, (i+1) n / m);
    on the device of `like`."""
    a = np.zeros((n_out, n_in), dtype=dtype)
    for i in range(n_out):
        lo, hi = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    xp = array_module(like)
    return a if xp is np else xp.asarray(a)


nondifferentiable(adaptive_matrix)


class AdaptiveMeanPool:
    """Mean pooling to a fixed output size: (N, C, H, W) -> (N, C, *out_size).

    Window i along an axis of length n covers [floor(i n / m), ceil((i+1) n / m))
    (PyTorch's rule), computed as `A_h @ x @ A_w.T` with averaging matrices.

    >>> AdaptiveMeanPool((2, 3))(np.ones((1, 1, 5, 7), np.float32)).shape
    (1, 1, 2, 3)
    """

    def __init__(self, out_size):
        self.out_size = pair(out_size, "out_size")

    def __call__(self, x):
        check_size(self, "input rank (N, C, H, W)", 4, x.ndim, x.shape)
        ah = adaptive_matrix(x.shape[2], self.out_size[0], x.dtype, x)
        aw = adaptive_matrix(x.shape[3], self.out_size[1], x.dtype, x)
        return ah @ x @ aw.T

    def __repr__(self):
        return f"AdaptiveMeanPool({self.out_size})"


__all__ = [
    "AdaptiveMeanPool",
    "Conv",
    "ConvTranspose",
    "GlobalMaxPool",
    "GlobalMeanPool",
    "MaxPool",
    "MeanPool",
]
