"""Arrays made from differentiable values: full, full_like, linspace, arange
(with float bounds), bincount and histogram (linear in their weights), and
reading values out of arrays (item, tolist), diff and ptp. Creation from
shapes alone (zeros, ones, eye, ...) is in `inert.py`.
"""

from __future__ import annotations

import numpy as np

from ..runtime.arrays import is_dual
from ._helpers import array_module
from .python import scalar_cast_rule
from .registry import rule


@rule(np.full)
def full_rule(shape, fill_value, *args, **kw):
    """`np.full(shape, v)`: every element is v, whose cotangent is their sum
    (the dispatcher sums a cotangent back to v's shape)."""
    y = np.full(shape, fill_value, *args, **kw)

    def full_pullback(dy):
        return None, dy

    return y, full_pullback


@rule(np.full_like)
def full_like_rule(a, fill_value, *args, **kw):
    """`np.full_like(a, v)`: as `full`; `a` only gives the shape."""
    y = np.full_like(a, fill_value, *args, **kw)

    def full_like_pullback(dy):
        return array_module(a).zeros_like(a), dy  # a gives only the shape

    return y, full_like_pullback


@rule(np.linspace)
def linspace_rule(start, stop, num=50, endpoint=True, *args, **kw):
    """`np.linspace(start, stop, num)`: y_i = start + t_i (stop - start), with
    t from 0 to 1 (excluded without `endpoint`); scalar bounds."""
    if np.ndim(start) or np.ndim(stop) or kw.get("retstep") or (args and args[0]):
        raise NotImplementedError("linspace's gradient covers scalar bounds, no retstep")
    y = np.linspace(start, stop, num, endpoint, *args, **kw)
    t = np.linspace(0.0, 1.0, num, endpoint)

    def linspace_pullback(dy):
        return np.sum(dy * (1 - t)), np.sum(dy * t)

    return y, linspace_pullback


@rule(np.arange)
def arange_rule(*args, **kw):
    """`np.arange([start,] stop[, step])`: y_i = start + i step; `stop` only
    decides how many elements there are (no gradient)."""
    y = np.arange(*args, **kw)
    i = np.arange(y.size, dtype=y.dtype)

    def arange_pullback(dy):
        if len(args) == 1:
            return (0.0,)  # stop only counts
        return (np.sum(dy), 0.0) + ((np.sum(dy * i),) if len(args) > 2 else ())

    return y, arange_pullback


@rule((np.ndarray, "item"))
def item_rule(x, *args):
    """`x.item()`: a Python number, whose cotangent goes back to its element."""
    y = x.item(*args)

    def item_pullback(dy):
        xp = array_module(x)
        dx = xp.zeros(np.shape(x), x.dtype)
        if is_dual(dy):  # second order: the element's tangent too
            from ..forward import Dual

            dx = Dual(dx, xp.zeros_like(dx))
        elif dx.ndim == 0:
            d = xp.asarray(dy, dx.dtype)
            return (d[()] if xp is np else d,)
        index = np.unravel_index(args[0], dx.shape) if len(args) == 1 and \
            isinstance(args[0], int) else args if args else ()
        dx[index] = dy
        return (dx,)

    return y, item_pullback


@rule((np.ndarray, "tolist"))
def tolist_rule(x):
    """`x.tolist()`: nested lists of Python numbers."""
    y = x.tolist()

    def tolist_pullback(dy):
        xp = array_module(x)
        flat = _flattened(_zeros_for_none(dy))
        if any(is_dual(d) for d in flat):  # second order: the items' tangents too
            from ..forward import Dual, primal, tangent

            parts = [xp.asarray([f(d) if is_dual(d) else (d if f is primal else 0.0)
                                 for d in flat], dtype=x.dtype).reshape(x.shape)
                     for f in (primal, tangent)]
            return (Dual(*parts),)
        return (xp.asarray(flat, dtype=x.dtype).reshape(x.shape),)

    return y, tolist_pullback


def _flattened(d):
    if isinstance(d, list):
        return [v for item in d for v in _flattened(item)]
    return [d]


def _zeros_for_none(d):
    from ..runtime.tangents import ZERO

    if d is None or d is ZERO:
        return 0.0
    if isinstance(d, (list, tuple)):
        return [_zeros_for_none(v) for v in d]
    return d


@rule(np.diff)
def diff_rule(x, n=1, axis=-1, *, prepend=None, append=None):
    """`np.diff(x, n, axis, prepend, append)`: each difference is a linear map;
    its transpose takes differences backwards (with a sign) n times. Values
    prepended or appended get no cotangent (constants: a differentiable one is
    refused when its gradient is needed)."""
    xp = array_module(x)
    ends = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
    y = xp.diff(x, n=n, axis=axis, **ends)
    ax = axis % max(np.ndim(x), 1)
    before = 0 if prepend is None else _length_along(prepend, x, ax)

    def diff_pullback(dy):
        g = dy
        for _ in range(n):
            pad = [(0, 0)] * g.ndim
            pad[axis] = (1, 1)
            g = -xp.diff(xp.pad(g, pad), axis=axis)
        if ends:  # the part of the joined array that is x
            index = [slice(None)] * g.ndim
            index[ax] = slice(before, before + np.shape(x)[ax])
            g = g[tuple(index)]
        return (g,)

    return y, diff_pullback


def _length_along(v, x, axis):
    """How many entries `np.diff`'s prepend/append value `v` adds along `axis`
    (a scalar is broadcast to one)."""
    return 1 if np.ndim(v) == 0 else np.shape(v)[axis]


@rule(np.ptp)
def ptp_rule(x, axis=None, keepdims=False):
    """`np.ptp(x, axis)` = max - min along `axis` (ties split evenly)."""
    from .reductions import max_rule, min_rule

    hi, hi_pb = max_rule(x, axis=axis, keepdims=keepdims)
    lo, lo_pb = min_rule(x, axis=axis, keepdims=keepdims)

    def ptp_pullback(dy):
        return (hi_pb(dy)[0] - lo_pb(dy)[0],)

    return hi - lo, ptp_pullback


rule(np.float64)(scalar_cast_rule(np.float64))  # (float32 and float16 in python.py)


@rule(np.bincount)
def bincount_rule(x, *args, **kw):
    """`np.bincount(x, weights)`: y[k] sums the weights of the x equal to k, so
    each weight's cotangent is dy at its bin (the counts of `x` alone carry
    none)."""
    y = np.bincount(x, *args, **kw)
    weights = args[0] if args else kw.get("weights")

    def bincount_pullback(dy):
        dw = None if weights is None else dy[x]
        return _by_position_and_keyword(dw, args, kw)

    return y, bincount_pullback


@rule(np.histogram)
def histogram_rule(a, *args, **kw):
    """`np.histogram(a, bins, weights=w)`: the counts are linear in the
    weights (each weight's cotangent is d hist at its bin, zero outside the
    range); the positions move no count, but edges spanning [min(a), max(a)]
    move with those two (see `_edges_adjoint`). A density with weights divides
    by their sum: not covered."""
    hist, edges = np.histogram(a, *args, **kw)
    weights = args[3] if len(args) > 3 else kw.get("weights")
    density = args[2] if len(args) > 2 else kw.get("density")
    if weights is not None and density:
        from ..errors import NoRuleError

        raise NoRuleError(np.histogram, " (density=True with weights: the weights' sum "
                                        "normalises it; normalise the counts yourself)")
    flat = np.ravel(a)
    last = len(edges) - 2
    at = np.searchsorted(edges, flat, side="right") - 1
    at[flat == edges[-1]] = last  # the last bin holds its right edge
    inside = (at >= 0) & (at <= last)

    bins = args[0] if args else kw.get("bins", 10)
    given_range = args[1] if len(args) > 1 else kw.get("range")

    def histogram_pullback(d):
        dhist, dedges = d if isinstance(d, tuple) else (d, None)
        dw = None
        if weights is not None and dhist is not None and np.ndim(dhist):
            xp = array_module(dhist)
            dw = xp.where(inside, dhist[xp.clip(at, 0, last)], 0.0).reshape(np.shape(a))
            dw = dw.astype(np.result_type(weights), copy=False)
        grads = _by_position_and_keyword(dw, args, kw, at=3)
        return (_edges_adjoint(a, dedges, bins, given_range),) + grads[1:]

    return (hist, edges), histogram_pullback


def _edges_adjoint(a, dedges, bins, given_range):
    """The cotangent of the positions `a`: their bins are piecewise constant,
    but `bins` edges spanning [min(a), max(a)] (no range given) move with the
    extremes."""
    xp = array_module(a)
    da = xp.zeros(np.shape(a))
    if dedges is None or not np.ndim(dedges) or given_range is not None or \
            np.ndim(bins) or np.size(a) == 0:
        return da
    flat = da.reshape(-1)
    values = xp.ravel(a)
    t = xp.linspace(0.0, 1.0, len(dedges))
    lo, hi = int(xp.argmin(values)), int(xp.argmax(values))
    flat[lo] += xp.sum(dedges * (1 - t))  # edges = lo + t (hi - lo); lo == hi: +-0.5
    flat[hi] += xp.sum(dedges * t)
    return da


def _by_position_and_keyword(dw, args, kw, at=0):
    """The cotangents of a call whose `weights` (its argument `at` after the
    first, or a keyword) gets `dw`: None for the first argument and the other
    options, and by keyword when it was given by keyword."""
    positional = [None] * (1 + len(args))
    if len(args) > at:
        positional[1 + at] = dw
    return tuple(positional) + ({k: dw if k == "weights" else None for k in kw},)


bincount_rule.keyword_cotangents = True  # weights= by keyword too
histogram_rule.keyword_cotangents = True
