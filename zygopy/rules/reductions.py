"""Reductions and scans: sum, mean, prod, max/min, std/var, cumsum/cumprod, logsumexp.

Every rule serves both `np.f(x, ...)` and the method `x.f(...)`, takes `axis`
as None, an int, a (negative) int or a tuple, and honours `keepdims`.

Ties in max/min (and amax/amin) split the cotangent evenly between the
maximal elements, so the gradient is symmetric and sums to the cotangent.
"""

from __future__ import annotations

import math

import numpy as np

from ._helpers import (
    ZERO,
    array_module,
    axes_of,
    expand_to,
    keepdims,
    named,
    nones,
    on_device_of,
    option,
)
from .derive import of_sequences_too, taking_sequences
from .registry import rule


def _count(shape, axis):
    """How many elements a reduction over `axis` combines."""
    return math.prod(shape[i] for i in axes_of(axis, len(shape)))


def sum_adjoint(g, x, axis=...):
    """dx for y = sum(x) (over every axis, or over `axis`, with or without
    keepdims): g spread back over x's shape and dtype. The generated code calls
    this directly for `np.sum(x)`, `x.sum()` and `np.sum(x, axis=1, ...)`."""
    if g is ZERO:  # an output the caller does not use
        return ZERO
    if axis is not ...:
        return expand_to(g, np.shape(x), axis, x)
    if type(g) is not float and getattr(g, "ndim", 0):
        raise ValueError(f"the cotangent of a sum over all axes must be a scalar, "
                         f"got one of shape {np.shape(g)}")
    if type(x) is not np.ndarray:
        return expand_to(g, np.shape(x), None, x) if np.ndim(x) else on_device_of(g, x)
    if type(g) is float or isinstance(g, (np.generic, np.ndarray)):
        out = np.empty(x.shape, x.dtype)  # twice as fast as np.full
        out.fill(g)
        return out
    return array_module(g).broadcast_to(g, x.shape)  # a dual (second order)


def sum_of(x, axis=None, keepdims=False):
    """`np.sum(x, axis, keepdims=...)`; on an ndarray, the reduction method
    runs, without np.sum's dispatch and wrapper (microseconds on small arrays).
    The generated code calls this for `np.sum(x)` and `np.sum(x, axis=...)`."""
    if type(x) is np.ndarray:
        return _add_reduce(x, axis, keepdims=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


_add_reduce = np.add.reduce


def mean_of(x, axis=None, keepdims=False):
    """`np.mean(x, axis, keepdims=...)` (the method on an ndarray, as `sum_of`)."""
    if type(x) is np.ndarray:
        return x.mean(axis, keepdims=keepdims)
    return np.mean(x, axis=axis, keepdims=keepdims)


def mean_adjoint(g, x, axis=...):
    """dx for y = mean(x) (over every axis, or over `axis`)."""
    if g is ZERO:
        return ZERO
    if axis is not ...:
        return expand_to(g / max(_count(np.shape(x), axis), 1), np.shape(x), axis, x)
    return sum_adjoint(g / max(np.size(x), 1), x)


def max_of(x, axis=None, keepdims=False):
    """`np.max(x, axis, keepdims=...)` (the method on an ndarray, as `sum_of`)."""
    if type(x) is np.ndarray:
        return x.max(axis, keepdims=keepdims)
    return np.max(x, axis=axis, keepdims=keepdims)


def min_of(x, axis=None, keepdims=False):
    """`np.min(x, axis, keepdims=...)` (the method on an ndarray, as `sum_of`)."""
    if type(x) is np.ndarray:
        return x.min(axis, keepdims=keepdims)
    return np.min(x, axis=axis, keepdims=keepdims)


def extremum_adjoint(g, x, axis, y, initial=False):
    """dx for y = max(x, axis) or min(x, axis): g goes to the extremal
    elements, split evenly between ties (as the rule's pullback); `initial`:
    an `initial=` value took part (an output may then hit no element)."""
    if g is ZERO:
        return ZERO
    if type(x) is np.ndarray and type(y) is np.ndarray and type(g) is np.ndarray:
        shape = x.shape
        hit = x == keepdims(y, shape, axis)
        if not initial and y.ndim and np.count_nonzero(hit) == y.size \
                and not np.isnan(y).any() and np.isfinite(g).all():
            # one hit per output (each extremum but NaN hits at least once): no ties
            return hit * keepdims(g, shape, axis)
    xp, shape = array_module(x), np.shape(x)
    g = on_device_of(g, x)
    hit = xp.equal(x, keepdims(y, shape, axis))
    count = xp.sum(hit, axis=axis, keepdims=True, dtype=x.dtype)
    count = xp.maximum(count, 1)  # none hit: y came from `initial`, dx is 0
    share = keepdims(g, shape, axis) / count
    if xp is np and type(x) is np.ndarray and np.isfinite(share).all():
        return hit * share  # a mask product: faster than where
    return xp.where(hit, expand_to(g, shape, axis) / count, 0)


max_adjoint = min_adjoint = extremum_adjoint


@rule(np.sum, np.ndarray.sum)
def sum_rule(x, *args, **kw):
    """`np.sum(x, axis, dtype, out, keepdims)`: dx is dy broadcast back."""
    if type(x) is np.ndarray:  # the method skips np.sum's dispatch (a microsecond)
        y, shape = x.sum(*args, **kw), x.shape
    else:
        y, shape = array_module(x).sum(x, *args, **kw), np.shape(x)
    axis, where = option(args, kw, 0, "axis"), kw.get("where", True)

    def sum_pullback(dy):
        g = expand_to(dy, shape, axis, x)
        return (_masked(g, where),) + nones(args)

    return y, sum_pullback


def _masked(g, where):
    """Cotangent `g` of a reduction with `where=`: zero where it is False."""
    if where is True:
        return g
    return array_module(g).where(where, g, 0)


def _ddof(args, kw):
    """var/std's `ddof`, also given as numpy 2's `correction`; their `mean=`
    (a precomputed mean) is refused: its gradient would be the caller's."""
    if "mean" in kw:
        raise NotImplementedError("the rule of np.var/np.std computes the mean itself: "
                                  "leave out mean=")
    return kw["correction"] if "correction" in kw else option(args, kw, 3, "ddof", 0)


def _refuse_where(name, kw):
    if kw.get("where", True) is not True:
        raise NotImplementedError(f"the rule of np.{name} covers where=True only: reduce "
                                  f"the selected values, e.g. np.{name}(x[mask])")


@rule(np.mean, np.ndarray.mean)
def mean_rule(x, *args, **kw):
    """`np.mean(x, axis, dtype, out, keepdims)`: dx is dy / n broadcast back."""
    xp = array_module(x)
    y = xp.mean(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)
    where = kw.get("where", True)
    n = _count(shape, axis) if where is True else \
        xp.sum(xp.broadcast_to(where, shape), axis=axis, keepdims=True)

    def mean_pullback(dy):
        if where is True:
            return (expand_to(dy / n, shape, axis, x),) + nones(args)
        return (_masked(expand_to(dy, shape, axis, x) / n, where),) + nones(args)

    return y, mean_pullback


@rule(np.prod, np.ndarray.prod)
def prod_rule(x, *args, **kw):
    """`np.prod(x, axis, dtype, out, keepdims)`: each element's cotangent is dy
    times the product of the others in its slice, made without dividing (exact
    at zeros, and differentiable again: second order through it is right)."""
    _refuse_where("prod", kw)
    xp = array_module(x)
    y = xp.prod(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)
    initial = option(args, kw, 4, "initial")

    def prod_pullback(dy):
        scale = _products_of_the_others(x, axis)
        if initial is not None:  # y = initial * the product
            scale = scale * initial
        return (expand_to(dy, shape, axis, x) * scale,) + nones(args)

    return y, prod_pullback


def _extremum_rule(fn, name):
    def extremum_rule(x, *args, **kw):
        _refuse_where(name, kw)
        y = fn(x, *args, **kw)
        axis = option(args, kw, 0, "axis")
        initial = option(args, kw, 3, "initial") is not None  # (axis, out, keepdims, initial)

        def extremum_pullback(dy):
            return (extremum_adjoint(dy, x, axis, y, initial),) + nones(args)

        return y, named(extremum_pullback, f"{name}_pullback")

    extremum_rule.__doc__ = (f"`np.{name}(x, axis, out, keepdims)`: the cotangent "
                             "goes to the extremal elements, split evenly on ties.")
    return named(extremum_rule, f"{name}_rule")


# (of lists too, `np.max([a, b])`: the others convert theirs through array_module)
max_rule = rule(np.max, np.amax, np.ndarray.max)(
    taking_sequences(_extremum_rule(np.max, "max"), 1))
min_rule = rule(np.min, np.amin, np.ndarray.min)(
    taking_sequences(_extremum_rule(np.min, "min"), 1))


@rule(np.var, np.ndarray.var)
def var_rule(x, *args, **kw):
    """`np.var(x, axis, dtype, out, ddof, keepdims)`:
    dx = 2 (x - mean) dy / (n - ddof)."""
    _refuse_where("var", kw)
    xp = array_module(x)
    y = xp.var(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)
    ddof = _ddof(args, kw)
    n = _count(shape, axis)

    def var_pullback(dy):
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        return (expand_to(dy, shape, axis, x) * centred * (2 / (n - ddof)),) + nones(args)

    return y, var_pullback


@rule(np.std, np.ndarray.std)
def std_rule(x, *args, **kw):
    """`np.std(x, axis, dtype, out, ddof, keepdims)`: dx = (x - mean) dy /
    ((n - ddof) std). Where the std is zero (a constant slice) the gradient is
    taken as zero (a subgradient) rather than NaN."""
    _refuse_where("std", kw)
    xp = array_module(x)
    y = xp.std(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)
    ddof = _ddof(args, kw)
    n = _count(shape, axis)

    def std_pullback(dy):
        s = keepdims(y, shape, axis)
        centred = x - xp.mean(x, axis=axis, keepdims=True)
        zero = xp.equal(s, 0)
        scale = xp.where(zero, 0, 1 / ((n - ddof) * xp.where(zero, 1, s)))
        return (expand_to(dy, shape, axis, x) * centred * scale,) + nones(args)

    return y, std_pullback


def _reverse_cumsum(g, axis):
    xp = array_module(g)
    return xp.flip(xp.cumsum(xp.flip(g, axis), axis), axis)


@rule(np.cumsum, np.ndarray.cumsum)
def cumsum_rule(x, *args, **kw):
    """`np.cumsum(x, axis, dtype, out)`: dx is the reversed cumulative sum of
    dy (axis None: over the flattened array)."""
    xp = array_module(x)
    y = xp.cumsum(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)

    def cumsum_pullback(dy):
        return (xp.reshape(_reverse_cumsum(dy, 0 if axis is None else axis), shape),) \
            + nones(args)

    return y, cumsum_pullback


@rule(np.cumprod, np.ndarray.cumprod)
def cumprod_rule(x, *args, **kw):
    """`np.cumprod(x, axis, dtype, out)`: dx_i = sum_{j >= i} dy_j y_j / x_i,
    or where x holds a zero, without dividing (see `_cumprod_grad`)."""
    xp = array_module(x)
    y = xp.cumprod(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)

    def cumprod_pullback(dy):
        flat = xp.reshape(x, y.shape)
        ax = 0 if axis is None else axis
        if xp.any(flat == 0):
            dx = _cumprod_grad(flat, dy, ax)
        else:
            dx = _reverse_cumsum(dy * y, ax) / flat
        return (xp.reshape(dx, shape),) + nones(args)

    return y, cumprod_pullback


def _products_of_the_others(x, axis):
    """For each element of x, the product of the other elements of its slice
    along `axis` (None: all): the products before it times those after it."""
    xp = array_module(x)
    if np.ndim(x) == 0:
        return xp.ones_like(x)
    ndim = np.ndim(x)
    axes = tuple(range(ndim)) if axis is None else \
        tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    front = tuple(range(len(axes)))
    moved = xp.moveaxis(x, axes, front)
    flat = xp.reshape(moved, (-1,) + tuple(np.shape(moved)[len(axes):]))
    ones = xp.ones_like(flat[:1])
    before = xp.cumprod(xp.concatenate([ones, flat[:-1]], axis=0), axis=0)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(flat, 0)[:-1]], axis=0),
                               axis=0), 0)
    return xp.moveaxis(xp.reshape(before * after, np.shape(moved)), front, axes)


def _cumprod_grad(x, dy, axis):
    """The cotangent of `cumprod(x, axis)` without dividing by x (zeros):
    dx_i = (x_0 ... x_{i-1}) s_i, where s_i = dy_i + x_{i+1} s_{i+1} sums the
    later outputs' cotangents times the factors after i."""
    xp = array_module(x, dy)
    xs, g = xp.moveaxis(x, axis, 0), xp.moveaxis(dy, axis, 0)
    n = xs.shape[0]
    before = xp.concatenate([xp.ones_like(xs[:1]), xp.cumprod(xs[:-1], axis=0)], axis=0)
    s = [g[n - 1]]
    for i in range(n - 2, -1, -1):
        s.append(g[i] + xs[i + 1] * s[-1])
    return xp.moveaxis(before * xp.stack(s[::-1]), 0, axis)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, computed stably by shifting by the maximum.

    Works on numpy and CuPy arrays; -inf entries contribute nothing, and an
    all -inf slice gives -inf."""
    xp = array_module(x)
    shape = np.shape(x)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    y = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return y
    axes = axes_of(axis, len(shape))
    y = xp.reshape(y, tuple(n for i, n in enumerate(shape) if i not in axes))
    return y[()] if y.ndim == 0 else y


@rule(logsumexp)
def logsumexp_rule(x, *args, **kw):
    """`logsumexp(x, axis, keepdims)`: dx = dy softmax(x) along axis."""
    xp = array_module(x)
    y = logsumexp(x, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)

    def logsumexp_pullback(dy):
        softmax = xp.exp(x - keepdims(y, shape, axis))
        return (expand_to(dy, shape, axis, x) * softmax,) + nones(args)

    return y, logsumexp_pullback


# -- ufunc methods: np.add.reduce(x), np.multiply.accumulate(x), ... -----------
# Each is the reduction or scan rule of the function it is (np.add.reduce is
# np.sum over axis 0 by default); other ufuncs and options have no rule.
_REDUCES = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
            np.logaddexp: logsumexp}
def running_max(x, axis=0):
    """`np.maximum.accumulate(x, axis)`: the largest value so far along axis."""
    return np.maximum.accumulate(x, axis)


def running_min(x, axis=0):
    """`np.minimum.accumulate(x, axis)`: the smallest value so far along axis."""
    return np.minimum.accumulate(x, axis)


def _running_extremum_rule(fn):
    def running_extremum_rule(x, axis=0):
        """y_j = the extremum of x_i for i <= j along `axis`: dy_j goes to the
        x_i (i <= j) equal to y_j, split evenly between ties (as np.max's)."""
        xp = array_module(x)
        y = fn(x, axis)

        def running_extremum_pullback(dy):
            xs, ys, g = (xp.moveaxis(a, axis, -1) for a in (x, y, dy))
            n = np.shape(xs)[-1]
            earlier = xp.tril(xp.ones((n, n), dtype=bool)).T  # [i, j]: i <= j
            hit = xp.logical_and(xs[..., :, None] == ys[..., None, :], earlier)
            count = xp.sum(hit, axis=-2, keepdims=True)
            dx = xp.sum(hit * (g[..., None, :] / count), axis=-1)
            return (xp.moveaxis(dx, -1, axis),)

        return y, running_extremum_pullback

    running_extremum_rule.__name__ = running_extremum_rule.__qualname__ = \
        f"{fn.__name__}_rule"
    return running_extremum_rule


rule(running_max)(_running_extremum_rule(running_max))
rule(running_min)(_running_extremum_rule(running_min))

_ACCUMULATES = {np.add: np.cumsum, np.multiply: np.cumprod, np.maximum: running_max,
                np.minimum: running_min}


def _ufunc_method(table, method):
    options = ("axis", "keepdims") if method == "reduce" else ("axis",)

    def ufunc_method_rule(ufunc, x, axis=0, dtype=None, out=None, keepdims=False, **kw):
        from .registry import RULES

        fn = table.get(ufunc)
        if fn is None or dtype is not None or out is not None or kw or \
                keepdims and method != "reduce":
            from ..errors import NoRuleError

            supported = ", ".join(f"np.{u.__name__}.{method}" for u in table)
            raise NoRuleError(getattr(ufunc, method), (
                f" (np.{ufunc.__name__}.{method}{' with these options' if fn else ''}: "
                f"zygopy differentiates {supported} with {' and '.join(options)})"))
        y, pb = RULES[fn](x, **dict(zip(options, (axis, keepdims))))

        def ufunc_method_pullback(dy):
            return (None, pb(dy)[0])

        return y, ufunc_method_pullback

    ufunc_method_rule.__name__ = ufunc_method_rule.__qualname__ = f"ufunc_{method}_rule"
    return ufunc_method_rule


rule(np.ufunc.reduce)(_ufunc_method(_REDUCES, "reduce"))
rule(np.ufunc.accumulate)(_ufunc_method(_ACCUMULATES, "accumulate"))


@rule(np.ufunc.outer)
def ufunc_outer_rule(ufunc, a, b, **kw):
    """`np.<ufunc>.outer(a, b)`: the ufunc of `a` with an axis per dimension
    of `b` appended and `b` (broadcasting), through the ufunc's own rule."""
    from .registry import lookup

    rrule = lookup(ufunc)
    if rrule is None or kw:
        from ..errors import NoRuleError

        raise NoRuleError(np.ufunc.outer, f" (np.{ufunc.__name__}.outer"
                                          f"{' with options' if kw else ''})")
    xp = array_module(a, b)
    column = xp.reshape(a, np.shape(a) + (1,) * np.ndim(b))
    y, pb = rrule(column, b)

    def ufunc_outer_pullback(dy):
        from ..runtime.arrays import unbroadcast

        da, db = pb(dy)[:2]
        da = None if da is None else xp.reshape(unbroadcast(da, column), np.shape(a))
        return None, da, db

    return y, ufunc_outer_pullback


# reductions of lists and tuples (np.mean([v ** 3 for v in x])), also of duals
of_sequences_too((np.sum, np.mean, np.prod, np.var, np.std, np.cumsum, np.cumprod), 1)
