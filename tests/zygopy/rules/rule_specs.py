"""The spec table of the numpy rules: one row per registered callable.

A row names the callable, how to draw its arguments (shapes with 0-4 dims,
size-1 axes for broadcasting, negative axes, keepdims, values in a domain
where the function is smooth) and whether its pullback is meant to be
differentiated again (second order).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from zygopy.rules.formulas import lognan, powexp
from zygopy.rules.indexing import scatter_add
from zygopy.rules.reductions import logsumexp, running_max, running_min


class Draw:
    """Argument drawing for one example: hypothesis chooses shapes and options,
    a drawn seed fills the values (fast, and still reproducible)."""

    def __init__(self, data):
        self.data = data
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))

    def draw(self, strategy):
        return self.data.draw(strategy)

    def shape(self, min_dims=0, max_dims=4, min_side=1, max_side=3):
        n = self.draw(st.integers(min_dims, max_dims))
        return tuple(self.draw(st.integers(min_side, max_side)) for _ in range(n))

    def bshape(self, shape):
        """A shape that broadcasts to `shape`: leading axes dropped, some set to 1."""
        keep = self.draw(st.integers(0, len(shape)))
        return tuple(1 if self.draw(st.booleans()) else n for n in shape[len(shape) - keep:])

    def array(self, shape, domain="any"):
        """A float64 array of `shape` with values in `domain`."""
        return np.asarray(self._values(tuple(shape), domain), dtype=np.float64)

    def _values(self, shape, domain):
        r, size = self.rng, shape
        if domain == "any":
            return r.uniform(-2, 2, size)
        if domain == "nonzero":  # |x| in [0.2, 2]
            return r.uniform(0.2, 2, size) * r.choice([-1.0, 1.0], size)
        if domain == "positive":
            return r.uniform(0.3, 2, size)
        if domain == "near1":  # products stay moderate
            return r.uniform(0.6, 1.4, size) * r.choice([-1.0, 1.0], size)
        if domain == "unit":
            return r.uniform(-0.9, 0.9, size)
        if domain == "gt1":
            return r.uniform(1.2, 3, size)
        if domain == "matrix":  # well-conditioned square matrices
            n = shape[-1]
            return r.uniform(-1, 1, size) + 2 * n * np.eye(n) * r.choice([-1.0, 1.0])
        if domain == "spd":
            a = r.uniform(-1, 1, size)
            return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])
        if domain == "distinct":  # well-separated values: no ties, no near-zero
            n = int(np.prod(shape, dtype=int))
            v = (r.permutation(n) - n / 2 + 0.25) * 0.5 + r.uniform(-0.05, 0.05, n)
            return v.reshape(shape)
        raise ValueError(domain)

    def axis(self, ndim, none=True, tuples=True):
        """None, an int (maybe negative) or a tuple of distinct axes."""
        options = ["int"] * (ndim > 0) + ["none"] * none + ["tuple"] * (tuples and ndim > 0)
        kind = self.draw(st.sampled_from(options)) if options else "none"
        if kind == "none":
            return None
        if kind == "int":
            return self.draw(st.integers(-ndim, ndim - 1))
        axes = self.draw(st.lists(st.integers(0, ndim - 1), min_size=1, unique=True))
        return tuple(a - ndim if self.draw(st.booleans()) else a for a in axes)


@dataclass(frozen=True)
class Spec:
    """One row: `fn` called with `build(draw) -> (args, kwargs)`."""

    fn: object
    build: Callable
    order2: bool = True  # the pullback uses only differentiable operations
    sequence: bool = False  # the first argument is a (nested) list of arrays
    rtol: float = 1e-5
    name: str = ""

    @property
    def id(self):
        return self.name or getattr(self.fn, "__name__", str(self.fn))


SPECS: list = []


def plain(fn, args, kwargs):
    """What a spec row's callable gives without zygopy: a property's value for
    `(type, name)`, calling the object for `(type, "__call__")`, else a call."""
    if isinstance(fn, tuple):
        if fn[1] == "__call__":
            return args[0](*args[1:], **kwargs)
        return getattr(args[0], fn[1])
    return fn(*args, **kwargs)


def spec(fn, build, **kw):
    SPECS.append(Spec(fn, build, **kw))


# builders --------------------------------------------------------------------


def unary(domain="any", min_dims=0):
    return lambda d: ((d.array(d.shape(min_dims), domain),), {})


def binary(dx="any", dy="any"):
    def build(d):
        s = d.shape()
        return (d.array(d.bshape(s), dx), d.array(d.bshape(s), dy)), {}
    return build


def reduction(domain="any", ddof=False, tuples=True, scan=False):
    def build(d):
        x = d.array(d.shape(), domain)
        if scan:
            axis = d.axis(x.ndim, tuples=False)
            return ((x, axis), {}) if d.draw(st.booleans()) else ((x,), {"axis": axis})
        kw = {"axis": d.axis(x.ndim, tuples=tuples), "keepdims": d.draw(st.booleans())}
        if ddof:  # ddof=1 only where every reduced slice has 2+ elements
            n = x.size // max(np.sum(x, axis=kw["axis"]).size, 1) if x.size else 0
            kw["ddof"] = d.draw(st.integers(0, 1)) if n > 1 else 0
        return (x,), kw
    return build


def with_shape(make):
    """A builder from `make(d, x)` given a drawn array x of 1-4 dims."""
    return lambda d: make(d, d.array(d.shape(1), "any"))


def matrices(domain, min_dims=2, square=True):
    def build(d):
        n = d.draw(st.integers(1, 3))
        m = n if square else d.draw(st.integers(1, 3))
        batch = d.shape(0, min_dims - 2 + 1, max_side=2)
        return (d.array(batch + (n, m), domain),), {}
    return build


# elementwise -----------------------------------------------------------------

for fn, dom in [
    (np.negative, "any"), (np.positive, "any"), (np.absolute, "nonzero"),
    (np.fabs, "nonzero"), (np.square, "any"), (np.reciprocal, "nonzero"),
    (np.sqrt, "positive"), (np.cbrt, "nonzero"), (np.exp, "any"), (np.exp2, "any"),
    (np.expm1, "any"), (np.log, "positive"), (np.log2, "positive"),
    (np.log10, "positive"), (np.log1p, "positive"), (np.sin, "any"), (np.cos, "any"),
    (np.tan, "unit"), (np.arcsin, "unit"), (np.arccos, "unit"), (np.arctan, "any"),
    (np.sinh, "any"), (np.cosh, "any"), (np.tanh, "any"), (np.arcsinh, "any"),
    (np.arccosh, "gt1"), (np.arctanh, "unit"), (np.sinc, "nonzero"),
    (np.deg2rad, "any"), (np.rad2deg, "any"), (np.radians, "any"), (np.degrees, "any"),
]:
    spec(fn, unary(dom))

# zygopy's helpers in the partials of x ** y (differentiated at second order)
spec(powexp, unary("nonzero"))
spec(lognan, unary("positive"))

for fn, dx, dy in [
    (np.add, "any", "any"), (np.subtract, "any", "any"), (np.multiply, "any", "any"),
    (np.divide, "any", "nonzero"), (np.power, "positive", "any"),
    (np.float_power, "positive", "any"), (np.maximum, "any", "any"),
    (np.minimum, "any", "any"), (np.fmax, "any", "any"), (np.fmin, "any", "any"),
    (np.logaddexp, "any", "any"), (np.logaddexp2, "any", "any"),
    (np.arctan2, "nonzero", "nonzero"), (np.hypot, "nonzero", "nonzero"),
    (np.remainder, "positive", "gt1"),
]:
    spec(fn, binary(dx, dy))


def _clip(d):
    x = d.array(d.shape(), "distinct")
    return (x, -0.6, 0.9), {}  # bounds fall between the distinct values


spec(np.clip, _clip)
spec(np.ndarray.clip, _clip, name="ndarray.clip")


def _where(d):
    s = d.shape()
    cond = d.array(d.bshape(s)) > 0
    return (cond, d.array(d.bshape(s)), d.array(d.bshape(s))), {}


spec(np.where, _where)
spec(np.copy, unary())
spec(np.ndarray.copy, with_shape(lambda d, x: ((x,), {})), name="ndarray.copy")
spec(np.ndarray.astype, with_shape(lambda d, x: ((x, np.float64), {})),
     name="ndarray.astype")
spec(np.ndarray.item, lambda d: (
    (d.array(d.shape(max_side=1)),), {}), name="ndarray.item", order2=False)

# reductions ------------------------------------------------------------------

for fn, name in [(np.sum, "sum"), (np.ndarray.sum, "ndarray.sum"),
                 (np.mean, "mean"), (np.ndarray.mean, "ndarray.mean")]:
    spec(fn, reduction(), name=name)
for fn, name in [(np.prod, "prod"), (np.ndarray.prod, "ndarray.prod")]:
    spec(fn, reduction("near1"), name=name)
for fn, name in [(np.max, "max"), (np.amax, "amax"), (np.ndarray.max, "ndarray.max"),
                 (np.min, "min"), (np.amin, "amin"), (np.ndarray.min, "ndarray.min")]:
    spec(fn, reduction("distinct"), name=name)
for fn, name in [(np.var, "var"), (np.ndarray.var, "ndarray.var"),
                 (np.std, "std"), (np.ndarray.std, "ndarray.std")]:
    spec(fn, reduction("any", ddof=True), name=name)
spec(np.cumsum, reduction(scan=True))
spec(np.ndarray.cumsum, reduction(scan=True), name="ndarray.cumsum")
spec(np.cumprod, reduction("near1", scan=True))
spec(np.ndarray.cumprod, reduction("near1", scan=True), name="ndarray.cumprod")
spec(logsumexp, reduction())


def ufunc_method(ufunc, domain, scan=False):
    """np.<ufunc>.reduce / .accumulate: the reduction's arguments after the
    ufunc (axis 0 when not given, as numpy's default)."""
    base = reduction(domain)

    def build(d):
        if scan:  # one int axis of an array of 1+ dimensions
            x = d.array(d.shape(1), domain)
            axis = d.draw(st.integers(-x.ndim, x.ndim - 1))
            return ((ufunc, x, axis), {}) if d.draw(st.booleans()) else ((ufunc, x), {})
        (x,), kw = base(d)
        if d.draw(st.booleans()) and x.ndim:
            kw = {"keepdims": kw["keepdims"]}  # the default axis: 0
        return (ufunc, x), kw
    return build


for u, domain in [(np.add, "any"), (np.multiply, "near1"), (np.maximum, "distinct"),
                  (np.minimum, "distinct"), (np.logaddexp, "any")]:
    spec(np.ufunc.reduce, ufunc_method(u, domain), name=f"{u.__name__}.reduce")
for u, domain in [(np.add, "any"), (np.multiply, "near1"), (np.maximum, "distinct"),
                  (np.minimum, "distinct")]:
    spec(np.ufunc.accumulate, ufunc_method(u, domain, scan=True),
         name=f"{u.__name__}.accumulate")
def _running(d):
    x = d.array(d.shape(1), "distinct")
    return (x, d.draw(st.integers(-x.ndim, x.ndim - 1))), {}


for fn in (running_max, running_min):
    spec(fn, _running)

# indexing --------------------------------------------------------------------


def _index(d, x):
    """A random index of x: slices, ints, int arrays, masks, None, Ellipsis."""
    kind = d.draw(st.sampled_from(["basic", "ints", "mask", "mixed"]))
    if kind == "mask":
        return x > 0
    parts, length = [], d.draw(st.integers(1, 4))  # int arrays broadcast together
    for n in x.shape[: d.draw(st.integers(1, x.ndim))]:  # the leading axes
        part = d.draw(st.sampled_from(["slice", "int", "array", "none"]))
        if part == "slice":
            start = d.draw(st.integers(-n, n - 1))
            parts.append(slice(start, None, d.draw(st.sampled_from([1, 2, -1]))))
        elif part == "int":
            parts.append(d.draw(st.integers(-n, n - 1)))
        elif part == "array" and kind != "basic":
            parts.append(d.rng.integers(-n, n, length))  # may repeat
        else:
            parts.append(None)
            parts.append(slice(None))
    if d.draw(st.booleans()):  # at the end, or in front when all axes are indexed
        covered = sum(p is not None for p in parts) == x.ndim
        parts.insert(0 if covered and d.draw(st.booleans()) else len(parts), Ellipsis)
    return tuple(parts)


spec(operator.getitem, with_shape(lambda d, x: ((x, _index(d, x)), {})))


def _scatter(d):
    x = d.array(d.shape(1))
    index = _index(d, x)
    return (x.shape, index, d.array(np.shape(x[index]))), {}


spec(scatter_add, _scatter)

# shapes ----------------------------------------------------------------------


def _new_shape(d, x):
    shape = list(d.rng.permutation(list(x.shape) + [1] * d.draw(st.integers(0, 2))))
    if shape and d.draw(st.booleans()):
        shape[d.draw(st.integers(0, len(shape) - 1))] = -1
    return tuple(int(n) for n in shape)


def _perm(d, x):
    return tuple(int(a) - x.ndim * d.draw(st.booleans()) for a in d.rng.permutation(x.ndim))


def _two_axes(d, x):
    return (d.draw(st.integers(-x.ndim, x.ndim - 1)), d.draw(st.integers(-x.ndim, x.ndim - 1)))


def _ones_axis(d, x):
    axes = [i for i, n in enumerate(x.shape) if n == 1]
    return d.draw(st.sampled_from(axes)) if axes else None


spec(np.reshape, with_shape(lambda d, x: ((x, _new_shape(d, x)), {})))
spec(np.ndarray.reshape, with_shape(lambda d, x: ((x, *_new_shape(d, x)), {})),
     name="ndarray.reshape")
spec(np.ravel, unary())
spec(np.ndarray.ravel, with_shape(lambda d, x: ((x,), {})), name="ndarray.ravel")
spec(np.ndarray.flatten, with_shape(lambda d, x: ((x,), {})), name="ndarray.flatten")
spec(np.squeeze, with_shape(lambda d, x: ((x, _ones_axis(d, x)), {})))
spec(np.ndarray.squeeze, with_shape(lambda d, x: ((x,), {})), name="ndarray.squeeze")
spec(np.expand_dims, with_shape(
    lambda d, x: ((x, d.draw(st.integers(-x.ndim - 1, x.ndim))), {})))
spec(np.atleast_1d, unary())
spec(np.atleast_2d, unary())
spec(np.atleast_3d, unary())
spec(np.transpose, with_shape(
    lambda d, x: ((x,), {}) if d.draw(st.booleans()) else ((x, _perm(d, x)), {})))
spec(np.ndarray.transpose, with_shape(lambda d, x: ((x, *_perm(d, x)), {})),
     name="ndarray.transpose")
spec((np.ndarray, "T"), with_shape(lambda d, x: ((x,), {})), name="ndarray.T")
spec((np.ndarray, "mT"), matrices("any", 4, square=False), name="ndarray.mT")
spec(np.matrix_transpose, matrices("any", 4, square=False))
spec(np.swapaxes, with_shape(lambda d, x: ((x, *_two_axes(d, x)), {})))
spec(np.ndarray.swapaxes, with_shape(lambda d, x: ((x, *_two_axes(d, x)), {})),
     name="ndarray.swapaxes")
spec(np.moveaxis, with_shape(lambda d, x: ((x, *(lambda p: (p, _perm(d, x)))(
    _perm(d, x))), {})))
spec(np.broadcast_to, lambda d: (lambda s: ((d.array(d.bshape(s)), s), {}))(d.shape()))
spec(np.flip, with_shape(lambda d, x: ((x,), {"axis": d.axis(x.ndim)})))
spec(np.fliplr, matrices("any", 4, square=False))
spec(np.flipud, with_shape(lambda d, x: ((x,), {})))
spec(np.roll, with_shape(lambda d, x: (
    (x, d.draw(st.integers(-4, 4))), {"axis": d.axis(x.ndim, tuples=False)})))
spec(np.rot90, matrices("any", 4, square=False))
spec(np.sort, with_shape(lambda d, x: (
    (d.array(x.shape, "distinct"), d.axis(x.ndim, tuples=False)), {})))


def _take(d, x):
    axis = d.axis(x.ndim, tuples=False)
    n = x.size if axis is None else x.shape[axis]
    indices = d.rng.integers(-n, n, d.shape(0, 2))
    mode = d.draw(st.sampled_from(["raise", "wrap", "clip"]))
    if mode != "raise":
        indices = indices * 2  # out of range on purpose
    return (x, indices, axis), {"mode": mode}


spec(np.take, with_shape(_take))
spec(np.ndarray.take, with_shape(_take), name="ndarray.take")


def _take_along(d, x):
    axis = d.draw(st.integers(-x.ndim, x.ndim - 1))
    shape = list(x.shape)
    shape[axis] = d.draw(st.integers(1, 4))
    return (x, d.rng.integers(0, x.shape[axis], shape), axis), {}


spec(np.take_along_axis, with_shape(_take_along))



# arrays made from values (zygopy/rules/creation.py) ---------------------------
def _scalar(d, domain="any"):
    return float(d.array((), domain))


spec(np.full, lambda d: ((d.shape(), _scalar(d)), {}))
spec(np.full_like, lambda d: ((d.array(d.shape()), _scalar(d)), {}))
spec(np.linspace, lambda d: ((_scalar(d), _scalar(d), d.draw(st.integers(1, 6))),
                             {"endpoint": d.draw(st.booleans())}))


def _arange(d):
    start, step = _scalar(d), _scalar(d, "positive")
    n = d.draw(st.integers(0, 2))
    bounds = (start, start + (d.draw(st.integers(1, 5)) + 0.5) * step, step)
    return bounds[:max(n, 1) + 1] if n else (bounds[1] if bounds[1] > 0 else 2.5,), {}


spec(np.arange, _arange)


def _item(d):
    x = d.array(d.shape())
    return (x, int(d.draw(st.integers(0, x.size - 1)))), {}


spec(np.ndarray.item, _item, name="ndarray.item")
spec(np.ndarray.tolist, lambda d: ((d.array(d.shape()),), {}), name="ndarray.tolist",
     order2=False)  # (python.py has np.generic.item, tested with the containers)


def _diff(d):
    x = d.array(d.shape(1))
    axis = d.draw(st.integers(-x.ndim, x.ndim - 1))
    return (x,), {"n": d.draw(st.integers(0, x.shape[axis])), "axis": axis}


spec(np.diff, _diff)
spec(np.ptp, reduction("distinct"))


# compositions differentiated through a reference implementation (composite.py) ---
def _average(d):
    x = d.array(d.shape(1))
    axis = d.axis(x.ndim, tuples=False)
    choice = d.draw(st.sampled_from(["none", "full"] + ["axis"] * (axis is not None)))
    w = None if choice == "none" else d.array(x.shape if choice == "full" else
                                              (x.shape[axis],), "positive")
    return (x, axis, w), {"keepdims": d.draw(st.booleans())}


spec(np.average, _average)


def _space(positive):
    def build(d):
        lo, hi = (d.array((), "positive") for _ in range(2)) if positive else \
            (d.array((), "any") for _ in range(2))
        if positive and d.draw(st.booleans()):
            lo, hi = -lo, -hi  # geomspace: bounds of one sign, either sign
        kw = {"num": d.draw(st.integers(1, 6)), "endpoint": d.draw(st.booleans())}
        if not positive and d.draw(st.booleans()):
            kw["base"] = d.array((), "positive") + 1.0
        return (float(lo), float(hi)), kw
    return build


spec(np.logspace, _space(False))
spec(np.geomspace, _space(True))


def _weighted_counts(fn):
    def build(d):
        n = d.draw(st.integers(1, 6))
        w = d.array((n,), "any")
        if fn is np.bincount:
            x = d.rng.integers(0, 4, n)
            return ((x, w), {}) if d.draw(st.booleans()) else ((x,), {"weights": w})
        n = max(n, 2)  # one value would sit on the middle edge of its own range
        w = w if w.size == n else d.array((n,), "any")
        a = d.array((n,), "distinct")  # no value near an edge: piecewise constant
        bins = d.draw(st.integers(1, 4))
        return ((a, bins, None, None, w), {}) if d.draw(st.booleans()) else \
            ((a, bins), {"weights": w})
    return build


spec(np.bincount, _weighted_counts(np.bincount), order2=False)
spec(np.histogram, _weighted_counts(np.histogram), order2=False)
spec(np.nansum, reduction())
spec(np.nanmean, reduction())


def _order_stat(q_high):
    def build(d):
        x = d.array(d.shape(1), "distinct")
        axis = d.axis(x.ndim, tuples=False)
        q = q_high * float(d.rng.uniform(0.05, 0.95))
        return (x, q, axis), {"keepdims": d.draw(st.booleans())}
    return build


spec(np.quantile, _order_stat(1.0))
spec(np.percentile, _order_stat(100.0))
def _median(d):
    x = d.array(d.shape(1), "distinct")
    return (x, d.axis(x.ndim, tuples=False)), {"keepdims": d.draw(st.booleans())}


def _cross(d):
    s = d.shape(0, 2)
    return (d.array(d.bshape(s) + (3,)), d.array(d.bshape(s) + (3,))), {}


spec(np.median, _median)
spec(np.cross, _cross)


def _trapezoid(d):
    y = d.array(d.shape(1))
    axis = d.draw(st.integers(-y.ndim, y.ndim - 1))
    if d.draw(st.booleans()):
        x = np.cumsum(d.array((y.shape[axis],), "positive"))
        return (y, x), {"axis": axis}
    return (y, None, float(d.rng.uniform(0.2, 2))), {"axis": axis}


spec(np.trapezoid, _trapezoid)


def _append(d):
    x = d.array(d.shape(1))
    if d.draw(st.booleans()):
        return (x, d.array(d.shape())), {}
    axis = d.draw(st.integers(-x.ndim, x.ndim - 1))
    shape = list(x.shape)
    shape[axis] = d.draw(st.integers(1, 3))
    return (x, d.array(shape), axis), {}


spec(np.append, _append)


def _multi_dot(d):
    sizes = [d.draw(st.integers(1, 4)) for _ in range(d.draw(st.integers(3, 5)))]
    return ([d.array((a, b)) for a, b in itertools.pairwise(sizes)],), {}


spec(np.linalg.multi_dot, _multi_dot, sequence=True)
spec(np.linalg.matrix_power, lambda d: (
    (d.array((3, 3), "matrix"), d.draw(st.integers(-2, 3))), {}))


def _convolution(same_needs_longer_a):
    def build(d):
        a = d.array((d.draw(st.integers(1, 5)),))
        v = d.array((d.draw(st.integers(1, 5)),))
        modes = ["full", "valid"] + ["same"] * (not same_needs_longer_a or len(a) >= len(v))
        return (a, v, d.draw(st.sampled_from(modes))), {}
    return build


spec(np.convolve, _convolution(False))
spec(np.correlate, _convolution(True))
spec(np.nanmax, reduction("distinct"))
spec(np.nanmin, reduction("distinct"))
spec(np.nanprod, reduction("near1"))
spec(np.nanvar, reduction(ddof=True))
spec(np.nanstd, reduction("distinct", ddof=True))


def _interp(d):
    xp = np.cumsum(d.array((d.draw(st.integers(2, 5)),), "positive"))
    fp = d.array(xp.shape)
    span = xp[-1] - xp[0]
    x = xp[0] - 0.3 * span + d.rng.uniform(0, 1.6 * span, d.shape(0, 2))
    keep = np.all(np.abs(x[..., None] - xp) > 1e-3 * span, axis=-1) if np.ndim(x) else \
        np.all(np.abs(x - xp) > 1e-3 * span)
    x = np.where(keep, x, x + 2e-3 * span)  # away from the knots (kinks)
    return (x, xp, fp), {}


spec(np.interp, _interp)
spec(np.float64, lambda d: ((d.array(d.shape(0, 2)),), {}), order2=False)


def _meshgrid(d):
    xi = tuple(d.array((d.draw(st.integers(1, 3)),)) for _ in range(d.draw(st.integers(1, 3))))
    return xi, {"indexing": d.draw(st.sampled_from(["xy", "ij"]))}


spec(np.meshgrid, _meshgrid)
spec(np.rollaxis, with_shape(lambda d, x: ((x, d.draw(st.integers(-x.ndim, x.ndim - 1)),
                                            d.draw(st.integers(-x.ndim, x.ndim))), {})))
spec(np.linalg.matrix_transpose, lambda d: ((d.array(d.shape(2)),), {}))
spec(np.vander, lambda d: ((d.array((d.draw(st.integers(1, 4)),)),),
                           {"N": d.draw(st.integers(1, 5)),
                            "increasing": d.draw(st.booleans())}))
spec(np.real_if_close, unary())
spec(np.asarray_chkfinite, unary())
spec(np.polyval, lambda d: ((d.array((d.draw(st.integers(1, 4)),)), d.array(d.shape(0, 2))),
                            {}))

for _fn, _name in [(np.real, ""), (np.conjugate, ""), (np.imag, ""),
                   ((np.ndarray, "real"), "ndarray.real"),
                   ((np.ndarray, "imag"), "ndarray.imag"),
                   (np.ndarray.conj, "ndarray.conj"),
                   (np.ndarray.conjugate, "ndarray.conjugate")]:
    spec(_fn, with_shape(lambda d, x: ((x,), {})), name=_name)

for _fn, _dx, _dy in [(np.fmod, "positive", "gt1"), (np.copysign, "nonzero", "nonzero"),
                      (np.nextafter, "any", "any")]:
    spec(_fn, binary(_dx, _dy))


def _where_reduction(full_only):
    def build(d):
        x = d.array(d.shape(1))
        where = np.array(d.rng.random(d.bshape(x.shape)) > 0.4)
        where.flat[0] = True  # a full reduction selects something
        if full_only:
            return (x,), {"where": where}
        return (x,), {"axis": d.axis(x.ndim), "keepdims": d.draw(st.booleans()),
                      "where": where}
    return build


spec(np.sum, _where_reduction(False), name="sum where")
spec(np.mean, _where_reduction(True), name="mean where")


def _outer(ufunc, dx="any", dy="any"):
    return lambda d: ((ufunc, d.array(d.shape(0, 2), dx), d.array(d.shape(0, 2), dy)), {})


for _u, _dx, _dy in [(np.add, "any", "any"), (np.subtract, "any", "any"),
                     (np.multiply, "any", "any"), (np.divide, "any", "nonzero"),
                     (np.maximum, "distinct", "distinct")]:
    spec(np.ufunc.outer, _outer(_u, _dx, _dy), name=f"{_u.__name__}.outer")

def _vecdot(d):
    s = d.shape(1)
    return (d.array(s), d.array(d.bshape(s)[:-1] + s[-1:])), {}


spec(np.vecdot, _vecdot)
if hasattr(np, "matvec"):
    spec(np.matvec, lambda d: ((d.array((2, 3)), d.array(d.shape(1, 2, max_side=1) + (3,))),
                               {}))
    spec(np.vecmat, lambda d: ((d.array((3,)), d.array(d.shape(0, 1, max_side=2) + (3, 2))),
                               {}))


def _nan_to_num(d):
    x = d.array(d.shape(1))
    x.flat[0] = d.draw(st.sampled_from([np.nan, np.inf, -np.inf, 0.5]))
    # finite replacements: the difference quotient cannot see past float max
    return (x,), {"nan": d.draw(st.sampled_from([0.0, -1.0])), "posinf": 9.0,
                  "neginf": d.draw(st.sampled_from([-9.0, -2.0]))}


spec(np.nan_to_num, _nan_to_num)
spec(np.gradient, lambda d: ((d.array((d.draw(st.integers(2, 5)),)),)
                             + ((d.draw(st.sampled_from([0.5, 2.0])),)
                                if d.draw(st.booleans()) else ()), {}))


def _select(d):
    s = d.shape(1)
    x = d.array(s)
    return ([x < -0.5, x > 0.5], [x * 2.0, d.array(d.bshape(s))]), \
        {"default": d.draw(st.sampled_from([0.0, -3.0]))}


spec(np.select, _select)


def _cov(d):
    m = d.array((d.draw(st.integers(2, 3)), d.draw(st.integers(3, 5))))  # 2+ observations
    return (m,), {"rowvar": d.draw(st.booleans()), "ddof": d.draw(st.sampled_from([None, 0]))}


spec(np.cov, _cov)
spec(np.corrcoef, lambda d: ((d.array((d.draw(st.integers(2, 3)), 4)),), {}), rtol=1e-4)
spec(np.ldexp, lambda d: (lambda s: ((d.array(s), d.rng.integers(-2, 3, d.bshape(s))), {}))(
    d.shape()))


def _row_norm(row, p=2.0):
    return np.sum(np.abs(row) ** p) ** (1 / p)


def _row_moments(row):
    return np.stack([np.mean(row), np.mean(row * row)])


def _apply_along_axis(d):
    x = d.array(d.shape(1), "nonzero")
    fn = d.draw(st.sampled_from([_row_norm, _row_moments]))
    return (fn, d.draw(st.integers(-x.ndim, x.ndim - 1)), x), {}


def _piecewise(d):
    x = d.array(d.shape(1), "distinct")
    conds = [x < -0.5, x > 0.5]
    funcs = [lambda v: v * v, lambda v: np.sqrt(v)] + \
        ([lambda v: -v] if d.draw(st.booleans()) else [])
    return (x, conds, funcs), {}


spec(np.apply_along_axis, _apply_along_axis)
spec(np.piecewise, _piecewise)


def _vectorized_args(d):
    s = d.shape(0, 3)
    if d.draw(st.booleans()):
        return (np.vectorize(_piece), d.array(s)), {}
    return (np.vectorize(_mix), d.array(s), d.array(d.bshape(s))), {}


def _piece(t):
    return t * t if t > 0 else np.sin(t)


def _mix(a, b):
    return a * b + np.exp(a)


spec((np.vectorize, "__call__"), _vectorized_args, name="vectorize.__call__")


def _with_initial(domain, values):
    """A reduction with a constant `initial` (the product's factor, or a bound
    the extremum may or may not reach)."""
    base = reduction(domain)

    def build(d):
        (x,), kw = base(d)
        return (x,), {**kw, "initial": d.draw(st.sampled_from(values))}
    return build


spec(np.prod, _with_initial("near1", [2.0, -0.5]), name="prod initial")
spec(np.sum, _with_initial("any", [3.0]), name="sum initial")
spec(np.max, _with_initial("distinct", [-9.0, 9.0]), name="max initial")
spec(np.min, _with_initial("distinct", [-9.0, 9.0]), name="min initial")


def _cumulative_args(domain):
    def build(d):
        x = d.array(d.shape(1, 3), domain)
        kw = {"include_initial": d.draw(st.booleans())}
        if x.ndim > 1 or d.draw(st.booleans()):
            kw["axis"] = d.draw(st.integers(-x.ndim, x.ndim - 1))
        return (x,), kw
    return build


spec(np.cumulative_sum, _cumulative_args("any"))
spec(np.cumulative_prod, _cumulative_args("near1"))
