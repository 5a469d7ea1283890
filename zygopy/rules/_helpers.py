"""Helpers the numpy rules share: argument lookup, axes, re-expanding reductions."""

from __future__ import annotations

import numpy as np

from ..runtime.arrays import array_module, on_device_of
from ..runtime.tangents import ZERO

__all__ = [
    "ZERO",
    "array_module",
    "axes_of",
    "expand_to",
    "is_discrete",
    "is_zero",
    "keep_shape",
    "like",
    "named",
    "nones",
    "on_device_of",
    "option",
]


def option(args, kw, index, name, default=None):
    """The argument `name`: `args[index]` when passed positionally, else `kw[name]`.

    `args` are the positional arguments after the primal array, so `np.sum(x,
    1)` has `option(args, kw, 0, "axis") == 1`."""
    if len(args) > index:
        return args[index]
    return kw.get(name, default)


def is_discrete(y):
    """Whether a rule's result holds integers or booleans: a step function of
    its inputs, whose gradient is zero (no cotangent flows back)."""
    dtype = getattr(y, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "f") in "biu"


def nones(args):
    """One None per extra positional argument (their cotangents)."""
    return (None,) * len(args)


def axes_of(axis, ndim):
    """`axis` (None, an int or a tuple, possibly negative) as a sorted tuple of
    non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (tuple, list)):
        axis = (axis,)
    return tuple(sorted(int(a) % ndim if ndim else 0 for a in axis))


def keep_shape(shape, axis):
    """The shape a reduction over `axis` leaves with keepdims=True."""
    axes = axes_of(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_to(g, shape, axis, like=None):
    """Broadcast a reduction's cotangent `g` back over `shape` (the reduced
    axes are re-inserted, whether or not the reduction kept them); a number
    `g` becomes an array of the module of `like` (the primal: numpy or CuPy).

    A scalar cotangent of a full reduction (a loss) is filled into a new array
    when that is small: `np.full` costs about a microsecond, `np.broadcast_to`
    several."""
    if like is not None and type(like) is not np.ndarray:
        g = on_device_of(g, like)
    if axis is None and type(g) in _NUMPY_SCALARS and _size(shape) <= _SMALL:
        return np.full(shape, g)
    if type(g) is np.ndarray or isinstance(g, np.generic):
        out = np.empty(shape, g.dtype)  # a fresh array: faster than broadcast_to
        out[...] = g if g.ndim == len(shape) else g.reshape(keep_shape(shape, axis))
        return out
    xp = array_module(g)
    g = xp.reshape(g, keep_shape(shape, axis))
    return xp.broadcast_to(g, shape)


_NUMPY_SCALARS = (float, np.float64, np.float32, np.float16)
_SMALL = 1 << 16


def _size(shape):
    n = 1
    for side in shape:
        n *= side
    return n


def keepdims(y, shape, axis):
    """A reduction's output `y` reshaped as if computed with keepdims=True."""
    if type(y) is np.ndarray:
        if y.ndim == len(shape):
            return y  # kept already (a reduction keeps or drops every axis it reduces)
        return y.reshape(keep_shape(shape, axis))
    return array_module(y).reshape(y, keep_shape(shape, axis))


def is_zero(g):
    """Whether cotangent `g` is absent (None or the symbolic ZERO)."""
    return g is None or g is ZERO


def like(g, x):
    """Cotangent `g` for a primal `x` inside a container: its shape and dtype,
    None for non-differentiable `x`, a zero when `g` is absent."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return None
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind not in "fc":
        return None
    if is_zero(g):
        return array_module(x).zeros_like(x) if dtype is not None else 0.0
    if dtype is None:  # a Python number: a scalar cotangent (np.stack's piece is (1,))
        return array_module(g).reshape(g, ()) if np.ndim(g) else g
    xp = array_module(g)
    if np.shape(g) != np.shape(x):
        g = xp.reshape(g, np.shape(x))
    if getattr(g, "dtype", dtype) != dtype:
        g = g.astype(dtype)
    return g


def named(fn, name):
    """`fn` renamed to `name` (also its code object, so tracebacks show it):
    for rules and pullbacks built by factories."""
    key = (fn.__code__, name)
    if key not in _RENAMED:
        _RENAMED[key] = fn.__code__.replace(co_name=name, co_qualname=name)
    fn.__code__ = _RENAMED[key]
    fn.__name__ = fn.__qualname__ = name
    return fn


_RENAMED: dict = {}
