"""Push-forwards of numpy functions (`__array_function__`), by family:
linear maps, joins, products, selections, moments; linalg is in linalg.py."""

from __future__ import annotations

import numpy as np

from .dual import (  # noqa: F401
    Dual,
    NoForwardRule,
    _has_dual,
    _primals,
    _t_or_zero,
    _tangents_of,
    _zeros,
    dual,
    primal,
    tangent,
)
from .ufuncs import _is_float, _multilinear_tangent

JVPS: dict = {}  # numpy function -> handler(func, args, kwargs)
INERT: set = set()  # numpy functions whose result has no tangent (shapes, indices)


def _register(handler, *fns):
    for fn in fns:
        JVPS[fn] = handler


def _linear(func, args, kwargs):
    """A function linear in its first argument; the others are not differentiated."""
    x, rest = args[0], args[1:]
    out = func(primal(x), *_primals(rest), **_primals(kwargs))
    if tangent(x) is None:
        return out
    t = func(tangent(x), *_primals(rest), **_primals(kwargs))
    if isinstance(out, (list, tuple)):
        return type(out)(Dual(o, ti) for o, ti in zip(out, t))
    return Dual(out, t)


def _joined(func, args, kwargs):
    """A join of a sequence of arrays (concatenate, stack, ...): linear in each."""
    seq, rest = args[0], args[1:]
    out = func(_primals(list(seq)), *rest, **kwargs)
    if not _has_dual(list(seq)):
        return out
    return Dual(out, func(_tangents_of(list(seq)), *rest, **kwargs))


def _multilinear(func, args, kwargs):
    skip = 1 if func is np.einsum else 0
    out = func(*_primals(args), **_primals(kwargs))
    return dual(out, _multilinear_tangent(func, args, _primals(kwargs), skip))


def _like(func, args, kwargs):
    """zeros_like and friends: constants, but writable as duals (a[i] = v works)."""
    out = func(primal(args[0]), *args[1:], **kwargs)
    return Dual(out, _zeros(out)) if _is_float(out) else out


def _where(func, args, kwargs):
    if len(args) == 1:
        return func(primal(args[0]))
    cond, x, y = primal(args[0]), args[1], args[2]
    out = func(cond, primal(x), primal(y))
    if tangent(x) is None and tangent(y) is None:
        return out
    t = func(cond, _t_or_zero(x), _t_or_zero(y))
    return Dual(out, np.broadcast_to(t, np.shape(out)))


def _clip(func, args, kwargs):
    kw = dict(kwargs)
    x = args[0]
    lo = args[1] if len(args) > 1 else kw.pop("a_min", kw.pop("min", None))
    hi = args[2] if len(args) > 2 else kw.pop("a_max", kw.pop("max", None))
    out = func(primal(x), primal(lo), primal(hi), **kw)
    if not _has_dual([x, lo, hi]):
        return out
    p = primal(x)
    t = _t_or_zero(x)
    if lo is not None:
        t = np.where(p < primal(lo), _t_or_zero(lo), t)
    if hi is not None:
        t = np.where(p > primal(hi), _t_or_zero(hi), t)
    return Dual(out, np.broadcast_to(t, np.shape(out)))


def _option(args, kwargs, index, name, default=None):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _extremum(func, args, kwargs):
    """max/min: the tangent at the extreme entries (averaged over ties)."""
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    out = func(primal(x), axis=axis, keepdims=keepdims)
    if tangent(x) is None:
        return out
    kept = func(primal(x), axis=axis, keepdims=True)
    mask = primal(x) == kept
    t = np.sum(np.where(mask, x.tangent, 0), axis=axis, keepdims=keepdims) / \
        np.sum(mask, axis=axis, keepdims=keepdims)
    return Dual(out, t)


def _prod(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    p = primal(x)
    out = np.prod(p, axis=axis, keepdims=keepdims)
    if tangent(x) is None:
        return out
    # d prod = sum_i t_i prod_{j != i} x_j, zero-safe: products of the others
    axes = tuple(range(p.ndim)) if axis is None else \
        tuple(a % p.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    moved = np.moveaxis(p, axes, tuple(range(len(axes))))
    tm = np.moveaxis(np.broadcast_to(x.tangent, p.shape), axes, tuple(range(len(axes))))
    flat = moved.reshape((-1,) + moved.shape[len(axes):])
    tflat = tm.reshape(flat.shape)
    ones = np.ones((1,) + flat.shape[1:], p.dtype)
    left = np.cumprod(np.concatenate([ones, flat[:-1]]), axis=0)
    right = np.cumprod(np.concatenate([ones, flat[::-1][:-1]]), axis=0)[::-1]
    t = np.sum(left * right * tflat, axis=0)
    if keepdims:
        t = np.reshape(t, np.shape(out))
    return Dual(out, t)


def _cumprod(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    out = func(primal(x), axis=axis)
    if tangent(x) is None:
        return out
    p = primal(x) if axis is not None else np.ravel(primal(x))
    t = x.tangent if axis is not None else np.ravel(x.tangent)
    ax = 0 if axis is None else axis
    if not np.any(p == 0):
        return Dual(out, out * np.cumsum(t / p, axis=ax))
    # with zeros, without dividing: y_j = y_{j-1} x_j, so dy_j = dy_{j-1} x_j + y_{j-1} t_j
    ps, ts, ys = (np.moveaxis(a, ax, 0) for a in (p, t, out))
    dys = [ts[0]]
    for j in range(1, ps.shape[0]):
        dys.append(dys[-1] * ps[j] + ys[j - 1] * ts[j])
    return Dual(out, np.moveaxis(np.stack(dys), 0, ax))


def _moments(func, args, kwargs):
    """var and std, written with dual arithmetic."""
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    ddof = _option(args, kwargs, 3, "ddof", 0)
    keepdims = _option(args, kwargs, 4, "keepdims", False)
    if tangent(x) is None:
        return func(primal(x), axis=axis, ddof=ddof, keepdims=keepdims)
    n = np.size(primal(x)) // max(np.size(np.sum(primal(x), axis=axis)), 1)
    centred = x - np.mean(x, axis=axis, keepdims=True)
    var = np.sum(centred * centred, axis=axis, keepdims=keepdims) / (n - ddof)
    return np.sqrt(var) if func is np.std else var


def _sort(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis", -1)
    out = func(primal(x), axis=axis)
    if tangent(x) is None:
        return out
    if axis is None:
        order = np.argsort(np.ravel(primal(x)), kind="stable")
        return Dual(out, np.ravel(x.tangent)[order])
    order = np.argsort(primal(x), axis=axis, kind="stable")
    return Dual(out, np.take_along_axis(np.broadcast_to(x.tangent, np.shape(primal(x))),
                                        order, axis))


def _pad(func, args, kwargs):
    x, rest = args[0], args[1:]
    out = func(primal(x), *rest, **kwargs)
    if tangent(x) is None:
        return out
    kw = dict(kwargs)
    if "constant_values" in kw:
        kw["constant_values"] = 0
    return Dual(out, func(x.tangent, *rest, **kw))


def _sinc(func, args, kwargs):
    x = args[0]
    p = primal(x)
    out = func(p)
    if tangent(x) is None:
        return out
    y = np.pi * np.where(p == 0, 1.0, p)
    d = np.where(p == 0, 0.0, (np.cos(y) * y - np.sin(y)) / (y * np.where(p == 0, 1.0, p)))
    return Dual(out, d * x.tangent)


_register(_linear, np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis,
          np.expand_dims, np.squeeze, np.broadcast_to, np.sum, np.mean, np.cumsum, np.trace,
          np.diagonal, np.diag, np.diagflat, np.tril, np.triu, np.flip, np.fliplr, np.flipud,
          np.roll, np.tile, np.repeat, np.rot90, np.take, np.take_along_axis, np.real,
          np.copy, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.split, np.array_split,
          np.hsplit, np.vsplit, np.dsplit, np.diff, np.matrix_transpose, np.nansum,
          np.unstack, np.ascontiguousarray)
_register(_joined, np.concatenate, np.stack, np.hstack, np.vstack, np.dstack,
          np.column_stack)
_register(_multilinear, np.dot, np.inner, np.outer, np.vdot, np.tensordot, np.kron,
          np.cross, np.einsum, np.convolve, np.correlate)
_register(_like, np.zeros_like, np.ones_like, np.empty_like, np.full_like)
_register(_where, np.where)
_register(_clip, np.clip)
_register(_extremum, np.max, np.min, np.amax, np.amin)
_register(_prod, np.prod)
_register(_cumprod, np.cumprod)
_register(_moments, np.var, np.std)
_register(_sort, np.sort)
_register(_pad, np.pad)
_register(_sinc, np.sinc)

INERT.update({
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero,
    np.flatnonzero, np.count_nonzero, np.isclose, np.allclose, np.array_equal, np.any,
    np.all, np.result_type, np.may_share_memory, np.shares_memory, np.iscomplexobj,
    np.isrealobj, np.searchsorted, np.round, np.around, np.sign, np.floor, np.ceil,
    np.digitize, np.unravel_index, np.broadcast_shapes, np.min_scalar_type, np.can_cast,
    np.fix, np.histogram, np.bincount, np.unique, np.array_equiv, np.imag,
    np.linalg.matrix_rank,
})
