"""Rules derived by differentiating a reference implementation.

For numpy functions that are compositions of operations zygopy already
differentiates (a weighted average, a median, a cross product, ...), the rule
runs a short implementation below through the compiler: its value is the
function's (the property test compares them) and its pullback is exact by
construction. `composite(fn)` registers one.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

from ..runtime.arrays import array_module
from .registry import rule


def composite(*fns, supports=None):
    """Decorator: `impl` computes `fns[0]`; register a rule for each of `fns`
    whose pullback is zygopy's pullback of `impl` (keywords included).
    `supports(*args, **kwargs)` names what `impl` does not cover (a string),
    or returns None. A call is matched to numpy's own signature first, so a
    positional argument reaches the parameter numpy gives it, and an option
    `impl` does not take is refused unless left at numpy's default."""

    def register(impl):
        binding = _Binding.of(fns[0], impl)

        def composite_rule(*args, **kwargs):
            from ..runtime.dispatch import call_function

            missing = supports and supports(*args, **kwargs)
            if missing:
                raise NotImplementedError(f"the rule of {fns[0].__name__} covers {missing}")
            if binding is None:  # as called; positions stand for their names
                call_args, call_kwargs = args, kwargs
                names = positional = tuple(range(len(args)))
            else:
                call_args, call_kwargs, names = binding.rebind(args, kwargs)
                positional = binding.positional[:len(call_args)]
            y, pb = call_function(impl, call_args, call_kwargs, need_free=False)
            return y, _RenamedPullback(pb, positional, tuple(call_kwargs), names,
                                       tuple(kwargs))

        composite_rule.keyword_cotangents = True
        composite_rule.__name__ = composite_rule.__qualname__ = f"{impl.__name__}_rule"
        composite_rule.__doc__ = impl.__doc__
        rule(*fns)(composite_rule)
        return impl

    return register


class _RenamedPullback:
    """`impl`'s cotangents, by parameter name, handed back in the caller's
    order: its positional arguments (`names`: the parameter each one bound
    to), then a dict for its keywords."""

    __slots__ = ("caller_keywords", "impl_keywords", "impl_positional", "names", "pb")

    def __init__(self, pb, impl_positional, impl_keywords, names, caller_keywords):
        self.pb, self.names, self.caller_keywords = pb, names, caller_keywords
        self.impl_positional, self.impl_keywords = impl_positional, impl_keywords

    def __call__(self, dy):
        grads = self.pb(dy)[1:]
        by_name = dict(zip(self.impl_positional + self.impl_keywords, grads))
        positional = tuple(by_name.get(name) for name in self.names)
        return positional + ({k: by_name.get(k) for k in self.caller_keywords},)


class _Binding:
    """numpy's signature of a function and the parameters of its reference
    implementation."""

    def __init__(self, name, signature, impl_signature):
        self.name, self.signature = name, signature
        params = impl_signature.parameters.values()
        self.positional = tuple(p.name for p in params
                                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        self.keyword_only = {p.name for p in params if p.kind == p.KEYWORD_ONLY}
        self.impl_defaults = {p.name: p.default for p in params}
        # numpy's positional-only parameters bind by position, whatever their names
        self.renamed = {p.name: self.positional[i]
                        for i, p in enumerate(signature.parameters.values())
                        if p.kind == p.POSITIONAL_ONLY and i < len(self.positional)}

    @classmethod
    def of(cls, fn, impl):
        """The binding, or None where either signature has *args or **kwargs
        or numpy's cannot be read (the call then goes to `impl` as it is)."""
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        impl_signature = inspect.signature(impl)
        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        if any(p.kind in variadic for sig in (signature, impl_signature)
               for p in sig.parameters.values()):
            return None
        return cls(getattr(fn, "__name__", "it"), signature, impl_signature)

    def rebind(self, args, kwargs):
        """(positional arguments for impl, its keywords, the parameter each of
        the caller's positional arguments bound to)."""
        bound = self.signature.bind(*args, **kwargs)
        given = {self.renamed.get(k, k): v for k, v in bound.arguments.items()}
        names = tuple(list(given)[:len(args)])
        for name, value in given.items():
            if name not in self.positional and name not in self.keyword_only:
                default = self.signature.parameters[name].default  # (not renamed)
                if value is not default:
                    raise NotImplementedError(f"the rule of {self.name} covers `{name}` "
                                              "at its default only")
        last = max((self.positional.index(n) for n in given if n in self.positional),
                   default=-1)
        call_args = tuple(given[n] if n in given else self.impl_defaults[n]
                          for n in self.positional[:last + 1])
        call_kwargs = {n: given[n] for n in self.keyword_only if n in given}
        return call_args, call_kwargs, names


def _along_last(x, axis):
    return np.moveaxis(x, axis, -1)


@composite(np.average, supports=lambda a, axis=None, weights=None, returned=False, **kw:
           "returned=False only" if returned else None)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """`np.average`: the mean, or `sum(a w) / sum(w)` along `axis`."""
    if weights is None:
        return np.mean(a, axis=axis, keepdims=keepdims)
    w = weights
    if np.ndim(w) != np.ndim(a):  # 1-D weights along an int axis
        shape = [1] * np.ndim(a)
        shape[axis] = -1
        w = np.reshape(w, shape)
    w = w * np.ones_like(a)
    return np.sum(a * w, axis=axis, keepdims=keepdims) / np.sum(w, axis=axis, keepdims=keepdims)


@composite(np.nansum)
def nansum(a, axis=None, keepdims=False):
    """`np.nansum`: NaNs count as zero (and get no gradient)."""
    return np.sum(np.where(np.isnan(a), 0, a), axis=axis, keepdims=keepdims)


@composite(np.nanmean)
def nanmean(a, axis=None, keepdims=False):
    """`np.nanmean`: the mean of the values that are not NaN."""
    kept = np.logical_not(np.isnan(a))
    total = np.sum(np.where(kept, a, 0), axis=axis, keepdims=keepdims)
    count = np.sum(kept, axis=axis, keepdims=keepdims, dtype=np.result_type(a, 1.0))
    return total / count  # (counts in a's float type: float32 stays float32)


def _sorted_along(a, axis):
    """(a sorted along `axis` moved last, or flattened for None; its length)."""
    s = np.sort(np.reshape(a, -1) if axis is None else _along_last(a, axis), axis=-1)
    return s, s.shape[-1]


def _keep(v, a, axis, keepdims):
    if not keepdims:
        return v
    if axis is None:
        return np.reshape(v, (1,) * np.ndim(a))
    return np.expand_dims(v, axis)


def _scalar_q(a, q, axis=None, **kw):
    if np.ndim(q) or isinstance(axis, tuple) or kw.get("method", "linear") != "linear":
        return "a scalar q, an int axis or none, and the linear method"
    return None


@composite(np.quantile, supports=_scalar_q)
def quantile(a, q, axis=None, keepdims=False):
    """`np.quantile` (linear interpolation) for a scalar `q` and an int or no
    axis: between the two order statistics around `q (n - 1)`."""
    s, n = _sorted_along(a, axis)
    position = q * (n - 1)
    lo = int(np.floor(position))
    hi = min(lo + 1, n - 1)
    frac = position - lo
    v = np.take(s, lo, axis=-1) + frac * (np.take(s, hi, axis=-1) - np.take(s, lo, axis=-1))
    return _keep(v, a, axis, keepdims)


@composite(np.percentile, supports=_scalar_q)
def percentile(a, q, axis=None, keepdims=False):
    """`np.percentile`: `np.quantile(a, q / 100)`."""
    return quantile(a, q / 100, axis=axis, keepdims=keepdims)


@composite(np.median, supports=lambda a, axis=None, **kw:
           "an int axis or none" if isinstance(axis, tuple) else None)
def median(a, axis=None, keepdims=False):
    """`np.median`: the middle order statistic, or the mean of the two middle ones."""
    s, n = _sorted_along(a, axis)
    v = (np.take(s, (n - 1) // 2, axis=-1) + np.take(s, n // 2, axis=-1)) / 2
    return _keep(v, a, axis, keepdims)


@composite(np.cross, supports=lambda a, b, **kw:
           None if np.shape(a)[-1:] == (3,) == np.shape(b)[-1:] and not kw
           else "3-vectors along the last axis")
def cross(a, b):
    """`np.cross` of 3-vectors along the last axis."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


@composite(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """`np.trapezoid`: the trapezoidal rule along `axis`."""
    yy = _along_last(y, axis)
    d = dx if x is None else np.diff(x if np.ndim(x) == 1 else _along_last(x, axis), axis=-1)
    return np.sum(d * (yy[..., 1:] + yy[..., :-1]), axis=-1) / 2


@composite(np.append)
def append(arr, values, axis=None):
    """`np.append`: a concatenation (of the flattened arrays without `axis`)."""
    if axis is None:
        return np.concatenate([np.ravel(arr), np.ravel(values)])
    return np.concatenate([arr, values], axis=axis)


@composite(np.linalg.multi_dot)
def multi_dot(arrays):
    """`np.linalg.multi_dot`: the product left to right."""
    return functools.reduce(np.matmul, arrays)


@composite(np.linalg.matrix_power)
def matrix_power(a, n):
    """`np.linalg.matrix_power` by repeated products (an inverse first for n < 0)."""
    base = np.linalg.inv(a) if n < 0 else a
    xp = array_module(a)  # the identity on a's device
    out = xp.broadcast_to(xp.eye(np.shape(a)[-1], dtype=a.dtype), np.shape(a))
    if n == 0:
        return out + 0 * a  # the identity, whose gradient is zero (not absent)
    for _ in range(abs(n)):
        out = out @ base
    return out


@composite(np.convolve, supports=lambda a, v, mode="full": None if np.ndim(a) == 1 == np.ndim(v)
           else "1-D arrays")
def convolve(a, v, mode="full"):
    """`np.convolve` of 1-D arrays: out[k] = sum over i + j = k of a[i] v[j]."""
    n, m = len(a), len(v)
    products = np.outer(a, v)[:, ::-1]  # anti-diagonals become diagonals
    full = np.stack([np.trace(products, offset=k) for k in range(m - 1, -n, -1)])
    if mode == "full":
        return full
    if mode == "same":
        start = (min(n, m) - 1) // 2
        return full[start:start + max(n, m)]
    return full[min(n, m) - 1:max(n, m)]


@composite(np.correlate, supports=lambda a, v, mode="valid": None if np.ndim(a) == 1 == np.ndim(v)
           and (mode != "same" or len(a) >= len(v)) else "real 1-D arrays (a no shorter "
           "than v for mode='same')")
def correlate(a, v, mode="valid"):
    """`np.correlate` of real 1-D arrays: a convolution with `v` reversed."""
    return convolve(a, v[::-1], mode=mode)


def _nan_extremum(a, pick, fill, axis, keepdims):
    """`pick` of the values that are not NaN (NaN where there are none)."""
    nan = np.isnan(a)
    found = pick(np.where(nan, fill, a), axis=axis, keepdims=keepdims)
    return np.where(np.all(nan, axis=axis, keepdims=keepdims), np.nan, found)[()]


@composite(np.nanmax)
def nanmax(a, axis=None, keepdims=False):
    """`np.nanmax`: the maximum of the values that are not NaN (NaN for none)."""
    return _nan_extremum(a, np.max, -np.inf, axis, keepdims)


@composite(np.nanmin)
def nanmin(a, axis=None, keepdims=False):
    """`np.nanmin`: the minimum of the values that are not NaN (NaN for none)."""
    return _nan_extremum(a, np.min, np.inf, axis, keepdims)


@composite(np.nanprod)
def nanprod(a, axis=None, keepdims=False):
    """`np.nanprod`: NaNs count as one."""
    return np.prod(np.where(np.isnan(a), 1, a), axis=axis, keepdims=keepdims)


@composite(np.nanvar)
def nanvar(a, axis=None, ddof=0, keepdims=False, *, correction=None):
    """`np.nanvar`: the variance of the values that are not NaN (`correction`:
    numpy 2's name for ddof)."""
    if correction is not None:
        ddof = correction
    kept = np.logical_not(np.isnan(a))
    real = np.result_type(a, 1.0)  # counts in a's float type: float32 stays float32
    n = np.sum(kept, axis=axis, keepdims=True, dtype=real)
    mean = np.sum(np.where(kept, a, 0), axis=axis, keepdims=True) / n
    deviation = np.where(kept, a - mean, 0)  # (squared after: 0 * 2 (NaN - mean) is NaN)
    return np.sum(deviation**2, axis=axis, keepdims=keepdims) / \
        (np.sum(kept, axis=axis, keepdims=keepdims, dtype=real) - ddof)


@composite(np.nanstd)
def nanstd(a, axis=None, ddof=0, keepdims=False, *, correction=None):
    """`np.nanstd`: the square root of `np.nanvar` (gradient 0 where it is 0,
    as for np.std: a single value has no spread whatever its value)."""
    v = nanvar(a, axis=axis, ddof=ddof, keepdims=keepdims, correction=correction)
    spread = v > 0
    return np.where(spread, np.sqrt(np.where(spread, v, 1.0)), 0.0)[()]  # (a scalar for 0-d)


def _scalar_range(start, stop, num=50, endpoint=True, *rest, dtype=None, axis=0, **kw):
    if np.ndim(start) or np.ndim(stop) or dtype is not None or axis != 0 or \
            any(np.ndim(v) for v in rest + tuple(kw.values())):
        return "scalar bounds (and base), without dtype or axis"
    return None


@composite(np.logspace, supports=_scalar_range)
def logspace(start, stop, num=50, endpoint=True, base=10.0):
    """`np.logspace`: base to the powers linspace(start, stop)."""
    return base ** np.linspace(start, stop, num, endpoint)


@composite(np.geomspace, supports=lambda start, stop, *rest, **kw:
           _scalar_range(start, stop, *rest, **kw)
           or (None if start * stop > 0 else "bounds of one sign"))
def geomspace(start, stop, num=50, endpoint=True):
    """`np.geomspace`: exp of linspace(log start, log stop), for bounds of one sign."""
    sign = np.sign(start)
    return sign * np.exp(np.linspace(np.log(start * sign), np.log(stop * sign), num,
                                     endpoint))


@composite(np.interp, supports=lambda x, xp, fp, left=None, right=None, period=None:
           None if left is None and right is None and period is None and np.ndim(xp) == 1
           else "increasing 1-D xp without left, right or period")
def interp(x, xp, fp):
    """`np.interp`: linear between the points around each x, the end values
    beyond them."""
    n = np.shape(xp)[0]
    i = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, n - 2)
    x0, x1 = np.take(xp, i), np.take(xp, i + 1)
    y0, y1 = np.take(fp, i), np.take(fp, i + 1)
    t = np.clip((x - x0) / (x1 - x0), 0.0, 1.0)
    return (y0 + t * (y1 - y0)).astype(np.float64)  # numpy's interp gives float64


@composite(np.meshgrid, supports=lambda *xi, indexing="xy", sparse=False, copy=True:
           None if not sparse and all(np.ndim(x) == 1 for x in xi) else
           "1-D arrays and sparse=False")
def meshgrid(*xi, indexing="xy", sparse=False, copy=True):
    """`np.meshgrid` of 1-D arrays: each one reshaped along its axis and
    broadcast (with "xy" indexing the first two axes swap)."""
    n = len(xi)
    axes = list(range(n))
    if indexing == "xy" and n > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * n
    for i in range(n):
        shape[axes[i]] = np.size(xi[i])
    grids = []
    for i in range(n):
        along = [1] * n
        along[axes[i]] = -1
        grids.append(np.broadcast_to(np.reshape(xi[i], along), shape) * 1)
    return tuple(grids)


@composite(np.polyval)
def polyval(p, x):
    """`np.polyval`: Horner's scheme, highest power first."""
    y = np.zeros_like(x, dtype=np.result_type(x, 1.0)) if np.ndim(x) else 0.0 * x
    for c in p:
        y = y * x + c
    return y


@composite(np.apply_along_axis)
def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """`np.apply_along_axis`: `func1d` on each 1-D slice along `axis` (each
    call differentiated), its results stacked where the axis was."""
    nd = np.ndim(arr)
    axis = axis % nd
    moved = np.moveaxis(arr, axis, -1)
    lead = np.shape(moved)[:-1]
    rows = np.reshape(moved, (-1, np.shape(moved)[-1]))
    results = np.stack([func1d(row, *args, **kwargs) for row in rows])
    out = np.reshape(results, lead + np.shape(results)[1:])
    k = np.ndim(results) - 1  # the dimensions each call returns
    return np.moveaxis(out, tuple(range(len(lead), len(lead) + k)),
                       tuple(range(axis, axis + k)))


@composite(np.piecewise)
def piecewise(x, condlist, funclist, *args, **kw):
    """`np.piecewise`: each function (or constant) on the elements its
    condition selects, only those (as numpy: no gradient through the values
    a branch would give elsewhere); an extra function covers the rest."""
    if isinstance(condlist, np.ndarray) and condlist.dtype == bool and \
            np.ndim(condlist) == np.ndim(x):
        condlist = [condlist]
    conds = [np.broadcast_to(c, np.shape(x)) for c in condlist]
    if len(funclist) == len(conds) + 1:  # the otherwise-function
        conds.append(np.logical_not(np.any(np.stack(conds), axis=0)))
    out = np.zeros_like(x, dtype=np.result_type(x, 1.0))
    for cond, fn in zip(conds, funclist):
        if callable(fn):
            out[cond] = fn(x[cond], *args, **kw)
        else:
            out[cond] = fn
    return out


def _vectorized(fn, *args):
    """`np.vectorize(fn)(*args)` spelled out: `fn` on each element of the
    broadcast arguments, the results gathered in their shape."""
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    flat = [np.ravel(np.broadcast_to(a, shape)) for a in args]
    return np.reshape(np.array([fn(*items) for items in zip(*flat)]), shape)


@rule((np.vectorize, "__call__"))
def vectorize_call_rule(vec, *args, **kwargs):
    """Calling `np.vectorize(fn)`: `fn` differentiated element by element
    (plain arguments; `excluded`, `signature` and keywords are not covered)."""
    if vec.excluded or vec.signature is not None or kwargs:
        raise NotImplementedError("the rule of np.vectorize covers positional array "
                                  "arguments, without excluded= or signature=")
    from ..runtime.dispatch import call_function

    y, pb = call_function(_vectorized, (vec.pyfunc,) + args, {}, need_free=False)
    if vec.otypes:
        y = y.astype(vec.otypes[0])

    def vectorize_call_pullback(dy):
        return (None,) + tuple(pb(dy)[2:])

    return y, vectorize_call_pullback


def _cumulative(scan, start, name):
    def cumulative(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        if axis is None:
            axis = 0  # (numpy asks for it above one dimension)
        y = scan(x, axis=axis, dtype=dtype)
        if not include_initial:
            return y
        first = list(np.shape(y))
        first[axis] = 1
        return np.concatenate([np.zeros_like(y, shape=tuple(first)) + start, y], axis=axis)

    cumulative.__name__ = cumulative.__qualname__ = name
    cumulative.__doc__ = (f"`np.{name}`: np.{scan.__name__}, with {start:g} first when "
                          "include_initial")
    return cumulative


cumulative_sum = composite(np.cumulative_sum)(_cumulative(np.cumsum, 0.0, "cumulative_sum"))
cumulative_prod = composite(np.cumulative_prod)(
    _cumulative(np.cumprod, 1.0, "cumulative_prod"))


@composite(np.rollaxis)
def rollaxis(a, axis, start=0):
    """`np.rollaxis` (numpy's older moveaxis): `axis` placed before `start`."""
    n = np.ndim(a)
    axis = axis % n if n else 0
    start = start + n if start < 0 else start
    return np.moveaxis(a, axis, start - 1 if start > axis else start)


@composite(np.linalg.matrix_transpose)
def matrix_transpose(x):
    """`np.linalg.matrix_transpose`: the last two axes swapped."""
    return np.swapaxes(x, -1, -2)


@composite(np.vander)
def vander(x, N=None, increasing=False):
    """`np.vander`: the columns are powers of x (decreasing unless `increasing`)."""
    n = len(x) if N is None else N
    powers = range(n) if increasing else range(n - 1, -1, -1)
    # one column per power, each x ** k with a Python int k: on x's device (CuPy
    # arrays or duals of them) with no array of powers to place
    columns = np.stack([x**k for k in powers], axis=-1)
    return columns.astype(np.promote_types(x.dtype, np.int64))  # numpy's (float64) dtype


@composite(np.real_if_close)
def real_if_close(a, tol=100):
    """`np.real_if_close` of a real array: the array itself (complex ones are
    refused: gradients are for real numbers)."""
    return a * 1


@composite(np.asarray_chkfinite)
def asarray_chkfinite(a, dtype=None, order=None):
    """`np.asarray_chkfinite`: `a`, after numpy's check that it is finite."""
    if not np.all(np.isfinite(a)):
        raise ValueError("array must not contain infs or NaNs")
    return np.asarray(a, dtype=dtype, order=order)


# np.linalg's array-API spellings of functions with rules
@composite(np.linalg.matmul)
def linalg_matmul(x1, x2, /):
    """`np.linalg.matmul`: `np.matmul`."""
    return np.matmul(x1, x2)


@composite(np.linalg.outer)
def linalg_outer(x1, x2, /):
    """`np.linalg.outer` of two vectors: `np.outer`."""
    return np.outer(x1, x2)


@composite(np.linalg.tensordot)
def linalg_tensordot(x1, x2, /, *, axes=2):
    """`np.linalg.tensordot`: `np.tensordot`."""
    return np.tensordot(x1, x2, axes)


@composite(np.linalg.trace)
def linalg_trace(x, /, *, offset=0, dtype=None):
    """`np.linalg.trace`: the trace of the last two axes."""
    return np.trace(x, offset, axis1=-2, axis2=-1, dtype=dtype)


@composite(np.linalg.diagonal)
def linalg_diagonal(x, /, *, offset=0):
    """`np.linalg.diagonal`: the diagonal of the last two axes."""
    return np.diagonal(x, offset, axis1=-2, axis2=-1)


@composite(np.linalg.vecdot)
def linalg_vecdot(x1, x2, /, *, axis=-1):
    """`np.linalg.vecdot`: `np.vecdot`."""
    return np.vecdot(x1, x2, axis=axis)


@composite(np.linalg.cross)
def linalg_cross(x1, x2, /, *, axis=-1):
    """`np.linalg.cross` of 3-vectors: `np.cross`."""
    if axis == -1:
        return np.cross(x1, x2)
    return np.cross(x1, x2, axis=axis)  # (refused by np.cross's rule)


@composite(np.linalg.svdvals)
def svdvals(x, /):
    """`np.linalg.svdvals`: the singular values, as `np.linalg.svd` gives them."""
    return np.linalg.svd(x, compute_uv=False)
