"""Arrays made from differentiable values: full, full_like, linspace, arange
(with float bounds), and reading values out of arrays (item, tolist), diff
and ptp. Creation from shapes alone (zeros, ones, eye, ...) is in `inert.py`.
"""

from __future__ import annotations

import numpy as np

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
        dx = np.zeros(np.shape(x), np.result_type(x))
        if dx.ndim == 0:
            return (np.asarray(dy, dx.dtype)[()],)
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
        return (np.asarray(_zeros_for_none(dy), dtype=x.dtype).reshape(x.shape),)

    return y, tolist_pullback


def _zeros_for_none(d):
    from ..runtime.tangents import ZERO

    if d is None or d is ZERO:
        return 0.0
    if isinstance(d, (list, tuple)):
        return [_zeros_for_none(v) for v in d]
    return d


@rule(np.diff)
def diff_rule(x, n=1, axis=-1):
    """`np.diff(x, n, axis)`: each difference is a linear map; its transpose
    takes differences backwards (with a sign) n times."""
    xp = array_module(x)
    y = xp.diff(x, n=n, axis=axis)

    def diff_pullback(dy):
        g = dy
        for _ in range(n):
            pad = [(0, 0)] * g.ndim
            pad[axis] = (1, 1)
            g = -xp.diff(xp.pad(g, pad), axis=axis)
        return (g,)

    return y, diff_pullback


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
