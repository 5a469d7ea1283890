"""Normalisation and regularisation layers: BatchNorm, LayerNorm, GroupNorm,
Dropout, AlphaDropout, and `trainmode` / `testmode`.

Train/test mode follows Flux's `active` field on each layer: `True` (train:
batch statistics, dropout on), `False` (test: running statistics, dropout
off) or `None` (automatic, the default: train while
`zygopy.is_differentiating()` is true, that is inside the forward pass of a
`gradient`/`pullback`, and test otherwise, like Flux's `istraining()`). `trainmode(model)` / `testmode(model)` set it on every
layer of a model; `testmode(model, "auto")` restores automatic mode.

Side effects (BatchNorm's running statistics, drawing dropout masks) live in
helpers declared `zygopy.nondifferentiable`, so they run as they are and are
never differentiated.
"""

from __future__ import annotations

import math
import types

import numpy as np

import zygopy as zp
from zygopy import array_module, is_differentiating, nondifferentiable

from .activations import identity
from .basic import _act_suffix, check_rank, check_size, show
from .functor import children
from .init import default_rng, ones, zeros


def is_training(layer):
    """Whether `layer` runs in train mode now (resolves `active=None`)."""
    if layer.active is not None:
        return bool(layer.active)
    return is_differentiating()


def stats_axes(x, channel_axis=1):
    """Axes to reduce for per-channel statistics; the shape of a channel vector."""
    axes = tuple(i for i in range(x.ndim) if i != channel_axis)
    shape = tuple(x.shape[i] if i == channel_axis else 1 for i in range(x.ndim))
    return axes, shape


def update_running_stats(layer, mean, var, count):
    """Call `layer._update_stats(mean, var, count)`; declared non-differentiable.
    Not when zygopy runs a nested gradient again for second order (a gradient
    penalty): the first run made the update."""
    if not zp.rerunning():
        layer._update_stats(mean, var, count)


nondifferentiable(is_training, stats_axes, update_running_stats)


class BatchNorm:
    """`y = activation(scale * (x - mean) / sqrt(var + eps) + bias)` per channel.

    Channels are axis 1.

    In train mode mean and var are the batch statistics over every axis but
    the channel one, and the running statistics are updated as
    `running = (1 - momentum) * running + momentum * batch` (var unbiased);
    in test mode the running statistics are used. Input (N, C) or
    (N, C, H, W) (any rank >= 2); scale, bias, running_mean, running_var
    have shape (C,).

    >>> BatchNorm(4)
    BatchNorm(4)  # 8 parameters, plus 8 non-trainable
    """

    _nontrainable = ("running_mean", "running_var")

    def __init__(
        self,
        channels,
        activation=identity,
        *,
        eps=1e-5,
        momentum=0.1,
        affine=True,
        track_stats=True,
        active=None,
    ):
        self.scale = ones(channels) if affine else None
        self.bias = zeros(channels) if affine else None
        self.running_mean = zeros(channels) if track_stats else None
        self.running_var = ones(channels) if track_stats else None
        self.activation, self.eps, self.momentum = activation, eps, momentum
        self.channels, self.active = channels, active

    def __call__(self, x):
        check_rank(self, "(N, C, ...)", 2, x.shape)
        check_size(self, "channels (axis 1)", self.channels, x.shape[1], x.shape)
        axes, shape = stats_axes(x)
        if is_training(self) or self.running_mean is None:
            mean = np.mean(x, axis=axes, keepdims=True)
            var = np.mean((x - mean) ** 2, axis=axes, keepdims=True)
            if self.running_mean is not None:
                update_running_stats(self, mean, var, x.size // self.channels)
        else:
            mean = self.running_mean.reshape(shape)
            var = self.running_var.reshape(shape)
        y = (x - mean) / np.sqrt(var + self.eps)
        if self.scale is not None:
            y = y * self.scale.reshape(shape) + self.bias.reshape(shape)
        return self.activation(y)

    def trainable(self):
        """Fields optimisers update (`layers.functor`): not the running statistics."""
        return ("scale", "bias")

    def _update_stats(self, mean, var, count=2):
        """In-place update of the running statistics from one batch (a side effect).

        count: values per channel in the batch (for the unbiased variance)."""
        n, m = count, self.momentum
        mean, var = np.ravel(mean), np.ravel(var) * (n / max(n - 1, 1))
        self.running_mean[...] = (1 - m) * self.running_mean + m * mean
        self.running_var[...] = (1 - m) * self.running_var + m * var

    def __repr__(self):
        extra = _affine_suffix(self) + (
            "" if self.running_mean is not None else ", track_stats=False"
        )
        return show(
            self, f"BatchNorm({self.channels}{_act_suffix(self.activation)}{extra})"
        )


class LayerNorm:
    """`y = activation(scale * (x - mean) / sqrt(var + eps) + bias)` on trailing axes.

    `LayerNorm(size, activation=identity, *, eps=1e-5, affine=True)`: size is
    an int or a tuple; mean and var are taken over the last `len(size)` axes
    of x (..., *size); scale and bias have shape `size`.

    >>> LayerNorm(5)(np.arange(10, dtype=np.float32).reshape(2, 5)).round(2)[0]
    array([-1.41, -0.71,  0.  ,  0.71,  1.41], dtype=float32)
    """

    def __init__(self, size, activation=identity, *, eps=1e-5, affine=True):
        self.size = (size,) if isinstance(size, int) else tuple(size)
        self.scale = ones(*self.size) if affine else None
        self.bias = zeros(*self.size) if affine else None
        self.activation, self.eps = activation, eps

    def __call__(self, x):
        k = len(self.size)
        check_size(
            self, "trailing shape", self.size, tuple(x.shape[x.ndim - k :]), x.shape
        )
        axes = tuple(range(x.ndim - k, x.ndim))
        mean = np.mean(x, axis=axes, keepdims=True)
        var = np.mean((x - mean) ** 2, axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + self.eps)
        if self.scale is not None:
            y = y * self.scale + self.bias
        return self.activation(y)

    def __repr__(self):
        s = str(self.size[0]) if len(self.size) == 1 else str(self.size)
        return show(
            self, f"LayerNorm({s}{_act_suffix(self.activation)}{_affine_suffix(self)})"
        )


class GroupNorm:
    """Normalise each of `groups` groups of channels: x (N, C, ...) is viewed as
    (N, G, C/G, ...), mean and var are taken per (n, g), then
    `y = activation(scale[c] * x_hat + bias[c])` with scale, bias of shape (C,).

    >>> GroupNorm(6, 3)
    GroupNorm(6, 3)  # 12 parameters
    """

    def __init__(self, channels, groups, activation=identity, *, eps=1e-5, affine=True):
        if channels % groups:
            raise ValueError(
                f"GroupNorm: {channels} channels are not divisible into {groups} groups"
            )
        self.channels, self.groups = channels, groups
        self.scale = ones(channels) if affine else None
        self.bias = zeros(channels) if affine else None
        self.activation, self.eps = activation, eps

    def __call__(self, x):
        check_rank(self, "(N, C, ...)", 2, x.shape)
        check_size(self, "channels (axis 1)", self.channels, x.shape[1], x.shape)
        g = x.reshape((x.shape[0], self.groups, -1))
        mean = np.mean(g, axis=2, keepdims=True)
        var = np.mean((g - mean) ** 2, axis=2, keepdims=True)
        y = ((g - mean) / np.sqrt(var + self.eps)).reshape(x.shape)
        if self.scale is not None:
            _, shape = stats_axes(x)
            y = y * self.scale.reshape(shape) + self.bias.reshape(shape)
        return self.activation(y)

    def __repr__(self):
        return show(
            self,
            f"GroupNorm({self.channels}, {self.groups}{_act_suffix(self.activation)}"
            f"{_affine_suffix(self)})",
        )


def _affine_suffix(layer):
    """`, affine=False` for a normalisation layer built without scale and bias."""
    return "" if layer.scale is not None else ", affine=False"


def dropout_mask(rng, shape, p, dtype, like=None):
    """A float mask of `shape`: 1 / (1 - p) with probability 1 - p, else 0;
    on the device of `like` (drawn by the numpy Generator `rng` on the host and
    copied, so a seed gives the same masks on a CPU and a GPU). A nested
    gradient run again for second order gets its first run's masks
    (`zygopy.replayed`)."""
    return zp.replayed(_draw_mask, rng, shape, p, dtype, like)


def _draw_mask(rng, shape, p, dtype, like):
    keep = rng.random(shape) >= p
    mask = (keep / (1 - p)).astype(dtype) if p < 1 else np.zeros(shape, dtype)
    xp = array_module(like)
    return mask if xp is np else xp.asarray(mask)


def mask_shape(x, dims):
    """x's shape, with size 1 on the axes not in `dims` (None: all axes vary)."""
    if dims is None:
        return x.shape
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    dims = tuple(d % x.ndim for d in dims)
    return tuple(n if i in dims else 1 for i, n in enumerate(x.shape))


nondifferentiable(dropout_mask, mask_shape)


class Dropout:
    """In train mode `y = x * mask`, mask entries 1/(1-p) with probability 1-p, else 0;
    in test mode `y = x`.

    `Dropout(p, *, dims=None, rng=None, active=None)`: dims are the axes along
    which the mask varies (None: all; e.g. dims=(0, 1) drops whole channels
    of NCHW input). rng: a numpy Generator (default: `layers.init`'s).

    >>> Dropout(0.5, active=False)(np.ones(3, np.float32))
    array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, p, *, dims=None, rng=None, active=None):
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must lie in [0, 1], got {p}")
        self.p, self.dims, self.rng, self.active = p, dims, rng, active

    def __call__(self, x):
        if not is_training(self) or self.p == 0:
            return x
        mask = dropout_mask(
            self.rng or default_rng(), mask_shape(x, self.dims), self.p, x.dtype, x
        )
        return x * mask

    def __repr__(self):
        return f"Dropout({self.p}" + (f", dims={self.dims})" if self.dims else ")")


_SELU_ALPHA_PRIME = -1.6732632423543772 * 1.0507009873554805


class AlphaDropout:
    """Dropout that keeps a selu network's mean and variance: dropped units are set
    to selu's negative saturation value a' = -1.7581 and the result is
    rescaled, `y = A * where(keep, x, a') + B` with
    `A = 1 / sqrt((1 - p) (1 + p a'^2))`, `B = -A a' p` (Klambauer et al.).

    >>> AlphaDropout(0.2)
    AlphaDropout(0.2)
    """

    def __init__(self, p, *, rng=None, active=None):
        if not 0 <= p < 1:
            raise ValueError(f"AlphaDropout: p must lie in [0, 1), got {p}")
        self.p, self.rng, self.active = p, rng, active

    def __call__(self, x):
        if not is_training(self) or self.p == 0:
            return x
        keep = dropout_mask(self.rng or default_rng(), x.shape, self.p, x.dtype, x) > 0
        a = 1 / math.sqrt((1 - self.p) * (1 + self.p * _SELU_ALPHA_PRIME**2))
        b = -a * _SELU_ALPHA_PRIME * self.p
        return a * np.where(keep, x, _SELU_ALPHA_PRIME) + b

    def __repr__(self):
        return f"AlphaDropout({self.p})"


def _set_active(model, value, seen):
    """Set `active` on every layer that has one, through lists, tuples,
    dicts, objects (with `__dict__` or `__slots__`) and closures."""
    if id(model) in seen or hasattr(model, "shape"):
        return
    seen.add(id(model))
    fields = children(model)  # (a closure's: what it captures)
    if "active" in fields and not isinstance(model, (list, tuple, dict, types.FunctionType,
                                                     types.MethodType)):
        model.active = value
    for child in fields.values():
        _set_active(child, value, seen)


def trainmode(model, mode=True):
    """Set `active = mode` on every layer of model (True: train; "auto": automatic)."""
    _set_active(model, None if mode == "auto" else bool(mode), set())
    return model


def testmode(model, mode=True):
    """Set `active = not mode` on every layer of model ("auto": automatic)."""
    _set_active(model, None if mode == "auto" else not mode, set())
    return model


__all__ = [
    "AlphaDropout",
    "BatchNorm",
    "Dropout",
    "GroupNorm",
    "LayerNorm",
    "testmode",
    "trainmode",
]
