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


# numpy's parameters after the array, in order: positional options bind by these
_REDUCTION = ("axis", "dtype", "out", "keepdims", "initial", "where")
_EXTREMUM = ("axis", "out", "keepdims", "initial", "where")
_MOMENTS = ("axis", "dtype", "out", "ddof", "keepdims")
_DIFF = ("n", "axis", "prepend", "append")


def _bind(args, kwargs, names):
    """The options of a call `func(x, *args[1:], **kwargs)` as keywords,
    positional ones named by `names` (numpy's signature after the array)."""
    if len(args) - 1 > len(names):
        raise TypeError(f"too many positional arguments ({len(args)}) for a "
                        f"function taking (x, {', '.join(names)})")
    options = dict(zip(names, args[1:]))
    options.update(kwargs)
    return {k: v for k, v in options.items() if v is not np._NoValue}


def _sum(func, args, kwargs):
    """sum and nansum: linear in x; `initial=` is an offset, so only its own
    tangent (0 for a constant) joins the tangent."""
    x = args[0]
    out = func(*_primals(args), **_primals(kwargs))
    if tangent(x) is None:
        return out
    options = _bind(args, kwargs, _REDUCTION)
    options.pop("out", None)
    initial = options.pop("initial", None)
    t = func(x.tangent, **_primals(options))
    if tangent(initial) is not None:
        t = t + initial.tangent
    return Dual(out, t)


def _diff(func, args, kwargs):
    """np.diff: linear in x and in `prepend`/`append` together (a constant
    one has tangent 0)."""
    out = func(*_primals(args), **_primals(kwargs))
    options = _bind(args, kwargs, _DIFF)
    parts = [args[0]] + [options[k] for k in ("prepend", "append") if k in options]
    if not _has_dual(parts):
        return out
    for k in ("prepend", "append"):
        if k in options:
            options[k] = _tangent_like(options[k])
    return Dual(out, func(_tangent_like(args[0]), **options))


def _tangent_like(x):
    """The tangent of `x`: zeros of its shape when it is a constant."""
    if type(x) is Dual:
        return x.tangent
    if _has_dual(x):
        return _tangents_of(x)
    return np.zeros(np.shape(x))


def _extremum(func, args, kwargs):
    """max/min: the tangent at the extreme entries (averaged over ties). An
    `initial=` value beyond them all gives 0 (as in the reverse rule), and
    entries outside `where=` never count."""
    x = args[0]
    out = func(*_primals(args), **_primals(kwargs))
    if tangent(x) is None:
        return out
    options = _primals(_bind(args, kwargs, _EXTREMUM))
    options.pop("out", None)
    axis, keepdims = options.get("axis"), options.pop("keepdims", False)
    kept = func(primal(x), keepdims=True, **options)
    mask = (primal(x) == kept) & np.asarray(options.get("where", True))
    count = np.maximum(np.sum(mask, axis=axis, keepdims=keepdims), 1)
    t = np.sum(np.where(mask, x.tangent, 0), axis=axis, keepdims=keepdims) / count
    return Dual(out, t)


def _prod(func, args, kwargs):
    """prod: d prod = sum_i t_i prod_{j != i} x_j, zero-safe; `initial=`
    multiplies it, entries outside `where=` count as ones with tangent 0."""
    x = args[0]
    out = func(*_primals(args), **_primals(kwargs))
    if tangent(x) is None:
        return out
    options = _bind(args, kwargs, _REDUCTION)
    axis, keepdims = options.get("axis"), options.get("keepdims", False)
    where = np.asarray(primal(options.get("where", True)))
    p = np.where(where, primal(x), 1)
    t = _prod_tangent(p, np.where(where, x.tangent, 0), axis)
    if "initial" in options:
        initial = options["initial"]
        t = primal(initial) * t
        if tangent(initial) is not None:
            t = t + initial.tangent * np.prod(p, axis=axis)
    if keepdims:
        t = np.reshape(t, np.shape(out))
    return Dual(out, t)


def _prod_tangent(p, tx, axis):
    """sum_i tx_i prod_{j != i} p_j over `axis`: products of the others from
    cumulative products left and right (no division, so zeros are safe)."""
    axes = tuple(range(p.ndim)) if axis is None else \
        tuple(a % p.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    moved = np.moveaxis(p, axes, tuple(range(len(axes))))
    tm = np.moveaxis(np.broadcast_to(tx, p.shape), axes, tuple(range(len(axes))))
    flat = moved.reshape((-1,) + moved.shape[len(axes):])
    tflat = tm.reshape(flat.shape)
    ones = np.ones((1,) + flat.shape[1:], p.dtype)
    left = np.cumprod(np.concatenate([ones, flat[:-1]]), axis=0)
    right = np.cumprod(np.concatenate([ones, flat[::-1][:-1]]), axis=0)[::-1]
    return np.sum(left * right * tflat, axis=0)


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
    """var and std, written with dual arithmetic; `ddof` or `correction`
    divides by n - ddof, `where=` picks the entries, `mean=` is used as given."""
    x = args[0]
    if tangent(x) is None and tangent(kwargs.get("mean")) is None:
        return func(*_primals(args), **_primals(kwargs))
    options = _bind(args, kwargs, _MOMENTS)
    axis, keepdims = options.get("axis"), options.get("keepdims", False)
    ddof = options.get("correction", options.get("ddof", 0))
    where = options.get("where", True)
    if "where" in options:
        n = np.sum(np.broadcast_to(where, np.shape(primal(x))), axis=axis, keepdims=keepdims)
    else:
        n = np.size(primal(x)) // max(np.size(np.sum(primal(x), axis=axis)), 1)
    mean = options.get("mean")
    if mean is None:
        mean = np.mean(x, axis=axis, keepdims=True, where=where)
    centred = x - mean
    var = np.sum(centred * centred, axis=axis, keepdims=keepdims, where=where) / (n - ddof)
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
          np.expand_dims, np.squeeze, np.broadcast_to, np.mean, np.cumsum, np.trace,
          np.diagonal, np.diag, np.diagflat, np.tril, np.triu, np.flip, np.fliplr, np.flipud,
          np.roll, np.tile, np.repeat, np.rot90, np.take, np.take_along_axis, np.real,
          np.copy, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.split, np.array_split,
          np.hsplit, np.vsplit, np.dsplit, np.matrix_transpose,
          np.unstack, np.ascontiguousarray)
_register(_joined, np.concatenate, np.stack, np.hstack, np.vstack, np.dstack,
          np.column_stack)
_register(_multilinear, np.dot, np.inner, np.outer, np.vdot, np.tensordot, np.kron,
          np.cross, np.einsum, np.convolve, np.correlate)
_register(_like, np.zeros_like, np.ones_like, np.empty_like, np.full_like)
_register(_sum, np.sum, np.nansum)
_register(_diff, np.diff)
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
